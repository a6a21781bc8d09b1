"""Figure recipes: the seed paper's figures (and infoprop's own checks), one command each.

``infoprop figure NAME --scale small|paper --out DIR`` calls :func:`make_figure`. Each recipe computes its
landscapes with :class:`infoprop.RandomNetwork` (erf, one draw per landscape from ``seed``), writes its data as
zarr (:func:`infoprop._src.common.write_zarr`) and its figures as PNG (:func:`infoprop._src.common.save_figure`) into
the output directory, and returns the written paths.

Scales: ``paper`` uses the seed paper's sizes (1000 x 1000 grids over [0, 4]^2, width 100, depth 1000; hours
to days on a laptop CPU); ``small`` the same figures at sizes that run in a few minutes on 2 CPU cores;
``tiny`` a smoke-test size (seconds) for the test suite, too coarse to show anything.

>>> from infoprop._src.figures import RECIPES
>>> sorted(RECIPES)
['dimension', 'estimators', 'finite-size', 'tradeoff', 'universality', 'zoom']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .common import OutputDir, check_choice, check_int, provenance_attrs, save_figure, write_zarr

__all__ = ["ARCHITECTURES", "RECIPES", "SCALES", "SIZES", "list_recipes", "make_figure"]

SCALES: tuple[str, ...] = ("tiny", "small", "paper")
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "fdf", "fdfd")
ACTIVATION = "erf"

#: The seed paper's zoom windows (centre (sigma_w, sigma_b), side), SPEC section 4.
PAPER_WINDOWS: tuple[tuple[tuple[float, float], float], ...] = (
    ((2.0, 2.0), 4.0),
    ((2.2, 2.0), 0.4),
    ((2.2, 2.05), 0.1),
    ((2.2, 2.05), 0.025),
)

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


def _network(architecture: str, width: int, depth: int, seed: int, dtype: str = "float32") -> Any:
    from .networks import RandomNetwork

    return RandomNetwork(architecture, width, depth, activation=ACTIVATION, seed=seed, dtype=dtype)


def _landscape(architecture: str, width: int, depth: int, seed: int, grid: np.ndarray) -> xr.DataArray:
    """Forward divergence of independent inputs at the last layer over ``grid x grid``."""
    landscape = _network(architecture, width, depth, seed).forward(grid, grid, inputs="independent")
    return landscape.transpose("sigma_w", "sigma_b")


def _variable_attrs(da: xr.DataArray) -> dict[str, Any]:
    """``long_name`` and ``units`` of a landscape, without its provenance."""
    return {k: da.attrs[k] for k in ("long_name", "units") if k in da.attrs}


def _dataset(da: xr.DataArray, attrs: dict[str, Any]) -> xr.Dataset:
    """A landscape stack as a Dataset whose own attributes carry the recipe's provenance."""
    return xr.Dataset({"divergence": _bare(da).assign_attrs(_variable_attrs(da))}, attrs=attrs)


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
    for arch in ARCHITECTURES:
        landscapes[arch] = _landscape(arch, p["width"], p["depth"], ctx.seed, grid)
        ctx.advance(arch)
    data = xr.concat(
        [_bare(landscapes[a]) for a in ARCHITECTURES], dim=xr.Variable("architecture", _labels(ARCHITECTURES))
    )
    data = _dataset(data.assign_attrs(_long_name(landscapes)), ctx.attrs({**p, "activation": ACTIVATION}))
    fig = plot_landscape_grid(
        {("", a): landscapes[a] for a in ARCHITECTURES},
        rows=[""],
        cols=ARCHITECTURES,
        activation=ACTIVATION,
        title=f"L^(D), erf, N = {p['width']}, D = {p['depth']}",
    )
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        save_figure(fig, ctx.path(".png"), overwrite=True),
    ]


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
    depth (which isolates the finite-width effect).
    """
    import matplotlib.pyplot as plt

    from .fractal import mean_field_disagreement
    from .plots.fractal import plot_landscape_grid

    p = _FINITE_SIZE[ctx.scale]
    grid = _grid(p["resolution"])
    landscapes: dict[tuple[str, int], xr.DataArray] = {}
    for arch in ARCHITECTURES:
        for width in p["widths"]:
            landscapes[arch, width] = _landscape(arch, width, p["depth"], ctx.seed, grid)
            ctx.advance(f"{arch} N={width}")
    disagreement = np.array(
        [
            [
                [mean_field_disagreement(landscapes[a, w], p["threshold"], ACTIVATION, reference=r) for r in REFERENCES]
                for w in p["widths"]
            ]
            for a in ARCHITECTURES
        ]
    )
    widths = list(p["widths"])
    stacked = xr.concat(
        [xr.concat([_bare(landscapes[a, w]) for w in widths], dim=xr.Variable("width", widths)) for a in ARCHITECTURES],
        dim=xr.Variable("architecture", _labels(ARCHITECTURES)),
    )
    data = xr.Dataset(
        {
            "divergence": stacked.assign_attrs(_long_name(landscapes)),
            "disagreement": (
                ("architecture", "width", "reference"),
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
        attrs=ctx.attrs({**p, "activation": ACTIVATION}),
    )
    grid_fig = plot_landscape_grid(
        {(a, f"N={w}"): landscapes[a, w] for a in ARCHITECTURES for w in widths},
        rows=ARCHITECTURES,
        cols=[f"N={w}" for w in widths],
        activation=ACTIVATION,
        title=f"L^(D), erf, D = {p['depth']}; dashed: mean-field chi_1 = 1",
    )
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4), layout="constrained", sharey=True)
    titles = {"chi1": "vs chi_1 < 1 (finite width and depth)", "depth": f"vs mean field at depth {p['depth']}"}
    for k, (ax, reference) in enumerate(zip(axes, REFERENCES)):
        for a, rows in zip(ARCHITECTURES, disagreement):
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
_ZOOM = {
    "tiny": {"resolution": 16, "width": 16, "depth": 8},
    "small": {"resolution": 160, "width": 100, "depth": 200},
    "paper": {"resolution": 1000, "width": 100, "depth": 1000},
}
_DIMENSION = {
    "tiny": {"resolution": 129, "width": 16, "depth": 20, "architectures": ("mlp", "cnn", "fdf")},
    "small": {"resolution": 200, "width": 100, "depth": 100, "architectures": ("mlp", "cnn", "fdf")},
    "paper": {"resolution": 1000, "width": 100, "depth": 1000, "architectures": ("mlp", "cnn", "fdf")},
}


def _zoom_levels(arch: str, p: dict[str, Any], ctx: _Context) -> xr.DataArray:
    """The paper's four window sides, each window centred on a frontier point of the previous one.

    The paper's window centres are frontier points of the authors' own draw; with another draw the frontier
    passes elsewhere, so each window after the first is centred on the boundary cell (at ``FOLLOW_THRESHOLD``)
    of the previous window that is nearest the paper's centre and leaves the new window inside the old one.
    """
    from .fractal import zoom

    network = _network(arch, p["width"], p["depth"], ctx.seed)
    levels: list[xr.DataArray] = []
    for k, (paper_center, side) in enumerate(PAPER_WINDOWS):
        center = paper_center if k == 0 else _boundary_point(_level(levels[-1], 0), paper_center, side)
        levels.append(zoom(network, center, [side], p["resolution"], inputs="independent"))
        ctx.advance(f"{arch} window {k + 1}")
    # Each level's provenance describes that window only; keep what the stack shares.
    return xr.concat(levels, dim="zoom", combine_attrs="drop").assign_attrs(_variable_attrs(levels[0]))


#: Threshold on L of the frontier that the zoom windows follow.
FOLLOW_THRESHOLD = 1e-3


def _boundary_point(landscape: xr.DataArray, target: tuple[float, float], side: float) -> tuple[float, float]:
    from .fractal import boundary

    cells = boundary(landscape, FOLLOW_THRESHOLD)
    sw, sb = np.meshgrid(cells["sigma_w"].values, cells["sigma_b"].values, indexing="ij")
    half = side / 2
    lo_w, hi_w = landscape["sigma_w"].values[[0, -1]]
    lo_b, hi_b = landscape["sigma_b"].values[[0, -1]]
    inside = (sw - half >= max(lo_w, 0.0)) & (sw + half <= hi_w) & (sb - half >= max(lo_b, 0.0)) & (sb + half <= hi_b)
    candidates = cells.values & inside
    if not candidates.any():  # no frontier in this window: keep the paper's centre, moved inside the window
        return (
            float(np.clip(target[0], max(lo_w, 0.0) + half, hi_w - half)),
            float(np.clip(target[1], max(lo_b, 0.0) + half, hi_b - half)),
        )
    distance = np.where(candidates, (sw - target[0]) ** 2 + (sb - target[1]) ** 2, np.inf)
    i, j = np.unravel_index(int(np.argmin(distance)), distance.shape)
    return float(sw[i, j]), float(sb[i, j])


def _level(zoomed: xr.DataArray, k: int) -> xr.DataArray:
    return zoomed.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")


@_recipe("zoom")
def zoom_recipe(ctx: _Context) -> list[Path]:
    """Four nested windows around a frontier point of one MLP draw (seed paper figure 4)."""
    import matplotlib.pyplot as plt

    from .plots.fractal import draw_landscape

    p = _ZOOM[ctx.scale]
    zoomed = _zoom_levels("mlp", p, ctx)
    fig, axes = plt.subplots(1, len(PAPER_WINDOWS), figsize=(3.9 * len(PAPER_WINDOWS), 3.0), layout="constrained")
    for k, ax in enumerate(axes):
        draw_landscape(ax, _level(zoomed, k))
        ax.set_title(f"window side {float(zoomed.window_side[k]):g}", fontsize=9)
    fig.suptitle(f"MLP, erf, N = {p['width']}, D = {p['depth']}")
    attrs = ctx.attrs(
        {
            **p,
            "arch": "mlp",
            "activation": ACTIVATION,
            "sides": [w for _, w in PAPER_WINDOWS],
            "follow_threshold": FOLLOW_THRESHOLD,
        }
    )
    return [
        write_zarr(_dataset(zoomed, attrs), ctx.path(".zarr"), overwrite=True),
        save_figure(fig, ctx.path(".png"), overwrite=True),
    ]


@_recipe("dimension")
def dimension(ctx: _Context) -> list[Path]:
    """Box counts and dimension vs threshold per zoom level, for MLP, CNN and FDF (seed paper figure 5)."""
    from .fractal import frontier_dimension
    from .plots.fractal import plot_frontier_dimensions

    p = _DIMENSION[ctx.scale]
    paths: list[Path] = []
    zooms, frontiers = [], []
    for arch in p["architectures"]:
        zoomed = _zoom_levels(arch, p, ctx)
        per_level = {}
        for k in range(len(PAPER_WINDOWS)):
            per_level[f"side {float(zoomed.window_side[k]):g}"] = frontier_dimension(_level(zoomed, k), strict=False)
        zooms.append(zoomed)
        frontiers.append(xr.concat([_summary_vars(ds) for ds in per_level.values()], dim="zoom"))
        fig = plot_frontier_dimensions(per_level, title=f"{arch.upper()}, erf, N = {p['width']}, D = {p['depth']}")
        paths.append(save_figure(fig, ctx.path(f"-{arch}.png"), overwrite=True))
    architectures = xr.Variable("architecture", _labels(p["architectures"]))
    attrs = ctx.attrs(
        {**p, "activation": ACTIVATION, "sides": [w for _, w in PAPER_WINDOWS], "follow_threshold": FOLLOW_THRESHOLD}
    )
    data = xr.concat(frontiers, dim=architectures).assign_attrs(attrs)
    landscapes = _dataset(xr.concat(zooms, dim=architectures), attrs)
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        write_zarr(landscapes, ctx.path("-landscapes.zarr"), overwrite=True),
        *paths,
    ]


def _summary_vars(ds: xr.Dataset) -> xr.Dataset:
    """A frontier_dimension result with its scalar summaries turned into variables (so levels can stack)."""
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
        attrs=ctx.attrs({**p, "activation": ACTIVATION, "architecture": "mlp", "dtype": "float64"}),
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
    return [
        write_zarr(data, ctx.path(".zarr"), overwrite=True),
        save_figure(fig, ctx.path(".png"), overwrite=True),
    ]


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
    "tradeoff": _TRADEOFF,
    "estimators": _ESTIMATORS,
}

_STEPS: dict[str, Callable[[str], int]] = {
    "universality": lambda scale: len(ARCHITECTURES),
    "finite-size": lambda scale: len(ARCHITECTURES) * len(_FINITE_SIZE[scale]["widths"]),
    "zoom": lambda scale: len(PAPER_WINDOWS),
    "dimension": lambda scale: len(PAPER_WINDOWS) * len(_DIMENSION[scale]["architectures"]),
    "tradeoff": lambda scale: 2,
    "estimators": lambda scale: len(_ESTIMATORS[scale]["sides"]) + 1,
}
