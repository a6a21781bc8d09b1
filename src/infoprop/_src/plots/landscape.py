"""Drawing a finite-width landscape (any metric) over (sigma_w, sigma_b): the one landscape drawing function.

``sigma_w`` is on the horizontal axis, ``sigma_b`` on the vertical one (standard deviations). Divergences
(metrics whose ordered phase is small: ``forward``, ``backward``) are drawn as ``log10`` of the metric with
exact zeros (early-exited ordered points) and underflows at the colour floor :data:`LOG_FLOOR`; the Lyapunov
exponent is drawn as itself on a diverging colour map centred at 0 (white), each side scaled to its own
range, with the line ``lambda = 0`` drawn in black. The mean-field critical line ``chi_1 = 1``
(``MeanField(activation).critical_sigma_w(sigma_b)``) is overlaid for feed-forward networks; residual
networks have none, and the figure says so instead of drawing a wrong one.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from ..arch import get_arch
from ..metrics import METRIC_INFO, METRICS

__all__ = ["LOG_FLOOR", "draw_landscape", "draw_mean_field_line", "log10_floor", "plot_landscape"]

#: Colour floor for ``log10`` of a divergence: exact zeros and underflows sit here, far below any threshold of
#: interest (1e-5).
LOG_FLOOR = -12.0
_INDEX_DIMS = ("sigma_w_index", "sigma_b_index")
NO_LINE = "no mean-field critical line (residual network)"
NO_MAP = "no mean-field critical line (no mean-field map for this arch and activation)"


def log10_floor(values: Any) -> np.ndarray:
    """``log10`` of non-negative values, with zeros and anything below ``10^LOG_FLOOR`` at :data:`LOG_FLOOR`."""
    with np.errstate(divide="ignore"):
        return np.clip(np.log10(np.asarray(values, dtype=float)), LOG_FLOOR, None)


def _grid(landscape: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values (n_w, n_b), sigma_w, sigma_b)`` of a landscape DataArray or a 2-D array (rows = sigma_w)."""
    if isinstance(landscape, xr.DataArray):
        dims = set(landscape.dims)
        if dims == {"sigma_w", "sigma_b"}:
            da = landscape.transpose("sigma_w", "sigma_b")
        elif dims == set(_INDEX_DIMS):
            da = landscape.transpose(*_INDEX_DIMS)
        else:
            raise ValueError(f"landscape must have dims ('sigma_w', 'sigma_b'), got {landscape.dims}")
        values = np.asarray(da.values, dtype=float)
        if "sigma_w" in da.coords and "sigma_b" in da.coords:
            return values, np.asarray(da["sigma_w"].values, float), np.asarray(da["sigma_b"].values, float)
    else:
        values = np.asarray(landscape, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"landscape must be a 2-D array (rows = sigma_w), got shape {values.shape}")
    return values, np.arange(values.shape[0], dtype=float), np.arange(values.shape[1], dtype=float)


def _recorded(landscape: Any, key: str) -> Any:
    """A parameter from the landscape's provenance, or None."""
    try:
        return json.loads(landscape.attrs["parameters"])[key]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def draw_mean_field_line(
    ax: Any,
    sigma_w: np.ndarray,
    sigma_b: np.ndarray,
    activation: Any,
    *,
    arch: Any = "mlp",
    colour: str = "cyan",
    linewidth: float = 1.2,
) -> bool:
    """Dashed mean-field critical line ``chi_1 = 1`` over the ``sigma_b`` range; returns whether it was drawn.

    Not drawn for a residual ``arch`` (it has no critical line), nor where :class:`infoprop.MeanField` has no map
    for the arch and activation (conv/fdf operators with a non-odd activation): a note on the axes says so. Nor
    where the line leaves the ``sigma_w`` range.
    """
    from ..meanfield import MeanField

    if get_arch(arch).residual:
        ax.text(0.02, 0.98, NO_LINE, transform=ax.transAxes, va="top", fontsize=7, color=colour)
        return False
    sigma_b_fine = np.linspace(float(np.min(sigma_b)), float(np.max(sigma_b)), 400)
    try:
        line = np.asarray(MeanField(activation, arch=arch).critical_sigma_w(sigma_b_fine), dtype=float)
    except ValueError:  # no mean-field map for this arch and activation (conv/fdf with a non-odd phi)
        ax.text(0.02, 0.98, NO_MAP, transform=ax.transAxes, va="top", fontsize=7, color=colour)
        return False
    inside = np.isfinite(line) & (line >= np.min(sigma_w)) & (line <= np.max(sigma_w))
    if not inside.any():
        return False
    shown = np.where(inside, line, np.nan)
    ax.plot(shown, sigma_b_fine, color=colour, lw=linewidth, ls="--", label="mean field chi_1 = 1")
    return True


