"""The frontier of a residual network: landscapes, box-counting dimension and Lyapunov exponents vs depth.

Writes ``resnet-frontier.png`` into ``--out`` and prints every number quoted in docs/finite_width.md
("Residual networks"). Same draw (seed) for the mlp and the resnet: they share operators and biases.

    python docs/scripts/resnet_frontier.py [--width 100] [--depth 1000] [--resolution 256] [--zoom-resolution 160]
                                           [--lyapunov-width 400] [--out docs/img]

Mean-field Lyapunov exponent of the residual erf network (residual q recursion, SPEC section 0 with the skip
connection, independent inputs of q^0 = 1; the tangent's squared norm grows by ``1 + sigma_w^2 E[phi'(u)^2]``
per layer ``l >= 2``, layer 1 multiplies it by ``sigma_w^2``)::

    q^1 = sigma_w^2 + sigma_b^2,   q^l = q^{l-1} + sigma_w^2 (2/pi) arcsin(2q/(1+2q)) + sigma_b^2,
    lambda_D = (1 / 2D) [ln sigma_w^2 + sum_{l=2..D} ln(1 + sigma_w^2 (4/pi) / sqrt(1 + 4 q^{l-1}))],

so ``lambda_D ~ (2/pi) sigma_w^2 / sqrt((sigma_w^2 + sigma_b^2) D)`` at large depth: positive, decaying like
``D^(-1/2)`` (sub-exponential growth of perturbations, as Yang & Schoenholz 2017 found for tanh residual networks).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from infoprop import RandomNetwork
from infoprop.fractal import frontier_dimension, zoom
from infoprop.plots import draw_landscape

POINTS = ((0.5, 0.5), (1.5, 0.5), (3.0, 1.0))
LYAPUNOV_DEPTHS = (10, 30, 100, 300)
#: Window sides of the seed paper's zoom sequence. Centres: the full view at (2, 2); then, for the mlp, the point of
#: its frontier {L = 1e-3} at sigma_b = 2.05 (the paper's windows sit there), for the resnet a point of the rough
#: high-L region.
ZOOM_SIDES = (4.0, 0.4, 0.1, 0.025)
RESNET_CENTER = (3.0, 1.5)


def mean_field_lyapunov(sigma_w: float, sigma_b: float, depth: int) -> float:
    """lambda_D of the residual erf network in mean field (module docstring)."""
    q = sigma_w**2 + sigma_b**2
    log_growth = math.log(sigma_w**2)
    for _ in range(2, depth + 1):
        log_growth += math.log1p(sigma_w**2 * (4 / math.pi) / math.sqrt(1 + 4 * q))
        q += sigma_w**2 * (2 / math.pi) * math.asin(2 * q / (1 + 2 * q)) + sigma_b**2
    return log_growth / (2 * depth)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lyapunov-width", type=int, default=400)
    parser.add_argument("--zoom-resolution", type=int, default=160)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    axis = np.linspace(0.0, 4.0, args.resolution)
    common = dict(width=args.width, depth=args.depth, activation="erf", seed=args.seed)
    mlp = RandomNetwork("mlp", **common).forward(axis, axis)
    resnet = RandomNetwork("resnet", **common).forward(axis, axis)
    short = RandomNetwork("resnet", args.width, 100, activation="erf", seed=args.seed).lyapunov(axis, axis)

    print(f"N = {args.width}, D = {args.depth}, erf, seed {args.seed}, {args.resolution}^2 grid over [0, 4]^2")
    for name, landscape, thresholds in (
        ("mlp", mlp, "sweep"),  # the seed authors' sweep 1e-5 .. 1
        ("resnet", resnet, np.logspace(-1.0, 4.0, 21)),  # resnet's L spans 0.1 .. 5e4: the same 4 per decade
    ):
        values = landscape.values
        result = frontier_dimension(landscape, thresholds, "robust", strict=False)
        print(
            f"{name}: L from {values[values > 0].min():.3g} to {values.max():.3g}, exactly 0 at "
            f"{np.mean(values == 0):.2%} of the grid; robust box-counting dimension "
            f"{result.attrs['recommended_dimension']:.3f} +- {result.attrs['recommended_stderr']:.3f} "
            f"over {result.attrs['resolved_thresholds']} resolved thresholds"
        )
        for tau, d, s in zip(result["threshold"].values, result["dimension"].values, result["stderr"].values):
            if np.isfinite(d):
                print(f"    tau = {tau:9.3g}: D = {d:.3f} +- {s:.3f}")
    print(f"zoom sequences, {args.zoom_resolution}^2 windows, robust estimator; mlp: the authors' threshold sweep;")
    print("resnet: thresholds at the 25, 50 and 75% quantiles of L in each window (a level set through it)")
    row = mlp.sel(sigma_b=2.05, method="nearest")
    crossing = float(row.sigma_w[int(np.argmax(row.values > 1e-3))])
    centers = {"mlp": (crossing, float(row.sigma_b)), "resnet": RESNET_CENTER}
    finest = {}
    for name in ("mlp", "resnet"):
        net = RandomNetwork(name, **common)
        for k, side in enumerate(ZOOM_SIDES):
            center = (2.0, 2.0) if k == 0 else centers[name]
            window = zoom(net, center, [side], args.zoom_resolution).isel(zoom=0)
            finest[name] = window.swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")
            thresholds = "sweep" if name == "mlp" else np.quantile(window.values, [0.25, 0.5, 0.75])
            result = frontier_dimension(window, thresholds, "robust", strict=False)
            print(
                f"    {name} window side {side} at {center}: D = {result.attrs['recommended_dimension']:.3f} +- "
                f"{result.attrs['recommended_stderr']:.3f} ({result.attrs['resolved_thresholds']} resolved thresholds)"
            )
    lam = short.values
    positive = np.mean(lam[axis > 0] > 0)
    print(f"resnet D = 100: lambda > 0 at {positive:.1%} of the grid with sigma_w > 0; max {np.nanmax(lam):.3f}")

    print(f"lambda vs depth (N = {args.lyapunov_width}, finite width vs mean field):")
    sw, sb = np.array([p[0] for p in POINTS]), np.array([p[1] for p in POINTS])
    finite = np.empty((len(LYAPUNOV_DEPTHS), len(POINTS)))
    for i, depth in enumerate(LYAPUNOV_DEPTHS):
        net = RandomNetwork("resnet", args.lyapunov_width, depth, activation="erf", seed=args.seed)
        finite[i] = net.lyapunov(sw, sb, grid=False).values
    theory = np.array([[mean_field_lyapunov(w, b, d) for w, b in POINTS] for d in LYAPUNOV_DEPTHS])
    for i, depth in enumerate(LYAPUNOV_DEPTHS):
        cells = ", ".join(f"{finite[i, k]:.4f} (mf {theory[i, k]:.4f})" for k in range(len(POINTS)))
        print(f"    D = {depth:4d}: {cells}")
    slopes = np.polyfit(np.log(LYAPUNOV_DEPTHS[1:]), np.log(finite[1:]), 1)[0]
    print("    log-log slope of lambda vs D over D = 30 .. 300:", ", ".join(f"{s:.2f}" for s in slopes))

    fig, axes = plt.subplots(2, 3, figsize=(15.5, 8.6), layout="constrained")
    side = ZOOM_SIDES[-1]
    panels = (
        (mlp, "erf", f"mlp, log10 L, D = {args.depth}"),
        (finest["mlp"], "erf", f"mlp, window of side {side} on its frontier"),
        (resnet, "erf", f"resnet, log10 L, D = {args.depth} (same draw)"),
        (finest["resnet"], "erf", f"resnet, window of side {side} at {RESNET_CENTER}"),
        (short, None, "resnet, Lyapunov exponent, D = 100"),
    )
    for ax, (landscape, activation, title) in zip(axes.flat, panels):
        draw_landscape(ax, landscape, activation=activation)
        ax.set_title(title, fontsize=9)
    ax = axes[1, 2]
    for k, (w, b) in enumerate(POINTS):
        (line,) = ax.semilogx(LYAPUNOV_DEPTHS, finite[:, k], "o", label=f"sigma_w = {w}, sigma_b = {b}")
        fine = np.unique(np.geomspace(LYAPUNOV_DEPTHS[0], LYAPUNOV_DEPTHS[-1], 40).astype(int))
        ax.semilogx(fine, [mean_field_lyapunov(w, b, d) for d in fine], "-", color=line.get_color(), lw=1)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("depth D")
    ax.set_ylabel("lambda (per layer)")
    ax.set_title(f"resnet: lambda vs D (dots N = {args.lyapunov_width}, lines mean field)", fontsize=9)
    ax.legend(fontsize=7)
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "resnet-frontier.png", dpi=90)
    print(f"wrote {args.out / 'resnet-frontier.png'}")


if __name__ == "__main__":
    main()
