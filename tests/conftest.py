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
