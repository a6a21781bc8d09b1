"""`infoprop sweep run SPEC --out STORE` and `infoprop sweep status STORE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import MaxMemory, apply_max_memory

sweep_app = typer.Typer(
    name="sweep",
    help="Tiled, resumable sweeps into one zarr store, in-process or on a Dask cluster.",
    no_args_is_help=True,
)


@sweep_app.command("run")
def run(
    spec: Annotated[Path, typer.Argument(help="TOML sweep spec (see docs/sweeps.md).")],
    out: Annotated[Path, typer.Option("--out", help="Zarr store to create or resume.")],
    workers: Annotated[
        int | None, typer.Option("--workers", help="Start a local Dask cluster with N worker processes.")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Use a running Dask scheduler, e.g. tcp://HOST:8786.")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    max_memory: MaxMemory = None,
) -> None:
    """Compute every missing tile of SPEC into STORE (running it again resumes)."""
    from ..sweep import run_sweep

    apply_max_memory(max_memory)
    result = run_sweep(spec, out, workers=workers, scheduler=scheduler, progress=progress)
    print(f"{result.store}: computed {len(result.computed)} tiles, {result.skipped} already done, {result.total} total")


@sweep_app.command("status")
def status(store: Annotated[Path, typer.Argument(help="Zarr store written by `infoprop sweep run`.")]) -> None:
    """Print the progress of STORE per experiment."""
    from rich.console import Console
    from rich.table import Table

    from ..sweep import sweep_status

    rows = sweep_status(store)
    done, total = sum(r["done"] for r in rows), sum(r["total"] for r in rows)
    print(f"{store}: {done}/{total} tiles done")
    table = Table()
    columns = [k for k in rows[0] if k not in ("done", "total")]
    for column in (*columns, "tiles done", "%"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in columns), f"{r['done']}/{r['total']}", f"{100 * r['done'] / r['total']:.0f}")
    Console(width=max(100, 12 * len(columns) + 30)).print(table)


def register(app: typer.Typer) -> None:
    """Add ``infoprop sweep run`` and ``infoprop sweep status`` to ``app``."""
    app.add_typer(sweep_app)
