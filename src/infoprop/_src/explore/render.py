"""What the page shows of a view: the colour-mapped landscape, the threshold boundary, its dimension, the
mean-field critical line.

Colours follow :func:`infoprop.plots.plot_landscape` (the exported figure): a distance-like metric (forward or
backward divergence) is shown as ``log10`` of its value with exact zeros at :data:`LOG_FLOOR` and the magma map
from the smallest to the largest finite value; the Lyapunov exponent as itself with RdBu_r, symmetric about 0
over the 2nd-98th percentile of ``|lambda|``. PNGs are encoded directly (matplotlib's colour map, Pillow's PNG
encoder at the fastest compression): about 5 ms for a 256^2 view where a matplotlib figure takes ~150 ms.

Image layout: the PNG's column ``i`` is ``sigma_w[i]`` (increasing to the right), its row ``0`` is the largest
``sigma_b`` (increasing upwards), one pixel per grid point. The boundary PNG has one pixel per 2x2 cell of
neighbouring grid points (``(res - 1)^2``), transparent except on the boundary.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..plots.landscape import LOG_FLOOR
from .view import View, is_signed

DIVERGENCE_CMAP, SIGNED_CMAP = "magma", "RdBu_r"
BOUNDARY_RGBA = (0, 255, 255, 230)  # cyan, as the critical line of the exported figure
#: Vertices of the mean-field critical line per view.
CRITICAL_LINE_POINTS = 64  # the line is smooth (analytic in sigma_b)

_LABELS = {
    "forward": "log10 L (forward divergence)",
    "backward": "log10 L' (backward divergence)",
    "lyapunov": "Lyapunov exponent lambda (per layer)",
}


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    """``data:`` URL of a PNG."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def colour_scale(values: np.ndarray, metric: str) -> dict[str, Any]:
    """The displayed quantity and its colour range for ``values`` (NaN = not computed, ignored).

    Returns ``shown`` (array), ``vmin``, ``vmax``, ``cmap``, ``log`` (whether ``shown`` is ``log10`` of the
    metric) and ``label``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if is_signed(metric):
            finite = values[np.isfinite(values)]
            span = float(np.max(np.abs(np.percentile(finite, [2, 98])))) if finite.size else 1.0
            span = span or 1.0
            return {
                "shown": values,
                "vmin": -span,
                "vmax": span,
                "cmap": SIGNED_CMAP,
                "log": False,
                "label": _LABELS.get(metric, metric),
            }
        shown = np.clip(np.log10(values), LOG_FLOOR, None)
    finite = shown[np.isfinite(shown)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (LOG_FLOOR, 0.0)
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return {
        "shown": shown,
        "vmin": vmin,
        "vmax": vmax,
        "cmap": DIVERGENCE_CMAP,
        "log": True,
        "label": _LABELS.get(metric, f"log10 {metric}"),
    }


def to_image(grid: np.ndarray) -> np.ndarray:
    """Grid ``(sigma_w, sigma_b)`` -> image rows (top = largest sigma_b), columns sigma_w."""
    return np.asarray(grid).T[::-1]


def landscape_png(values: np.ndarray, scale: dict[str, Any]) -> bytes:
    """RGBA PNG of the landscape (``values`` on ``(sigma_w, sigma_b)``, no NaN) in ``scale``'s colours."""
    from matplotlib import colormaps

    shown = np.asarray(scale["shown"], dtype=np.float64)
    # +inf (overflow, chaotic) takes the top colour, -inf (lambda with a vanishing Jacobian) the bottom one
    normed = (np.clip(shown, scale["vmin"], scale["vmax"]) - scale["vmin"]) / (scale["vmax"] - scale["vmin"])
    rgba = colormaps[scale["cmap"]](to_image(normed), bytes=True)
    return _png(rgba)


def colourbar_png(cmap: str, length: int = 256) -> bytes:
    """Vertical colour bar, top = largest value."""
    from matplotlib import colormaps

    column = colormaps[cmap](np.linspace(1.0, 0.0, length), bytes=True)
    return _png(np.repeat(column[:, None, :], 12, axis=1))


