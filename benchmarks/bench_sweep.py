"""Sweep benchmark: throughput from 1 to 2 Dask worker processes, and the per-tile cost of the store.

    python benchmarks/bench_sweep.py            # full size (about a minute on 2 cores)
    python benchmarks/bench_sweep.py --quick    # a smoke run

1. Scaling: the same sweep on a LocalCluster of 1 and of 2 worker processes (one thread each), cluster start-up
   excluded (workers are started and warmed up before the clock starts); tiles/s and the 2-vs-1 ratio. Also the
   rate of tasks that only write a precomputed tile (the round trip through Dask and the store, no compute).
2. Store overhead: per tile (mean over all tiles), the time to compute it (``evaluate_tile``, network cached)
   against the time to write it and mark it done (``write_tile``) and the status check a task does first
   (``is_done``); then a whole in-process sweep (best of 2) against the baseline of evaluating each landscape in
   one call with no tiles and no store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from infoprop._src.networks import RandomNetwork
from infoprop._src.sweep.run import evaluate_tile
from infoprop._src.sweep.store import is_done
from infoprop.sweep import parse_spec, prepare_store, run_sweep, write_tile

SPEC = """\
arch = "mlp"
width = {width}
depth = {depth}
seed = [0, 1]
metric = "forward"
sigma_w = {{ start = 0.0, stop = 4.0 }}
sigma_b = {{ start = 0.0, stop = 4.0 }}
resolution = {resolution}
tile = {tile}
"""


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scaling(spec, workdir: Path) -> dict[str, float]:
    """Tiles per second with 1 and 2 worker processes, and the round trip of a tile task that computes nothing."""
    from distributed import Client, LocalCluster

    rates = {}
    tiles = spec.tiles()
    values = evaluate_tile(spec, tiles[0])
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                client.run(lambda: __import__("infoprop._src.networks"))  # imports out of the timing
                empty = prepare_store(spec, workdir / f"empty-{n}.zarr")
                start = time.perf_counter()
                futures = client.map(
                    write_tile, [spec] * len(tiles), [str(empty)] * len(tiles), tiles, [values] * len(tiles), pure=False
                )
                client.gather(futures)
                rates[f"empty-{n}"] = len(tiles) / (time.perf_counter() - start)
            out = workdir / f"scaling-{n}.zarr"
            start = time.perf_counter()
            result = run_sweep(spec, out, scheduler=cluster.scheduler_address)
            rates[n] = len(result.computed) / (time.perf_counter() - start)
        shutil.rmtree(out)
        shutil.rmtree(empty)
    return rates


def store_overhead(spec, workdir: Path, repeats: int) -> dict[str, float]:
    """Mean per-tile times over all tiles (their costs differ: ordered tiles exit early), then whole runs."""
    store = prepare_store(spec, workdir / "overhead.zarr")
    tiles = spec.tiles()
    for number in range(len(spec.experiments())):
        evaluate_tile(spec, next(t for t in tiles if t.experiment == number))  # draw the networks first
    totals = {"compute": 0.0, "write": 0.0, "check": 0.0}
    for tile in tiles:
        start = time.perf_counter()
        values = evaluate_tile(spec, tile)
        middle = time.perf_counter()
        write_tile(spec, store, tile, values)
        end = time.perf_counter()
        is_done(spec, store, tile)
        totals["compute"] += middle - start
        totals["write"] += end - middle
        totals["check"] += time.perf_counter() - end
    timings = {key: value / len(tiles) for key, value in totals.items()}
    shutil.rmtree(store)

    def direct() -> None:
        for number in range(len(spec.experiments())):
            e = spec.experiment(number)
            RandomNetwork(e["arch"], e["width"], e["depth"], seed=e["seed"]).forward(spec.sigma_w, spec.sigma_b)

    def sweep() -> None:
        out = workdir / "whole.zarr"
        shutil.rmtree(out, ignore_errors=True)
        run_sweep(spec, out)

    timings["direct"] = best_of(repeats, direct)
    timings["sweep"] = best_of(repeats, sweep)
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    # One torch thread here too, as in every Dask worker, so that in-process and direct timings compare like
    # with like (values do not depend on the thread count).
    torch.set_num_threads(1)
    size = (
        dict(width=32, depth=50, resolution=32, tile=8)
        if args.quick
        else dict(width=100, depth=200, resolution=128, tile=32)
    )
    repeats = 1 if args.quick else 2
    spec = parse_spec(SPEC.format(**size))
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (others' jobs slow it)")
    print(
        f"sweep: mlp width {size['width']} depth {size['depth']}, 2 seeds, {size['resolution']}^2 grid, "
        f"tile {size['tile']} -> {len(spec.tiles())} tiles"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rates = scaling(spec, workdir)
        print(f"1 worker : {rates[1]:8.2f} tiles/s (write-only tasks: {rates['empty-1']:.1f} tiles/s)")
        print(f"2 workers: {rates[2]:8.2f} tiles/s (write-only tasks: {rates['empty-2']:.1f} tiles/s)")
        print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x")
        t = store_overhead(spec, workdir, repeats)
    print(
        f"per tile (mean): compute {1e3 * t['compute']:.2f} ms, write+mark {1e3 * t['write']:.2f} ms, "
        f"status check {1e3 * t['check']:.2f} ms"
    )
    print(f"store overhead per tile (write+mark+check) / compute: {(t['write'] + t['check']) / t['compute']:.3f}")
    print(
        f"whole sweep in-process {t['sweep']:.2f} s vs direct evaluation without tiles/store {t['direct']:.2f} s: "
        f"ratio {t['sweep'] / t['direct']:.2f}"
    )


if __name__ == "__main__":
    main()
