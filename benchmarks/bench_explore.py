"""Explorer benchmark: how fast a view appears, server-side, against computing and plotting it directly.

    python benchmarks/bench_explore.py            # erf MLP, N = 100, D = 100, 256^2 window over [0, 4]^2
    python benchmarks/bench_explore.py --quick    # a smoke run

Requests go through the whole ASGI application (query parsing, tiles, disk cache, PNG encoding, JSON) with
httpx's in-process transport, as the page sends them: level 0, 1, ... until the full resolution. No browser and
no network: these are server-side timings.

1. Warm-up: a tiny view, so that imports and the mean-field tables of the activation (a one-time cost of a
   server process, reported) are not charged to the measured view.
2. A new view (the network is drawn by its first request): time until each level's image is ready, from the
   first request; the first one is the "appears" time.
3. The same view again: the cached response (best of 5).
4. A zoomed window of the same draw (network already drawn): time to the first image and to full resolution.
5. Baseline: the same grid in ONE direct engine call (``RandomNetwork.forward``, same draw) plus the figure
   ``infoprop landscape --plot`` draws (``plot_landscape`` to PNG in memory). Ratios: full view / baseline,
   first image / baseline. The explorer's values are checked equal to the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


async def timed_view(client, query: dict) -> list[tuple[float, dict]]:
    """Request every level of a view like the page does; (seconds since start, response) per level."""
    start, out, level = time.perf_counter(), [], 0
    while True:
        response = await client.get("/api/view", params={**query, "level": level})
        response.raise_for_status()
        body = response.json()
        out.append((time.perf_counter() - start, body))
        if body["final"]:
            return out
        level = body["level"] + 1


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def values_of(body: dict) -> np.ndarray:
    n = body["res"]
    return np.frombuffer(base64.b64decode(body["values"]), dtype="<f4").reshape(n, n)[::-1].T


async def main(args) -> None:
    import httpx
    import matplotlib.pyplot as plt

    from infoprop import explorer_app
    from infoprop._src.explore.render import colour_scale, landscape_png
    from infoprop._src.networks import RandomNetwork
    from infoprop._src.plots.landscape import plot_landscape

    width, depth, res = (32, 20, 64) if args.quick else (100, 100, 256)
    query = {"arch": "mlp", "width": width, "depth": depth, "activation": "erf", "seed": 0, "res": res}
    zoomed = {**query, "sw0": 1.0, "sw1": 2.5, "sb0": 0.5, "sb1": 2.0}
    print(f"erf MLP N={width} D={depth}, {res}^2 points over [0, 4]^2; torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory(prefix="bench-explore-") as cache:
        app = explorer_app(cache)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=600) as client:
            start = time.perf_counter()
            await timed_view(client, {"width": 8, "depth": 4, "res": 16, "activation": "erf"})
            warm = time.perf_counter() - start
            print(f"warm-up (imports, erf mean-field tables; once per server process): {warm:.2f} s")

            levels = await timed_view(client, query)
            print("new view (network drawn by the first request):")
            for seconds, body in levels:
                n = -(-res // body["levels"][body["level"]])
                print(
                    f"  level {body['level']} ({n}^2 computed points shown): image ready at {seconds:.3f} s "
                    f"(compute {body['timing']['compute_s']:.3f} s, render {body['timing']['render_s'] * 1e3:.0f} ms)"
                )
            first, full = levels[0][0], levels[-1][0]

            cached = []
            for _ in range(5):
                t = time.perf_counter()
                body = (await client.get("/api/view", params=query)).json()
                cached.append(time.perf_counter() - t)
                assert body["cached"] and body["final"]
            print(f"same view again (cached, full resolution): {min(cached) * 1e3:.1f} ms (best of 5)")

            zoom = await timed_view(client, zoomed)
            print(f"zoomed window [1, 2.5] x [0.5, 2]: first image {zoom[0][0]:.3f} s, full {zoom[-1][0]:.3f} s")
            size = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file())
            print(f"cache on disk after the two views: {size / 2**20:.1f} MiB")
        explorer_values = values_of(levels[-1][1])

    net = RandomNetwork("mlp", width, depth, "erf", seed=0)
    axis = np.linspace(0.0, 4.0, res)
    start = time.perf_counter()
    direct = net.forward(axis, axis)
    engine_s = time.perf_counter() - start
    buffer = io.BytesIO()
    fig = plot_landscape(direct)
    fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    baseline = time.perf_counter() - start
    plt.close(fig)
    assert np.array_equal(explorer_values, direct.values.astype(np.float32)), "explorer != engine"
    print(f"baseline: one engine call {engine_s:.3f} s + plot_landscape PNG = {baseline:.3f} s (values equal)")
    values = direct.values
    direct_png = best_of(5, lambda: landscape_png(values, colour_scale(values, "forward")))

    def figure() -> None:
        fig = plot_landscape(direct)
        fig.savefig(io.BytesIO(), format="png", dpi=150)
        plt.close(fig)

    figure_png = best_of(3, figure)
    print(
        f"rendering the {res}^2 view: direct colour map + Pillow PNG {direct_png * 1e3:.1f} ms, "
        f"matplotlib figure PNG {figure_png * 1e3:.0f} ms (best of 5 / 3)"
    )
    print(f"ratios: explorer full view / baseline {full / baseline:.2f}; first image / baseline {first / baseline:.2f}")
    print(
        f"targets: first image < 1 s: {'yes' if first < 1 else 'NO'} ({first:.3f} s); "
        f"cached view < 100 ms: {'yes' if min(cached) < 0.1 else 'NO'} ({min(cached) * 1e3:.1f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    asyncio.run(main(parser.parse_args()))
