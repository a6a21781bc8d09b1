"""`infoprop explore`: the API (httpx against the ASGI app and a real server), the landscape library function
shared with `infoprop landscape`, and an end-to-end run in headless Chromium.

References: every landscape the explorer shows is compared with a direct call of the finite-width engine on the
same window (the engine's value at a point does not depend on the other points, so equality is exact);
images are checked against matplotlib's own colour mapping of those engine values; exports against the files
`infoprop landscape` writes for the same options; the box-counting dimension against `box_dimension` of the
engine landscape's `boundary`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from infoprop._src.explore import server as server_module
from infoprop._src.explore import view as view_module
from infoprop._src.explore.server import WRITE_HEADER, explorer_app
from infoprop._src.explore.tiles import level_tiles
from infoprop._src.explore.view import View, level_slices, nearest_on_lattice
from infoprop._src.landscape import compute_landscape, landscape_metrics, make_network, write_landscape
from infoprop._src.networks import RandomNetwork
from infoprop.cli import main

httpx = pytest.importorskip("httpx")

BASE = "http://127.0.0.1"
# a small network whose window [0, 4]^2 holds both phases
SMALL = {"arch": "mlp", "width": "24", "depth": "16", "activation": "erf", "seed": "3", "res": "48"}


def run(coro):
    return asyncio.run(coro)


def client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=300)


def decode_values(response: dict) -> np.ndarray:
    """The float32 values the page got, back on the grid (sigma_w, sigma_b)."""
    n = response["res"]
    image = np.frombuffer(base64.b64decode(response["values"]), dtype="<f4").reshape(n, n)
    return image[::-1].T  # image rows run from the largest sigma_b down


def decode_png(data_url: str) -> np.ndarray:
    from PIL import Image

    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGBA"))


def engine_landscape(query: dict) -> np.ndarray:
    """Direct engine call on the window of ``query`` (independent of the explorer's tiles and levels)."""
    q = {k: str(v) for k, v in query.items()}
    net = RandomNetwork(
        q.get("arch", "mlp"),
        int(q["width"]),
        int(q["depth"]),
        q.get("activation", "erf"),
        seed=int(q.get("seed", 0)),
        dtype=q.get("dtype", "float32"),
    )
    res = int(q.get("res", 256))
    sw = np.linspace(float(q.get("sw0", 0)), float(q.get("sw1", 4)), res)
    sb = np.linspace(float(q.get("sb0", 0)), float(q.get("sb1", 4)), res)
    metric = q.get("metric", "forward")
    if metric == "forward":
        return net.forward(sw, sb).values
    if metric == "backward":
        return net.backward(sw, sb).values
    return net.lyapunov(sw, sb).values


def expected_rgba(values: np.ndarray) -> np.ndarray:
    """matplotlib's magma mapping of log10 L (floor 1e-12) between its min and max, as image rows."""
    from matplotlib import cm
    from matplotlib.colors import Normalize

    with np.errstate(divide="ignore"):
        shown = np.clip(np.log10(values), -12.0, None)
    finite = shown[np.isfinite(shown)]
    mappable = cm.ScalarMappable(norm=Normalize(finite.min(), finite.max(), clip=True), cmap="magma")
    return mappable.to_rgba(shown.T[::-1], bytes=True)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def app(tmp_path):
    return explorer_app(tmp_path / "cache", tmp_path / "exports")


# ----------------------------------------------------------------------------------------------- view model
def test_levels_partition_the_grid_exactly():
    """Coarse-to-fine levels compute every grid point exactly once (no redundant work)."""
    for res, strides in [(64, (4, 2, 1)), (50, (8, 4, 2, 1)), (33, (2, 1)), (17, (1,))]:
        count = np.zeros((res, res), dtype=int)
        for level in range(len(strides)):
            for tile in level_tiles(res, strides, level):
                count[np.ix_(tile.w, tile.b)] += 1
            covered = count > 0
            lattice = np.zeros_like(covered)
            lattice[:: strides[level], :: strides[level]] = True
            assert np.array_equal(covered, lattice), (res, strides, level)
        assert (count == 1).all()
    assert level_slices((1,), 0) == [(slice(0, None, 1), slice(0, None, 1))]
    assert nearest_on_lattice(9, 4).tolist() == [0, 0, 0, 4, 4, 4, 4, 8, 8]
    assert nearest_on_lattice(7, 4).tolist() == [0, 0, 0, 4, 4, 4, 4]


def test_view_query_round_trip_and_strides():
    view = View.from_query({"sw0": "0.25", "sw1": "1.75", "depth": "1000", "width": "100", "res": "256"})
    again = View.from_query(view.query())
    assert again == view and again.key() == view.key()
    assert View.from_query({**view.query(), "seed": "1"}).key() != view.key()
    # erf MLP N = 100, D = 1000, 256^2: 1.3e12 multiply-adds, so four levels, the coarsest 32^2 points
    assert view.strides() == (8, 4, 2, 1)
    assert View.from_query({"width": "100", "depth": "10", "res": "128"}).strides() == (2, 1)  # 3.3e9
    assert View.from_query({"width": "8", "depth": "4", "res": "64"}).strides() == (1,)
    assert view.threshold == 1e-3 and View.from_query({"metric": "lyapunov"}).threshold == 0.0


def test_memory_check_names_the_estimate():
    view = View.from_query({"width": "4000", "depth": "1000"}, extra=(), available=1 << 40)
    with pytest.raises(ValueError, match=r"needs about 59\.\d GiB, more than the 8\.0 GiB allowed"):
        view.check_memory(available=16 << 30)
    view.check_memory(available=1 << 40)


# ----------------------------------------------------------------------------------------------- library
def test_compute_landscape_maps_every_metric_to_the_engine():
    net = make_network("cnn", 8, 5, "tanh", seed=2, kernel_size=3)
    sw, sb = np.linspace(0.5, 3, 5), np.linspace(0, 1, 4)
    calls = []
    assert landscape_metrics()[:3] == ("forward", "backward", "lyapunov")
    expected = {
        "forward": net.forward(sw, sb, inputs="perturbed", eps=1e-3),
        "backward": net.backward(sw, sb),
        "lyapunov": net.lyapunov(sw, sb),
    }
    for metric, reference in expected.items():
        options = {"inputs": "perturbed", "eps": 1e-3} if metric == "forward" else {}
        da = compute_landscape(net, metric, sw, sb, progress=lambda d, t: calls.append((d, t)), **options)
        xr.testing.assert_identical(da, reference)
        assert da.attrs["metric"] == metric
    assert calls[-1] == (20, 20) and all(total == 20 for _, total in calls)
    with pytest.raises(ValueError, match="inputs applies to the forward metrics only"):
        compute_landscape(net, "lyapunov", sw, sb, inputs="perturbed")
    with pytest.raises(ValueError, match="metric must be one of"):
        compute_landscape(net, "divergence", sw, sb)
    with pytest.raises(ValueError, match="kernel_size applies to arch 'cnn' only"):
        make_network("mlp", 8, 5, kernel_size=3)


def test_write_landscape_refuses_existing_paths(tmp_path):
    da = compute_landscape(make_network("mlp", 6, 3), "forward", np.linspace(0, 2, 3), np.linspace(0, 1, 2))
    thesis = tmp_path / "thesis.png"
    thesis.write_bytes(b"not a figure")
    with pytest.raises(FileExistsError, match="exists"):
        write_landscape(da, tmp_path / "new.zarr", thesis)
    assert thesis.read_bytes() == b"not a figure" and not (tmp_path / "new.zarr").exists()
    store, figure = write_landscape(da, tmp_path / "new.zarr", tmp_path / "new.png")
    xr.testing.assert_identical(xr.open_zarr(store)[da.name].load(), da)
    assert figure.stat().st_size > 1000


# ----------------------------------------------------------------------------------------------- API
def test_view_levels_match_the_engine(app, monkeypatch):
    """Each level's computed points equal the engine's direct landscape; previews show the nearest point."""
    monkeypatch.setattr(view_module, "COARSE_WORK", 1e3)  # force three levels on a small view
    query = {**SMALL, "res": "64", "sw0": "0.5", "sw1": "3.5", "sb0": "0", "sb1": "2"}
    reference = engine_landscape(query).astype(np.float32)

    async def scenario():
        async with client(app) as c:
            out = []
            for level in range(3):
                r = await c.get("/api/view", params={**query, "level": level})
                assert r.status_code == 200, r.text
                out.append(r.json())
            return out

    responses = run(scenario())
    assert [r["levels"] for r in responses] == [[4, 2, 1]] * 3
    assert [r["computed_points"] for r in responses] == [16 * 16, 32 * 32 - 16 * 16, 64 * 64 - 32 * 32]
    for r, stride in zip(responses, (4, 2, 1)):
        nearest = nearest_on_lattice(64, stride)
        np.testing.assert_array_equal(decode_values(r), reference[np.ix_(nearest, nearest)])
        assert r["final"] == (stride == 1) and (r["frontier"] is None) == (stride != 1)
    final = responses[-1]
    assert View.from_query(final["query"]) == View.from_query(query)
    # the image is matplotlib's colour mapping of the engine's values (at most one colour step apart)
    png = decode_png(final["image"])
    assert png.shape == (64, 64, 4)
    assert np.abs(png.astype(int) - expected_rgba(engine_landscape(query)).astype(int)).max() <= 3
    assert final["colour"]["log"] and final["colour"]["cmap"] == "magma"


def test_dimension_shown_is_box_counting_of_the_engine_boundary(app):
    from infoprop import boundary, box_dimension

    query = {**SMALL, "res": "160", "depth": "12"}

    async def scenario():
        async with client(app) as c:
            return (await c.get("/api/view", params=query)).json()

    r = run(scenario())
    landscape = engine_landscape(query)
    cells = boundary(landscape, 1e-3)
    expected = box_dimension(cells, "robust")
    info = r["frontier"]
    assert info["threshold"] == 1e-3 and info["estimator"] == "robust" and info["resolved"]
    assert info["boundary_cells"] == int(cells.sum())
    assert info["dimension"] == pytest.approx(expected.dimension, abs=1e-12)
    assert 1.0 <= info["dimension"] <= 2.0
    overlay = decode_png(r["boundary"])  # cyan where the boundary is, transparent elsewhere
    np.testing.assert_array_equal(overlay[..., 3] > 0, np.asarray(cells).T[::-1])


def test_critical_line_is_the_archs_own(app):
    """The mean-field line of an erf mlp view satisfies the erf closed form (chi_1 = 1 gives
    q* = 4 sigma_w^4 / pi^2 - 1/4, and q* = sigma_w^2 (2/pi) arcsin(2q*/(1 + 2q*)) + sigma_b^2); a residual
    network has no fixed point, so its view shows no line (as the exported figure)."""

    async def scenario():
        async with client(app) as c:
            out = {}
            for arch in ("mlp", "resnet"):
                r = await c.get("/api/view", params={**SMALL, "arch": arch, "res": "16", "depth": "4"})
                assert r.status_code == 200, r.text
                out[arch] = r.json()["critical_line"]
            return out

    lines = run(scenario())
    assert lines["resnet"] is None
    sw = np.array([np.nan if w is None else w for w in lines["mlp"]["sigma_w"]], dtype=float)
    sb = np.array(lines["mlp"]["sigma_b"])
    ok = np.isfinite(sw)
    assert ok.sum() >= 0.9 * sw.size
    q = 4 * sw[ok] ** 4 / np.pi**2 - 0.25
    np.testing.assert_allclose(sw[ok] ** 2 * (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)) + sb[ok] ** 2, q, rtol=1e-8)


