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
    "plot_report_dimensions",
    "plot_report_landscapes",
]


def _log_label(landscape: Any) -> str:
    """Colour-bar label: ``log10`` of the landscape's metric (its ``metric`` attribute), e.g. ``log10 L_post``."""
    metric = getattr(landscape, "attrs", {}).get("metric", "forward")
    symbol = {"forward": "L", "forward_normalised": "L_post (normalised divergence)"}.get(metric, metric)
    return f"log10 {symbol}"


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
        fig.colorbar(image, ax=axes, label=_log_label(next(iter(landscapes.values()))), shrink=0.8)
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
    """Two panels per set of frontiers: box counts at the summary's threshold, and dimension vs threshold.

    ``frontiers`` maps a label (e.g. a zoom level) to a :func:`infoprop.fractal.frontier_dimension` result.
    Each result is summarised by its estimator's own rule, and the legend says which: a ``"dinverno"`` result
    by the seed authors' rule (maximum over thresholds, counts at that threshold ``tau*``), a ``"robust"``
    result by infoprop's median over resolved thresholds (counts at the resolved threshold whose dimension is
    closest to the median). The legend's numbers are the result's ``authors_*`` or ``recommended_*``
    attributes, and each gives the threshold whose counts are drawn. The right panel shows dimension +- 2
    stderr against the threshold, with the maximum marked by a star. Frontiers without a resolved threshold
    are only listed.
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
    for label, ds in frontiers.items():
        resolved = ds["resolved"].values
        if not resolved.any():  # e.g. a zoom window that missed the frontier
            left.plot([], [], " ", label=f"{label}: no resolved frontier")
            continue
        dimension = ds["dimension"].values
        taus = ds["threshold"].values
        if ds.attrs.get("estimator") == "dinverno":
            shown = int(np.argmin(np.abs(np.log(taus / ds.attrs["authors_threshold"]))))
            text = (
                f"{label}, authors' estimator, max over tau: D = {ds.attrs['authors_dimension']:.2f} "
                f"(tau* = {taus[shown]:.2g})"
            )
        else:
            median = ds.attrs["recommended_dimension"]
            shown = int(np.nanargmin(np.where(resolved, np.abs(dimension - median), np.nan)))
            text = (
                f"{label}, robust, median over tau: D = {median:.2f} ± {ds.attrs['recommended_stderr']:.2f} "
                f"(counts at tau = {taus[shown]:.2g})"
            )
        (line,) = left.loglog(ds["box_size"].values, ds["count"].values[shown], "o-", ms=3, lw=0.8, label=text)
        colour = line.get_color()
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
    left.legend(fontsize=6)
    right.set_xscale("log")
    right.set_xlabel("threshold tau on L")
    right.set_ylabel("box-counting dimension")
    right.set_title("★ = maximum over tau (the authors' rule)", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _window_rectangle(ax: Any, window: Any, colour: str) -> None:
    from matplotlib.patches import Rectangle

    sw, sb = window["sigma_w"].values, window["sigma_b"].values
    ax.add_patch(Rectangle((sw[0], sb[0]), sw[-1] - sw[0], sb[-1] - sb[0], fill=False, edgecolor=colour, linewidth=1.0))


def plot_report_landscapes(
    windows: Sequence[Any],
    labels: Sequence[str],
    threshold: float,
    *,
    activation: Any = None,
    arch: str = "mlp",
    title: str | None = None,
    note: str | None = None,
) -> Any:
    """The report's landscapes: full view and zoom windows side by side, on one colour scale.

    Each panel shows ``log10 L`` with the frontier ``L = threshold`` (black contour) and the outline of the
    next window (cyan). ``activation`` draws the mean-field line ``chi_1 = 1`` (white dashed) where it crosses
    a window; leave it None for architectures without one and say so in ``note`` (printed under the title).
    """
    import matplotlib.pyplot as plt

    logs = [log10_floor(landscape_values(w)) for w in windows]
    vmin, vmax = min(float(v.min()) for v in logs), max(float(v.max()) for v in logs)
    fig, axes = plt.subplots(
        1, len(windows), figsize=(3.6 * len(windows) + 1.0, 3.9), squeeze=False, layout="constrained"
    )
    axes = axes[0]
    image = None
    for k, (ax, window, label) in enumerate(zip(axes, windows, labels)):
        image = draw_landscape(
            ax, window, activation=activation, threshold=threshold, vmin=vmin, vmax=vmax, colorbar=False, arch=arch
        )
        if k + 1 < len(windows):
            _window_rectangle(ax, windows[k + 1], "cyan")
        ax.set_title(label, fontsize=9)
        if k:
            ax.set_ylabel("")
    fig.colorbar(image, ax=list(axes), label=_log_label(windows[0]), shrink=0.85)
    lines = [title] if title else []
    lines.append(
        f"black: frontier L = {threshold:g}; cyan: next window"
        + ("" if activation is None else "; white dashed: mean-field chi_1 = 1")
    )
    if note:
        lines.append(note)
    fig.suptitle("\n".join(lines), fontsize=9)
    return fig


def plot_report_dimensions(
    levels: Sequence[Mapping[str, Any]],
    robust: Sequence[xr.Dataset],
    authors: Sequence[xr.Dataset],
    windows: Sequence[Any],
    *,
    title: str | None = None,
) -> Any:
    """The report's dimension figure; every legend number is the report summary's number.

    Panels: (a) box counts of each window's frontier at the report's threshold, robust estimator
    (``levels[k]["robust_at_threshold"]``); (b) box counts at the authors' threshold ``tau*``, authors'
    estimator (``levels[k]["authors"]``); (c) dimension against threshold, robust (solid, +- 2 stderr) and
    authors' (dashed), the authors' maximum starred, the report's threshold dotted and the paper's value
    (where the setting is the paper's) as a short horizontal bar at the right.
    """
    import matplotlib.pyplot as plt

    from ..fractal import box_dimension, mixed_cells

    fig, (ax_a, ax_b, ax_c) = plt.subplots(1, 3, figsize=(15.5, 4.4), layout="constrained")
    threshold = levels[0]["robust_at_threshold"]["threshold"]
    for k, (level, rob, aut, window) in enumerate(zip(levels, robust, authors, windows)):
        colour = f"C{k}"
        values = landscape_values(window)
        at = level["robust_at_threshold"]
        if at["dimension"] is not None:
            result = box_dimension(mixed_cells(values <= threshold), "robust")
            ax_a.loglog(result.sizes, result.counts, "o", ms=3, color=colour)
            ax_a.loglog(
                result.sizes,
                np.exp(result.intercept) * result.sizes.astype(float) ** (-result.dimension),
                "-",
                lw=0.8,
                color=colour,
                label=f"{level['label']}: D = {at['dimension']:.3f} ± {at['stderr']:.3f}",
            )
        else:
            ax_a.plot([], [], " ", label=f"{level['label']}: no resolved frontier at this tau")
        auth = level["authors"]
        if auth["dimension"] is not None:
            result = box_dimension(mixed_cells(values <= auth["threshold"]), "dinverno")
            ax_b.loglog(result.sizes, result.counts, "o", ms=2, color=colour)
            ax_b.loglog(
                result.sizes,
                np.exp(result.intercept) * result.sizes.astype(float) ** (-result.dimension),
                "-",
                lw=0.8,
                color=colour,
                label=f"{level['label']}: D = {auth['dimension']:.3f} at tau* = {auth['threshold']:.3g}",
            )
        else:
            ax_b.plot([], [], " ", label=f"{level['label']}: no resolved frontier")
        for ds, style, name in ((rob, "o-", "robust"), (aut, "s--", "authors'")):
            ok = ds["resolved"].values
            if not ok.any():
                continue
            taus, dims = ds["threshold"].values[ok], ds["dimension"].values[ok]
            if name == "robust":
                ax_c.errorbar(
                    taus,
                    dims,
                    yerr=2 * ds["stderr"].values[ok],
                    fmt=style,
                    ms=3,
                    lw=0.8,
                    capsize=1.5,
                    color=colour,
                    label=f"{level['label']}, {name}",
                )
            else:
                ax_c.plot(taus, dims, style, ms=3, lw=0.8, color=colour, mfc="none", label=f"{level['label']}, {name}")
        if auth["dimension"] is not None:
            ax_c.plot(auth["threshold"], auth["dimension"], "*", ms=12, color=colour, markeredgecolor="k")
        if level.get("paper") is not None:
            ax_c.plot([1.0], [level["paper"]], "_", ms=22, mew=2.5, color=colour, transform=ax_c.get_yaxis_transform())
    ax_c.axvline(threshold, color="k", ls=":", lw=0.8)
    ax_a.set_title(f"(a) robust estimator at the frontier threshold tau = {threshold:g}", fontsize=9)
    ax_b.set_title("(b) authors' estimator (1..48 px) at their tau* (max over tau)", fontsize=9)
    ax_c.set_title(
        "(c) D vs tau: robust (solid), authors' (dashed); ★ authors' max;\n"
        "dotted: frontier tau; bars at right edge: paper",
        fontsize=9,
    )
    for ax in (ax_a, ax_b):
        ax.set_xlabel("box side s (pixels)")
        ax.set_ylabel("box count N(s)")
        ax.legend(fontsize=7)
    ax_c.set_xscale("log")
    ax_c.set_xlabel("threshold tau on L")
    ax_c.set_ylabel("box-counting dimension")
    ax_c.legend(fontsize=6, ncol=2)
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
