"""Figures of fractal frontiers: landscapes with their mean-field line, box counts, dimension vs threshold.

Landscapes are drawn as ``log10 L`` with ``sigma_w`` on the horizontal axis and ``sigma_b`` on the vertical
axis (standard deviations). Exact zeros of ``L`` (ordered points where the divergence underflowed) are shown at
the colour scale's floor. Each function returns a matplotlib Figure; save it with
:func:`infoprop._src.common.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..fractal import BoxDimension, landscape_values

__all__ = [
    "draw_landscape",
    "plot_box_counts",
    "plot_estimator_comparison",
    "plot_frontier_dimensions",
    "plot_landscape_grid",
]

# Colour scale floor for log10 L: far below any threshold of interest (1e-5).
_LOG_FLOOR = -12.0


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        logs = np.log10(values)
    return np.clip(logs, _LOG_FLOOR, None)


def _axis_coords(landscape: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(landscape, xr.DataArray) and "sigma_w" in landscape.coords and "sigma_b" in landscape.coords:
        return np.asarray(landscape["sigma_w"].values), np.asarray(landscape["sigma_b"].values)
    return np.arange(shape[0], dtype=float), np.arange(shape[1], dtype=float)


def draw_landscape(
    ax: Any,
    landscape: Any,
    *,
    activation: Any = None,
    threshold: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
) -> Any:
    """Draw ``log10 L`` of one landscape on ``ax``; optionally the mean-field line and a threshold contour.

    Parameters
    ----------
    ax : matplotlib Axes
    landscape : xarray.DataArray or array_like
        ``L(sigma_w, sigma_b)`` (see :func:`infoprop.fractal.landscape_values`).
    activation : str or Activation, optional
        Draw the mean-field critical line ``chi_1 = 1`` of this activation (white dashed).
    threshold : float, optional
        Draw the contour ``L = threshold`` (black), i.e. the frontier whose dimension is measured.
    vmin, vmax : float, optional
        Colour limits of ``log10 L``.
    colorbar : bool
        Add a colour bar.
    """
    values = landscape_values(landscape)
    sigma_w, sigma_b = _axis_coords(landscape, values.shape)
    logs = _log10(values)
    extent = (sigma_w[0], sigma_w[-1], sigma_b[0], sigma_b[-1])
    image = ax.imshow(
        logs.T,
        origin="lower",
        extent=extent,
        aspect="auto",
        cmap="magma",
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="log10 L")
    if threshold is not None and values.min() <= threshold < values.max():
        ax.contour(sigma_w, sigma_b, logs.T, levels=[np.log10(threshold)], colors="k", linewidths=0.6)
    if activation is not None:
        draw_mean_field_line(ax, sigma_w, sigma_b, activation, colour="w", linewidth=1.2)
    ax.set_xlabel("sigma_w (std)")
    ax.set_ylabel("sigma_b (std)")
    return image


def draw_mean_field_line(
    ax: Any, sigma_w: np.ndarray, sigma_b: np.ndarray, activation: Any, *, colour: str, linewidth: float
) -> None:
    """Dashed mean-field critical line ``chi_1 = 1`` on the grid ``sigma_w x sigma_b``, if it crosses it."""
    from ..fractal import mean_field_chi1

    chi1 = mean_field_chi1(sigma_w, sigma_b, activation)
    if np.nanmin(chi1) < 1.0 < np.nanmax(chi1):
        ax.contour(sigma_w, sigma_b, chi1.T, levels=[1.0], colors=colour, linestyles="--", linewidths=linewidth)


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

    finite = [_log10(landscape_values(v)) for v in landscapes.values()]
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
