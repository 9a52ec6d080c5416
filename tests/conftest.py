"""Settings shared by every test."""

import os

import pytest
import torch

from skillgym.threads import POCL_THREADS_VARIABLE

# Kernels keep their default layout in the tests: tuning one takes seconds of timing, and the
# results are the same whatever the layout (tests/kernels/test_tuning.py tunes on purpose).
os.environ["SKILLGYM_KERNEL_TUNING"] = "off"


@pytest.fixture(autouse=True)
def pocl_threads_as_they_were():
    """Recipes size PoCL's threads through the environment, which PoCL reads when the process
    first opens OpenCL: restored after each test, so that which test opens it first does not
    decide the device the rest of the suite runs on."""
    before = os.environ.get(POCL_THREADS_VARIABLE)
    yield
    if before is None:
        os.environ.pop(POCL_THREADS_VARIABLE, None)
    else:
        os.environ[POCL_THREADS_VARIABLE] = before


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' networks are small: one thread is fastest, and the machine's cores are shared
    (a second thread spin-waits for a core another process holds)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# Six question classes as ``LABEL TEXT`` lines with a space, one with a stray byte that is not
# UTF-8 (0xF0 cut off from its character), as in public question-classification sets.
SIX_CLASS_QUESTIONS = (
    b"DESC:manner How did serfdom develop in and then leave Russia ?\n"
    b"ENTY:cremat What films featured the character Popeye Doyle ?\n"
    b"ABBR:exp What does the abbreviation AIDS stand for ?\n"
    b"HUM:ind Who was the caf\xf0 owner in Casablanca ?\n"
    b"LOC:city What is the capital of Burkina Faso ?\n"
    b"NUM:date When did the Berlin wall fall ?\n"
)


@pytest.fixture
def six_class_questions() -> bytes:
    """:data:`SIX_CLASS_QUESTIONS`: a user's own classification file, six lines."""
    return SIX_CLASS_QUESTIONS
