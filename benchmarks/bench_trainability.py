"""Benchmark: reconstruction-entropy prediction vs the training sweep it replaces, and batched vs sequential scans.

1. Prediction (decoders of all layers and all sigma_w, 940 Adam steps each) against the ground-truth sweep it
   replaces: the prediction gives a verdict at every depth 1..D, so the sweep trains classifiers of EVERY depth
   2..D over the same sigma_w grid (default `train` budget: SGD, lr 0.05, 1,000 steps), batched as well.
2. The batched scan (all sigma_w in one stacked tensor per decoder shape) against one model after another, same
   work and seeds.

Usage:  python benchmarks/bench_trainability.py [--depth 40] [--points 6] [--scan-points 36] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from infoprop._src import trainability as tp


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--points", type=int, default=6, help="sigma_w^2 values in [0.5, 4]")
    parser.add_argument("--scan-points", type=int, default=36, help="sigma_w^2 values, batched-vs-sequential part")
    parser.add_argument("--scan-depth", type=int, default=20, help="depth of the batched-vs-sequential part")
    parser.add_argument("--scan-steps", type=int, default=100, help="decoder steps, batched-vs-sequential part")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sigma_w = np.sqrt(np.linspace(0.5, 4.0, args.points))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"digits, depth {args.depth}, {args.points} values of sigma_w^2 in [0.5, 4], sigma_b^2 = 0.05")

    pred = tp.predict(data="digits", depth=args.depth, sigma_w=sigma_w, strip_images=1)
    t_pred = pred.attrs["compute_seconds"]
    every = tp.train(data="digits", depth=args.depth, depths=np.arange(2, args.depth + 1), sigma_w=sigma_w)
    t_every = every.attrs["compute_seconds"]
    print(f"prediction (940 Adam steps per decoder):            {t_pred:8.1f} s")
    print(f"training sweep, every depth 2..{args.depth} (1000 SGD steps): {t_every:8.1f} s"
          f"   ratio {t_every / t_pred:6.1f}x")
    cmp = tp.compare(pred, every)
    print(f"agreement {float(cmp.agreement):.3f}; critical sigma_w^2 predicted "
          f"{float(cmp.predicted_critical_sigma_w2):.2f}, trained {float(cmp.trained_critical_sigma_w2):.2f}, "
          f"mean field {float(cmp.meanfield_critical_sigma_w2):.2f}")

    sigma_w = np.sqrt(np.linspace(0.5, 4.0, args.scan_points))
    kwargs = dict(data="digits", depth=args.scan_depth, steps=args.scan_steps, strip_images=1)
    batched, t_batched = _timed(tp.predict, sigma_w=sigma_w, **kwargs)
    start = time.perf_counter()
    singles = [tp.predict(sigma_w=sigma_w[i : i + 1], **kwargs) for i in range(len(sigma_w))]
    t_seq = time.perf_counter() - start
    diff = max(
        float(np.max(np.abs(batched.relative_entropy.values[i] - s.relative_entropy.values[0])))
        for i, s in enumerate(singles)
    )
    print(f"scan of {args.scan_points} sigma_w, depth {args.scan_depth}, {args.scan_steps} decoder steps: "
          f"batched {t_batched:.1f} s, one at a time {t_seq:.1f} s, factor {t_seq / t_batched:.1f}x "
          f"(max |entropy difference| {diff:.1e})")


if __name__ == "__main__":
    main()
