"""Settings shared by every test."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' networks are small: one thread is fastest, and the machine's cores are shared
    (a second thread spin-waits for a core another process holds)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
