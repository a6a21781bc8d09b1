"""Finite-width engine speed: infoprop's blocked evaluation vs the usual whole-grid, layer-by-layer baseline.

Both evaluate the forward divergence L^(D) of ONE draw (same operators, biases, inputs) on a sigma_w x sigma_b
grid over [0, 4]^2, erf, float32, on the CPU. The baseline advances the whole grid layer by layer with one
batched operation per layer, as published code does: a dense einsum for mlp, ``torch.nn.functional.conv1d``
with circular padding for cnn (kernel = width), FFTs (``torch.fft``, unitary) for fdf/fdfd. Before timing,
both are checked to agree at depth 2. Also measured: the best rate torch.matmul reaches for a (M, N) x (N, N)
float32 product over a sweep of batch sizes M; infoprop's mlp rate is converted to the same GFLOP/s
(2 inputs x 2 N^2 flops per grid-point-layer, early-exited points counted as if computed).

    python benchmarks/bench_networks.py [--grid 256] [--depth 100] [--width 100] [--arch mlp cnn fdfd fdf]
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
            if net.arch in ("mlp", "orthogonal"):
                y = torch.einsum("ij,bpj->bpi", param.to(dt), inp)
            elif net.arch == "cnn":
                k = param.numel()
                flat = F.pad(inp.reshape(-1, 1, n), (k - 1, 0), mode="circular")
                y = F.conv1d(flat, param.flip(0).to(dt)[None, None]).reshape(2, -1, n)
            elif net.arch == "fdf":
                d = torch.polar(torch.ones_like(param), param).to(torch.complex64)
                y = math.sqrt(2) * torch.fft.fft(d * torch.fft.fft(inp, norm="ortho"), norm="ortho").real
            else:
                d1, d2 = torch.polar(torch.ones_like(param), param).to(torch.complex64)
                y = math.sqrt(2) * torch.fft.fft(d2 * torch.fft.fft(d1 * inp, norm="ortho"), norm="ortho").real
            h = w * y + b * torch.as_tensor(net.bias(layer), dtype=dt)
    return (((h[0] - h[1]) ** 2).sum(-1) / n).reshape(sw.size, sb.size).numpy()


def best_matmul_rate(n: int, repeat_flops: float = 2e9) -> tuple[float, int]:
    """Best GFLOP/s of torch.mm for (M, n) x (n, n) float32 over M = 16 .. 131072 (contiguous operands)."""
    best, best_m = 0.0, 0
    a = torch.randn(n, n)
    for m in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 131072):
        x = torch.randn(m, n)
        out = torch.empty(m, n)
        reps = max(3, int(repeat_flops / (2 * m * n * n)))
        torch.mm(x, a, out=out)
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(reps):
                torch.mm(x, a, out=out)
            rate = 2 * m * n * n * reps / (time.perf_counter() - start) / 1e9
            if rate > best:
                best, best_m = rate, m
    return best, best_m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=256, help="grid points per axis over [0, 4]")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--arch", nargs="+", default=["mlp", "cnn", "fdfd", "fdf"])
    parser.add_argument("--repeat", type=int, default=1, help="timings keep the best of this many runs")
    args = parser.parse_args()
    axis = np.linspace(0.0, 4.0, args.grid)
    check_axis = np.linspace(0.0, 4.0, 8)
    gpl = args.grid**2 * args.depth  # grid-point-layers per evaluation
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; grid {args.grid}^2 over [0,4]^2, "
        f"width {args.width}, depth {args.depth}, erf, float32"
    )
    matmul, matmul_m = best_matmul_rate(args.width)
    print(f"best torch.matmul rate ({args.width}x{args.width} operator): {matmul:.1f} GFLOP/s at batch {matmul_m}")
    for arch in args.arch:
        net = RandomNetwork(arch, args.width, args.depth, seed=0)
        ours_check = net.forward(check_axis, check_axis, layers=2).values
        np.testing.assert_allclose(baseline_divergence(net, check_axis, check_axis, 2), ours_check, rtol=2e-3)

        def timed(fn):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return min(times)

        ours = timed(lambda net=net: net.forward(axis, axis))
        theirs = timed(lambda net=net: baseline_divergence(net, axis, axis, args.depth))
        line = (
            f"{arch:5s} (operator={net.operator}): infoprop {ours:7.2f} s = {gpl / ours:.3e} gpl/s; "
            f"baseline {theirs:7.2f} s = {gpl / theirs:.3e} gpl/s; speed-up {theirs / ours:.1f}x"
        )
        if arch in ("mlp", "orthogonal"):
            equivalent = gpl / ours * 2 * 2 * args.width**2 / 1e9
            line += f"; {equivalent:.1f} GFLOP/s-equivalent = {100 * equivalent / matmul:.0f}% of best matmul"
        print(line, flush=True)


if __name__ == "__main__":
    main()