def test_lyapunov_view_uses_its_zero_level(app):
    from infoprop._src.fractal import mixed_cells

    query = {**SMALL, "metric": "lyapunov", "res": "40"}

    async def scenario():
        async with client(app) as c:
            return (await c.get("/api/view", params=query)).json()

    r = run(scenario())
    lam = engine_landscape(query)
    assert np.array_equal(decode_png(r["boundary"])[..., 3] > 0, mixed_cells(lam <= 0.0).T[::-1])
    assert r["colour"]["vmin"] == -r["colour"]["vmax"] and not r["colour"]["log"]
    np.testing.assert_array_equal(decode_values(r), lam.astype(np.float32))


def test_revisited_view_comes_from_the_cache(tmp_path, app):
    query = {**SMALL, "sw1": "2.5"}

    async def get(application):
        async with client(application) as c:
            return (await c.get("/api/view", params=query)).json()

    first = run(get(app))
    explorer = app.state.explorer
    tiles = explorer.cache.count_tiles()
    assert not first["cached"] and tiles >= 1 and explorer.stats["tiles_computed"] == tiles
    second = run(get(app))
    assert second["cached"] and explorer.stats["cache_hits"] == 1
    assert explorer.stats["tiles_computed"] == tiles and explorer.stats["networks_drawn"] == 1
    assert second["image"] == first["image"] and second["values"] == first["values"]
    # a restarted server reads the same disk cache; without the stored response it reassembles the tiles
    shutil.rmtree(explorer.cache.root / "views")  # test's own temporary cache
    fresh = explorer_app(tmp_path / "cache", tmp_path / "exports")
    third = run(get(fresh))
    stats = fresh.state.explorer.stats
    assert not third["cached"] and stats["tiles_loaded"] == tiles and stats["tiles_computed"] == 0
    assert stats["networks_drawn"] == 0 and third["values"] == first["values"]


