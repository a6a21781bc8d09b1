"""Figures for :mod:`infoprop.diagnostics`. Every function takes the Dataset returned by
:func:`infoprop.diagnostics.diagnose` (or its zarr store opened with ``xarray.open_zarr``) and returns a matplotlib
Figure. Null models are drawn as bands of mean +- 2 standard deviations over their draws."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

NULL_BAND = 2.0  # half-width of a null band in standard deviations of the null draws


def _figure(*args: Any, **kwargs: Any):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.figure(*args, **kwargs)


def _title(ds: Any) -> str:
    p = json.loads(ds.attrs["parameters"])
    return f"{p['model']} on {p['data']}, {p['epochs']} epochs, {p['optimizer']} lr {p['lr']:g}, seed {p['seed']}"


def _plain_log_ticks(axis) -> None:
    """Label only the decades (and given ticks) of a log axis: matplotlib's minor labels overlap on short ranges."""
    from matplotlib.ticker import NullFormatter

    axis.set_minor_formatter(NullFormatter())


def _band(ax, x: np.ndarray, draws: np.ndarray, color: str, label: str) -> None:
    """Mean +- NULL_BAND sd of ``draws`` (..., null_draw) along ``x``."""
    mean, sd = draws.mean(axis=-1), draws.std(axis=-1, ddof=1)
    ax.fill_between(x, mean - NULL_BAND * sd, mean + NULL_BAND * sd, color=color, alpha=0.25, lw=0)
    ax.plot(x, mean, color=color, lw=1, ls="--", label=label)


# --------------------------------------------------------------------------- phase flow
def _loss_ticks(loss: np.ndarray) -> list[float]:
    """A few round values (1, 2, 5 x 10^k) inside the loss range, for a log axis."""
    low, high = float(np.min(loss)), float(np.max(loss))
    ticks = [m * 10.0**e for e in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
             for m in (1, 2, 5)]
    return [t for t in ticks if low <= t <= high] or [low, high]


def plot_phase_flow(ds: Any, scale: int | None = None, max_segments: int = 150):
    """Gradient norm against loss per segment, one point per record coloured by epoch (the seed's phase flow).

    One panel per layer: the trajectories (probe loss, segment gradient norm) of up to ``max_segments`` segments of
    scale ``scale`` (default: the graph scale), every k-th segment so that the whole layer is sampled, grey lines
    joining the records of one segment, log-log axes. The panel title counts the phase-flow classes of all the
    layer's segments at that scale.
    """
    params = json.loads(ds.attrs["parameters"])
    scale = params["graph_scale"] if scale is None else int(scale)
    meanings = ds.segment_phase.attrs["flag_meanings"].split() if "segment_phase" in ds else []
    layers = [str(name) for name in ds.layer.values]
    epochs = ds.epoch.values
    loss = ds.loss.values
    fig = _figure(figsize=(4.0 * len(layers), 3.8))
    axes = fig.subplots(1, len(layers), squeeze=False, gridspec_kw={"wspace": 0.3})[0]
    import matplotlib.pyplot as plt

    norm = plt.Normalize(epochs.min(), epochs.max())
    for ax, name in zip(axes, layers):
        index = np.flatnonzero((ds.segment_layer.values == name) & (ds.segment_scale.values == scale))
        if len(index) == 0:
            ax.set_title(f"{name}: no {scale}x{scale} segment")
            ax.axis("off")
            continue
        shown = index[:: max(1, int(np.ceil(len(index) / max_segments)))]
        grad = ds.segment_grad_norm.values[:, shown]
        for j in range(grad.shape[1]):
            ax.plot(loss, grad[:, j], color="0.6", lw=0.4, alpha=0.6, zorder=1)
        points = ax.scatter(np.repeat(loss, grad.shape[1]), grad.ravel(), c=np.repeat(epochs, grad.shape[1]),
                            cmap="viridis", norm=norm, s=6, zorder=2)
        ax.set(xscale="log", yscale="log", xlabel="probe loss")
        _plain_log_ticks(ax.xaxis)
        ax.set_xticks(_loss_ticks(loss), [f"{v:g}" for v in _loss_ticks(loss)])
        counts = ""
        if meanings:
            codes = np.bincount(ds.segment_phase.values[index], minlength=len(meanings))
            counts = "\n" + ", ".join(f"{m.replace('_', ' ')} {c}" for m, c in zip(meanings, codes))
        ax.set_title(f"{name}: {len(index)} segments {scale}x{scale}{counts}", fontsize=8)
    axes[0].set_ylabel("segment gradient norm")
    fig.colorbar(points, ax=list(axes), label="epoch", pad=0.01)
    fig.suptitle(f"Phase flow: {_title(ds)}", fontsize=10, y=1.06)
    return fig


# --------------------------------------------------------------------------- statistics over epochs
_ROWS = (
    ("support_dimension", "support dimension of W", True),
    ("roughness_inputs", "roughness of |W| along inputs", True),
    ("update_support_dimension", "support dimension of W - W0", False),
    ("update_roughness_inputs", "roughness of |W - W0| along inputs", False),
)


