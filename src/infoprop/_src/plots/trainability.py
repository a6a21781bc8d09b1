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
    """Information map over (sigma_w^2, layer) with both rules' cutoffs, xi_c and 6 xi_c, plus reconstruction strips.

    The heatmap shows how many bootstrap standard errors the relative entropy lies below the null (information-free)
    one, ``(null - relative) / se`` (clipped to [0, 50]); the null rule's cutoff ends where it first falls to
    ``null_z``. The strips show sample ``strip_sample`` reconstructed from a few layers at up to five ``sigma_w^2``
    of the scan: the smallest, the predicted critical, the largest and one between each.
    """
    ds = prediction
    params = json.loads(ds.attrs["parameters"])
    z = (ds.null_relative_entropy - ds.relative_entropy) / np.maximum(ds.relative_entropy_se, 1e-300)
    sw2 = ds.sigma_w2.values
    layers = ds.layer.values
    fig = _figure(figsize=(13, 5))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.1, 1.0], wspace=0.12)
    ax = fig.add_subplot(grid[0])
    mesh = ax.pcolormesh(sw2, layers, np.clip(z.values.T, 0, 50), shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="(null - relative entropy) / standard error", pad=0.01)
    ax.plot(sw2, ds.cutoff_null.values, color="white", lw=2, marker=".",
            label=f"cutoff, null rule (z = {params['null_z']:g})")
    ax.plot(sw2, ds.cutoff_seed.values, color="orange", lw=1.2, ls="--", marker=".", ms=3,
            label=f"cutoff, published rule ({params['entropy']})")
    _overlay_meanfield(ax, sw2, ds.six_xi_c.values, layers[-1], float(ds.meanfield_critical_sigma_w2))
    crit = float(ds.critical_sigma_w2)
    ax.axvline(crit, color="red", lw=1.5, label=f"predicted critical {crit:.2f} ({params['rule']} rule)")
    ax.set(xlabel="$\\sigma_w^2$", ylabel="layer", ylim=(layers[0] - 0.5, layers[-1] + 0.5),
           title=f"information kept, {params['decoder']} decoders, $\\sigma_b^2$ = {ds.attrs['sigma_b'] ** 2:.3g}")
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
    """Best accuracy over the learning rates (final budget) over (sigma_w^2, depth), with both rules' predicted
    deepest trainable depth, the trained one, 6 xi_c and the critical sigma_w^2 (predicted, trained, mean-field).
    Cells the truth did not train (bisection) are blank."""
    truth = truth.sel(depth=truth.depth <= prediction.sizes["layer"])
    sw2 = truth.sigma_w2.values
    depths = truth.depth.values
    best = truth.best_accuracy
    fig = _figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(sw2, depths, best.values.T, shading="nearest", cmap="magma", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label="test accuracy after training (best learning rate)", pad=0.01)
    top = float(prediction.sizes["layer"])
    chosen = comparison.attrs["rule"]
    for rule, style in (("null", dict(color="white", lw=2, marker=".")),
                        ("seed", dict(color="orange", lw=1.2, ls="--", marker=".", ms=3))):
        agreement = float(comparison.agreement.sel(rule=rule))
        ax.plot(sw2, prediction[f"predicted_depth_{rule}"].values, **style,
                label=f"predicted, {rule} rule (agreement {agreement:.0%})")
    ax.plot(sw2, truth.max_trainable_depth.clip(max=depths[-1]).values, color="cyan", lw=1.5, marker="s", ms=3,
            label=f"trained (accuracy >= {truth.attrs['threshold']:g})")
    _overlay_meanfield(ax, sw2, prediction.six_xi_c.values, top, float(comparison.meanfield_critical_sigma_w2))
    predicted = float(comparison.predicted_critical_sigma_w2.sel(rule=chosen))
    trained = float(comparison.trained_critical_sigma_w2)
    ax.axvline(predicted, color="red", lw=1.5, label=f"predicted critical {predicted:.2f} ({chosen} rule)")
    ax.axvline(trained, color="cyan", lw=1.5, ls="-.", label=f"trained critical {trained:.2f}")
    ax.set(xlabel="$\\sigma_w^2$", ylabel="depth", ylim=(depths[0] - 1, max(depths[-1], top) + 1),
           title=f"{chosen} rule: agreement {float(comparison.agreement.sel(rule=chosen)):.0%} of cells; prediction "
           f"{comparison.attrs['speedup']:.1f}x cheaper than training")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    return fig
