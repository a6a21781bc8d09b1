"""Figure of a finite-width landscape (forward/backward divergence or Lyapunov exponent) over (sigma_w, sigma_b).

``sigma_w`` is on the horizontal axis, ``sigma_b`` on the vertical one (standard deviations). Divergences are
drawn as ``log10`` of the metric, exact zeros (early-exited ordered points) at the colour scale's floor; the
Lyapunov exponent is drawn as itself with a diverging colour map centred at 0. The mean-field critical line
``chi_1 = 1`` (``MeanField(activation).critical_sigma_w(sigma_b)``) is overlaid.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["plot_landscape"]

# Colour floor for log10 of a divergence: exact zeros and underflows sit here.
LOG_FLOOR = -12.0


def _critical_line(attrs: dict[str, Any], sigma_b: np.ndarray) -> np.ndarray | None:
    """Mean-field critical sigma_w for each sigma_b, or None when the activation is not in the registry."""
    from ..activations import ACTIVATIONS
    from ..meanfield import MeanField

    try:
        activation = json.loads(attrs["parameters"])["activation"]
    except (KeyError, TypeError, ValueError):
        return None
    name = activation.pop("name", None) if isinstance(activation, dict) else None
    if name not in ACTIVATIONS:
        return None
    return np.asarray(MeanField(name, **activation).critical_sigma_w(sigma_b), dtype=float)


def plot_landscape(da: xr.DataArray, ax: Any = None, critical_line: bool = True) -> Any:
    """Plot a landscape from :class:`infoprop.RandomNetwork` and return the Figure.

    Parameters
    ----------
    da : xarray.DataArray
        Result of ``divergence``, ``backward_divergence`` or ``lyapunov`` on dims ``(sigma_w, sigma_b)``; with a
        ``layer`` dimension the deepest stored layer is shown (forward) or layer 0 (backward: the full depth).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made otherwise.
    critical_line : bool
        Overlay the mean-field line ``chi_1 = 1`` (needs a registry activation in ``da.attrs``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    if not isinstance(da, xr.DataArray):
        raise TypeError(f"da must be an xarray.DataArray, got {type(da).__name__}")
    metric = da.attrs.get("metric")
    if "layer" in da.dims:
        da = da.sel(layer=da.layer.min()) if metric == "backward" else da.sel(layer=da.layer.max())
    if set(da.dims) != {"sigma_w", "sigma_b"}:
        raise ValueError(f"da must have dims ('sigma_w', 'sigma_b'[, 'layer']), got {da.dims}")
    da = da.transpose("sigma_b", "sigma_w")
    sw, sb, values = da.sigma_w.values, da.sigma_b.values, np.asarray(da.values, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.8))
    else:
        fig = ax.figure
    if metric == "lyapunov":
        finite = values[np.isfinite(values)]
        # robust symmetric range, so that a few very ordered points (sigma_w -> 0) do not wash out the zero crossing
        span = float(np.max(np.abs(np.percentile(finite, [2, 98])))) if finite.size else 1.0
        span = span or 1.0
        shown = np.clip(values, -span, span)
        mesh = ax.pcolormesh(
            sw, sb, shown, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -span, span), shading="nearest", rasterized=True
        )
        label = "Lyapunov exponent lambda (per layer)"
    else:
        with np.errstate(divide="ignore"):
            shown = np.clip(np.log10(values), LOG_FLOOR, None)
        mesh = ax.pcolormesh(sw, sb, shown, cmap="magma", shading="nearest", rasterized=True)
        label = "log10 " + str(da.attrs.get("long_name", da.name or "value")).split(" = ")[0]
    fig.colorbar(mesh, ax=ax, label=label)
    if critical_line:
        line = _critical_line(dict(da.attrs), sb)
        if line is not None and np.isfinite(line).any():
            ax.plot(line, sb, color="cyan", lw=1.2, ls="--", label="mean field chi_1 = 1")
            ax.legend(loc="upper left", fontsize="small", framealpha=0.7)
    ax.set_xlim(sw.min(), sw.max())
    ax.set_ylim(sb.min(), sb.max())
    ax.set_xlabel(r"$\sigma_w$ (weight std; weights $\sim N(0, \sigma_w^2/N)$)")
    ax.set_ylabel(r"$\sigma_b$ (bias std)")
    attrs = da.attrs
    if "arch" in attrs:
        layer = f", d={int(da.layer)}" if "layer" in da.coords and da.layer.ndim == 0 else ""
        ax.set_title(
            f"{attrs['arch']} N={attrs.get('width')} D={attrs.get('depth')} {attrs.get('activation')} "
            f"seed={attrs.get('seed')}{layer}",
            fontsize="medium",
        )
    return fig
