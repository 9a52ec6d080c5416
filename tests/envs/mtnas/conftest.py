"""Shared settings of the mtnas tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """Small networks run fastest on one thread, and the test machine's cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