BAD_REQUESTS = [
    ({"sw0": "nan"}, "sw0 must be finite"),
    ({"sw1": "inf"}, "sw1 must be finite"),
    ({"sb0": "-0.5"}, "sb0 (sigma_b, a standard deviation) must be >= 0"),
    ({"sb1": "1e9"}, "sb1 (sigma_b, a standard deviation) must be <= 100"),
    ({"sw0": "3", "sw1": "1"}, "sw0 must be < sw1"),
    ({"sw0": "1", "sw1": "1.0000000000000002"}, "too narrow"),
    ({"arch": "rnn"}, "arch must be one of"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"metric": "divergence"}, "metric must be one of"),
    ({"res": "5000"}, "res (grid points per axis) must be an integer <= 1024"),
    ({"res": "many"}, "res must be an integer"),
    ({"width": "0"}, "width must be an integer >= 1"),
    ({"depth": "10000000"}, "depth must be an integer <= 100000"),
    ({"width": "8000", "depth": "50000"}, "needs about"),
    ({"kernel_size": "3"}, "kernel_size applies to arch 'cnn' only"),
    ({"metric": "lyapunov", "inputs": "perturbed"}, "inputs applies to the forward metrics only"),
    ({"threshold": "-1"}, "threshold (ordered: metric <= threshold) must be > 0"),
    ({"level": "7"}, "level must be an integer in [0, 0]"),
    ({"colour": "red"}, "unknown parameter 'colour'"),
]


