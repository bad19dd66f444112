"""One CPU thread for torch and BLAS while a benchmark measures, so that the methods' times
compare on a shared machine."""

import contextlib

import torch
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def one_cpu_thread():
    """torch and BLAS on one thread inside the block; torch's thread count restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)
