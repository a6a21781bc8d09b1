"""Figure recipes: the seed paper's figures (and infoprop's own checks), one command each.

``infoprop figure NAME --scale small|paper --out DIR`` calls :func:`make_figure`. Each recipe computes its
landscapes with :class:`infoprop.RandomNetwork` (erf, one draw per landscape from ``seed``), writes its data as
zarr (:func:`infoprop._src.common.write_zarr`) and its figures as PNG (:func:`infoprop._src.common.save_figure`) into
the output directory, and returns the written paths.

Scales: ``paper`` uses the seed paper's sizes (1000 x 1000 grids over [0, 4]^2, width 100, depth 1000; hours
to days on a laptop CPU); ``small`` the same figures at sizes that run in a few minutes on 2 CPU cores;
``tiny`` a smoke-test size (seconds) for the test suite, too coarse to show anything.

Landscapes of the paper's figures (universality, zoom, dimension, depth, crossover, reproduction) use the seed
authors' normalised post-activation divergence (metric ``"forward_normalised"``, so thresholds are theirs);
``finite-size`` and ``width`` compare with the mean-field divergence and use infoprop's pre-activation ``L``.

>>> from infoprop._src.figures import RECIPES
>>> sorted(RECIPES)  # doctest: +NORMALIZE_WHITESPACE
['collapse', 'crossover', 'depth', 'dimension', 'estimators', 'finite-size', 'reproduction', 'resolution',
 'tradeoff', 'universality', 'width', 'zoom']
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .common import OutputDir, check_choice, check_int, provenance_attrs, save_figure, write_text, write_zarr
from .fractal import PAPER_WINDOWS

__all__ = ["ARCHS", "PAPER_WINDOWS", "RECIPES", "SCALES", "SIZES", "list_recipes", "make_figure"]

SCALES: tuple[str, ...] = ("tiny", "small", "paper")
#: The seed paper's architectures (figure 2).
ARCHS: tuple[str, ...] = ("mlp", "cnn", "fdf", "fdfd")
ACTIVATION = "erf"
#: Metric of the paper's own figures: the seed authors' normalised post-activation divergence.
PAPER_METRIC = "forward_normalised"

Recipe = Callable[["_Context"], list[Path]]
RECIPES: dict[str, Recipe] = {}


def _recipe(name: str) -> Callable[[Recipe], Recipe]:
    def register(fn: Recipe) -> Recipe:
        RECIPES[name] = fn
        return fn

    return register


def list_recipes() -> list[tuple[str, str]]:
    """``(name, first line of its docstring)`` for every recipe, sorted by name."""
    return [(name, (RECIPES[name].__doc__ or "").strip().splitlines()[0]) for name in sorted(RECIPES)]


@dataclass
class _Context:
    """What a recipe needs: its name and scale, where to write, the seed and a progress hook."""

    name: str
    scale: str
    out: OutputDir
    seed: int
    advance: Callable[[str], None]

    def path(self, suffix: str) -> Path:
        # Recorded in the folder's manifest first; the folder was checked before anything was computed, so the
        # writers may replace what an earlier run of infoprop wrote under this name (overwrite=True below).
        return self.out.file(f"{self.name}{suffix}")

    def attrs(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return provenance_attrs(f"figure:{self.name}", {"scale": self.scale, "seed": self.seed, **parameters})


@contextmanager
def _progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[str], None]]:
    if not enabled:
        yield lambda _description: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:  # errors stay one line
        task = bar.add_task(label, total=total)
        yield lambda description: bar.update(task, advance=1, description=f"{label}: {description}")


def make_figure(
    name: str,
    scale: str = "small",
    out: str | os.PathLike[str] = "figures",
    *,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Run the recipe ``name`` at ``scale`` and write its zarr data and PNG figures into ``out``.

    Parameters
    ----------
    name : str
        One of :data:`RECIPES` (see :func:`list_recipes`).
    scale : {"tiny", "small", "paper"}
        Problem sizes (module docstring).
    out : path
        Output folder: new, empty, or (with ``overwrite``) one infoprop wrote (checked before computing).
    seed : int
        Seed of every network draw (each landscape uses this seed).
    progress : bool
        Show a progress bar (one step per landscape) on stderr.
    overwrite : bool, keyword-only
        Write into an existing output folder of infoprop's, replacing files of the same names (other recipes'
        files stay; a folder holding anything infoprop did not write is refused).

    Returns
    -------
    list of pathlib.Path
        The written files and stores.
    """
    name = check_choice("name", name, tuple(sorted(RECIPES)))
    scale = check_choice("scale", scale, SCALES)
    seed = check_int("seed", seed, minimum=0)
    out_dir = OutputDir(out, overwrite=overwrite, name="out")
    recipe = RECIPES[name]
    with _progress_bar(progress, _STEPS[name](scale), name) as advance:
        return recipe(_Context(name, scale, out_dir, seed, advance))


# --------------------------------------------------------------------------- shared computation
def _grid(resolution: int, low: float = 0.0, high: float = 4.0) -> np.ndarray:
    return np.linspace(low, high, resolution)


def _network(arch: str, width: int, depth: int, seed: int, dtype: str = "float32") -> Any:
    from .networks import RandomNetwork

    return RandomNetwork(arch, width, depth, activation=ACTIVATION, seed=seed, dtype=dtype)


def _landscape(arch: str, width: int, depth: int, seed: int, grid: np.ndarray, metric: str = "forward") -> xr.DataArray:
    """``metric`` (:data:`infoprop.METRICS`) of independent inputs at the last layer over ``grid x grid``."""
    landscape = _network(arch, width, depth, seed).landscape(metric, grid, grid, inputs="independent")
    return landscape.transpose("sigma_w", "sigma_b")


def _variable_attrs(da: xr.DataArray) -> dict[str, Any]:
    """``long_name`` and ``units`` of a landscape, without its provenance."""
    return {k: da.attrs[k] for k in ("long_name", "units") if k in da.attrs}


def _dataset(da: xr.DataArray, attrs: dict[str, Any]) -> xr.Dataset:
    """A landscape stack as a Dataset (variable named after the metric) carrying the recipe's provenance."""
    name = da.name or da.attrs.get("metric", "forward")
    return xr.Dataset({name: _bare(da).assign_attrs(_variable_attrs(da))}, attrs=attrs)


def _labels(values: Any) -> np.ndarray:
    """String labels as an object array: zarr stores those as variable-length strings (in its v3 spec)."""
    return np.array(list(values), dtype=object)


def _bare(da: xr.DataArray) -> xr.DataArray:
    """The values and coordinates without per-landscape provenance (the stacked result gets its own)."""
    return da.drop_attrs(deep=False)


# --------------------------------------------------------------------------- universality
_UNIVERSALITY = {
    "tiny": {"resolution": 16, "width": 16, "depth": 8},
    "small": {"resolution": 160, "width": 100, "depth": 200},
    "paper": {"resolution": 1000, "width": 100, "depth": 1000},
}


@_recipe("universality")
def universality(ctx: _Context) -> list[Path]:
    """Landscapes of MLP, CNN, FDF and FDFD side by side, with the mean-field line (seed paper figure 2)."""
    from .plots.fractal import plot_landscape_grid

    p = _UNIVERSALITY[ctx.scale]
    grid = _grid(p["resolution"])
    landscapes = {}
    for arch in ARCHS:
        landscapes[arch] = _landscape(arch, p["width"], p["depth"], ctx.seed, grid, PAPER_METRIC)
        ctx.advance(arch)
    data = xr.concat([_bare(landscapes[a]) for a in ARCHS], dim=xr.Variable("arch", _labels(ARCHS)))
    attrs = ctx.attrs({**p, "activation": ACTIVATION, "metric": PAPER_METRIC})
    data = _dataset(data.assign_attrs(_long_name(landscapes)), attrs)
    fig = plot_landscape_grid(
        {("", a): landscapes[a] for a in ARCHS},
        rows=[""],
        cols=ARCHS,
        activation=ACTIVATION,
        title=f"normalised divergence ||phi(h1) - phi(h2)||^2 / N, erf, N = {p['width']}, D = {p['depth']}",
    )
    return [write_zarr(data, ctx.path(".zarr"), overwrite=True), save_figure(fig, ctx.path(".png"), overwrite=True)]


def _long_name(landscapes: dict[Any, xr.DataArray]) -> dict[str, str]:
    return _variable_attrs(next(iter(landscapes.values())))


# --------------------------------------------------------------------------- finite size
REFERENCES: tuple[str, ...] = ("chi1", "depth")
_FINITE_SIZE = {
    "tiny": {"resolution": 16, "widths": (8, 32), "depth": 8, "threshold": 1e-3},
    "small": {"resolution": 64, "widths": (20, 50, 200, 1000), "depth": 100, "threshold": 1e-3},
    "paper": {"resolution": 1000, "widths": (20, 50, 100, 200, 500, 1000), "depth": 1000, "threshold": 1e-3},
}


