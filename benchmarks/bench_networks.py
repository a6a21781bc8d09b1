"""Finite-width engine speed: infoprop's blocked evaluation vs the usual whole-grid, layer-by-layer baseline.

Both evaluate the forward divergence L^(D) of ONE draw (same operators, biases, inputs) on a sigma_w x sigma_b
grid over [0, 4]^2, erf, float32, on the CPU. The baseline advances the whole grid layer by layer with one
batched operation per layer, as published code does (the seed authors' code is one whole-grid GEMM per layer):
a dense einsum for mlp/resnet, ``torch.nn.functional.conv1d`` with circular padding for cnn (kernel = width),
FFTs (``torch.fft``, unitary) for fdf/fdfd. Before timing, both are checked to agree at depth 3.

GEMM fraction (mlp, resnet): the best rate ``torch.mm`` reaches for the same operator shape, ``(M, N) x (N, N)``
and its transposed form ``(N, N) x (N, M)``, over M = 64 .. 32768, measured before and after the engine in the
same run; infoprop's rate is converted to the same GFLOP/s (2 inputs x 2 N^2 flops per grid-point-layer,
early-exited points counted as if computed). Rates are per CPU-second (``time.process_time``: every thread of
the process) as well as per wall-clock second: on a machine shared with other jobs the CPU-time rates are the
meaningful ones (wall time then mostly measures the other jobs). The GEMM reference runs on one thread; the
engine's workers each use one intra-op thread, so both rates are per core. Also printed: the time of the
activation (``erf``) relative to the GEMM on one block, which bounds the fraction any implementation can reach.

    python benchmarks/bench_networks.py [--grid 256] [--depth 100] [--width 100] [--arch mlp resnet cnn fdfd fdf]
                                        [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from infoprop._src.networks import RandomNetwork


def baseline_divergence(net: RandomNetwork, sw: np.ndarray, sb: np.ndarray, depth: int) -> np.ndarray:
    """L^(depth) for every point of the grid: state (2, P, N) advanced one batched op per layer."""
    n, dt = net.width, torch.float32
    points_w, points_b = (a.ravel() for a in np.meshgrid(sw, sb, indexing="ij"))
    w = torch.as_tensor(points_w, dtype=dt)[None, :, None]
    b = torch.as_tensor(points_b, dtype=dt)[None, :, None]
    x = torch.as_tensor(np.stack(net.inputs()), dtype=dt)[:, None, :].expand(2, points_w.size, n)
    phi = net.activation.torch_fn
    h = x
    with torch.no_grad():
        for layer in range(1, depth + 1):
            inp = x if layer == 1 else phi(h)
            param = torch.as_tensor(net.parameters(layer))
            if net.operator.name in ("dense", "orthogonal"):
                y = torch.einsum("ij,bpj->bpi", param.to(dt), inp)
            elif net.operator.name == "conv":
                k = param.numel()
                flat = F.pad(inp.reshape(-1, 1, n), (k - 1, 0), mode="circular")
                y = F.conv1d(flat, param.flip(0).to(dt)[None, None]).reshape(2, -1, n)
            elif net.operator.name == "fdf":
                d = torch.polar(torch.ones_like(param), param).to(torch.complex64)
                y = math.sqrt(2) * torch.fft.fft(d * torch.fft.fft(inp, norm="ortho"), norm="ortho").real
            else:
                d1, d2 = torch.polar(torch.ones_like(param), param).to(torch.complex64)
                y = math.sqrt(2) * torch.fft.fft(d2 * torch.fft.fft(d1 * inp, norm="ortho"), norm="ortho").real
            skip = h if net.residual and layer > 1 else 0.0
            h = skip + w * y + b * torch.as_tensor(net.bias(layer), dtype=dt)
    return (((h[0] - h[1]) ** 2).sum(-1) / n).reshape(sw.size, sb.size).numpy()


def _cpu_seconds(fn, reps: int) -> float:
    start = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - start) / reps


def best_matmul_rate(n: int, flops: float = 1e9) -> tuple[float, str]:
    """Best single-thread GFLOP/s (per CPU-second) of torch.mm with an (n, n) operator, both layouts."""
    best, where = 0.0, ""
    a = torch.randn(n, n)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for m in (64, 256, 1024, 4096, 32768):
            rows, cols = torch.randn(m, n), torch.randn(n, m)
            out_rows, out_cols = torch.empty(m, n), torch.empty(n, m)
            reps = max(3, int(flops / (2 * m * n * n)))
            for label, fn in (
                (f"(M={m}, N) x (N, N)", lambda r=rows, o=out_rows: torch.mm(r, a, out=o)),
                (f"(N, N) x (N, M={m})", lambda c=cols, o=out_cols: torch.mm(a, c, out=o)),
            ):
                fn()
                for _ in range(3):
                    rate = 2 * m * n * n / _cpu_seconds(fn, reps) / 1e9
                    if rate > best:
                        best, where = rate, label
    finally:
        torch.set_num_threads(threads)
    return best, where


def activation_share(net: RandomNetwork, rows: int) -> float:
    """Time of the activation over the time of the GEMM on one block of ``rows`` states (one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n = net.width
        h, p, w = torch.randn(rows, n) * 3, torch.randn(rows, n + 1), torch.randn(n + 1, n)
        reps = 50
        phi = min(_cpu_seconds(lambda: net.activation.torch_fn(h), reps) for _ in range(5))
        gemm = min(_cpu_seconds(lambda: p @ w, reps) for _ in range(5))
    finally:
        torch.set_num_threads(threads)
    return phi / gemm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=256, help="grid points per axis over [0, 4]")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--arch", nargs="+", default=["mlp", "resnet", "cnn", "fdfd", "fdf"])
    parser.add_argument("--repeat", type=int, default=3, help="timings keep the best of this many runs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (engine workers) [torch default]")
    parser.add_argument("--no-baseline", action="store_true", help="time infoprop only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    axis = np.linspace(0.0, 4.0, args.grid)
    check_axis = np.linspace(0.0, 4.0, 8)
    gpl = args.grid**2 * args.depth  # grid-point-layers per evaluation
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; grid {args.grid}^2 over [0,4]^2, "
        f"width {args.width}, depth {args.depth}, erf, float32"
    )
    matmul, where = best_matmul_rate(args.width)
    print(f"best torch.mm rate, one thread, {args.width}^2 operator: {matmul:.1f} GFLOP/s per CPU-s, {where}")
    for arch in args.arch:
        net = RandomNetwork(arch, args.width, args.depth, seed=0)
        ours_check = net.forward(check_axis, check_axis, layers=3).values
        np.testing.assert_allclose(baseline_divergence(net, check_axis, check_axis, 3), ours_check, rtol=2e-3)

        def timed(fn):
            wall, cpu = [], []
            for _ in range(args.repeat):
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            return min(wall), min(cpu)

        ours, ours_cpu = timed(lambda net=net: net.forward(axis, axis))
        line = f"{arch:6s} (apply_method={net.apply_method}): infoprop {ours:6.2f} s wall, {ours_cpu:6.2f} CPU-s"
        if not args.no_baseline:
            theirs, theirs_cpu = timed(lambda net=net: baseline_divergence(net, axis, axis, args.depth))
            line += (
                f"; baseline {theirs:6.2f} s wall, {theirs_cpu:6.2f} CPU-s; speed-up {theirs / ours:.1f}x wall, "
                f"{theirs_cpu / ours_cpu:.1f}x CPU"
            )
        if net.operator.name in ("dense", "orthogonal"):
            again, _ = best_matmul_rate(args.width)
            matmul = max(matmul, again)
            per_cpu = gpl / ours_cpu * 2 * 2 * args.width**2 / 1e9
            rows = 2 * max(16, (1 << 17) // (2 * args.width))
            share = activation_share(net, rows)
            line += (
                f"; {per_cpu:.1f} GFLOP/s-equivalent per CPU-s = {100 * per_cpu / matmul:.0f}% of the best GEMM "
                f"rate ({matmul:.1f}); erf/GEMM time on a {rows}-row block: {share:.2f} "
                f"(bound without early exit: {100 / (1 + share):.0f}%)"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