def test_cache_is_bounded_least_recently_used_first(tmp_path):
    """Past its bound the cache deletes its least recently used tiles (a loaded tile counts as used) down to 3/4
    of the bound, and nothing else: not the marker, not exports, not a file it did not write."""
    from infoprop._src.explore.tiles import TileCache

    tile = np.arange(32 * 32, dtype=np.float64).reshape(32, 32)
    probe = TileCache(tmp_path / "probe", None)
    probe.save_tile("00probe", tile)
    tile_bytes = probe.size_bytes
    assert tile_bytes == probe._tile_path("00probe").stat().st_size

    cache = TileCache(tmp_path / "cache", 5 * tile_bytes)
    stranger = cache.root / "tiles" / "aa" / "notes.txt"
    stranger.parent.mkdir(parents=True)
    stranger.write_text("not the explorer's")
    export = cache.root / "exports" / "view.png"
    export.parent.mkdir(parents=True)
    export.write_bytes(b"png")
    keys = [f"{i:02d}" + "k" * 62 for i in range(6)]
    for i, key in enumerate(keys[:4]):
        cache.save_tile(key, tile + i)
        os.utime(cache._tile_path(key), (1000 + i, 1000 + i))  # used long ago, oldest first
    assert cache.load_tile(keys[0], (32, 32)) is not None  # now the most recently used of the four
    cache.save_tile(keys[4], tile + 4)
    assert cache.size_bytes == 5 * tile_bytes  # at the bound: nothing deleted yet
    cache.save_tile(keys[5], tile + 5)  # past it: down to 3 tiles (<= 3.75)
    kept = [key for key in keys if cache.load_tile(key, (32, 32)) is not None]
    assert kept == [keys[0], keys[4], keys[5]]
    np.testing.assert_array_equal(cache.load_tile(keys[0], (32, 32)), tile)
    assert cache.size_bytes == 3 * tile_bytes == sum(p.stat().st_size for p in cache.root.glob("tiles/*/*.npy"))
    assert stranger.read_text() == "not the explorer's" and export.read_bytes() == b"png"
    assert (cache.root / "INFOPROP_EXPLORE_CACHE").exists()
    assert TileCache(tmp_path / "cache", 5 * tile_bytes).size_bytes == 3 * tile_bytes  # reopened: counted again
    with pytest.raises(ValueError, match="max_bytes"):
        TileCache(tmp_path / "cache", 0)