@_recipe("finite-size")
def finite_size(ctx: _Context) -> list[Path]:
    """Widths 20 .. 1000 per architecture with the mean-field line, and the disagreement vs width (figure 3).

    The disagreement is measured against both mean-field classes of
    :func:`infoprop.fractal.mean_field_disagreement`: ``chi_1 < 1`` and the mean-field divergence at the same
    depth (which isolates the finite-width effect). Landscapes are infoprop's pre-activation ``L``, the
    quantity the mean-field divergence predicts.
    """
    import matplotlib.pyplot as plt

    from .fractal import mean_field_disagreement
    from .plots.fractal import plot_landscape_grid

    p = _FINITE_SIZE[ctx.scale]
    grid = _grid(p["resolution"])
    landscapes: dict[tuple[str, int], xr.DataArray] = {}
    for arch in ARCHS:
        for width in p["widths"]:
            landscapes[arch, width] = _landscape(arch, width, p["depth"], ctx.seed, grid)
            ctx.advance(f"{arch} N={width}")
    disagreement = np.array(
        [
            [
                [mean_field_disagreement(landscapes[a, w], p["threshold"], ACTIVATION, reference=r) for r in REFERENCES]
                for w in p["widths"]
            ]
            for a in ARCHS
        ]
    )
    widths = list(p["widths"])
    stacked = xr.concat(
        [xr.concat([_bare(landscapes[a, w]) for w in widths], dim=xr.Variable("width", widths)) for a in ARCHS],
        dim=xr.Variable("arch", _labels(ARCHS)),
    )
    data = xr.Dataset(
        {
            "forward": stacked.assign_attrs(_long_name(landscapes)),
            "disagreement": (
                ("arch", "width", "reference"),
                disagreement,
                {"long_name": f"fraction of grid points classed unlike mean field (tau = {p['threshold']:g})"},
            ),
        },
        coords={
            "reference": (
                "reference",
                _labels(REFERENCES),
                {"long_name": "mean-field class: chi_1 < 1 or L_mf^D <= tau"},
            )
        },
        attrs=ctx.attrs({**p, "activation": ACTIVATION, "metric": "forward"}),
    )
    grid_fig = plot_landscape_grid(
        {(a, f"N={w}"): landscapes[a, w] for a in ARCHS for w in widths},
        rows=ARCHS,
        cols=[f"N={w}" for w in widths],
        activation=ACTIVATION,
        title=f"L^(D), erf, D = {p['depth']}; dashed: mean-field chi_1 = 1",
    )
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4), layout="constrained", sharey=True)
    titles = {"chi1": "vs chi_1 < 1 (finite width and depth)", "depth": f"vs mean field at depth {p['depth']}"}
    for k, (ax, reference) in enumerate(zip(axes, REFERENCES)):
        for a, rows in zip(ARCHS, disagreement):
            ax.plot(widths, rows[:, k], "o-", label=a)
        ax.set_xscale("log")
        ax.set_xlabel("width N")
        ax.set_title(f"{titles[reference]}, tau = {p['threshold']:g}", fontsize=9)
    axes[0].set_ylabel("disagreement with mean field")
    axes[0].legend(fontsize=8)
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        save_figure(grid_fig, ctx.path(".png"), overwrite=True),
        save_figure(fig, ctx.path("-disagreement.png"), overwrite=True),
    ]


# --------------------------------------------------------------------------- zoom and dimension
#: Threshold on the normalised divergence of the frontier that the zoom windows follow and that the
#: fixed-threshold dimensions use: inside the gap between ordered (L ~ 0) and chaotic (L ~ 0.1 .. 2) values.
FOLLOW_THRESHOLD = 1e-3

_ZOOM = {
    "tiny": {"resolution": 16, "width": 16, "depth": 8},
    "small": {"resolution": 129, "width": 100, "depth": 1000},
    "paper": {"resolution": 1000, "width": 100, "depth": 1000},
}
_DIMENSION = {
    "tiny": {"resolution": 129, "zoom_resolution": 129, "width": 16, "depth": 20, "archs": ("mlp", "cnn", "fdfd")},
    "small": {"resolution": 257, "zoom_resolution": 129, "width": 100, "depth": 1000, "archs": ("mlp", "cnn", "fdfd")},
    "paper": {
        "resolution": 1000,
        "zoom_resolution": 1000,
        "width": 100,
        "depth": 1000,
        "archs": ("mlp", "cnn", "fdfd"),
    },
}


def _zoom_levels(arch: str, p: dict[str, Any], seed: int, advance: Callable[[str], None]) -> list[xr.DataArray]:
    """Full view and the paper's three zoom sides, each window following the frontier (same draw).

    Returns the windows as ordinary landscapes: the full view at ``resolution`` (or ``zoom_resolution`` when
    ``p`` has no separate full-view resolution), the windows at ``zoom_resolution``, each centred by
    :func:`infoprop.fractal.follow_frontier` on the frontier ``{L <= FOLLOW_THRESHOLD}`` of the one before,
    nearest the paper's centre.
    """
    from .fractal import follow_frontier

    network = _network(arch, p["width"], p["depth"], seed)
    full_res = p.get("resolution")
    zoom_res = p.get("zoom_resolution", full_res)
    grid = _grid(full_res)
    full = network.forward_normalised(grid, grid, inputs="independent").transpose("sigma_w", "sigma_b")
    advance(f"{arch} full view")
    zoomed = follow_frontier(
        network,
        full,
        [side for _, side in PAPER_WINDOWS[1:]],
        zoom_res,
        threshold=FOLLOW_THRESHOLD,
        targets=[centre for centre, _ in PAPER_WINDOWS[1:]],
        metric=PAPER_METRIC,
        inputs="independent",
        progress=lambda k, n: advance(f"{arch} window {k + 1}"),
    )
    return [full] + [_level(zoomed, k) for k in range(zoomed.sizes["zoom"])]


def _level(zoomed: xr.DataArray, k: int) -> xr.DataArray:
    return zoomed.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")


def _window_stack(levels: list[xr.DataArray]) -> xr.DataArray:
    """Windows of equal resolution as one zoom-style DataArray (pixel-index dims, per-window coordinates)."""
    parts = []
    for level in levels:
        sw, sb = level["sigma_w"].values, level["sigma_b"].values
        parts.append(
            xr.DataArray(
                level.values[None],
                dims=("zoom", "sigma_w_index", "sigma_b_index"),
                coords={
                    "sigma_w": (("zoom", "sigma_w_index"), sw[None]),
                    "sigma_b": (("zoom", "sigma_b_index"), sb[None]),
                    "window_side": ("zoom", [float(sw[-1] - sw[0])]),
                    "center_sigma_w": ("zoom", [float(0.5 * (sw[0] + sw[-1]))]),
                    "center_sigma_b": ("zoom", [float(0.5 * (sb[0] + sb[-1]))]),
                },
                name=level.name,
            )
        )
    return xr.concat(parts, dim="zoom").assign_attrs(_variable_attrs(levels[0]))


@_recipe("zoom")
def zoom_recipe(ctx: _Context) -> list[Path]:
    """Four nested windows following the frontier of one MLP draw (seed paper figure 4)."""
    from .plots.fractal import plot_report_landscapes

    p = _ZOOM[ctx.scale]
    levels = _zoom_levels("mlp", p, ctx.seed, ctx.advance)
    labels = ["full view"] + [f"window side {side:g}" for _, side in PAPER_WINDOWS[1:]]
    fig = plot_report_landscapes(
        levels,
        labels,
        FOLLOW_THRESHOLD,
        activation=ACTIVATION,
        title=f"MLP, erf, N = {p['width']}, D = {p['depth']}, normalised divergence",
    )
    attrs = ctx.attrs(
        {
            **p,
            "arch": "mlp",
            "activation": ACTIVATION,
            "metric": PAPER_METRIC,
            "sides": [w for _, w in PAPER_WINDOWS],
            "follow_threshold": FOLLOW_THRESHOLD,
        }
    )
    return [
        write_zarr(_dataset(_window_stack(levels), attrs), ctx.path(".zarr"), overwrite=True),
        save_figure(fig, ctx.path(".png"), overwrite=True),
    ]


#: Labels of the dimension rules stored by the dimension and reproduction recipes.
RULES: tuple[str, ...] = ("robust_at_threshold", "robust_median", "authors")


