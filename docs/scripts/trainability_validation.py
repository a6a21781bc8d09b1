"""Validation of the trainability prediction against the stored reference truths (docs/trainability.md).

For each data set with a reference truth in docs/data/trainability/ (digits, Fashion-MNIST at 14 x 14), predicts the
scan of the truth with a depth-64 network three ways: the default closed-form (ridge) decoders, ridge decoders with
the first version's penalty 1e-3, and the paper's Adam decoders (940 steps); compares each with the truth at the
depths 24, 48 and 64 (both saturation rules, per side of the mean-field critical point) and writes the tables
(markdown, stdout) and one figure per data set.

With the "wide" width profile the hidden layers of a depth-24 or depth-48 network are those of the depth-64 one
(same draw), and so are their decoders (each is fitted on its own layer only, by either method): the predictions at
24 and 48 are read off the depth-64 run (:func:`at_depth`, the same numbers a run at that depth gives: tested in
tests/test_trainability.py). Predictions already in --out are reused.

``--choose`` prints instead the tables the defaults were chosen from (docs/trainability.md, "Choosing the
defaults"): the agreement of the null rule at depths 24 / 48 / 64 for each ridge penalty of RIDGE_SCAN (one depth-64
prediction per penalty and data set) and for each ``--null-z`` of NULL_Z_SCAN (recomputed from the stored entropies of
the default prediction: the entropies do not depend on it).

Usage:  OMP_NUM_THREADS=1 python docs/scripts/trainability_validation.py [--out /tmp/validation] [--data digits]
        [--choose]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from infoprop._src import trainability as tp
from infoprop._src.common import save_figure, write_zarr

ROOT = Path(__file__).resolve().parents[2]
# data set -> (stored reference truth, short name of the figures)
TRUTHS = {"digits": (ROOT / "docs/data/trainability/digits-truth.zarr", "digits"),
          "fashion-mnist": (ROOT / "docs/data/trainability/fashion-truth.zarr", "fashion")}
DEPTHS = (24, 48, 64)


def at_depth(prediction: xr.Dataset, depth: int, null_z: float | None = None) -> xr.Dataset:
    """Both rules' predicted depths of the depth-``depth`` network from a deeper "wide" prediction's entropies
    (the null rule with ``null_z`` standard errors, by default the prediction's own; the entropies do not depend
    on it)."""
    rel, null, se = (prediction[k].values[:, :depth] for k in
                     ("relative_entropy", "null_relative_entropy", "relative_entropy_se"))
    params = json.loads(prediction.attrs["parameters"])
    if null_z is not None:
        params["null_z"] = float(null_z)
    out = prediction.isel(layer=slice(0, depth)).copy()
    out["predicted_depth_null"] = ("sigma_w", tp.null_predicted_depth(rel, null, se, params["null_z"])[1])
    out["predicted_depth_seed"] = ("sigma_w", tp.predicted_depth(rel, params["tolerance"], params["reference"])[1])
    params["depth"], params["widths"] = depth, [*params["widths"][:depth - 1], params["widths"][-1]]
    out.attrs["parameters"] = json.dumps(params)
    return out


VARIANTS = {"ridge": {}, "ridge1e-3": {"ridge": 1e-3}, "adam": {"decoder": "adam"}}
RIDGE_SCAN = (3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6)
NULL_Z_SCAN = (1.0, 2.0, 3.0, 5.0)


def deep_prediction(truth: xr.Dataset, out: Path, name: str, options: dict) -> xr.Dataset:
    """The depth-64 prediction of the truth's scan with the decoder ``options``, computed once into ``out``."""
    params = json.loads(truth.attrs["parameters"])
    path = out / f"{params['data']}-{name}-64.zarr"
    if not path.exists():
        start = time.perf_counter()
        pred = tp.predict(params["data"], 64, truth.sigma_w.values, truth.attrs["sigma_b"], pool=params["pool"],
                          strip_images=2, seed=params["seed"], **options)
        write_zarr(pred, path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s")
    deep = xr.open_zarr(path).load()
    stored = json.loads(deep.attrs["parameters"])
    wanted = {"decoder": "ridge", "ridge": tp.DEFAULT_RIDGE, **options}
    if stored["decoder"] != wanted["decoder"] or (wanted["decoder"] == "ridge" and stored["ridge"] != wanted["ridge"]):
        raise SystemExit(f"{path} was computed with other decoders ({stored['decoder']}, ridge {stored['ridge']}); "
                         "move it away")
    return deep


def predictions(truth: xr.Dataset, out: Path, null_z: float) -> dict[tuple[str, int], xr.Dataset]:
    preds = {}
    for name, options in VARIANTS.items():
        deep = deep_prediction(truth, out, name, options)
        for depth in DEPTHS:
            preds[name, depth] = at_depth(deep, depth, null_z)
    return preds


def null_agreement(truth: xr.Dataset, deep: xr.Dataset, null_z: float) -> str:
    """The null rule's agreement at each of DEPTHS, "a / b / c"."""
    return " / ".join(f"{float(tp.compare(at_depth(deep, d, null_z), truth).agreement.sel(rule='null')):.2f}"
                      for d in DEPTHS)


def choice_tables(truth: xr.Dataset, out: Path) -> str:
    rows = ["| ridge penalty (null rule, z = 1) | agreement at depth 24 / 48 / 64 |", "|---|---|"]
    for ridge in RIDGE_SCAN:
        label = f"{ridge:.0e}".replace("e-0", "e-")  # 1e-3
        deep = deep_prediction(truth, out, "ridge" if ridge == tp.DEFAULT_RIDGE else f"ridge{label}", {"ridge": ridge})
        rows.append(f"| {label} | {null_agreement(truth, deep, tp.DEFAULT_NULL_Z)} |")
    rows += ["", "| `--null-z` (default ridge) | agreement at depth 24 / 48 / 64 |", "|---|---|"]
    deep = deep_prediction(truth, out, "ridge", {})
    rows += [f"| {z:g} | {null_agreement(truth, deep, z)} |" for z in NULL_Z_SCAN]
    return "\n".join(rows)


def table(truth: xr.Dataset, preds: dict) -> str:
    step = float(np.diff(truth.sigma_w2.values)[0])
    rows = ["| depth | decoders | rule | all | ordered | critical | chaotic | critical sigma_w^2 predicted / trained |",
            "|---|---|---|---|---|---|---|---|"]
    for (decoder, depth), pred in sorted(preds.items(), key=lambda kv: (kv[0][1], list(VARIANTS).index(kv[0][0]))):
        cmp = tp.compare(pred, truth)
        for rule in cmp.rule.values:
            c = cmp.sel(rule=rule)
            sides = " | ".join(f"{v:.2f}" for v in c.agreement_by_side.values)
            p, t = float(c.predicted_critical_sigma_w2), float(cmp.trained_critical_sigma_w2)
            ok = "ok" if abs(p - t) <= max(step, 0.2) + 1e-9 else "**off**"
            rows.append(f"| {depth} | {decoder} | {rule} | {float(c.agreement):.2f} | {sides} | "
                        f"{p:.2f} / {t:.2f} ({ok}) |")
    return "\n".join(rows)


def figure(truth: xr.Dataset, preds: dict, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DEPTHS), figsize=(5 * len(DEPTHS), 4.4), sharey=False)
    for ax, depth in zip(axes, DEPTHS):
        t = truth.sel(depth=truth.depth <= depth)
        sw2, depths = t.sigma_w2.values, t.depth.values
        best = t.best_accuracy
        mesh = ax.pcolormesh(sw2, depths, best.values.T, shading="nearest", cmap="magma", vmin=0, vmax=1)
        ax.plot(sw2, np.minimum(t.max_trainable_depth.values, depth), color="cyan", lw=2.5, marker="s", ms=4,
                label="trained (reference truth)")
        ax.plot(sw2, preds["ridge", depth].predicted_depth_null.values, color="white", lw=2, marker=".",
                label="null rule, ridge decoders")
        ax.plot(sw2, preds["adam", depth].predicted_depth_null.values, color="lime", lw=1.2, ls="--", marker=".",
                label="null rule, Adam decoders")
        ax.plot(sw2, preds["ridge", depth].predicted_depth_seed.values, color="orange", lw=1.2, ls=":", marker=".",
                label="published rule, ridge decoders")
        mf = float(preds["ridge", depth].meanfield_critical_sigma_w2)
        ax.axvline(mf, color="tab:green", lw=1)
        ax.set(xlabel="$\\sigma_w^2$", ylabel="depth", title=f"network depth {depth}",
               ylim=(0, depth + 2))
    axes[0].legend(loc="lower right", fontsize=7, facecolor="0.6", framealpha=0.9)
    fig.colorbar(mesh, ax=axes, label="test accuracy (best learning rate, final budget)", pad=0.01)
    fig.suptitle(title)
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/trainability-validation")
    parser.add_argument("--data", nargs="*", default=list(TRUTHS))
    parser.add_argument("--null-z", type=float, default=tp.DEFAULT_NULL_Z,
                        help="null rule's standard errors (applied to stored predictions too)")
    parser.add_argument("--choose", action="store_true", help="print the tables the defaults were chosen from")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for data in args.data:
        path, name = TRUTHS[data]
        truth = xr.open_zarr(path).load()
        if args.choose:
            print(f"## {data}\n\n{choice_tables(truth, out)}\n")
            continue
        start = time.perf_counter()
        preds = predictions(truth, out, args.null_z)
        text = table(truth, preds)
        print(f"## {data} ({time.perf_counter() - start:.0f} s)\n\n{text}\n")
        stable = truth.budget_stable.values
        print(f"budget-stable sigma_w^2: {int(stable.sum())} of {len(stable)}; unstable at "
              f"{truth.sigma_w2.values[~stable].round(2).tolist()}")
        print(f"trained deepest depth: {truth.max_trainable_depth.values.tolist()}")
        for (variant, depth), pred in preds.items():
            if depth == 64:
                print(f"depth 64, {variant}: null rule {pred.predicted_depth_null.values.tolist()}, "
                      f"published rule {pred.predicted_depth_seed.values.tolist()}")
        save_figure(figure(truth, preds, f"{data}: predicted vs trained deepest trainable depth"),
                    out / f"trainability-{name}-validation.png", overwrite=True)
        save_figure(tp_plot(preds["ridge", 64]), out / f"trainability-{name}-prediction.png", overwrite=True)


def tp_plot(prediction: xr.Dataset):
    from infoprop._src.plots.trainability import plot_prediction

    return plot_prediction(prediction)


if __name__ == "__main__":
    main()