def test_bad_requests_get_a_one_line_4xx_and_the_server_goes_on(app):
    async def scenario():
        async with client(app) as c:
            out = [await c.get("/api/view", params={**SMALL, **bad}) for bad, _ in BAD_REQUESTS]
            out.append(await c.get("/api/view?width=8&width=9"))
            out.append(await c.get("/api/nothing"))
            out.append(await c.get("/api/view", params={**SMALL, "res": "16"}))
            return out

    responses = run(scenario())
    for (bad, message), r in zip(BAD_REQUESTS, responses):
        assert r.status_code == 400, (bad, r.text)
        error = r.json()["error"]
        assert message in error and "\n" not in error, (bad, error)
    assert responses[-3].status_code == 400 and "given 2 times" in responses[-3].json()["error"]
    assert responses[-2].status_code == 404
    assert responses[-1].status_code == 200
    assert app.state.explorer.stats["bad_requests"] == len(BAD_REQUESTS) + 1


def test_unexpected_error_is_one_line_500_and_the_server_survives(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tile exploded\nwith a second line")

    async def get():
        async with client(app) as c:
            return await c.get("/api/view", params=SMALL)

    monkeypatch.setattr(server_module, "compute_level", broken)
    r = run(get())
    assert (
        r.status_code == 500 and r.json()["error"] == "internal error (RuntimeError): tile exploded with a second line"
    )
    monkeypatch.undo()
    assert run(get()).status_code == 200


HEAVY = {"arch": "mlp", "width": "64", "depth": "1500", "activation": "erf", "res": "96", "sw0": "1", "sw1": "3"}


async def wait_until(c, condition, what, timeout=300.0):
    """Poll /api/status until ``condition(status)``; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = (await c.get("/api/status")).json()
        if condition(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_superseded_request_is_cancelled(app):
    """A newer request of the same page stops the older computation at the engine's next block."""
    heavy = View.from_query(HEAVY)
    last = len(heavy.strides()) - 1
    total_tiles = sum(len(level_tiles(heavy.res, heavy.strides(), k)) for k in range(last + 1))

    async def scenario():
        async with client(app) as c:
            first = asyncio.create_task(c.get("/api/view", params={**HEAVY, "level": last, "client": "p", "seq": 5}))
            await wait_until(c, lambda s: s["running"] and s["running"]["done"] > 0, "the heavy view to start")
            stale = await c.get("/api/view", params={**SMALL, "client": "p", "seq": 4})  # older than the running one
            newer = await c.get("/api/view", params={**SMALL, "client": "p", "seq": 6})
            return await asyncio.wait_for(first, 300), stale, newer, (await c.get("/api/status")).json()

    first, stale, newer, status = run(scenario())
    assert stale.status_code == 409 and "superseded" in stale.json()["error"]
    assert first.status_code == 409 and "superseded" in first.json()["error"]
    assert newer.status_code == 200 and newer.json()["final"]
    assert status["running"] is None and status["stats"]["cancelled"] == 2
    explorer = app.state.explorer
    heavy_tiles = explorer.stats["tiles_computed"] - 1  # the small view is one tile
    assert 0 <= heavy_tiles < total_tiles  # the heavy view stopped before its last tile
    assert explorer.cache.load_response(heavy.key(), last) is None


@pytest.fixture
def live_server(tmp_path):
    """The explorer served by uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    app = explorer_app(tmp_path / "cache", tmp_path / "exports")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(30)


def test_closed_connection_cancels_the_computation(live_server):
    url, _app = live_server
    host, port = url.removeprefix("http://").split(":")
    query = httpx.QueryParams({**HEAVY, "level": len(View.from_query(HEAVY).strides()) - 1})

    async def scenario():
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            raw = socket.create_connection((host, int(port)))
            raw.sendall(f"GET /api/view?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await wait_until(c, lambda s: s["running"] and s["running"]["done"] > 0, "the heavy view to start")
            raw.close()  # the page went away
            status = await wait_until(c, lambda s: s["running"] is None, "the computation to stop")
            return status, await c.get("/api/view", params=SMALL)

    status, after = run(scenario())
    assert status["stats"]["disconnected"] == 1 and status["stats"]["cancelled"] == 1
    assert after.status_code == 200


def test_export_writes_what_infoprop_landscape_writes(tmp_path, app):
    query = {**SMALL, "arch": "cnn", "kernel_size": "5", "sw0": "0.5", "sw1": "3.25", "sb0": "0.125", "sb1": "2"}
    before = files_under(tmp_path)

    async def scenario():
        async with client(app) as c:
            headers = {WRITE_HEADER: "1"}
            ok = await c.post("/api/export", params={**query, "name": "zoom-1"}, headers=headers)
            again = await c.post("/api/export", params={**query, "name": "zoom-1"}, headers=headers)
            traversal = await c.post("/api/export", params={**query, "name": "../../outside"}, headers=headers)
            no_header = await c.post("/api/export", params={**query, "name": "other"})
            return ok, again, traversal, no_header

    ok, again, traversal, no_header = run(scenario())
    assert ok.status_code == 200, ok.text
    result = ok.json()
    store, figure = tmp_path / "exports" / "zoom-1.zarr", tmp_path / "exports" / "zoom-1.png"
    assert result["store"] == str(store) and result["figure"] == str(figure)
    assert again.status_code == 409 and "exists" in again.json()["error"]
    assert traversal.status_code == 400 and "plain file name" in traversal.json()["error"]
    assert no_header.status_code == 403
    written = files_under(tmp_path) - before
    assert written and all(
        p.is_relative_to(tmp_path / "exports") or p.is_relative_to(tmp_path / "cache") for p in written
    )

    # the same parameters through the command line, spelled out here independently of the server
    cli_store, cli_figure = tmp_path / "cli" / "land.zarr", tmp_path / "cli" / "land.png"
    argv = [
        "landscape", "--arch", "cnn", "--width", "24", "--depth", "16", "--activation", "erf", "--seed", "3",
        "--kernel-size", "5", "--sigma-w", "0.5:3.25:48", "--sigma-b", "0.125:2:48", "--metric", "forward",
        "--out", str(cli_store), "--plot", str(cli_figure),
    ]  # fmt: skip
    assert main(argv) == 0
    with xr.open_zarr(store) as exported, xr.open_zarr(cli_store) as reference:
        xr.testing.assert_identical(exported.load(), reference.load())
    assert figure.read_bytes() == cli_figure.read_bytes()
    # the command the page shows reproduces it too
    import shlex

    shown = shlex.split(result["command"])
    assert shown[:2] == ["infoprop", "landscape"] and shown[-4:] == ["--out", str(store), "--plot", str(figure)]
    again_store = tmp_path / "cli" / "shown.zarr"
    assert main([*shown[1:-4], "--out", str(again_store)]) == 0
    with xr.open_zarr(again_store) as shown_store, xr.open_zarr(cli_store) as reference:
        xr.testing.assert_identical(shown_store.load(), reference.load())


# ----------------------------------------------------------------------------------------------- CLI
def test_cli_refuses_bad_options(tmp_path, capsys):
    def one_line_error(argv):
        assert main(["explore", "--no-browser", *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        return err

    assert "--port must be an integer <= 65535" in one_line_error(["--port", "70000", "--cache", str(tmp_path)])
    assert "cache must be a directory" in one_line_error(["--cache", os.devnull])
    assert "device must be" in one_line_error(["--device", "tpu", "--cache", str(tmp_path)])
    assert "--cache-max must be a size" in one_line_error(["--cache-max", "lots", "--cache", str(tmp_path)])
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        err = one_line_error(["--port", str(busy.getsockname()[1]), "--cache", str(tmp_path)])
        assert "cannot listen on 127.0.0.1:" in err
    finally:
        busy.close()


@pytest.mark.slow
def test_cli_serves_the_page(tmp_path):
    """`infoprop explore` as a user starts it: the page, its script and the API answer on the printed URL."""
    command = [sys.executable, "-m", "infoprop.cli", "explore", "--port", "0", "--no-browser", "--cache", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("infoprop explore: serving http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[3]
        with httpx.Client(base_url=url, timeout=120) as c:
            page = c.get("/")
            assert page.status_code == 200 and "/static/app.js" in page.text
            assert c.get("/static/app.js").status_code == 200
            assert "mlp" in c.get("/api/options").json()["choices"]["arch"]
            r = c.get("/api/view", params={**SMALL, "res": "16"})
            assert r.status_code == 200 and r.json()["final"]
            assert c.get("/", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
    finally:
        proc.terminate()
        proc.wait(30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explore-v1"]


# ----------------------------------------------------------------------------------------------- browser
def _chrome():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
    if not (os.path.exists(browser) and driver):
        pytest.skip("needs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.slow
def test_zoom_in_a_real_browser(live_server, tmp_path, monkeypatch):
    """Load the page, zoom twice by dragging, go back, reload: each view is the engine's landscape of its window."""
    from urllib.parse import parse_qsl, urlsplit

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _app = live_server
    monkeypatch.setattr(view_module, "COARSE_WORK", 1e9)  # the page goes through coarse previews
    driver = _chrome()
    shots = []

    def settled(previous=None):
        WebDriverWait(driver, 300).until(
            lambda d: (
                d.execute_script("return document.body.dataset.final") == "1"
                and d.execute_script("return document.body.dataset.query") != previous
                and d.execute_script("return window.explorer.status") == "done"
            )
        )
        error = driver.find_element(By.ID, "error").text
        assert not error, error
        response = driver.execute_script("return window.explorer.response")
        query = dict(parse_qsl(urlsplit(driver.current_url).query))
        assert View.from_query(query) == View.from_query(response["query"])
        return driver.execute_script("return document.body.dataset.query"), query, response

    def check_against_engine(query, response):
        reference = engine_landscape(query)
        np.testing.assert_array_equal(decode_values(response), reference.astype(np.float32))
        image = decode_png(driver.find_element(By.ID, "landscape").get_attribute("src"))
        assert np.abs(image.astype(int) - expected_rgba(reference).astype(int)).max() <= 3

    def shoot(name):
        path = tmp_path / f"{name}.png"
        driver.find_element(By.ID, "figure").screenshot(str(path))
        shots.append(path)

    def drag(x0, y0, x1, y1):
        plot = driver.find_element(By.ID, "plot")
        size = plot.size  # offsets are from the element's centre
        ActionChains(driver).move_to_element_with_offset(
            plot, x0 - size["width"] // 2, y0 - size["height"] // 2
        ).click_and_hold().move_by_offset((x1 - x0) // 2, (y1 - y0) // 2).move_by_offset(
            x1 - x0 - (x1 - x0) // 2, y1 - y0 - (y1 - y0) // 2
        ).release().perform()

    try:
        driver.get(f"{url}/?width=64&depth=48&activation=erf&seed=0&res=160")
        start_key, start_query, start = settled()
        assert start["levels"] == [4, 2, 1]
        check_against_engine(start_query, start)
        shoot("explore-0")
        images = [start["image"]]
        # first zoom: a box around the frontier at sigma_b ~ 1-2 (the window is [0, 4]^2 on a 480 px plot)
        drag(132, 240, 300, 408)
        key1, query1, zoom1 = settled(start_key)
        assert 0.9 < float(query1["sw0"]) < 1.3 and 2.3 < float(query1["sw1"]) < 2.7, query1
        check_against_engine(query1, zoom1)
        shoot("explore-1")
        images.append(zoom1["image"])
        # second zoom: the middle of that view
        drag(160, 160, 320, 320)
        key2, query2, zoom2 = settled(key1)
        assert float(query1["sw0"]) < float(query2["sw0"]) < float(query2["sw1"]) < float(query1["sw1"])
        check_against_engine(query2, zoom2)
        shoot("explore-2")
        images.append(zoom2["image"])
        assert len(set(images)) == 3  # each new image differs
        assert zoom2["frontier"]["boundary_cells"] > 0
        # back: the first zoom again (from the cache)
        driver.find_element(By.ID, "back").click()
        back_key, _back_query, back = settled(key2)
        assert back_key == key1 and back["image"] == zoom1["image"] and back["cached"]
        # reload the URL: the same view
        driver.refresh()
        reload_key, _reload_query, reloaded = settled()
        assert reload_key == key1 and reloaded["image"] == zoom1["image"]
        assert driver.find_element(By.NAME, "sw0").get_attribute("value") == query1["sw0"]
        shoot("explore-reloaded")
        # a bad value typed into the form: the server's one-line message on the page, the view unchanged
        field = driver.find_element(By.NAME, "sw0")
        field.clear()
        field.send_keys("nan")
        driver.find_element(By.ID, "apply").click()
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "error").text)
        assert driver.find_element(By.ID, "error").text == "sw0 must be finite, got 'nan'"
        assert driver.find_element(By.ID, "landscape").get_attribute("src") == zoom1["image"]
    finally:
        driver.quit()
    _zoom_strip(shots[:3], tmp_path / "explorer-zoom.png")
    target = os.environ.get("INFOPROP_EXPLORER_SCREENSHOTS")
    if target:  # how docs/img/explorer-zoom.png is made
        shutil.copy(tmp_path / "explorer-zoom.png", Path(target) / "explorer-zoom.png")


def _zoom_strip(paths, out):
    """The zoom sequence side by side (the test's output; docs/img/explorer-zoom.png is one of these)."""
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in paths]
    strip = Image.new(
        "RGB", (sum(i.width for i in images) + 16 * (len(images) - 1), max(i.height for i in images)), "white"
    )
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width + 16
    strip.save(out)