def _dimension_data(ctx: _Context, advance: Callable[[str], None]) -> tuple[xr.Dataset, dict[str, list]]:
    """Landscapes and labelled dimensions (:func:`infoprop.fractal.dimension_summary`) per arch and window.

    Shared by the ``dimension`` and ``reproduction`` recipes (same sizes, :data:`_DIMENSION`). Returns the
    dataset of dimensions (dims ``arch``, ``zoom``, ``rule``) and, per arch, the windows and the two
    estimators' threshold sweeps for the figures.
    """
    from .fractal import dimension_summary

    p = _DIMENSION[ctx.scale]
    archs = list(p["archs"])
    shape = (len(archs), len(PAPER_WINDOWS), len(RULES))
    dim, err, tau = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    interior = np.zeros(shape[:2], dtype=bool)
    centres = np.zeros((*shape[:2], 2))
    extras: dict[str, list] = {}
    for i, arch in enumerate(archs):
        levels = _zoom_levels(arch, p, ctx.seed, advance)
        summaries, robust, authors = [], [], []
        for k, level in enumerate(levels):
            summary, rob, aut = dimension_summary(level, FOLLOW_THRESHOLD)
            summaries.append(summary)
            robust.append(rob)
            authors.append(aut)
            for j, rule in enumerate(RULES):
                entry = summary[rule]
                dim[i, k, j] = np.nan if entry["dimension"] is None else entry["dimension"]
                err[i, k, j] = np.nan if entry["stderr"] is None else entry["stderr"]
                tau[i, k, j] = entry.get("threshold") or np.nan
            interior[i, k] = summary["authors"]["interior"]
            centres[i, k] = [
                float(level["sigma_w"].values[[0, -1]].mean()),
                float(level["sigma_b"].values[[0, -1]].mean()),
            ]
        extras[arch] = [levels, summaries, robust, authors]
    attrs = ctx.attrs(
        {
            **p,
            "activation": ACTIVATION,
            "metric": PAPER_METRIC,
            "sides": [w for _, w in PAPER_WINDOWS],
            "follow_threshold": FOLLOW_THRESHOLD,
        }
    )
    data = xr.Dataset(
        {
            "dimension": (("arch", "zoom", "rule"), dim, {"long_name": "box-counting dimension of the frontier"}),
            "stderr": (("arch", "zoom", "rule"), err, {"long_name": "one-sigma uncertainty of the dimension"}),
            "threshold": (("arch", "zoom", "rule"), tau, {"long_name": "threshold tau of the rule (NaN: a median)"}),
            "authors_interior": (
                ("arch", "zoom"),
                interior,
                {"long_name": "the authors' maximum has resolved thresholds on both sides"},
            ),
            "center": (("arch", "zoom", "coordinate"), centres, {"long_name": "window centre (sigma_w, sigma_b)"}),
        },
        coords={
            "arch": ("arch", _labels(archs)),
            "zoom": ("zoom", [side for _, side in PAPER_WINDOWS], {"long_name": "window side"}),
            "rule": (
                "rule",
                _labels(RULES),
                {"long_name": "robust at the frontier tau | robust median over tau | authors' estimator, max over tau"},
            ),
            "coordinate": ("coordinate", _labels(["sigma_w", "sigma_b"])),
        },
        attrs=attrs,
    )
    return data, extras


@_recipe("dimension")
def dimension(ctx: _Context) -> list[Path]:
    """Box counts and dimension vs threshold per zoom window, both estimators, MLP/CNN/FDFD (figure 5)."""

    p = _DIMENSION[ctx.scale]
    data, extras = _dimension_data(ctx, ctx.advance)
    paths = [write_zarr(data, ctx.path(".zarr"), overwrite=True)]
    archs = list(extras)
    full = xr.concat([_bare(extras[a][0][0]) for a in archs], dim=xr.Variable("arch", _labels(archs)))
    windows = xr.concat(
        [_bare(_window_stack(extras[a][0][1:])) for a in archs], dim=xr.Variable("arch", _labels(archs))
    ).rename({"sigma_w": "window_sigma_w", "sigma_b": "window_sigma_b"})
    long_name = {"long_name": "normalised divergence ||phi(h^D(x1)) - phi(h^D(x2))||^2 / N"}
    landscapes = xr.Dataset(
        {"full_view": full.assign_attrs(long_name), "windows": windows.assign_attrs(long_name)}, attrs=data.attrs
    )
    paths.append(write_zarr(landscapes, ctx.path("-landscapes.zarr"), overwrite=True))
    paths += _arch_dimension_figures(ctx, extras, p)
    return paths


def _arch_dimension_figures(ctx: _Context, extras: dict[str, list], p: dict[str, Any]) -> list[Path]:
    """One report-style dimension figure per arch (``NAME-ARCH.png``)."""
    from .plots.fractal import plot_report_dimensions

    paths = []
    for arch, (levels, summaries, robust, authors) in extras.items():
        labelled = [
            {
                **summary,
                "label": "full view" if k == 0 else f"side {PAPER_WINDOWS[k][1]:g}",
                "paper": _paper(arch, k, p),
            }
            for k, summary in enumerate(summaries)
        ]
        fig = plot_report_dimensions(
            labelled, robust, authors, levels, title=f"{arch.upper()}, erf, N = {p['width']}, D = {p['depth']}"
        )
        paths.append(save_figure(fig, ctx.path(f"-{arch}.png"), overwrite=True))
    return paths


def _reproduction_row(arch: str, k: int, side: float, extra: list, width: int) -> dict[str, Any]:
    """One row of the reproduction table: the authors' exact procedure on window ``k`` (see reproduction())."""
    from .fractal import PAPER_DIMENSIONS, SWEEP_THRESHOLDS, authors_metric_factor, frontier_dimension

    levels, summaries, _, _ = extra
    level, summary = levels[k], summaries[k]
    factor = authors_metric_factor(arch, width)
    taus = SWEEP_THRESHOLDS / factor  # their sweep, in infoprop's units
    theirs = frontier_dimension(level, taus, "dinverno", strict=False)
    value = theirs.attrs["authors_dimension"]
    row: dict[str, Any] = {
        "arch": arch,
        "paper": PAPER_DIMENSIONS[arch][k],
        "resolution": level.sizes["sigma_w"],
        "value": None,
        "tau": None,
        "interior": False,
        "sigma": None,
        "agree": None,
        "robust": summary["robust_at_threshold"]["dimension"],
        "robust_stderr": summary["robust_at_threshold"]["stderr"],
    }
    sw, sb = level["sigma_w"].values, level["sigma_b"].values
    row["window"] = f"[{sw[0]:.4g}, {sw[-1]:.4g}] x [{sb[0]:.4g}, {sb[-1]:.4g}] (side {side:g})"
    if not np.isfinite(value):
        return row
    tau = theirs.attrs["authors_threshold"]
    resolved = np.flatnonzero(theirs["resolved"].values)
    index = int(np.argmin(np.abs(np.log(taus / tau))))
    fit = frontier_dimension(level, [tau], "robust", strict=False)["stderr"].values[0]
    half = level.isel(sigma_w=slice(None, None, 2), sigma_b=slice(None, None, 2))
    shift = float("nan")
    if half.sizes["sigma_w"] > 48:
        coarse = frontier_dimension(half, taus, "dinverno", strict=False).attrs["authors_dimension"]
        shift = float(value - coarse)
    sigma = float(np.hypot(fit, shift)) if np.isfinite(fit) and np.isfinite(shift) else None
    row.update(
        value=float(value),
        tau=float(tau * factor),
        interior=bool(resolved.size and resolved[0] < index < resolved[-1]),
        sigma=sigma,
        sigma_fit=float(fit),
        shift=shift,
        agree=None if sigma is None else bool(abs(value - row["paper"]) <= 2 * sigma),
    )
    return row


def _paper(arch: str, k: int, p: dict[str, Any]) -> float | None:
    from .fractal import PAPER_DIMENSIONS

    if (p["width"], p["depth"]) != (100, 1000) or arch not in PAPER_DIMENSIONS:
        return None
    return PAPER_DIMENSIONS[arch][k]


