"""Shared test configuration: tolerances per dtype and markers that skip without hardware."""

from __future__ import annotations

import os

import pytest

# Tests pin thread counts so that timings do not matter and results do not depend on the machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")

TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread: 64-wide layers are far too small for two threads to pay off, and on a busy
    machine two threads spin-wait for each other (10x slower measured)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
