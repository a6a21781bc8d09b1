"""`infoprop sweep run SPEC --out STORE` and `infoprop sweep status STORE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import MaxMemory, apply_max_memory, progress_bar

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
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace STORE if it is an infoprop store of another spec or version (never anything else).",
        ),
    ] = False,
    max_memory: MaxMemory = None,
) -> None:
    """Compute every missing or damaged tile of SPEC into STORE (running it again verifies and resumes)."""
    from ..sweep import run_sweep

    apply_max_memory(max_memory)
    with progress_bar("sweep", "tiles", enabled=progress) as advance:
        result = run_sweep(spec, out, workers=workers, scheduler=scheduler, progress=advance, overwrite=overwrite)
    repaired = f" ({len(result.repaired)} of them damaged and recomputed)" if result.repaired else ""
    print(
        f"{result.store}: computed {len(result.computed)} tiles{repaired}, {result.skipped} already done, "
        f"{result.total} total"
    )


@sweep_app.command("status")
def status(
    store: Annotated[Path, typer.Argument(help="Zarr store written by `infoprop sweep run`.")],
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Decode every chunk (reads the whole store) instead of checking chunk files."),
    ] = False,
) -> None:
    """Print the progress of STORE per experiment, counting only tiles whose data is present and readable."""
    import time

    from rich.console import Console
    from rich.table import Table

    from ..sweep import sweep_status

    start = time.perf_counter()
    rows = sweep_status(store, verify=verify)
    seconds = time.perf_counter() - start
    done, damaged, total = (sum(r[k] for r in rows) for k in ("done", "damaged", "total"))
    state = "complete" if done == total else "incomplete"
    check = "every chunk decoded" if verify else "chunk files checked; --verify decodes them"
    print(f"{store}: {done}/{total} tiles done, {state} ({check}, {seconds:.2f} s)")
    if damaged:
        print(
            f"{damaged} tiles marked done have missing or unreadable data; "
            "`infoprop sweep run SPEC --out STORE` computes them again"
        )
    table = Table()
    columns = [k for k in rows[0] if k not in ("done", "damaged", "total")]
    for column in (*columns, "tiles done", "damaged", "%"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            *(str(r[c]) for c in columns),
            f"{r['done']}/{r['total']}",
            str(r["damaged"]),
            f"{100 * r['done'] / r['total']:.0f}",
        )
    Console(width=max(100, 12 * len(columns) + 40)).print(table)


def register(app: typer.Typer) -> None:
    """Add ``infoprop sweep run`` and ``infoprop sweep status`` to ``app``."""
    app.add_typer(sweep_app)