def draw_landscape(
    ax: Any,
    landscape: Any,
    *,
    metric: str | None = None,
    activation: Any = None,
    arch: Any = None,
    threshold: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
) -> Any:
    """Draw one landscape on ``ax``; optionally the mean-field line and a threshold contour. Returns the mesh.

    Parameters
    ----------
    ax : matplotlib Axes
    landscape : xarray.DataArray or array_like
        Values on ``(sigma_w, sigma_b)`` (a DataArray with those dims or the index dims of a zoom level, or a
        2-D array with rows = sigma_w).
    metric : str, optional
        One of :data:`infoprop._src.metrics.METRICS`; default the landscape's ``metric`` attribute, else
        ``"forward"``. Divergences are drawn as ``log10``, the Lyapunov exponent linearly with its zero line.
    activation : str or Activation, optional
        Draw the mean-field critical line ``chi_1 = 1`` of this activation (white dashed).
    arch : str or Arch, optional
        The network family; default the landscape's provenance, else ``"mlp"``. Residual: no line (a note).
    threshold : float, optional
        Draw the contour ``metric = threshold`` (black), e.g. the frontier whose dimension is measured.
    vmin, vmax : float, optional
        Colour limits (of ``log10`` of a divergence; of ``lambda`` for the Lyapunov exponent).
    colorbar : bool
        Add a colour bar.
    """
    from matplotlib.colors import TwoSlopeNorm

    if metric is None:
        metric = getattr(landscape, "attrs", {}).get("metric", "forward")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if arch is None:
        arch = _recorded(landscape, "arch") or "mlp"
    values, sigma_w, sigma_b = _grid(landscape)
    if METRIC_INFO[metric].ordered == "small":
        shown = log10_floor(values)
        mesh = ax.pcolormesh(
            sigma_w, sigma_b, shown.T, cmap="magma", vmin=vmin, vmax=vmax, shading="nearest", rasterized=True
        )
        label = "log10 " + METRIC_INFO[metric].long_name.split(" = ")[0]
        if threshold is not None and np.nanmin(values) <= threshold < np.nanmax(values):
            ax.contour(sigma_w, sigma_b, shown.T, levels=[np.log10(threshold)], colors="k", linewidths=0.6)
    else:
        finite = values[np.isfinite(values)]
        # each side to its own robust range, so that a few very ordered points (sigma_w -> 0) neither wash out
        # the zero crossing nor squash the chaotic side
        low, high = np.percentile(finite, [1, 99]) if finite.size else (-1.0, 1.0)
        low = vmin if vmin is not None else min(float(low), -1e-3)
        high = vmax if vmax is not None else max(float(high), 1e-3)
        shown = np.clip(values, low, high)
        mesh = ax.pcolormesh(
            sigma_w,
            sigma_b,
            shown.T,
            cmap="RdBu_r",
            norm=TwoSlopeNorm(0.0, low, high),
            shading="nearest",
            rasterized=True,
        )
        label = "Lyapunov exponent lambda per layer"
        if np.nanmin(shown) < 0.0 < np.nanmax(shown):
            ax.contour(sigma_w, sigma_b, shown.T, levels=[0.0], colors="k", linewidths=0.8)
        if threshold is not None and np.nanmin(shown) < threshold < np.nanmax(shown) and threshold != 0.0:
            ax.contour(sigma_w, sigma_b, shown.T, levels=[threshold], colors="k", linewidths=0.6, linestyles=":")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=label + ("; black: lambda = 0" if metric == "lyapunov" else ""))
    if activation is not None:
        draw_mean_field_line(ax, sigma_w, sigma_b, activation, arch=arch, colour="w" if metric != "lyapunov" else "g")
    ax.set_xlim(sigma_w.min(), sigma_w.max())
    ax.set_ylim(sigma_b.min(), sigma_b.max())
    ax.set_xlabel(r"$\sigma_w$ (weight std; weights $\sim N(0, \sigma_w^2/N)$)")
    ax.set_ylabel(r"$\sigma_b$ (bias std)")
    return mesh


def plot_landscape(da: xr.DataArray, ax: Any = None, critical_line: bool = True) -> Any:
    """Plot a landscape from :class:`infoprop.RandomNetwork` with its title and mean-field line; return the Figure.

    Parameters
    ----------
    da : xarray.DataArray
        Result of ``forward``, ``backward`` or ``lyapunov`` (any :meth:`infoprop.RandomNetwork.landscape`) on
        dims ``(sigma_w, sigma_b)``; with a ``layer`` dimension the deepest stored layer is shown (forward) or
        layer 0 (backward: the full depth).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made otherwise.
    critical_line : bool
        Overlay the mean-field line ``chi_1 = 1`` (needs a registry activation in ``da.attrs``; for a residual
        arch a note says that there is none).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..activations import ACTIVATIONS

    if not isinstance(da, xr.DataArray):
        raise TypeError(f"da must be an xarray.DataArray, got {type(da).__name__}")
    metric = da.attrs.get("metric")
    if "layer" in da.dims:
        da = da.sel(layer=da.layer.min()) if metric == "backward" else da.sel(layer=da.layer.max())
    if set(da.dims) != {"sigma_w", "sigma_b"}:
        raise ValueError(f"da must have dims ('sigma_w', 'sigma_b'[, 'layer']), got {da.dims}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.8))
    else:
        fig = ax.figure
    activation = None
    recorded = _recorded(da, "activation")
    if critical_line and isinstance(recorded, dict) and recorded.get("name") in ACTIVATIONS:
        from ..activations import get_activation

        activation = get_activation(recorded["name"], **{k: v for k, v in recorded.items() if k != "name"})
    draw_landscape(ax, da, metric=metric if metric in METRICS else None, activation=activation)
    if ax.get_lines():
        ax.legend(loc="upper left", fontsize="small", framealpha=0.7)
    attrs = da.attrs
    if "arch" in attrs:
        layer = f", d={int(da.layer)}" if "layer" in da.coords and da.layer.ndim == 0 else ""
        ax.set_title(
            f"{attrs['arch']} N={attrs.get('width')} D={attrs.get('depth')} {attrs.get('activation')} "
            f"seed={attrs.get('seed')}{layer}",
            fontsize="medium",
        )
    return fig
