"""`infoprop report`: the frontier report on built-in defaults (the README's main command), or on a stored landscape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from .._src.report import DEFAULTS
from ._common import MaxMemory, Overwrite, apply_max_memory

_GRID = f"0:{DEFAULTS['sigma_max']:g}:{DEFAULTS['resolution']}"


def report(
    out: Annotated[
        Path, typer.Option("--out", help="Output folder: new, empty, or infoprop's own (with --overwrite).")
    ] = Path("out"),
    arch: Annotated[
        str, typer.Option("--arch", help="mlp | cnn | fdf | fdfd | orthogonal | resnet | NAME+residual.")
    ] = DEFAULTS["arch"],
    activation: Annotated[str, typer.Option("--activation", help="Activation name.")] = DEFAULTS["activation"],
    width: Annotated[int, typer.Option("--width", help="Network width N.")] = DEFAULTS["width"],
    depth: Annotated[int, typer.Option("--depth", help="Network depth D.")] = DEFAULTS["depth"],
    sigma_w: Annotated[
        str | None, typer.Option("--sigma-w", help=f"sigma_w std range start:stop:count [{_GRID}].")
    ] = None,
    sigma_w2: Annotated[str | None, typer.Option("--sigma-w2", help="sigma_w^2 variance range instead.")] = None,
    sigma_b: Annotated[
        str | None, typer.Option("--sigma-b", help=f"sigma_b std range start:stop:count [{_GRID}].")
    ] = None,
    sigma_b2: Annotated[str | None, typer.Option("--sigma-b2", help="sigma_b^2 variance range instead.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the network draw.")] = DEFAULTS["seed"],
    threshold: Annotated[
        float, typer.Option("--threshold", help="tau on L (not log10) for the boundary and mean-field comparison.")
    ] = DEFAULTS["threshold"],
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Zarr store to take L from instead of drawing a network: a sweep store, `infoprop landscape --out` "
            "or a report's landscape.zarr (network parameters come from its provenance).",
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="With --from: key=value, one per sweep axis or extra dim (repeatable)."),
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="With --from: the store's variable, if it has several.")
    ] = None,
    overwrite: Overwrite = False,
    max_memory: MaxMemory = None,
) -> None:
    """Frontier report: landscape, mean-field line, boundary, dimension, disagreement -> OUT (about a minute)."""
    from .._src.report import frontier_report
    from ._common import sigma_grid

    apply_max_memory(max_memory)
    if source is None:
        for flag, value in (("--select", select), ("--metric", metric)):
            if value:
                raise ValueError(f"{flag} applies only together with --from STORE, got {flag} {value!r}")
        sw, sb = sigma_grid(sigma_w, sigma_w2, sigma_b, sigma_b2, _GRID, _GRID)
        where = {"sigma_w": sw, "sigma_b": sb}
    else:
        grid_flags = {"--sigma-w": sigma_w, "--sigma-w2": sigma_w2, "--sigma-b": sigma_b, "--sigma-b2": sigma_b2}
        for flag, value in grid_flags.items():
            if value is not None:
                raise ValueError(f"{flag} cannot be combined with --from: the grid is the stored landscape's")
        selection = parse_selection(select)
        if metric is not None:
            selection["metric"] = metric
        where = {"landscape": source, "selection": selection}
    kwargs = dict(
        arch=arch,
        activation=activation,
        width=width,
        depth=depth,
        seed=seed,
        threshold=threshold,
        overwrite=overwrite,
        **where,
    )
    if progress and source is None:  # a stored landscape is not computed: no progress to show
        summary = _with_progress(out, kwargs)
    else:
        summary = frontier_report(out, **kwargs)
    _print_summary(out, summary)


def _with_progress(out: Path, kwargs: dict) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .._src.report import frontier_report
    from ._common import console

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:  # an error stays the only line on stderr
        task = bar.add_task("landscape", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = frontier_report(out, progress=advance, **kwargs)
        bar.update(task, description="landscape, box counting, files: done")
    return summary


def _print_summary(out: Path, summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    p, d = summary["parameters"], summary["dimension"]
    table = Table(
        title=f"Fractal frontier: {p['arch'].upper()}, {p['activation']}, N = {p['width']}, "
        f"D = {p['depth']}, seed {p['seed']}"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row(
        "grid (sigma_w x sigma_b, std)",
        f"[{p['sigma_w'][0]:g}, {p['sigma_w'][1]:g}] x "
        f"[{p['sigma_b'][0]:g}, {p['sigma_b'][1]:g}], {p['sigma_w'][2]} x {p['sigma_b'][2]}",
    )
    table.add_row(
        "frontier dimension (robust, median over tau)",
        f"{d['recommended']:.3f} ± {d['recommended_stderr']:.3f} ({d['resolved_thresholds']} tau)",
    )
    table.add_row(
        "authors' rule (1..48 px OLS, max over tau)",
        f"{d['authors']:.3f} ± {d['authors_stderr']:.3f} at tau = {d['authors_threshold']:.3g}",
    )
    for estimator, result in d["at_threshold"].items():
        value = "no boundary" if result["dimension"] is None else f"{result['dimension']:.3f} ± {result['stderr']:.3f}"
        table.add_row(f"dimension at tau = {p['threshold']:g} ({estimator})", value)
    table.add_row(f"boundary cells at tau = {p['threshold']:g}", str(summary["boundary_cells"]))
    disagreement = summary["mean_field_disagreement"]
    table.add_row(
        "disagreement with mean field (chi_1 < 1)",
        "none: this arch has no mean-field critical line" if disagreement is None else f"{100 * disagreement:.1f} %",
    )
    table.add_row("written to", f"{out}/ ({', '.join(summary['files'].values())})")
    Console(width=120).print(table)


def parse_selection(items: list[str] | None) -> dict[str, int | str]:
    """``["width=100", "arch=mlp"]`` -> ``{"width": 100, "arch": "mlp"}`` (integers where they look like one)."""
    selection: dict[str, int | str] = {}
    for item in items or []:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"--select must be key=value (e.g. width=100), got {item!r}")
        if key == "metric":
            raise ValueError(f"--select picks axis values; give the variable with --metric, got {item!r}")
        if key in selection:
            raise ValueError(f"--select must name each key once, got {key!r} twice")
        selection[key] = int(value) if re.fullmatch(r"[+-]?\d+", value) else value
    return selection


def register(app: typer.Typer) -> None:
    """Add ``infoprop report`` to ``app``."""
    app.command("report")(report)
