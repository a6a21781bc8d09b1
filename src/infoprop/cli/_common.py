"""Helpers shared by the CLI subcommands (no science here)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from .._src.common import MAX_MEMORY_ENV, check_memory, parse_range, parse_size, range_count

console = Console(stderr=True)

#: ``--overwrite``: every command that writes has it; it replaces infoprop's own outputs only.
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace an existing --out/--plot if it is infoprop's own output (never anything else).",
    ),
]
#: ``--max-memory``: the memory budget of the up-front size checks (default: the memory available now).
MaxMemory = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help=f"Memory budget for the size checks, e.g. 8G [default: available memory; env {MAX_MEMORY_ENV}].",
    ),
]


def apply_max_memory(value: str | None) -> None:
    """Validate ``--max-memory`` and make it this process's budget (and that of the workers it starts)."""
    if value is not None:
        parse_size("--max-memory", value)
        os.environ[MAX_MEMORY_ENV] = value


@contextmanager
def progress_bar(label: str, unit: str = "", *, enabled: bool = True) -> Iterator[Callable[[int, int], None] | None]:
    """The library's ``progress(done, total)`` callback drawing a Rich bar on stderr, or None when there is no bar.

    One bar for every command: ``label``, the bar, ``done/total unit``, elapsed time and ETA. It appears with the
    first progress call and disappears when done, so that an error before any work stays the only line on stderr;
    a log file (stderr not a terminal) gets no bar.
    """
    if not (enabled and console.is_terminal):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True,
    )
    task = None

    def advance(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(label, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield advance
    finally:
        if task is not None:
            bar.stop()


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


def sigma_grid(
    sigma_w: str | None,
    sigma_w2: str | None,
    sigma_b: str | None,
    sigma_b2: str | None,
    default_w: str,
    default_b: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Both grid axes (std) from ``--sigma-w``/``--sigma-w2`` and ``--sigma-b``/``--sigma-b2``.

    The (sigma_w, sigma_b) grid is refused before either axis is allocated if even one float64 per grid point
    exceeds the memory budget; each command then checks its own, larger, estimate.
    """
    counts = []
    options = ((sigma_w, sigma_w2, "--sigma-w", default_w), (sigma_b, sigma_b2, "--sigma-b", default_b))
    for std, variance, flag, default in options:
        text, name = (variance, f"{flag}2") if variance is not None else (std if std is not None else default, flag)
        counts.append(range_count(name, text)[2])
    check_memory(8 * counts[0] * counts[1], f"the grid of {counts[0]} x {counts[1]} (sigma_w, sigma_b) points")
    return (
        grid_from_options(sigma_w, sigma_w2, "--sigma-w", "--sigma-w2", default_w),
        grid_from_options(sigma_b, sigma_b2, "--sigma-b", "--sigma-b2", default_b),
    )
