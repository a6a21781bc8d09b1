"""`infoprop report`: the frontier report at the seed paper's setting (the README's main command), or on a store."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from .._src.report import DEFAULTS, REPORT_METRICS
from ._common import MaxMemory, Overwrite, apply_max_memory, progress_bar

_GRID = f"0:{DEFAULTS['sigma_max']:g}:{DEFAULTS['resolution']}"
_SIDES = ",".join(f"{s:g}" for s in DEFAULTS["sides"])


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
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="forward_normalised (the seed authors' post-activation divergence: their tau) | forward (L) "
            f"[{DEFAULTS['metric']}]; with --from: the store's variable, if it has several.",
        ),
    ] = None,
    sigma_w: Annotated[
        str | None, typer.Option("--sigma-w", help=f"Full-view sigma_w std range start:stop:count [{_GRID}].")
    ] = None,
    sigma_w2: Annotated[str | None, typer.Option("--sigma-w2", help="sigma_w^2 variance range instead.")] = None,
    sigma_b: Annotated[
        str | None, typer.Option("--sigma-b", help=f"Full-view sigma_b std range start:stop:count [{_GRID}].")
    ] = None,
    sigma_b2: Annotated[str | None, typer.Option("--sigma-b2", help="sigma_b^2 variance range instead.")] = None,
    sides: Annotated[
        str,
        typer.Option("--sides", help=f"Zoom window sides, decreasing, comma-separated; 'none': no zoom [{_SIDES}]."),
    ] = _SIDES,
    zoom_resolution: Annotated[
        int, typer.Option("--zoom-resolution", help="Points per axis of every zoom window (>= 129).")
    ] = DEFAULTS["zoom_resolution"],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the network draw.")] = DEFAULTS["seed"],
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="Frontier tau on the metric (not log10): drawn, followed by the zooms."),
    ] = DEFAULTS["threshold"],
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Zarr store to take the full view from instead of computing it: a sweep store, `infoprop landscape "
            "--out` or a report's landscape.zarr (the network is re-drawn from its provenance for the zooms).",
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="With --from: key=value, one per sweep axis or extra dim (repeatable)."),
    ] = None,
    overwrite: Overwrite = False,
    max_memory: MaxMemory = None,
) -> None:
    """Frontier report: full view and zoom windows, dimension by both estimators vs the paper -> OUT."""
    from .._src.report import frontier_report
    from ._common import sigma_grid

    apply_max_memory(max_memory)
    side_list = _parse_sides(sides)
    if source is None:
        if select:
            raise ValueError(f"--select applies only together with --from STORE, got --select {select!r}")
        sw, sb = sigma_grid(sigma_w, sigma_w2, sigma_b, sigma_b2, _GRID, _GRID)
        where = {"sigma_w": sw, "sigma_b": sb, "metric": DEFAULTS["metric"] if metric is None else metric}
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
        sides=side_list,
        zoom_resolution=zoom_resolution,
        overwrite=overwrite,
        **where,
    )
    # the bar appears with the first evaluated grid point: an error before any work stays the only line on stderr
    with progress_bar("landscape and zoom windows", "grid points", enabled=progress) as advance:
        summary = frontier_report(out, progress=advance, **kwargs)
    _print_summary(out, summary)


def _parse_sides(text: str) -> list[float]:
    if text.strip().lower() == "none":
        return []
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--sides must be comma-separated numbers or 'none', got {text!r}") from None


def _number(entry: dict) -> str:
    if entry.get("dimension") is None:
        return "no resolved frontier"
    return f"{entry['dimension']:.2f} ± {entry['stderr']:.2f}"


def _print_summary(out: Path, summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    p = summary["parameters"]
    table = Table(
        title=f"Fractal frontier: {p['arch'].upper()}, {p['activation']}, N = {p['width']}, D = {p['depth']}, "
        f"seed {p['seed']}, metric {p['metric']}"
    )
    table.add_column("window (sigma_w x sigma_b, std)")
    table.add_column(f"robust @ tau = {p['threshold']:g}", justify="right")
    table.add_column("robust, median over tau", justify="right")
    table.add_column("authors' estimator, max over tau", justify="right")
    table.add_column("paper", justify="right")
    for level in summary["levels"]:
        w = level["window"]
        window = (
            f"{level['label']}: [{w['sigma_w'][0]:.4g}, {w['sigma_w'][1]:.4g}] x "
            f"[{w['sigma_b'][0]:.4g}, {w['sigma_b'][1]:.4g}], {level['resolution'][0]}^2"
        )
        authors = level["authors"]
        author_text = _number(authors)
        if authors["dimension"] is not None:
            author_text += f" at tau* = {authors['threshold']:.3g}" + ("" if authors["interior"] else " (edge!)")
        median = level["robust_median"]
        table.add_row(
            window,
            _number(level["robust_at_threshold"]),
            _number(median) + f" ({median['resolved_thresholds']} tau)",
            author_text,
            "-" if level["paper"] is None else f"{level['paper']:.2f}",
        )
    Console(width=160).print(table)
    sweep = summary["levels"][0]["robust_median"]["thresholds"]
    print(
        f"tau sweep: {sweep[2]} values, quarter decades from {sweep[0]:.3g} to {sweep[1]:.3g} (past the largest L); "
        "uncertainties: robust = local-slope spread, authors' = OLS standard error"
    )
    between = [lv["between_fraction"] for lv in summary["levels"]]
    if all(b is not None for b in between):
        print(
            f"points with {p['threshold']:g} < L <= tau* (ordered for the authors' rule, not at tau = "
            f"{p['threshold']:g}): "
            + ", ".join(f"{100 * b:.0f} %" for b in between)
            + " of each window; docs/fractal.md explains the difference"
        )
    if summary["mean_field_disagreement"] is None:
        print(f"disagreement with mean field: not defined ({summary['mean_field_note']})")
    else:
        print(
            f"disagreement with mean field (chi_1 < 1) at tau = {p['threshold']:g}, full view: "
            f"{100 * summary['mean_field_disagreement']:.1f} %"
        )
    print(f"written to {out}/ ({', '.join(summary['files'].values())})")


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


__all__ = ["REPORT_METRICS", "parse_selection", "register", "report"]
