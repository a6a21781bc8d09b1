"""Helpers shared by the CLI subcommands (no science here)."""

from __future__ import annotations

import sys

import numpy as np
from rich.console import Console

from .._src.common import parse_range

console = Console(stderr=True)


def fail(message: str) -> int:
    """Print a one-line error to stderr and return exit code 2."""
    first_line = " ".join(str(message).split())
    print(f"infoprop: error: {first_line}", file=sys.stderr)
    return 2


def grid_from_options(
    std: str | None, variance: str | None, std_flag: str, variance_flag: str, default: str
) -> np.ndarray:
    """Resolve a std range (``--sigma-w``) or a variance range (``--sigma-w2``) into std values."""
    if std is not None and variance is not None:
        raise ValueError(f"give either {std_flag} or {variance_flag}, not both")
    if variance is not None:
        values = parse_range(variance_flag, variance)
        if values.min() < 0:
            raise ValueError(f"{variance_flag} must be >= 0 (a variance), got {variance!r}")
        return np.sqrt(values)
    values = parse_range(std_flag, std if std is not None else default)
    if values.min() < 0:
        raise ValueError(f"{std_flag} must be >= 0 (a standard deviation), got {std!r}")
    return values
