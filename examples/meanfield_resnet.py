"""Residual mean field: the large-depth laws of MeanField.residual_asymptotics against exact trajectories.

    python examples/meanfield_resnet.py [--depth 100000] [--tanh-depth 100] [--plot docs/img/meanfield_resnet_laws.png]

Two independent unit inputs (q^0 = 1, c^0 = 0.3). erf (closed-form kernel) to ``--depth`` layers, tanh (2-D
quadrature per layer, slow) to ``--tanh-depth``, relu and leaky_relu until q nears the float64 range. Prints, per
setting, the predicted and measured growth of q, limit of c and exponent of the approach, and draws the figure.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from infoprop._src.common import save_figure
from infoprop._src.meanfield import MeanField

SATURATING = [("erf", 1.0, 0.0), ("erf", 1.0, 0.5), ("erf", 2.0, 0.5), ("erf", 1.0, 2.0)]
RELU_LIKE = [("relu", {}, 1.0, 0.3), ("leaky_relu", {"negative_slope": 0.2}, 1.0, 0.3), ("relu", {}, 0.5, 0.0)]


def _fit_limit(ell: np.ndarray, c: np.ndarray, delta: float) -> float:
    """c_inf' from c^l = c_inf' + A l^-delta + B l^-1/2 + C l^-2delta (least squares over the layers given)."""
    basis = np.stack([np.ones_like(ell), ell**-delta, ell**-0.5, ell ** (-2 * delta)], axis=1)
    return float(np.linalg.lstsq(basis, c, rcond=None)[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100000)
    parser.add_argument("--tanh-depth", type=int, default=100)
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_q, ax_c, ax_r) = plt.subplots(1, 3, figsize=(15, 4.4))
    layers = np.unique(np.geomspace(1, args.depth, 300).astype(int))
    print(f"saturating activations, depth {args.depth}:")
    for name, sw, sb in [*SATURATING, ("tanh", 1.0, 0.0)]:
        mf = MeanField(name, arch="resnet")
        depth = args.tanh_depth if name == "tanh" else args.depth
        kept = layers[layers <= depth]
        ds = mf.trajectory(sw, sb, q0=1.0, c0=0.3, depth=depth, layers=kept)
        asym = mf.residual_asymptotics(sw, sb)
        a, c_inf, delta = float(asym.q_slope), float(asym.c_limit), float(asym.c_exponent)
        ell, q, c = kept.astype(float), ds.q11.values, ds.c.values
        gap = np.abs(c - c_inf)
        local = -math.log(gap[-1] / gap[-2]) / math.log(ell[-1] / ell[-2])
        tail = ell >= ell[-1] / 100
        fitted = _fit_limit(ell[tail], c[tail], delta) if sb > 0 else float("nan")
        print(
            f"  {name} sigma_w={sw:g} sigma_b={sb:g}: q^D/D {q[-1] / ell[-1]:.5f} (a = {a:.5f}); c^D {c[-1]:.6f}, "
            f"c_inf {c_inf:.6f} (extrapolated {fitted:.6f}); local exponent at D {local:.4f} (delta {delta:.4f})"
        )
        label = f"{name} $\\sigma_w$={sw:g}, $\\sigma_b$={sb:g}"
        style = {"lw": 1.2} if name != "tanh" else {"lw": 0, "marker": "o", "ms": 2.5}
        (line,) = ax_q.plot(ell, q / (a * ell), label=label, **style)
        ax_c.loglog(ell, gap, color=line.get_color(), label=f"{label}, $\\delta$={delta:.3f}", **style)
        if name != "tanh":
            ax_c.loglog(ell, gap[-1] * (ell / ell[-1]) ** -delta, color=line.get_color(), ls=":", lw=1)
    print("ReLU-like activations:")
    for name, params, sw, sb in RELU_LIKE:
        mf = MeanField(name, arch="resnet", **params)
        slope = params.get("negative_slope", 0.0)
        rho = float(mf.residual_asymptotics(sw, sb).q_ratio)
        depth = int(600 / math.log(rho))  # q ~ 1e260: below the float64 range
        ds = mf.trajectory(sw, sb, q0=1.0, c0=0.3, depth=depth)
        q, eps = ds.q11.values, ds.divergence.values / (2 * ds.q11.values)
        gamma = sw * sw * (1 - slope) ** 2 / (2 * math.pi * rho)
        ell = np.arange(depth + 1, dtype=float)
        print(
            f"  {name} sigma_w={sw:g} sigma_b={sb:g}: q^D/q^(D-1) {q[-1] / q[-2]:.6f} (rho {rho:.6f}); "
            f"(1 - c^D) D^2 {eps[-1] * depth**2:.1f} (9/(2 gamma^2) = {9 / (2 * gamma**2):.1f}); "
            f"step of (1-c)^-1/2 {np.diff(eps**-0.5)[-1]:.6f} (sqrt2 gamma/3 = {math.sqrt(2) * gamma / 3:.6f}); "
            f"D {depth}"
        )
        (line,) = ax_r.loglog(ell[1:], eps[1:], label=f"{name} $\\sigma_w$={sw:g}, $\\sigma_b$={sb:g}", lw=1.2)
        ax_r.loglog(ell[10:], 9 / (2 * gamma**2 * ell[10:] ** 2), color=line.get_color(), ls=":", lw=1)
    ax_q.set(xscale="log", xlabel="layer l", ylabel="$q^l / (a\\, l)$", title="saturating: $q^l \\approx a\\, l$")
    ax_q.axhline(1.0, color="k", lw=0.6)
    ax_c.set(xlabel="layer l", ylabel="$|c^l - c_\\infty|$", title="saturating: $|c^l - c_\\infty| \\sim l^{-\\delta}$")
    ax_r.set(xlabel="layer l", ylabel="$1 - c^l$", title="ReLU-like: $1 - c^l \\to 9 / (2 \\gamma^2 l^2)$ (dotted)")
    for ax in (ax_q, ax_c, ax_r):
        ax.legend(fontsize=7)
    fig.suptitle(
        "residual mean field: exact trajectories (solid) and predicted laws (dotted); inputs $q^0=1$, $c^0=0.3$"
    )
    fig.tight_layout()
    if args.plot:
        print(save_figure(fig, args.plot))


if __name__ == "__main__":
    main()
