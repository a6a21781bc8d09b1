"""Seeds and threads: what makes every diagnostics run reproducible bitwise on one machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["child_seed", "single_thread"]


def child_seed(seed: int, *key: int) -> int:
    """A 63-bit seed derived from ``seed`` and integer ``key`` (``numpy.random.SeedSequence``): one stream per use,
    so that changing one part of a run (say, the number of null draws) never changes another's draws."""
    state = np.random.SeedSequence([int(seed), *(int(k) for k in key)]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (the previous setting is restored after).

    Two reasons. Speed: the diagnostics' networks are small (a few thousand to a hundred thousand weights, graphs of
    hundreds of nodes), and splitting such operations over threads costs more than it saves -- measured on the
    2-core development machine under load, training the CNN took 77 s on two threads against 26 s on one, and 100
    epochs of the graph network 19 s against 0.5 s. Reproducibility: a reduction split over a different number of
    threads rounds differently, so pinning one thread makes the result independent of the machine's core count.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
