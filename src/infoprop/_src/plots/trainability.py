"""Figures for :mod:`infoprop.trainability`: the predicted entropy map with reconstruction strips, and the
comparison of the prediction with trained networks. Each function returns a matplotlib Figure."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

STRIP_LAYERS = 8


def _figure(*args: Any, **kwargs: Any):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.figure(*args, **kwargs)


def _overlay_meanfield(ax, sigma_w2: np.ndarray, six_xi_c: np.ndarray, top: float, mf_critical: float) -> None:
    # 6 xi_c diverges at the critical point: clip at the top of the axis rather than letting inf hide the curve.
    ax.plot(sigma_w2, np.minimum(six_xi_c / 6, top), color="tab:green", ls=":", lw=1.5, label="mean-field $\\xi_c$")
    ax.plot(sigma_w2, np.minimum(six_xi_c, top), color="tab:green", ls="--", lw=1.5, label="mean-field $6\\xi_c$")
    ax.axvline(mf_critical, color="tab:green", lw=1, label=f"mean-field critical {mf_critical:.2f}")


def plot_prediction(prediction: Any, strip_sample: int = 0):
    """Entropy heatmap over (sigma_w^2, layer) with the cutoff, xi_c and 6 xi_c, plus reconstruction strips.

    The heatmap shows the entropy that drives ``cutoff`` (parameter ``entropy`` of :func:`predict`). The strips show
    sample ``strip_sample`` reconstructed from a few layers at up to five ``sigma_w^2`` of the scan: the smallest,
    the predicted critical, the largest and one between each.
    """
    ds = prediction
    entropy = json.loads(ds.attrs["parameters"])["entropy"]
    var = ds[f"{entropy}_entropy"]
    sw2 = ds.sigma_w2.values
    layers = ds.layer.values
    fig = _figure(figsize=(13, 5))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.1, 1.0], wspace=0.12)
    ax = fig.add_subplot(grid[0])
    mesh = ax.pcolormesh(sw2, layers, var.values.T, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=f"{entropy} entropy [{var.attrs['units']}]", pad=0.01)
    ax.plot(sw2, ds.cutoff.values, color="white", lw=2, marker=".", label="cutoff")
    _overlay_meanfield(ax, sw2, ds.six_xi_c.values, layers[-1], float(ds.meanfield_critical_sigma_w2))
    crit = float(ds.critical_sigma_w2)
    ax.axvline(crit, color="red", lw=1.5, label=f"predicted critical {crit:.2f}")
    ax.set(xlabel="$\\sigma_w^2$", ylabel="layer", ylim=(layers[0] - 0.5, layers[-1] + 0.5),
           title=f"{entropy} reconstruction entropy, $\\sigma_b^2$ = {ds.attrs['sigma_b'] ** 2:.3g}")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.6)

    if ds.sizes["sample"] > strip_sample:
        centre, last = int(np.argmin(np.abs(sw2 - crit))), len(sw2) - 1
        picks = sorted({0, centre // 2, centre, (centre + last) // 2, last})
        shown = np.unique(np.linspace(1, layers[-1], STRIP_LAYERS).round().astype(int))
        strips = grid[1].subgridspec(len(picks), len(shown) + 1, wspace=0.05, hspace=0.08)
        for row, i in enumerate(picks):
            images = [ds.input_image.isel(sample=strip_sample).values] + [
                ds.reconstruction.isel(sigma_w=i, sample=strip_sample).sel(layer=layer).values for layer in shown
            ]
            for col, image in enumerate(images):
                sub = fig.add_subplot(strips[row, col])
                sub.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1)
                sub.set_xticks([])
                sub.set_yticks([])
                if row == 0:
                    sub.set_title("input" if col == 0 else f"l={shown[col - 1]}", fontsize=8)
                if col == 0:
                    sub.set_ylabel(f"$\\sigma_w^2$={sw2[i]:.2f}", fontsize=8)
    return fig


def plot_comparison(prediction: Any, truth: Any, comparison: Any):
    """Accuracy heatmap over (sigma_w^2, depth) with the predicted deepest trainable depth
    (:func:`infoprop.trainability.predicted_depth`), the trained one, 6 xi_c and the three critical sigma_w^2
    (predicted, trained, mean-field)."""
    sw2 = truth.sigma_w2.values
    depths = truth.depth.values
    fig = _figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(sw2, depths, truth.accuracy.values.T, shading="nearest", cmap="magma", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label="test accuracy after training", pad=0.01)
    top = float(prediction.sizes["layer"])
    ax.plot(sw2, prediction.predicted_depth.values, color="white", lw=2, marker=".", label="predicted depth")
    ax.plot(sw2, truth.max_trainable_depth.values, color="cyan", lw=1.5, marker="s", ms=3,
            label=f"trained (accuracy >= {truth.attrs['threshold']:g})")
    _overlay_meanfield(ax, sw2, prediction.six_xi_c.values, top, float(comparison.meanfield_critical_sigma_w2))
    ax.axvline(float(comparison.predicted_critical_sigma_w2), color="red", lw=1.5,
               label=f"predicted critical {float(comparison.predicted_critical_sigma_w2):.2f}")
    ax.axvline(float(comparison.trained_critical_sigma_w2), color="cyan", lw=1.5, ls="-.",
               label=f"trained critical {float(comparison.trained_critical_sigma_w2):.2f}")
    ax.set(xlabel="$\\sigma_w^2$", ylabel="depth", ylim=(depths[0] - 1, max(depths[-1], top) + 1),
           title=f"agreement {float(comparison.agreement):.0%} of cells; prediction "
           f"{comparison.attrs['speedup']:.1f}x cheaper than training")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    return fig