@_recipe("reproduction")
def reproduction(ctx: _Context) -> list[Path]:
    """Table: each published frontier dimension of the seed paper beside infoprop's, and whether they agree."""
    import matplotlib.pyplot as plt

    from .fractal import PAPER_DIMENSIONS

    p = _DIMENSION[ctx.scale]
    data, extras = _dimension_data(ctx, ctx.advance)
    command = f"infoprop figure reproduction --scale {ctx.scale} --seed {ctx.seed}"
    rows = [
        _reproduction_row(arch, k, side, extras[arch], p["width"])
        for arch in p["archs"]
        if arch in PAPER_DIMENSIONS
        for k, (_, side) in enumerate(PAPER_WINDOWS)
    ]
    setting = f"erf, N = {p['width']}, D = {p['depth']}, seed {ctx.seed}, metric {PAPER_METRIC}"
    lines = [
        f"# Reproduction of the seed paper's frontier dimensions ({ctx.scale} scale)",
        "",
        f"Setting: {setting}; full view {p['resolution']}^2, windows {p['zoom_resolution']}^2 following the "
        f"frontier L = {FOLLOW_THRESHOLD:g} (the paper: 1000^2 everywhere). Command: `{command}`.",
        "",
        "* infoprop, authors' procedure: their estimator (box sides 1..48 px, OLS), their threshold sweep "
        "logspace(-5, 0, 21) in their units (their divergence is 1, N, 2N times infoprop's normalised one for "
        "mlp, cnn, fdf/fdfd), the maximum kept; tau* in their units.",
        "* sigma: infoprop's robust local-slope error at tau* and the change of the value when the grid is halved "
        "(a measured resolution systematic: the paper's grids are finer), in quadrature; agree = within 2 sigma.",
        f"* robust @ tau: infoprop's estimator on the frontier at tau = {FOLLOW_THRESHOLD:g} (infoprop's units).",
        "",
        "| arch | window | grid | paper | infoprop, authors' procedure | tau* | sigma (fit, resolution) | agree "
        "| robust @ tau |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        tau = "-" if row["tau"] is None else f"{row['tau']:.3g}" + ("" if row["interior"] else " (edge)")
        sigma = "-" if row["sigma"] is None else f"{row['sigma']:.2f} ({row['sigma_fit']:.2f}, {row['shift']:+.2f})"
        agree = {True: "yes", False: "no", None: "-"}[row["agree"]]
        robust = "-" if row["robust"] is None else f"{row['robust']:.2f} ± {row['robust_stderr']:.2f}"
        lines.append(
            f"| {row['arch']} | {row['window']} | {row['resolution']}^2 | {row['paper']:.2f} | {value} | {tau} | "
            f"{sigma} | {agree} | {robust} |"
        )
    table = "\n".join(lines) + "\n"
    fig, ax = plt.subplots(figsize=(7.0, 3.8), layout="constrained")
    for i, arch in enumerate(a for a in p["archs"] if a in PAPER_DIMENSIONS):
        mine = [r for r in rows if r["arch"] == arch]
        x = np.arange(len(mine)) + 0.12 * (i - 1)
        ax.plot(x, [r["paper"] for r in mine], "_", ms=14, mew=2, color=f"C{i}", label=f"{arch} paper")
        ax.errorbar(
            x,
            [np.nan if r["value"] is None else r["value"] for r in mine],
            yerr=[2 * (r["sigma"] or 0) for r in mine],
            fmt="o",
            color=f"C{i}",
            capsize=2,
            label=f"{arch} infoprop, authors' procedure",
        )
        ax.plot(
            x,
            [np.nan if r["robust"] is None else r["robust"] for r in mine],
            "x",
            color=f"C{i}",
            label=f"{arch} infoprop, robust @ tau = {FOLLOW_THRESHOLD:g}",
        )
    ax.set_xticks(range(len(PAPER_WINDOWS)), [f"side {side:g}" for _, side in PAPER_WINDOWS])
    ax.set_ylabel("frontier dimension")
    ax.set_title(f"{setting}; bars: 2 sigma", fontsize=8)
    ax.legend(fontsize=6, ncol=3)
    data = data.assign_attrs(reproduction_table=table)
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        write_text(table, ctx.path(".md"), overwrite=True),
        save_figure(fig, ctx.path(".png"), overwrite=True),
        *_arch_dimension_figures(ctx, extras, p),
    ]


# --------------------------------------------------------------------------- resolution
_RESOLUTION = {
    "tiny": {"resolution": 129, "zoom_resolution": 129, "width": 16, "depth": 20},
    "small": {"resolution": 257, "zoom_resolution": 129, "width": 100, "depth": 1000},
    "paper": {"resolution": 513, "zoom_resolution": 513, "width": 100, "depth": 1000},
}


_RULE_NAMES = {
    "robust_at_threshold": f"robust @ tau = {FOLLOW_THRESHOLD:g}",
    "robust_median": "robust, median over tau",
    "authors": "authors' rule",
}


def resolution_table(data: xr.Dataset, scale: str, seed: int) -> str:
    """The markdown table of the ``resolution`` recipe from its dataset (half, report and doubled grids)."""
    p = json.loads(data.attrs["parameters"])
    dim, err, points = data["dimension"].values, data["stderr"].values, data["points"].values
    lines = [
        f"# Resolution check of the report ({scale} scale)",
        "",
        f"erf MLP, N = {p['width']}, D = {p['depth']}, seed {seed}, metric {PAPER_METRIC}; the report's grids (full "
        f"view {p['resolution']}^2, windows {p['zoom_resolution']}^2) are the step-2 subsamples of grids twice as "
        f"fine, and half grids the step-4 ones. Command: `infoprop figure resolution --scale {scale} --seed {seed}`. "
        "'stable' = the report's value and the doubled grid's agree within 2 sigma (errors in quadrature). The "
        "authors' rule is given with the robust estimator's error at the same threshold tau* (their OLS error is "
        "far smaller than the real one). '-': a grid below the 129 points the robust estimator needs.",
        "",
        "| window | rule | half grid | report's grid | doubled grid | stable (report vs doubled) |",
        "|---|---|---|---|---|---|",
    ]
    for v, label in enumerate(data["view"].values):
        sizes = " / ".join(f"{n}^2" for n in points[v])
        for r, rule in enumerate(data["rule"].values):
            cells = [
                f"{dim[v, i, r]:.2f} ± {err[v, i, r]:.2f}" if np.isfinite(dim[v, i, r]) else "-"
                for i in range(points.shape[1])
            ]
            a, b = dim[v, 1, r], dim[v, 2, r]
            sigma = np.hypot(err[v, 1, r], err[v, 2, r])
            stable = "-" if not (np.isfinite(a) and np.isfinite(b)) else ("yes" if abs(a - b) <= 2 * sigma else "no")
            lines.append(f"| {label} ({sizes}) | {_RULE_NAMES[rule]} | " + " | ".join(cells) + f" | {stable} |")
    return "\n".join(lines) + "\n"


@_recipe("resolution")
def resolution_recipe(ctx: _Context) -> list[Path]:
    """The report's dimensions at its resolutions and at twice them (nested grids), per window and rule."""
    import matplotlib.pyplot as plt

    from .fractal import dimension_summary, follow_frontier

    p = _RESOLUTION[ctx.scale]
    network = _network("mlp", p["width"], p["depth"], ctx.seed)
    fine = _grid(2 * p["resolution"] - 1)
    full_fine = network.forward_normalised(fine, fine, inputs="independent").transpose("sigma_w", "sigma_b")
    ctx.advance("full view")
    full = full_fine.isel(sigma_w=slice(None, None, 2), sigma_b=slice(None, None, 2))  # the report's own grid
    sides = [side for _, side in PAPER_WINDOWS[1:]]
    # windows as the report chooses them (from its own full view), evaluated at twice the zoom resolution
    zoomed = follow_frontier(
        network,
        full,
        sides,
        2 * p["zoom_resolution"] - 1,
        threshold=FOLLOW_THRESHOLD,
        targets=[centre for centre, _ in PAPER_WINDOWS[1:]],
        metric=PAPER_METRIC,
        inputs="independent",
        progress=lambda k, n: ctx.advance(f"window {k}"),
    )
    views = [("full view", full_fine, p["resolution"])] + [
        (f"side {side:g}", _level(zoomed, k), p["zoom_resolution"]) for k, side in enumerate(sides)
    ]
    steps = (4, 2, 1)
    shape = (len(views), len(steps), len(RULES))
    dim, err = np.full(shape, np.nan), np.full(shape, np.nan)
    points = np.zeros((len(views), len(steps)), dtype=np.int64)
    for v, (_, landscape, _) in enumerate(views):
        for i, step in enumerate(steps):
            sub = landscape.isel(sigma_w=slice(None, None, step), sigma_b=slice(None, None, step))
            points[v, i] = sub.sizes["sigma_w"]
            if points[v, i] < 129:
                continue
            summary, robust, _ = dimension_summary(sub, FOLLOW_THRESHOLD)
            for r, rule in enumerate(RULES):
                entry = summary[rule]
                dim[v, i, r] = np.nan if entry["dimension"] is None else entry["dimension"]
                err[v, i, r] = np.nan if entry["stderr"] is None else entry["stderr"]
            if summary["authors"]["threshold"] is not None:
                # the authors' OLS error is far too small (docs/fractal.md): use the robust error at their tau*
                taus = robust["threshold"].values
                at = int(np.argmin(np.abs(np.log(taus / summary["authors"]["threshold"]))))
                err[v, i, RULES.index("authors")] = robust["stderr"].values[at]
    labels = [name for name, _, _ in views]
    data = xr.Dataset(
        {
            "dimension": (("view", "step", "rule"), dim, {"long_name": "box-counting dimension of the frontier"}),
            "stderr": (
                ("view", "step", "rule"),
                err,
                {"long_name": "one-sigma uncertainty (authors' rule: the robust error at their tau*)"},
            ),
            "points": (("view", "step"), points, {"long_name": "grid points per axis"}),
        },
        coords={
            "view": ("view", _labels(labels)),
            "step": ("step", list(steps), {"long_name": "subsampling step of the finest grid"}),
            "rule": ("rule", _labels(RULES)),
        },
        attrs=ctx.attrs(
            {**p, "arch": "mlp", "activation": ACTIVATION, "metric": PAPER_METRIC, "threshold": FOLLOW_THRESHOLD}
        ),
    )
    table = resolution_table(data, ctx.scale, ctx.seed)
    fig, axes = plt.subplots(1, len(RULES), figsize=(12.0, 3.6), layout="constrained", sharey=True)
    for r, (ax, rule) in enumerate(zip(axes, RULES)):
        for v, label in enumerate(labels):
            ok = points[v] >= 129
            ax.errorbar(points[v][ok], dim[v, ok, r], yerr=2 * err[v, ok, r], fmt="o-", capsize=2, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("grid points per axis")
        ax.set_title(_RULE_NAMES[rule], fontsize=9)
    axes[0].set_ylabel("frontier dimension")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"MLP, erf, N = {p['width']}, D = {p['depth']}: the report's windows at 1/2, 1 and 2 x its grid")
    data = data.assign_attrs(resolution_table=table)
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        write_text(table, ctx.path(".md"), overwrite=True),
        save_figure(fig, ctx.path(".png"), overwrite=True),
    ]


