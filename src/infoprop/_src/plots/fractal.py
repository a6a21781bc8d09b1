"""Figures of fractal frontiers: landscapes with their mean-field line, box counts, dimension vs threshold.

Landscapes are drawn by :func:`infoprop._src.plots.landscape.draw_landscape` (the one landscape drawing
function: ``log10 L`` with ``sigma_w`` on the horizontal axis and ``sigma_b`` on the vertical axis, exact zeros at
the colour scale's floor). Each function returns a matplotlib Figure; save it with
:func:`infoprop._src.common.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..fractal import BoxDimension, landscape_values
from .landscape import draw_landscape, draw_mean_field_line, log10_floor

__all__ = [
    "draw_landscape",
    "draw_mean_field_line",
    "plot_box_counts",
    "plot_estimator_comparison",
    "plot_frontier_dimensions",
    "plot_landscape_grid",
]

def plot_landscape_grid(
    landscapes: Mapping[tuple[str, str], Any],
    *,
    rows: Sequence[str],
    cols: Sequence[str],
    activation: Any = None,
    threshold: float | None = None,
    title: str | None = None,
) -> Any:
    """A grid of landscapes ``landscapes[(row, col)]`` on a shared colour scale (missing keys stay blank)."""
    import matplotlib.pyplot as plt

    finite = [log10_floor(landscape_values(v)) for v in landscapes.values()]
    vmin = min(float(f.min()) for f in finite)
    vmax = max(float(f.max()) for f in finite)
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(2.8 * len(cols) + 1.0, 2.6 * len(rows)), squeeze=False, layout="constrained"
    )
    image = None
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            if (row, col) not in landscapes:
                ax.set_axis_off()
                continue
            image = draw_landscape(
                ax,
                landscapes[row, col],
                activation=activation,
                threshold=threshold,
                vmin=vmin,
                vmax=vmax,
                colorbar=False,
            )
            ax.set_title(f"{row} {col}".strip(), fontsize=9)
            if i < len(rows) - 1:
                ax.set_xlabel("")
            if j > 0:
                ax.set_ylabel("")
    if image is not None:
        fig.colorbar(image, ax=axes, label="log10 L", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_box_counts(results: Mapping[str, BoxDimension], ax: Any = None) -> Any:
    """``log N(s)`` against ``log s`` with each fitted line; the legend gives dimension +- stderr."""
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.6), layout="constrained")
    for label, result in results.items():
        (line,) = ax.loglog(result.sizes, result.counts, "o", ms=3)
        fitted = np.exp(result.intercept) * result.sizes.astype(float) ** (-result.dimension)
        ax.loglog(
            result.sizes,
            fitted,
            "-",
            color=line.get_color(),
            lw=1,
            label=f"{label}: D = {result.dimension:.3f} ± {result.stderr:.3f}",
        )
    ax.set_xlabel("box side s (pixels)")
    ax.set_ylabel("box count N(s)")
    ax.legend(fontsize=7)
    return fig if fig is not None else ax.figure


def plot_frontier_dimensions(frontiers: Mapping[str, xr.Dataset], title: str | None = None) -> Any:
    """Two panels per set of frontiers: box counts at the recommended threshold, and dimension vs threshold.

    ``frontiers`` maps a label (e.g. a zoom level) to a :func:`infoprop.fractal.frontier_dimension` result.
    The left panel shows, for each frontier, the counts at the resolved threshold whose dimension is closest
    to the recommended (median) one; the right panel shows dimension +- 2 stderr against the threshold, with
    the authors' choice (maximum) marked by a star. Frontiers without a resolved threshold are only listed.
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    for label, ds in frontiers.items():
        resolved = ds["resolved"].values
        if not resolved.any():  # e.g. a zoom window that missed the frontier
            left.plot([], [], " ", label=f"{label}: no resolved frontier")
            continue
        dimension = ds["dimension"].values
        closest = int(np.nanargmin(np.where(resolved, np.abs(dimension - ds.attrs["recommended_dimension"]), np.nan)))
        counts = ds["count"].values[closest]
        sizes = ds["box_size"].values
        (line,) = left.loglog(
            sizes,
            counts,
            "o-",
            ms=3,
            lw=0.8,
            label=f"{label}: D = {ds.attrs['recommended_dimension']:.2f} ± {ds.attrs['recommended_stderr']:.2f}",
        )
        colour = line.get_color()
        taus = ds["threshold"].values
        right.errorbar(
            taus[resolved],
            dimension[resolved],
            yerr=2 * ds["stderr"].values[resolved],
            fmt="o-",
            ms=3,
            lw=0.8,
            capsize=2,
            color=colour,
            label=label,
        )
        right.plot(
            ds.attrs["authors_threshold"], ds.attrs["authors_dimension"], "*", ms=11, color=colour, markeredgecolor="k"
        )
    left.set_xlabel("box side s (pixels)")
    left.set_ylabel("box count N(s)")
    left.legend(fontsize=7)
    right.set_xscale("log")
    right.set_xlabel("threshold tau on L")
    right.set_ylabel("box-counting dimension")
    right.set_title("★ = authors' rule (max over tau)", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_estimator_comparison(table: xr.Dataset) -> Any:
    """Error of each estimator on each reference set (the ``estimators`` recipe's table): points, 2-stderr bars.

    ``table`` has variables ``dimension`` and ``stderr`` on dims ``(set, estimator, side)`` and ``truth`` on
    ``set``.
    """
    import matplotlib.pyplot as plt

    sets = list(table["set"].values)
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    x = np.arange(len(sets))
    combos = [(e, s) for e in table["estimator"].values for s in table["side"].values]
    width = 0.8 / len(combos)
    for k, (estimator, side) in enumerate(combos):
        sel = table.sel(estimator=estimator, side=side)
        error = sel["dimension"].values - table["truth"].values
        ax.errorbar(
            x - 0.4 + (k + 0.5) * width,
            error,
            yerr=2 * sel["stderr"].values,
            fmt="o",
            ms=4,
            capsize=2,
            label=f"{estimator}, {side}^2",
        )
    ax.axhline(0.0, color="k", lw=0.8)
    ax.axhspan(-0.03, 0.03, color="0.9", zorder=0)
    ax.set_xticks(x, [s.replace("_", "\n") for s in sets], fontsize=7)
    ax.set_ylabel("estimate - true dimension")
    ax.legend(fontsize=7, ncol=2)
    return fig