def plot_fractal_statistics(ds: Any):
    """The layer statistics over epochs against their nulls: one column per layer, one row per statistic.

    Rows: support dimension and input-axis roughness of the weights ``W_t`` (with the permutation null per record and
    the initialisation null as a band), and of the update ``W_t - W_0`` (with its permutation null).
    """
    layers = [str(name) for name in ds.layer.values]
    fig = _figure(figsize=(3.3 * len(layers), 2.4 * len(_ROWS)))
    axes = fig.subplots(len(_ROWS), len(layers), squeeze=False, sharex=True)
    for row, (name, label, has_init) in enumerate(_ROWS):
        x = ds.epoch.values if not name.startswith("update_") else ds.update_epoch.values
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            actual = ds[name].isel(layer=col).values
            _band(ax, x, ds[f"{name}_permuted"].isel(layer=col).values, "tab:orange", "permuted (null)")
            if has_init:
                init = ds[f"{name}_init"].isel(layer=col).values
                _band(ax, x, np.broadcast_to(init, (len(x), len(init))), "tab:green", "initialisation (null)")
            ax.plot(x, actual, color="black", marker=".", lw=1.2, label="trained")
            if row == 0:
                ax.set_title(layer)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
            if row == len(_ROWS) - 1:
                ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(f"Layer statistics against their null models (bands: mean +- {NULL_BAND:g} sd of the draws)\n"
                 f"{_title(ds)}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_local_slopes(ds: Any, record: int = -1):
    """Scale-resolved box counting: the local slope ``-d log N / d log s`` of the support from side ``s`` to ``2 s``,
    for the weights and the update at ``record`` (default: the last), against their permutation nulls."""
    layers = [str(name) for name in ds.layer.values]
    fig = _figure(figsize=(3.3 * len(layers), 3.2))
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    update = ds.sizes["update"] + record if record < 0 else record - 1
    for ax, layer in zip(axes, layers):
        sizes = ds[f"{layer}_box"].values
        _band(ax, sizes, ds[f"support_local_slopes_permuted_{layer}"].isel(record=record).values.T,
              "tab:orange", "W permuted")
        _band(ax, sizes, ds[f"update_local_slopes_permuted_{layer}"].isel(update=update).values.T,
              "tab:purple", "W - W0 permuted")
        ax.plot(sizes, ds[f"support_local_slopes_{layer}"].isel(record=record).values, "k.-", label="W")
        ax.plot(sizes, ds[f"update_local_slopes_{layer}"].isel(update=update).values, "o-", color="tab:red",
                ms=3, label="W - W0")
        ax.set(xscale="log", xlabel="box side s (entries)", title=layer)
        _plain_log_ticks(ax.xaxis)
        ax.set_xticks(sizes, [str(int(s)) for s in sizes])
    axes[0].set_ylabel("local slope from s to 2s")
    axes[0].legend(fontsize=7)
    epoch = float(ds.epoch.values[record])
    fig.suptitle(f"Support box counts by scale at epoch {epoch:g}: {_title(ds)}", fontsize=10, y=1.02)
    return fig


# --------------------------------------------------------------------------- surrogates
def plot_surrogates(ds: Any, split: int = 0):
    """Held-out scores of the surrogates (mean and spread over splits) and, for ``split``, measured importance
    against the GNN's and the gradient-boosted trees' predictions on the held-out nodes."""
    predictors = [str(p) for p in ds.predictor.values]
    fig = _figure(figsize=(11, 3.8))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.2]})
    x = np.arange(len(predictors))
    for offset, (name, color) in zip((-0.18, 0.18), (("surrogate_r2", "tab:blue"), ("surrogate_spearman", "tab:red"))):
        values = ds[name].values
        left.bar(x + offset, values.mean(axis=1), width=0.36, color=color, alpha=0.8,
                 yerr=values.std(axis=1, ddof=1) if values.shape[1] > 1 else None, capsize=3,
                 label="R$^2$" if name == "surrogate_r2" else "Spearman")
    left.axhline(0, color="black", lw=0.8)
    left.set_xticks(x, [p.replace("_", "\n") for p in predictors])
    left.set(ylabel="held-out score", title=f"importance from segment features ({ds.sizes['split']} splits)")
    left.legend(fontsize=8)
    held = ds.surrogate_held_out.isel(split=split).values
    truth = ds.importance.values[held]
    for name, color in (("gradient_boosting", "tab:green"), ("gnn", "tab:purple")):
        pred = ds.surrogate_prediction.sel(predictor=name).isel(split=split).values[held]
        right.scatter(truth, pred, s=8, alpha=0.6, color=color, label=name.replace("_", " "))
    low, high = min(truth.min(), 0.0), truth.max()
    right.plot([low, high], [low, high], color="black", lw=0.8)
    right.set(xlabel="measured importance (test-loss increase when zeroed)", ylabel="predicted",
              title=f"held-out nodes of split {split}")
    right.legend(fontsize=8)
    fig.suptitle(_title(ds), fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the matrices themselves
def plot_weights(ds: Any, record: int = -1):
    """Each layer's weight matrix at initialisation, at ``record`` and their difference (symmetric colour scale)."""
    layers = [str(name) for name in ds.layer.values]
    fig = _figure(figsize=(12, 1.9 * len(layers) + 0.6))
    axes = fig.subplots(len(layers), 3, squeeze=False)
    epoch = float(ds.epoch.values[record])
    for row, layer in enumerate(layers):
        w = ds[f"weight_{layer}"].values
        panels = ((w[0], "W0 (initialisation)"), (w[record], f"W at epoch {epoch:g}"),
                  (w[record] - w[0], "W - W0"))
        for col, (matrix, label) in enumerate(panels):
            ax = axes[row, col]
            limit = float(np.abs(matrix).max()) or 1.0
            ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
            ax.set_title(f"{layer}: {label}  {matrix.shape[0]}x{matrix.shape[1]}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(_title(ds), fontsize=10)
    fig.tight_layout()
    return fig


#: Figure name -> function, as written by ``infoprop diagnose --plot-dir``.
FIGURES = {
    "phase-flow": plot_phase_flow,
    "fractal-statistics": plot_fractal_statistics,
    "local-slopes": plot_local_slopes,
    "surrogates": plot_surrogates,
    "weights": plot_weights,
}