def frontier(view: View, values: np.ndarray) -> tuple[bytes | None, dict[str, Any]]:
    """Boundary PNG of the ordered set ``{metric <= threshold}`` and its box-counting dimension.

    The dimension is :func:`infoprop.frontier_dimension` at the view's single threshold and estimator (median
    = the one value; ``resolved`` as there: the boundary meets at least 8 boxes of side 1/8 of the image).
    The Lyapunov exponent goes through ``exp(lambda - threshold)`` with threshold 1, which has exactly the
    ordered set ``{lambda <= threshold}`` and the non-negative values the fractal functions take.
    """
    from ..fractal import boundary, frontier_dimension

    info: dict[str, Any] = {
        "threshold": view.threshold,
        "estimator": view.estimator,
        "dimension": None,
        "stderr": None,
        "resolved": False,
        "boundary_cells": 0,
        "note": None,
    }
    if is_signed(view.metric):
        with np.errstate(over="ignore"):
            landscape, tau = np.exp(values - view.threshold), 1.0
    else:
        landscape, tau = values, view.threshold
    cells = np.asarray(boundary(landscape, tau))
    info["boundary_cells"] = int(cells.sum())
    rgba = np.zeros((*cells.shape, 4), dtype=np.uint8)
    rgba[cells] = BOUNDARY_RGBA
    png = _png(_cells_image(rgba))
    if not cells.any():
        info["note"] = "no boundary in this view at this threshold"
        return png, info
    try:
        result = frontier_dimension(landscape, tau, view.estimator, strict=False)
    except ValueError as exc:  # the view is too small for the estimator's box sizes
        info["note"] = f"no dimension at {view.res} points per axis ({str(exc).split(': ', 1)[-1]})"
        return png, info
    info["resolved"] = bool(result.resolved.values[0])
    if info["resolved"]:
        info["dimension"] = float(result.dimension.values[0])
        info["stderr"] = float(result.stderr.values[0])
    else:
        info["note"] = "boundary not resolved (meets fewer than 8 boxes of side 1/8 of the view)"
    return png, info


def _cells_image(rgba_cells: np.ndarray) -> np.ndarray:
    """Cells ``(sigma_w cell, sigma_b cell, 4)`` -> image rows (top = largest sigma_b)."""
    return rgba_cells.transpose(1, 0, 2)[::-1]


_LINES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_LINES_LOCK = threading.Lock()


def critical_line(view: View) -> dict[str, Any] | None:
    """Mean-field critical line ``chi_1 = 1``: ``sigma_w(sigma_b)`` at :data:`CRITICAL_LINE_POINTS` sigma_b.

    ``MeanField(activation, arch=arch).critical_sigma_w``, as overlaid on the exported figure; ``None`` where
    mean field gives the view's ``arch`` no line (:func:`infoprop.fractal.has_critical_line`: residual networks,
    conv/fdf operators with a non-odd activation) or no critical point exists in the window's sigma_b range.
    """
    from ..fractal import has_critical_line
    from ..meanfield import MeanField

    key = (view.arch, view.activation, view.sb0, view.sb1)
    with _LINES_LOCK:
        if key in _LINES:
            _LINES.move_to_end(key)
            return _LINES[key]
    if not has_critical_line(view.arch, view.activation):
        with _LINES_LOCK:
            _LINES[key] = None
        return None
    sigma_b = np.linspace(view.sb0, view.sb1, CRITICAL_LINE_POINTS)
    try:
        sigma_w = np.asarray(MeanField(view.activation, arch=view.arch).critical_sigma_w(sigma_b), dtype=np.float64)
    except (ValueError, TypeError, ArithmeticError):
        sigma_w = np.full_like(sigma_b, np.nan)
    finite = np.isfinite(sigma_w)
    line = None
    if finite.any():
        line = {
            "sigma_w": [float(x) if ok else None for x, ok in zip(sigma_w, finite)],
            "sigma_b": sigma_b.tolist(),
            "label": "mean field chi_1 = 1",
        }
    with _LINES_LOCK:
        _LINES[key] = line
        while len(_LINES) > 256:
            _LINES.popitem(last=False)
    return line
