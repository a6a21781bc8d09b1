"""The main job's cost: `infoprop report` on its defaults vs the seed authors' way of computing the same landscapes.

infoprop: :func:`infoprop.frontier_report` (full view, three zoom windows following the frontier, both estimators,
figures, files), timed end to end and split into landscape evaluation and the rest. Baseline: the seed authors'
code path (``jon-dong/reservoir-frontier``, ``propagation_test``) re-implemented for the same draw: every grid
point of a window advanced together, one dense einsum per layer over the whole grid, no early exit, float32,
then ``||erf(h1) - erf(h2)||^2 / N``, for the full view and for the same zoom windows the report used. Both are
checked to give the same landscape (to float32 round-off) on the full view before the ratio is printed.

    python benchmarks/bench_report.py                       # the report's defaults (N = 100, D = 1000): minutes
    python benchmarks/bench_report.py --depth 200 --resolution 129   # a quick look
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from infoprop._src.networks import RandomNetwork
from infoprop._src.report import DEFAULTS, frontier_report


def baseline_landscape(net: RandomNetwork, sw: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """The authors' whole-grid loop: state (2, P, N) advanced with one einsum per layer, no early exit."""
    n, dt = net.width, torch.float32
    points_w, points_b = (a.ravel() for a in np.meshgrid(sw, sb, indexing="ij"))
    w = torch.as_tensor(points_w, dtype=dt)[None, :, None]
    b = torch.as_tensor(points_b, dtype=dt)[None, :, None]
    x = torch.as_tensor(np.stack(net.inputs()), dtype=dt)[:, None, :].expand(2, points_w.size, n)
    h = x
    with torch.no_grad():
        for layer in range(1, net.depth + 1):
            inp = x if layer == 1 else torch.erf(h)
            matrix = torch.as_tensor(net.parameters(layer), dtype=dt)
            h = w * torch.einsum("ij,bpj->bpi", matrix, inp) + b * torch.as_tensor(net.bias(layer), dtype=dt)
        post = torch.erf(h)
    return (((post[0] - post[1]) ** 2).sum(-1) / n).reshape(sw.size, sb.size).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=DEFAULTS["depth"])
    parser.add_argument("--width", type=int, default=DEFAULTS["width"])
    parser.add_argument("--resolution", type=int, default=DEFAULTS["resolution"])
    parser.add_argument("--zoom-resolution", type=int, default=DEFAULTS["zoom_resolution"])
    args = parser.parse_args()
    grid = np.linspace(0.0, DEFAULTS["sigma_max"], args.resolution)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; erf MLP N = {args.width}, D = {args.depth}, "
        f"full view {args.resolution}^2, windows {args.zoom_resolution}^2 x {len(DEFAULTS['sides'])}"
    )

    marks: list[tuple[int, float]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = frontier_report(
            out,
            width=args.width,
            depth=args.depth,
            sigma_w=grid,
            sigma_b=grid,
            zoom_resolution=args.zoom_resolution,
            progress=lambda done, total: marks.append((done, time.perf_counter() - start)),
        )
        total = time.perf_counter() - start
    full_points = args.resolution**2
    full_time = next(t for done, t in marks if done >= full_points)
    compute_time = marks[-1][1]
    print(
        f"infoprop report: {total:.1f} s in all = full view {full_time:.1f} s + windows "
        f"{compute_time - full_time:.1f} s + box counting, figures, files {total - compute_time:.1f} s"
    )

    # same quantity: at depth 2 (before float32 round-off is amplified) the two agree to float32 precision
    shallow = RandomNetwork("mlp", args.width, 2, activation="erf", seed=DEFAULTS["seed"])
    check = np.linspace(0.0, 4.0, 17)
    np.testing.assert_allclose(
        baseline_landscape(shallow, check, check), shallow.forward_normalised(check, check).values, rtol=1e-4, atol=1e-7
    )
    net = RandomNetwork("mlp", args.width, args.depth, activation="erf", seed=DEFAULTS["seed"])
    t0 = time.perf_counter()
    base_full = baseline_landscape(net, grid, grid)
    base_full_time = time.perf_counter() - t0
    reference = net.forward_normalised(grid, grid).transpose("sigma_w", "sigma_b").values
    ordered_zero = float(np.mean(reference == 0))
    t0 = time.perf_counter()
    for level in summary["levels"][1:]:
        w0, w1 = level["window"]["sigma_w"]
        b0, b1 = level["window"]["sigma_b"]
        baseline_landscape(net, np.linspace(w0, w1, args.zoom_resolution), np.linspace(b0, b1, args.zoom_resolution))
    base_windows_time = time.perf_counter() - t0
    base = base_full_time + base_windows_time
    # at depth 1000 chaotic points decorrelate under float32 rounding: compare the ordered/chaotic classes instead
    classes = float(np.mean((base_full <= 1e-3) == (reference <= 1e-3)))
    print(
        f"baseline (authors' whole-grid loop, no early exit): full view {base_full_time:.1f} s + windows "
        f"{base_windows_time:.1f} s = {base:.1f} s"
    )
    print(
        f"full view: {100 * ordered_zero:.1f} % of points early-exited (L exactly 0); baseline and infoprop "
        f"classify {100 * classes:.2f} % of points alike at tau = 1e-3 (chaotic values differ by float32 "
        "round-off amplified over the depth)"
    )
    print(f"ratio (landscape evaluation, baseline / infoprop): {base / compute_time:.2f}x")
    print(
        json.dumps(
            {
                "levels": [
                    (lv["label"], lv["robust_at_threshold"]["dimension"], lv["authors"]["dimension"])
                    for lv in summary["levels"]
                ]
            }
        )
    )


if __name__ == "__main__":
    main()
