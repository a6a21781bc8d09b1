"""Figures for :class:`infoprop.MeanField`: phase diagrams over (sigma_w, sigma_b). matplotlib is imported lazily."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

_LOG_VARIABLES = ("chi1", "chi_q", "chi_c", "xi_q", "xi_c", "xi_grad", "q_star", "q_slope", "q11", "divergence")
_LABELS = {
    "q_star": "$q^*$",
    "chi1": "$\\chi_1$",
    "chi_q": "$\\chi_q$",
    "c_star": "$c^*$",
    "chi_c": "$\\chi_c$",
    "xi_q": "$\\xi_q$ [layers]",
    "xi_c": "$\\xi_c$ [layers]",
    "xi_grad": "$|\\xi_\\nabla|$ [layers]",
    "phase": "phase",
    "q_slope": "$\\lim\\, q^l / l$ [1/layer]",
    "q_ratio": "$\\lim\\, q^{l+1} / q^l$",
    "c_limit": "$\\lim\\, c^l$",
    "c_exponent": "$\\delta$ in $|c^l - c_\\infty| \\sim l^{-\\delta}$",
    "c": "$c^D$",
    "divergence": "$L^D = q_{11} + q_{22} - 2 q_{12}$",
    "q11": "$q^D$",
    "q12": "$q_{12}^D$",
}


def _figure(**kwargs: Any):
    import matplotlib

    matplotlib.use("Agg", force=False)  # no-op when a backend is already in use; headless otherwise
    import matplotlib.pyplot as plt

    return plt.figure(**kwargs)


def _activation_name(ds: Any) -> str:
    try:
        parameters = json.loads(ds.attrs["parameters"])
        activation = parameters["activation"]
    except (KeyError, TypeError, ValueError):
        return "activation"
    extra = ", ".join(f"{k}={v}" for k, v in activation.items() if k != "name")
    arch = parameters.get("arch", "mlp")
    name = activation.get("name", "activation") + (f" ({extra})" if extra else "")
    return name if arch == "mlp" else f"{name} {arch}"


def plot_phase_diagram(ds: Any, variable: str = "chi1", ax: Any = None):
    """Colour map of one phase-diagram variable over ``sigma_w`` (horizontal) and ``sigma_b`` (vertical).

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :meth:`infoprop.MeanField.phase_diagram`, or for residual networks of
        :meth:`infoprop.MeanField.residual_asymptotics` (possibly merged with one layer of a trajectory, as
        ``infoprop meanfield --arch resnet --depth D`` writes it).
    variable : str
        One of its variables. ``chi1`` uses a logarithmic diverging colour scale centred on 1 (blue ordered,
        red chaotic); the depth scales, ``q_star``, ``q_slope``, ``q11``, ``divergence`` and the other slopes a
        logarithmic scale (``xi_grad`` is shown as ``|xi_grad|``); correlations and exponents a linear one;
        ``phase`` one colour per label.
    ax : matplotlib Axes, optional
        Draw into this axes; by default a new figure is made.

    Returns
    -------
    matplotlib.figure.Figure
        The critical line ``chi_1 = 1`` (the contour of the ``chi1`` variable) is drawn in black; unbounded
        points (no finite ``q*``) are grey.
    """
    from matplotlib import colors

    if variable not in ds.data_vars:
        raise ValueError(f"variable must be one of {tuple(ds.data_vars)}, got {variable!r}")
    fig = _figure(figsize=(6.4, 4.8)) if ax is None else ax.figure
    if ax is None:
        ax = fig.add_subplot()
    sw, sb = ds.sigma_w.values, ds.sigma_b.values
    values = np.asarray(ds[variable].values, dtype=np.float64).T  # rows: sigma_b, columns: sigma_w
    ax.set_facecolor("0.8")  # masked (unbounded / undefined) points
    if variable == "phase":
        names = str(ds.phase.attrs.get("flag_meanings", "ordered chaotic critical unbounded")).split()
        cmap = colors.ListedColormap(["#3b6fb6", "#c8453a", "#111111", "#bbbbbb"][: len(names)])
        mesh = ax.pcolormesh(sw, sb, values, shading="nearest", cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5)
        bar = fig.colorbar(mesh, ax=ax, ticks=range(len(names)))
        bar.ax.set_yticklabels(names)
    else:
        if variable == "xi_grad":
            values = np.abs(values)
        shown = np.ma.masked_invalid(np.where(np.isinf(values), np.nan, values))
        if variable in _LOG_VARIABLES:
            shown = np.ma.masked_less_equal(shown, 0.0)
        positive = shown.compressed()
        if variable == "chi1" and positive.size:
            span = float(np.clip(np.max(np.abs(np.log10(positive))), 0.05, 3.0))
            norm, cmap = colors.LogNorm(10**-span, 10**span), "RdBu_r"
        elif variable in _LOG_VARIABLES and positive.size:
            norm, cmap = colors.LogNorm(max(positive.min(), positive.max() * 1e-6), positive.max()), "viridis"
        else:
            norm, cmap = None, "viridis"
        mesh = ax.pcolormesh(sw, sb, shown, shading="nearest", cmap=cmap, norm=norm)
        fig.colorbar(mesh, ax=ax, label=_LABELS.get(variable, variable))
    if "chi1" in ds.data_vars and sw.size > 1 and sb.size > 1:
        chi1 = np.asarray(ds.chi1.values, dtype=np.float64).T
        finite = np.where(np.isfinite(chi1), chi1, np.nanmax(np.where(np.isfinite(chi1), chi1, np.nan), initial=2.0))
        if np.nanmin(finite) < 1.0 < np.nanmax(finite):
            ax.contour(sw, sb, finite, levels=[1.0], colors="black", linewidths=1.5)
            ax.plot([], [], color="black", lw=1.5, label="critical line $\\chi_1 = 1$")
            ax.legend(loc="upper left", fontsize=8, framealpha=0.7)
    layer = ds[variable].coords.get("layer")
    depth = f" at D = {int(layer)}" if layer is not None and layer.ndim == 0 else ""
    ax.set_xlabel("sigma_w (std)")
    ax.set_ylabel("sigma_b (std)")
    ax.set_title(
        f"{_activation_name(ds)} mean field: {_LABELS.get(variable, variable)}{depth}\n"
        "$W_{ij} \\sim N(0, \\sigma_w^2/n)$, $b_i \\sim N(0, \\sigma_b^2)$ (std convention)",
        fontsize=10,
    )
    return fig
