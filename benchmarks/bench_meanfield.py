"""Benchmark: a full tanh mean-field phase diagram (all variables) vs point-by-point scipy quadrature.

    python benchmarks/bench_meanfield.py [--size 512] [--baseline-points 16]

infoprop: ``MeanField("tanh").phase_diagram`` on a size x size grid, sigma_w in [0.5, 4], sigma_b in [0, 2] (std),
timed twice in this fresh process: the first call includes the one-time construction of the interpolation
tables, the second reuses them. Baseline: the textbook approach, each grid point on its own with
``scipy.integrate.quad`` (q* and c* by ``brentq``, c* from a nested ``quad`` of the 2-D kernel), timed on a random
subsample and extrapolated to the whole grid. The script also prints the largest relative difference between
the two on the subsample.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import integrate, optimize

from infoprop._src.meanfield import MeanField

PDF = 1.0 / math.sqrt(2.0 * math.pi)


def _gauss(f) -> float:
    return integrate.quad(
        lambda z: f(z) * math.exp(-0.5 * z * z) * PDF, -12, 12, epsabs=1e-13, epsrel=1e-11, limit=200
    )[0]


def _kernel(q: float, c: float, f) -> float:
    s, sn = math.sqrt(q), math.sqrt(max(1.0 - c * c, 0.0))
    return _gauss(lambda z1: f(s * z1) * _gauss(lambda z2: f(s * (c * z1 + sn * z2))))


def baseline_point(sw: float, sb: float) -> dict[str, float]:
    """All phase-diagram variables of one tanh point by adaptive quadrature and root finding."""
    sech2 = lambda x: 1.0 / math.cosh(x) ** 2  # noqa: E731

    def length(q):
        return sw * sw * _gauss(lambda z: math.tanh(math.sqrt(q) * z) ** 2) + sb * sb - q

    if sb == 0.0 and sw <= 1.0:
        q = 0.0
    else:
        q = optimize.brentq(length, 1e-12, sw * sw + sb * sb + 1.0, xtol=1e-15, rtol=1e-13)
    s = math.sqrt(q)
    chi1 = sw * sw * _gauss(lambda z: sech2(s * z) ** 2)
    chi_q = sw * sw * _gauss(lambda z: 2.0 * math.tanh(s * z) * sech2(s * z) * z) / (2.0 * s) if s > 0 else chi1
    c, chi_c = 1.0, chi1
    if chi1 > 1.0 and q > 0:
        correlation = lambda c: (sw * sw * _kernel(q, c, math.tanh) + sb * sb) / q - c  # noqa: E731
        c = 0.0 if sb == 0.0 else optimize.brentq(correlation, 0.0, 1.0 - 1e-9, xtol=1e-14, rtol=1e-13)
        chi_c = sw * sw * _kernel(q, c, sech2)
    xi = lambda x: math.inf if x == 1.0 else -1.0 / math.log(x)  # noqa: E731
    return {
        "q_star": q,
        "chi1": chi1,
        "chi_q": chi_q,
        "c_star": c,
        "chi_c": chi_c,
        "xi_q": xi(chi_q),
        "xi_c": xi(chi_c),
        "xi_grad": xi(chi1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--baseline-points", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sw = np.linspace(0.5, 4.0, args.size)
    sb = np.linspace(0.0, 2.0, args.size)
    points = sw.size * sb.size

    mf = MeanField("tanh")
    start = time.perf_counter()
    ds = mf.phase_diagram(sw, sb)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    ds = mf.phase_diagram(sw, sb)
    warm = time.perf_counter() - start
    chaotic = float((ds.phase.values == 1).mean())

    rng = np.random.default_rng(args.seed)
    picks = rng.integers(0, sw.size, size=(args.baseline_points, 2))
    start = time.perf_counter()
    reference = [baseline_point(sw[i], sb[j]) for i, j in picks]
    per_point = (time.perf_counter() - start) / len(picks)
    worst = 0.0
    for (i, j), ref in zip(picks, reference):
        for name, value in ref.items():
            got = float(ds[name].values[i, j])
            if math.isfinite(value) and value != 0.0:
                worst = max(worst, abs(got - value) / abs(value))
    baseline = per_point * points

    print(f"grid {sw.size} x {sb.size} = {points} points, tanh, all 8 variables + phase ({chaotic:.1%} chaotic)")
    print(f"infoprop first call (incl. one-time tables): {cold:.2f} s  ({points / cold:,.0f} points/s)")
    print(f"infoprop warm call:                          {warm:.2f} s  ({points / warm:,.0f} points/s)")
    print(
        f"baseline scipy.quad point by point: {per_point * 1e3:.1f} ms/point on {len(picks)} random points, "
        f"extrapolated {baseline:.0f} s for the grid"
    )
    print(f"speed-up: {baseline / cold:,.0f}x (first call), {baseline / warm:,.0f}x (warm)")
    print(f"largest relative difference infoprop vs baseline on the subsample: {worst:.1e}")


if __name__ == "__main__":
    main()
