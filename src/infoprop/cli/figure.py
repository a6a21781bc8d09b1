"""`infoprop figure NAME --scale small|paper --out DIR` and `infoprop figure --list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import MaxMemory, Overwrite, apply_max_memory


def figure(
    name: Annotated[str | None, typer.Argument(help="Recipe name; 'list' (or --list) shows them all.")] = None,
    scale: Annotated[
        str, typer.Option("--scale", help="tiny | small (minutes) | paper (the paper's sizes).")
    ] = "small",
    out: Annotated[Path, typer.Option("--out", help="Output directory for the zarr data and PNG figures.")] = Path(
        "figures"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Seed of every network draw.")] = 0,
    list_: Annotated[bool, typer.Option("--list", help="List the recipes and exit.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    overwrite: Overwrite = False,
    max_memory: MaxMemory = None,
) -> None:
    """Make one of the seed paper's figures (data as zarr beside the PNGs)."""
    from .._src.figures import list_recipes, make_figure

    if list_ or name == "list":
        for recipe, line in list_recipes():
            print(f"{recipe:14s} {line}")
        return
    if name is None:
        raise ValueError("NAME is required: give a recipe name or 'list' (infoprop figure --list)")
    apply_max_memory(max_memory)
    for path in make_figure(name, scale, out, seed=seed, progress=progress, overwrite=overwrite):
        print(path)


def register(app: typer.Typer) -> None:
    """Add ``infoprop figure`` to ``app``."""
    app.command("figure")(figure)
