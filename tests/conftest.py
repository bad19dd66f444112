"""Fixtures shared by the test modules, and one thread per process when the suite runs in
several (``pytest -n 2``, as ``make test`` does: the workers then share the cores)."""

import os

import pytest
import torch
from threadpoolctl import threadpool_limits

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
    threadpool_limits(1)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train a module's tiny models on one thread: with several, torch's thread pool stalls
    them many-fold when the machine is busy (restored afterwards). A module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