# --------------------------------------------------------------------------- depth and scale dependence
_DEPTH = {
    "tiny": {"depths": (4, 8, 16, 32), "resolution": 129, "width": 16, "side": 0.4},
    "small": {"depths": (10, 30, 100, 150, 200, 300, 1000), "resolution": 129, "width": 100, "side": 0.1},
    "paper": {"depths": (10, 30, 100, 150, 200, 300, 1000, 3000), "resolution": 1000, "width": 100, "side": 0.1},
}


@_recipe("depth")
def depth_recipe(ctx: _Context) -> list[Path]:
    """Frontier dimension against depth (full view and one window on the frontier), with the crossover depth."""
    import matplotlib.pyplot as plt

    from .fractal import dimension_summary, follow_frontier, step_crossover

    p = _DEPTH[ctx.scale]
    depths = list(p["depths"])
    grid = _grid(p["resolution"])
    shape = (len(depths), 2, len(RULES))
    dim, err = np.full(shape, np.nan), np.full(shape, np.nan)
    centres = np.zeros((len(depths), 2))
    for i, depth in enumerate(depths):
        network = _network("mlp", p["width"], depth, ctx.seed)
        full = network.forward_normalised(grid, grid, inputs="independent").transpose("sigma_w", "sigma_b")
        window = _level(
            follow_frontier(
                network,
                full,
                [p["side"]],
                p["resolution"],
                threshold=FOLLOW_THRESHOLD,
                targets=[PAPER_WINDOWS[2][0]],
                metric=PAPER_METRIC,
                inputs="independent",
            ),
            0,
        )
        centres[i] = [float(window["sigma_w"].values[[0, -1]].mean()), float(window["sigma_b"].values[[0, -1]].mean())]
        for j, landscape in enumerate((full, window)):
            summary, _, _ = dimension_summary(landscape, FOLLOW_THRESHOLD)
            for r, rule in enumerate(RULES):
                entry = summary[rule]
                dim[i, j, r] = np.nan if entry["dimension"] is None else entry["dimension"]
                err[i, j, r] = np.nan if entry["stderr"] is None else entry["stderr"]
        ctx.advance(f"D={depth}")
    fits = {}
    for j, view in enumerate(("full view", f"window {p['side']:g}")):
        y, e = dim[:, j, 0], err[:, j, 0]
        ok = np.isfinite(y)
        try:
            fits[view] = step_crossover(np.array(depths, dtype=float)[ok], y[ok], e[ok])
        except ValueError as exc:
            fits[view] = {"error": str(exc)}
    data = xr.Dataset(
        {
            "dimension": (("depth", "view", "rule"), dim, {"long_name": "box-counting dimension of the frontier"}),
            "stderr": (("depth", "view", "rule"), err, {"long_name": "one-sigma uncertainty"}),
            "window_center": (
                ("depth", "coordinate"),
                centres,
                {"long_name": "centre of the window (sigma_w, sigma_b)"},
            ),
        },
        coords={
            "depth": ("depth", depths),
            "view": ("view", _labels(["full view", f"window {p['side']:g}"])),
            "rule": ("rule", _labels(RULES)),
            "coordinate": ("coordinate", _labels(["sigma_w", "sigma_b"])),
        },
        attrs=ctx.attrs(
            {
                **p,
                "arch": "mlp",
                "activation": ACTIVATION,
                "metric": PAPER_METRIC,
                "threshold": FOLLOW_THRESHOLD,
                "crossover_fits": fits,
            }
        ),
    )
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained", sharey=True)
    for j, (ax, view) in enumerate(zip(axes, data["view"].values)):
        ax.errorbar(
            depths,
            dim[:, j, 0],
            yerr=2 * err[:, j, 0],
            fmt="o-",
            capsize=2,
            label=f"robust @ tau = {FOLLOW_THRESHOLD:g}",
        )
        ax.plot(depths, dim[:, j, 2], "s--", mfc="none", label="authors' estimator, max over tau")
        fit = fits[view]
        if "crossover" in fit:
            ax.axvline(
                fit["crossover"],
                color="k",
                ls=":",
                lw=1,
                label=f"half height: D* = 10^({fit['log10_crossover']:.2f} ± {fit['log10_crossover_stderr']:.2f})",
            )
        ax.set_xscale("log")
        ax.set_xlabel("depth D")
        ax.set_title(str(view), fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("frontier dimension")
    fig.suptitle(f"MLP, erf, N = {p['width']}, {p['resolution']}^2, normalised divergence; bars: 2 sigma")
    return [write_zarr(data, ctx.path(".zarr"), overwrite=True), save_figure(fig, ctx.path(".png"), overwrite=True)]


#: Grid spacing below which the crossover recipe evaluates in float64 (8 float32 ulps at sigma ~ 2).
_FLOAT32_MIN_SPACING = 2e-6
_CROSSOVER = {
    "tiny": {"depths": (8,), "sides": (4.0, 1.0, 0.25, 0.0625), "resolution": 129, "width": 16},
    "small": {
        "depths": (50, 100, 200),
        "sides": tuple(4.0 * 4.0**-k for k in range(7)),
        "resolution": 129,
        "width": 100,
    },
    "paper": {
        "depths": (50, 100, 200, 300, 400),
        "sides": tuple(4.0 * 4.0**-k for k in range(12)),
        "resolution": 513,
        "width": 100,
    },
}


@_recipe("crossover")
def crossover(ctx: _Context) -> list[Path]:
    """Local dimension against scale in a deep zoom at fixed depth: the scale where the fine structure stops."""
    import matplotlib.pyplot as plt

    from .fractal import box_dimension, follow_frontier, local_dimensions, mixed_cells

    p = _CROSSOVER[ctx.scale]
    sides = list(p["sides"])
    grid = _grid(p["resolution"])
    # float32 resolves sigma ~ 2 to 2.4e-7: finer grids would repeat values, so deep zooms run in float64
    dtype = "float64" if min(sides) / (p["resolution"] - 1) < _FLOAT32_MIN_SPACING else "float32"
    records = []  # (depth index, window index, physical scale, local dimension)
    fits = {}
    for i, depth in enumerate(p["depths"]):
        network = _network("mlp", p["width"], depth, ctx.seed, dtype=dtype)
        full = network.forward_normalised(grid, grid, inputs="independent").transpose("sigma_w", "sigma_b")
        windows = [full]
        if len(sides) > 1:
            zoomed = follow_frontier(
                network,
                full,
                sides[1:],
                p["resolution"],
                threshold=FOLLOW_THRESHOLD,
                targets=[PAPER_WINDOWS[2][0]] * (len(sides) - 1),
                metric=PAPER_METRIC,
                inputs="independent",
            )
            windows += [_level(zoomed, k) for k in range(len(sides) - 1)]
        for k, window in enumerate(windows):
            cells = mixed_cells(window.values <= FOLLOW_THRESHOLD)
            spacing = float(window["sigma_w"].values[1] - window["sigma_w"].values[0])
            try:
                result = box_dimension(cells, "robust")
            except ValueError:
                continue  # the window missed the frontier
            scales, slopes = local_dimensions(result)
            records += [(i, k, s * spacing, d) for s, d in zip(scales, slopes)]
        fits[str(depth)] = _small_scale_crossover(np.array([r for r in records if r[0] == i]))
        ctx.advance(f"D={depth}")
    table = np.array(records) if records else np.zeros((0, 4))
    data = xr.Dataset(
        {
            "depth": (
                "sample",
                np.asarray(p["depths"])[table[:, 0].astype(int)] if len(table) else [],
                {"long_name": "network depth D"},
            ),
            "window_side": (
                "sample",
                np.asarray(sides)[table[:, 1].astype(int)] if len(table) else [],
                {"long_name": "side of the window the local dimension comes from"},
            ),
            "scale": ("sample", table[:, 2], {"long_name": "physical box side (sigma units)"}),
            "local_dimension": ("sample", table[:, 3], {"long_name": "one-octave local box-counting dimension"}),
        },
        attrs=ctx.attrs(
            {
                **p,
                "arch": "mlp",
                "activation": ACTIVATION,
                "metric": PAPER_METRIC,
                "threshold": FOLLOW_THRESHOLD,
                "dtype": dtype,
                "crossover_fits": fits,
            }
        ),
    )
    data.attrs["depth_fit"] = json.dumps(_log_linear_fit(p["depths"], fits))
    fig, (ax, right) = plt.subplots(1, 2, figsize=(11.0, 4.0), layout="constrained")
    for i, depth in enumerate(p["depths"]):
        mine = table[table[:, 0] == i] if len(table) else table
        fit = fits[str(depth)]
        label = f"D = {depth}"
        if "crossover" in fit:
            label += f": s* = 10^({fit['log10_crossover']:.2f} ± {fit['log10_crossover_stderr']:.2f})"
        (line,) = ax.plot(mine[:, 2], mine[:, 3], "o", ms=3, alpha=0.6, label=label)
        if "crossover" in fit:
            ax.axvline(fit["crossover"], color=line.get_color(), ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("box side (sigma units)")
    ax.set_ylabel("local dimension (one octave)")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_title(
        f"MLP, erf, N = {p['width']}, windows {p['resolution']}^2 following L = {FOLLOW_THRESHOLD:g}; dashed: s*",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    measured = [(d, fits[str(d)]) for d in p["depths"] if "crossover" in fits[str(d)]]
    if measured:
        right.errorbar(
            [d for d, _ in measured],
            [f["log10_crossover"] for _, f in measured],
            yerr=[2 * f["log10_crossover_stderr"] for _, f in measured],
            fmt="o",
            capsize=2,
        )
    depth_fit = data.attrs.get("depth_fit")
    if depth_fit and "slope" in json.loads(depth_fit):
        fit = json.loads(depth_fit)
        xs = np.linspace(min(p["depths"]), max(p["depths"]), 50)
        right.plot(
            xs,
            fit["intercept"] + fit["slope"] * xs,
            "k--",
            label=f"log10 s* = a - D / {-1 / fit['slope']:.0f} (± {fit['slope_stderr'] / fit['slope'] ** 2:.0f})",
        )
        right.legend(fontsize=7)
    right.set_xlabel("depth D")
    right.set_ylabel("log10 s* (bars: 2 sigma, bootstrap over windows)")
    return [write_zarr(data, ctx.path(".zarr"), overwrite=True), save_figure(fig, ctx.path(".png"), overwrite=True)]


def _log_linear_fit(depths: Any, fits: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Weighted straight line ``log10 s* = intercept + slope D`` through the measured crossovers."""
    points = [(d, fits[str(d)]) for d in depths if "crossover" in fits[str(d)]]
    points = [(d, f) for d, f in points if np.isfinite(f["log10_crossover_stderr"]) and f["log10_crossover_stderr"] > 0]
    if len(points) < 2:
        return {"error": "fewer than two depths with a measured crossover"}
    x = np.array([d for d, _ in points], dtype=float)
    y = np.array([f["log10_crossover"] for _, f in points])
    w = 1.0 / np.array([f["log10_crossover_stderr"] for _, f in points]) ** 2
    design = np.stack([np.ones_like(x), x], axis=1)
    normal = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(normal, design.T @ (w * y))
    cov = np.linalg.inv(normal)
    residual = y - design @ coef
    chi2 = float(residual @ (w * residual) / max(1, len(x) - 2)) if len(x) > 2 else float("nan")
    if np.isfinite(chi2):
        cov = cov * max(1.0, chi2)
    return {
        "intercept": float(coef[0]),
        "slope": float(coef[1]),
        "slope_stderr": float(np.sqrt(cov[1, 1])),
        "reduced_chi2": chi2,
        "depths": x.tolist(),
    }


def _small_scale_crossover(samples: np.ndarray) -> dict[str, Any]:
    """:func:`infoprop.fractal.crossover_scale` of ``(depth index, window, scale, local dimension)`` samples."""
    from .fractal import crossover_scale

    if len(samples) < 4:
        return {"error": "fewer than 4 local dimensions: the windows missed the frontier"}
    try:
        return crossover_scale(samples[:, 2], samples[:, 3], samples[:, 1])
    except ValueError as exc:
        return {"error": str(exc)}


# --------------------------------------------------------------------------- width dependence
_WIDTH = {
    "tiny": {
        "widths": (8, 16, 32),
        "depth": 8,
        "seeds": 2,
        "n_sigma_w": 64,
        "sigma_b": (0.5, 1.0),
        "half_window": 0.5,
        "threshold": 1e-3,
    },
    "small": {
        "widths": (25, 50, 100, 200, 400, 800),
        "depth": 50,
        "seeds": 4,
        "n_sigma_w": 200,
        "sigma_b": (0.5, 1.0, 2.0),
        "half_window": 0.5,
        "threshold": 1e-3,
    },
    "paper": {
        "widths": (25, 50, 100, 200, 400, 800),
        "depth": 1000,
        "seeds": 16,
        "n_sigma_w": 1000,
        "sigma_b": (0.5, 1.0, 2.0),
        "half_window": 0.5,
        "threshold": 1e-3,
    },
}


@_recipe("width")
def width_recipe(ctx: _Context) -> list[Path]:
    """Shift of the finite-width frontier from mean field against width N, with the fitted exponent."""
    import matplotlib.pyplot as plt

    from .fractal import fit_power_law
    from .meanfield import MeanField

    p = _WIDTH[ctx.scale]
    mean_field = MeanField(ACTIVATION)
    sigma_b = np.asarray(p["sigma_b"], dtype=float)
    critical = np.asarray(mean_field.critical_sigma_w(sigma_b), dtype=float)
    offsets = np.linspace(-p["half_window"], p["half_window"], p["n_sigma_w"])
    lines = np.clip(critical[:, None] + offsets[None, :], 0.0, None)  # (line, point)
    span = 2 * p["half_window"]
    tau = p["threshold"]
    reference = np.zeros(len(sigma_b))
    for j, b in enumerate(sigma_b):
        with np.errstate(over="ignore", invalid="ignore"):
            final = mean_field.trajectory(lines[j], b, q0=1.0, c0=0.0, depth=p["depth"], layers=[p["depth"]])
        reference[j] = np.mean(final["divergence"].values.ravel() <= tau) * span
    shift = np.zeros((len(p["widths"]), p["seeds"], len(sigma_b)))
    for i, width in enumerate(p["widths"]):
        for seed in range(p["seeds"]):
            network = _network("mlp", width, p["depth"], ctx.seed + seed)
            points_w = lines.ravel()
            points_b = np.repeat(sigma_b, p["n_sigma_w"])
            values = network.forward(points_w, points_b, inputs="independent", grid=False).values
            ordered = (values.reshape(lines.shape) <= tau).mean(axis=1) * span
            shift[i, seed] = ordered - reference
        ctx.advance(f"N={width}")
    mean = shift.mean(axis=(1, 2))
    stderr = shift.reshape(len(p["widths"]), -1).std(axis=1, ddof=1) / np.sqrt(shift[0].size)
    fit: dict[str, Any]
    try:
        fit = fit_power_law(np.asarray(p["widths"], float), np.abs(mean), np.maximum(stderr, 1e-12))
    except ValueError as exc:
        fit = {"error": str(exc)}
    data = xr.Dataset(
        {
            "shift": (
                ("width", "seed", "sigma_b"),
                shift,
                {
                    "long_name": "ordered length on the line minus mean field's (sigma_w units; > 0: frontier "
                    "moved to larger sigma_w)"
                },
            ),
            "mean_shift": ("width", mean, {"long_name": "shift averaged over seeds and lines"}),
            "mean_shift_stderr": ("width", stderr, {"long_name": "standard error of the mean shift"}),
            "critical_sigma_w": ("sigma_b", critical, {"long_name": "mean-field critical sigma_w (chi_1 = 1)"}),
        },
        coords={"width": list(p["widths"]), "seed": ctx.seed + np.arange(p["seeds"]), "sigma_b": sigma_b},
        attrs=ctx.attrs({**p, "arch": "mlp", "activation": ACTIVATION, "metric": "forward", "fit": fit}),
    )
    fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    widths = np.asarray(p["widths"], float)
    ax.errorbar(
        widths,
        np.abs(mean),
        yerr=2 * stderr,
        fmt="o",
        capsize=2,
        label="|mean shift| (" + ", ".join("+" if m > 0 else "-" for m in mean) + ")",
    )
    if "exponent" in fit:
        ax.plot(
            widths,
            fit["prefactor"] * widths ** -fit["exponent"],
            "k--",
            label=f"fit N^-p: p = {fit['exponent']:.2f} ± {fit['exponent_stderr']:.2f}",
        )
    ax.set_xscale("log")
    if (np.abs(mean) > 0).any():
        ax.set_yscale("log")
    ax.set_xlabel("width N")
    ax.set_ylabel("frontier shift from mean field (sigma_w)")
    ax.set_title(
        f"MLP, erf, D = {p['depth']}, tau = {tau:g}, sigma_b in {tuple(p['sigma_b'])}, {p['seeds']} seeds", fontsize=8
    )
    ax.legend(fontsize=7)
    return [write_zarr(data, ctx.path(".zarr"), overwrite=True), save_figure(fig, ctx.path(".png"), overwrite=True)]


# --------------------------------------------------------------------------- FDF exact collapse
_COLLAPSE = {
    "tiny": {"width": 16, "depth": 40, "seeds": 2, "sigma_w": (1.2, 3.6, 6), "sigma_b": (0.0, 0.35, 3)},
    "small": {"width": 100, "depth": 200, "seeds": 20, "sigma_w": (1.2, 3.6, 25), "sigma_b": (0.0, 0.35, 8)},
    "paper": {"width": 100, "depth": 1000, "seeds": 50, "sigma_w": (1.2, 3.6, 49), "sigma_b": (0.0, 0.35, 15)},
}
#: Architectures compared by the collapse recipe, with two FDF controls computed in NumPy (:func:`_fdf_numpy`):
#: "fdf-rows-permuted" (P A: same singular values, Fourier pairs destroyed, the constant vector still a common
#: eigenvector) and "fdf-signs-flipped" (S A with random signs S: same singular values, no common eigenvector).
COLLAPSE_ARCHS: tuple[str, ...] = (
    "fdf",
    "fdf-rows-permuted",
    "fdf-signs-flipped",
    "cnn",
    "fdfd",
    "mlp",
    "orthogonal",
)
#: ``L`` at or below this counts as collapsed (the two inputs' states equal to round-off or exactly).
COLLAPSE_LEVEL = 1e-20


def _fdf_numpy(network: Any, sw: np.ndarray, sb: np.ndarray, control: str, rng: np.random.Generator) -> np.ndarray:
    """Float64 NumPy forward pass of both inputs over points (sw, sb) with every A_l changed; ``L`` at depth D.

    ``control="rows-permuted"`` uses ``P_l A_l`` (random row permutations), ``"signs-flipped"`` uses
    ``S_l A_l`` (random row signs). Both keep each layer's singular values and normalisation; the first keeps
    the constant vector as a common eigenvector (``P 1 = 1``), the second does not.
    """
    from scipy.special import erf

    x1, x2 = network.inputs()
    n = network.width
    states = [np.broadcast_to(x, (sw.size, n)) for x in (x1, x2)]
    for layer in range(1, network.depth + 1):
        a = network.operator_matrix(layer)
        if control == "rows-permuted":
            a = a[rng.permutation(n)]
        else:
            a = a * rng.choice([-1.0, 1.0], size=n)[:, None]
        b = network.bias(layer)
        inputs = states if layer == 1 else [erf(h) for h in states]
        states = [sw[:, None] * (v @ a.T) + sb[:, None] * b for v in inputs]
    d = states[0] - states[1]
    return np.einsum("ij,ij->i", d, d) / n


def _condensation_trace(network: Any, sw: float, sb: float) -> dict[str, np.ndarray]:
    """Per layer: L, the fraction of h^l(x1)'s energy in the constant mode, mean erf'(h)^2 (NumPy, float64)."""
    from scipy.special import erf

    x1, x2 = network.inputs()
    n = network.width
    h = [x1, x2]
    out = {"divergence": [], "constant_fraction": [], "mean_slope2": []}
    for layer in range(1, network.depth + 1):
        a, b = network.operator_matrix(layer), network.bias(layer)
        h = [sw * a @ (v if layer == 1 else erf(v)) + sb * b for v in h]
        d = h[0] - h[1]
        out["divergence"].append(d @ d / n)
        out["constant_fraction"].append(h[0].mean() ** 2 * n / (h[0] @ h[0]))
        out["mean_slope2"].append(float(np.mean((2 / np.sqrt(np.pi) * np.exp(-(h[0] ** 2))) ** 2)))
    return {k: np.asarray(v) for k, v in out.items()}


@_recipe("collapse")
def collapse(ctx: _Context) -> list[Path]:
    """Exact collapse of two inputs in the chaotic phase at small sigma_b: FDF vs the others and a control."""
    import matplotlib.pyplot as plt

    from .meanfield import MeanField

    p = _COLLAPSE[ctx.scale]
    sigma_w = np.linspace(*p["sigma_w"][:2], p["sigma_w"][2])
    sigma_b = np.linspace(*p["sigma_b"][:2], p["sigma_b"][2])
    chaotic = np.asarray(MeanField(ACTIVATION).chi1(sigma_w[:, None], sigma_b[None, :])) > 1.05
    pw, pb = np.meshgrid(sigma_w, sigma_b, indexing="ij")
    counts = np.zeros((len(COLLAPSE_ARCHS), len(sigma_b)), dtype=np.int64)
    first: tuple[int, float, float] | None = None
    for seed in range(ctx.seed, ctx.seed + p["seeds"]):
        for a, arch in enumerate(COLLAPSE_ARCHS):
            network = _network(arch.split("-")[0], p["width"], p["depth"], seed, dtype="float64")
            if arch.startswith("fdf-"):
                control = arch.removeprefix("fdf-")
                values = _fdf_numpy(network, pw.ravel(), pb.ravel(), control, np.random.default_rng(seed))
                values = values.reshape(pw.shape)
            else:
                values = network.forward(sigma_w, sigma_b, inputs="independent").values
            hit = (values <= COLLAPSE_LEVEL) & chaotic
            counts[a] += hit.sum(axis=0)
            if arch == "fdf" and first is None and hit.any():
                i, j = np.argwhere(hit)[0]
                first = (seed, float(sigma_w[i]), float(sigma_b[j]))
        ctx.advance(f"seed {seed}")
    trace = None
    if first is not None:
        trace = _condensation_trace(_network("fdf", p["width"], p["depth"], first[0], "float64"), first[1], first[2])
    total = int(chaotic.sum()) * p["seeds"]
    data = xr.Dataset(
        {
            "collapsed": (
                ("arch", "sigma_b"),
                counts,
                {"long_name": f"chaotic (chi_1 > 1.05) grid points with L <= {COLLAPSE_LEVEL:g}, all seeds"},
            ),
            "chaotic_points": (
                "sigma_b",
                chaotic.sum(axis=0) * p["seeds"],
                {"long_name": "chaotic grid points, all seeds"},
            ),
        },
        coords={"arch": ("arch", _labels(COLLAPSE_ARCHS)), "sigma_b": sigma_b},
        attrs=ctx.attrs(
            {
                **p,
                "activation": ACTIVATION,
                "dtype": "float64",
                "metric": "forward",
                "example": list(first) if first else None,
            }
        ),
    )
    if trace is not None:
        data = data.assign(
            {
                name: (("layer",), values, {"long_name": f"{name.replace('_', ' ')} along the example trajectory"})
                for name, values in trace.items()
            }
        ).assign_coords(layer=np.arange(1, p["depth"] + 1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.8), layout="constrained")
    x = np.arange(len(COLLAPSE_ARCHS))
    left.bar(x, counts.sum(axis=1))
    left.set_xticks(x, list(COLLAPSE_ARCHS), fontsize=7, rotation=25, ha="right")
    left.set_ylabel(f"collapsed chaotic points (of {total})")
    left.set_title(
        f"N = {p['width']}, D = {p['depth']}, {p['seeds']} seeds, sigma_b <= {sigma_b[-1]:g}, float64", fontsize=8
    )
    if trace is not None:
        layers = np.arange(1, p["depth"] + 1)
        right.semilogy(layers, np.maximum(trace["divergence"], 1e-35), label="L (two inputs)")
        right.semilogy(layers, trace["constant_fraction"], label="energy fraction of h in the constant mode")
        right.semilogy(layers, np.maximum(trace["mean_slope2"], 1e-35), label="mean erf'(h)^2")
        right.set_xlabel("layer")
        right.set_title(f"FDF seed {first[0]} at (sigma_w, sigma_b) = ({first[1]:.3g}, {first[2]:.3g})", fontsize=8)
        right.legend(fontsize=7)
    else:
        right.set_axis_off()
    return [write_zarr(data, ctx.path(".zarr"), overwrite=True), save_figure(fig, ctx.path(".png"), overwrite=True)]


def _summary_vars(ds: xr.Dataset) -> xr.Dataset:
    """A frontier_dimension result with its scalar summaries turned into variables (so results can stack)."""
    from .fractal import SUMMARY_ATTRS

    summaries = {key: ((), ds.attrs[key], {"long_name": key.replace("_", " ")}) for key in SUMMARY_ATTRS}
    return ds.assign(summaries).drop_attrs(deep=False)


# --------------------------------------------------------------------------- tradeoff
_TRADEOFF = {
    "tiny": {"n_sigma_w": 8, "sigma_b": 0.3, "width": 16, "depth": 16, "layers": (1, 4, 16), "eps": 1e-3},
    "small": {
        "n_sigma_w": 96,
        "sigma_b": 0.3,
        "width": 100,
        "depth": 300,
        "layers": (3, 10, 30, 100, 300),
        "eps": 1e-3,
    },
    "paper": {
        "n_sigma_w": 1000,
        "sigma_b": 0.3,
        "width": 100,
        "depth": 1000,
        "layers": (10, 30, 100, 300, 1000),
        "eps": 1e-3,
    },
}


@_recipe("tradeoff")
def tradeoff(ctx: _Context) -> list[Path]:
    """Separation (divergence of independent inputs) vs robustness (L_eps / eps^2) across depths (SPEC 3)."""
    import matplotlib.pyplot as plt

    p = _TRADEOFF[ctx.scale]
    sigma_w = _grid(p["n_sigma_w"], 0.05, 4.0)
    sigma_b = np.array([p["sigma_b"]])
    # float64: in the ordered phase both metrics fall far below float32 round-off (~1e-14 relative).
    network = _network("mlp", p["width"], p["depth"], ctx.seed, dtype="float64")
    layers = list(p["layers"])
    separation = network.forward(sigma_w, sigma_b, inputs="independent", layers=layers).isel(sigma_b=0)
    ctx.advance("separation")
    perturbed = network.forward(sigma_w, sigma_b, inputs="perturbed", eps=p["eps"], layers=layers).isel(sigma_b=0)
    ctx.advance("robustness")
    robustness = perturbed / p["eps"] ** 2
    data = xr.Dataset(
        {
            "separation": _bare(separation).assign_attrs(long_name="separation: L of independent inputs"),
            "robustness": _bare(robustness).assign_attrs(long_name=f"amplification L_eps / eps^2 (eps = {p['eps']:g})"),
        },
        attrs=ctx.attrs({**p, "activation": ACTIVATION, "arch": "mlp", "dtype": "float64"}),
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(layers)))
    floor = 1e-20  # display floor: exact zeros (early exit) and values below it are drawn at it
    for colour, layer in zip(colours, layers):
        sep = np.maximum(data["separation"].sel(layer=layer).values, floor)
        rob = np.maximum(data["robustness"].sel(layer=layer).values, floor)
        left.loglog(rob, sep, "-", color=colour, label=f"depth {layer}")
        right.semilogy(sigma_w, sep, "-", color=colour, label=f"depth {layer}")
        right.semilogy(sigma_w, rob, ":", color=colour)
    left.set_xlabel("robustness: L_eps / eps^2 (small is robust)")
    left.set_ylabel("separation: L of independent inputs")
    left.set_title("sigma_w grows towards the upper right", fontsize=8)
    left.legend(fontsize=7)
    right.set_xlabel("sigma_w (std)")
    right.set_ylabel("separation (solid), robustness (dotted)")
    fig.suptitle(f"MLP, erf, N = {p['width']}, sigma_b = {p['sigma_b']}, float64; display floor {floor:g}")
    return [write_zarr(data, ctx.path(".zarr"), overwrite=True), save_figure(fig, ctx.path(".png"), overwrite=True)]


# --------------------------------------------------------------------------- estimator validation
_ESTIMATORS = {
    "tiny": {"sides": (256,), "landscape": {"resolution": 129, "width": 16, "depth": 20}},
    "small": {"sides": (1024, 4096), "landscape": {"resolution": 400, "width": 100, "depth": 200}},
    "paper": {"sides": (1024, 4096), "landscape": {"resolution": 1000, "width": 100, "depth": 1000}},
}


@_recipe("estimators")
def estimators(ctx: _Context) -> list[Path]:
    """Robust vs the authors' box-counting estimator on sets of known dimension and on a real MLP frontier."""
    from .fractal import ESTIMATORS, box_dimension, frontier_dimension
    from .fractal_sets import REFERENCE_SETS
    from .plots.fractal import plot_estimator_comparison, plot_frontier_dimensions

    p = _ESTIMATORS[ctx.scale]
    names = list(REFERENCE_SETS)
    shape = (len(names), len(ESTIMATORS), len(p["sides"]))
    dim, err = np.zeros(shape), np.zeros(shape)
    for k, side in enumerate(p["sides"]):
        for i, name in enumerate(names):
            image = REFERENCE_SETS[name][0](side)
            for j, estimator in enumerate(ESTIMATORS):
                result = box_dimension(image, estimator)
                dim[i, j, k], err[i, j, k] = result.dimension, result.stderr
        ctx.advance(f"reference sets {side}^2")
    coords = {"set": _labels(names), "estimator": _labels(ESTIMATORS), "side": list(p["sides"])}
    table = xr.Dataset(
        {
            "dimension": (("set", "estimator", "side"), dim, {"long_name": "estimated box-counting dimension"}),
            "stderr": (("set", "estimator", "side"), err, {"long_name": "reported standard error"}),
            "truth": ("set", [REFERENCE_SETS[n][1] for n in names], {"long_name": "true dimension"}),
        },
        coords=coords,
        attrs=ctx.attrs(p),
    )
    q = p["landscape"]
    landscape = _landscape("mlp", q["width"], q["depth"], ctx.seed, _grid(q["resolution"]))
    ctx.advance("MLP landscape")
    frontiers = {e: frontier_dimension(landscape, estimator=e, strict=False) for e in ESTIMATORS}
    real = xr.concat(
        [_summary_vars(frontiers[e]).drop_dims("box_size") for e in ESTIMATORS],
        dim=xr.Variable("estimator", _labels(ESTIMATORS)),
    )
    data = table.assign({f"frontier_{k}": v for k, v in real.data_vars.items()})
    fig_sets = plot_estimator_comparison(table)
    fig_real = plot_frontier_dimensions(
        frontiers, title=f"one MLP frontier (erf, N = {q['width']}, D = {q['depth']}, {q['resolution']}^2)"
    )
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        save_figure(fig_sets, ctx.path(".png"), overwrite=True),
        save_figure(fig_real, ctx.path("-frontier.png"), overwrite=True),
    ]


#: Problem sizes of each recipe per scale.
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "universality": _UNIVERSALITY,
    "finite-size": _FINITE_SIZE,
    "zoom": _ZOOM,
    "dimension": _DIMENSION,
    "reproduction": _DIMENSION,
    "resolution": _RESOLUTION,
    "depth": _DEPTH,
    "crossover": _CROSSOVER,
    "width": _WIDTH,
    "collapse": _COLLAPSE,
    "tradeoff": _TRADEOFF,
    "estimators": _ESTIMATORS,
}

_STEPS: dict[str, Callable[[str], int]] = {
    "universality": lambda scale: len(ARCHS),
    "finite-size": lambda scale: len(ARCHS) * len(_FINITE_SIZE[scale]["widths"]),
    "zoom": lambda scale: len(PAPER_WINDOWS),
    "dimension": lambda scale: len(PAPER_WINDOWS) * len(_DIMENSION[scale]["archs"]),
    "reproduction": lambda scale: len(PAPER_WINDOWS) * len(_DIMENSION[scale]["archs"]),
    "resolution": lambda scale: 1 + len(PAPER_WINDOWS) - 1,
    "depth": lambda scale: len(_DEPTH[scale]["depths"]),
    "crossover": lambda scale: len(_CROSSOVER[scale]["depths"]),
    "width": lambda scale: len(_WIDTH[scale]["widths"]),
    "collapse": lambda scale: _COLLAPSE[scale]["seeds"],
    "tradeoff": lambda scale: 2,
    "estimators": lambda scale: len(_ESTIMATORS[scale]["sides"]) + 1,
}
