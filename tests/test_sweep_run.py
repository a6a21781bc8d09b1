"""Sweep runs on real networks: the store equals direct evaluation bitwise, in-process, on a LocalCluster, after a
SIGKILL and resume, and after a worker is killed; bad output paths and spec mismatches leave stores untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from infoprop._src.networks import RandomNetwork
from infoprop._src.sweep.store import damaged_tiles, tile_index
from infoprop.cli import main
from infoprop.sweep import (
    compute_tile,
    load_spec,
    open_landscape,
    parse_spec,
    prepare_store,
    run_sweep,
    sweep_status,
    tile_counts,
    write_tile,
)

# 7 x 5 grid in tiles of 3: uneven edge tiles, 6 tiles per experiment, 4 experiments.
SPEC = """\
arch = ["mlp", "fdf"]
width = 8
depth = [2, 3]
seed = 1
metric = ["forward", "lyapunov"]
sigma_w = { start = 0.5, stop = 3.0, count = 7 }
sigma_b2 = { start = 0.0, stop = 1.0, count = 5 }
tile = 3
"""
# Long enough per tile (depth) and enough tiles that a kill lands part-way through the sweep.
SLOW_SPEC = """\
arch = "mlp"
width = 16
depth = [300, 600]
metric = "forward"
sigma_w = { start = 0.5, stop = 3.0 }
sigma_b = { start = 0.0, stop = 1.0 }
resolution = 16
tile = 2
"""


def direct(spec, number):
    """The independent reference: one network evaluated on the whole grid in one call, no tiles, no store."""
    e = spec.experiment(number)
    net = RandomNetwork(
        e["arch"], e["width"], e["depth"], activation=e["activation"], seed=e["seed"], dtype=spec.options["dtype"]
    )
    out = {}
    for metric in spec.metrics:
        kwargs = {"inputs": spec.options["inputs"], "eps": spec.options["eps"]} if metric == "forward" else {}
        out[metric] = getattr(net, metric)(spec.sigma_w, spec.sigma_b, **kwargs)
    return out


def assert_store_equals_direct(spec, store):
    ds = xr.open_zarr(store)
    for number in range(len(spec.experiments())):
        index = dict(zip(spec.dims, spec.experiment_index(number)))
        for metric, expected in direct(spec, number).items():
            stored = ds[metric].isel(index).values
            expected = expected.transpose("sigma_w", "sigma_b").values
            assert stored.dtype == expected.dtype == np.float64
            assert np.array_equal(stored, expected, equal_nan=True), (metric, spec.experiment(number))


def snapshot(path):
    """Every file under ``path`` with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(path).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "study.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def in_process_store(spec_file):
    out = spec_file.parent / "in-process.zarr"
    assert main(["sweep", "run", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    return out


def test_in_process_run_equals_direct_evaluation_bitwise(spec_file, in_process_store):
    spec = load_spec(spec_file)
    assert_store_equals_direct(spec, in_process_store)
    ds = xr.open_zarr(in_process_store)
    assert ds.forward.dims == ("arch", "depth", "sigma_w", "sigma_b")
    assert ds.forward.chunks == ((1, 1), (1, 1), (3, 3, 1), (3, 2))  # chunks are the tiles
    assert list(ds.arch.values) == ["mlp", "fdf"]
    assert int(ds.width) == 8 and int(ds.seed) == 1 and str(ds.activation.values) == "erf"
    np.testing.assert_array_equal(ds.sigma_b.values, np.sqrt(np.linspace(0.0, 1.0, 5)))
    assert ds.attrs["sweep_spec"] == SPEC and ds.attrs["sweep_spec_hash"] == spec.hash
    assert ds.attrs["infoprop_version"] and ds.attrs["sigma_convention"] == "std"
    assert json.loads(ds.attrs["parameters"]) == spec.canonical
    np.testing.assert_array_equal(ds.tile_count.values, 1)  # each tile computed once


def test_progress_is_called_per_tile(tmp_path):
    spec = parse_spec(SPEC.replace('depth = [2, 3]', 'depth = 2').replace('arch = ["mlp", "fdf"]', 'arch = "resnet"'))
    seen = []
    result = run_sweep(spec, tmp_path / "p.zarr", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 6) for k in range(1, 7)] and len(result.computed) == 6
    assert_store_equals_direct(spec, result.store)
    with pytest.raises(TypeError, match="progress must be a callable"):
        run_sweep(spec, tmp_path / "q.zarr", progress=True)
    assert not (tmp_path / "q.zarr").exists()


def test_second_run_computes_nothing(spec_file, in_process_store, capsys):
    before = snapshot(in_process_store)
    assert main(["sweep", "run", str(spec_file), "--out", str(in_process_store), "--no-progress"]) == 0
    assert "computed 0 tiles, 24 already done, 24 total" in capsys.readouterr().out
    assert snapshot(in_process_store) == before


def test_open_landscape_is_the_engine_result_on_the_whole_grid(spec_file, in_process_store):
    spec = load_spec(spec_file)
    number = spec.experiments().index({"arch": "fdf", "activation": "erf", "width": 8, "depth": 3, "seed": 1})
    expected = direct(spec, number)
    for metric in spec.metrics:
        landscape = open_landscape(in_process_store, metric=metric, arch="fdf", depth=3)
        xr.testing.assert_identical(landscape, expected[metric])  # values, coords, name and provenance attrs
    assert json.loads(landscape.attrs["parameters"])["arch"] == "fdf"
    with pytest.raises(ValueError, match="arch must be selected"):
        open_landscape(in_process_store, metric="lyapunov", depth=3)
    with pytest.raises(ValueError, match="depth must be one of"):
        open_landscape(in_process_store, metric="lyapunov", arch="fdf", depth=4)
    with pytest.raises(ValueError, match="metric must be given"):
        open_landscape(in_process_store, arch="fdf", depth=3)
    with pytest.raises(ValueError, match="selection keys must be among"):
        open_landscape(in_process_store, metric="lyapunov", arch="fdf", depth=3, layer=1)


def test_status_prints_progress_per_experiment(in_process_store, capsys):
    assert main(["sweep", "status", str(in_process_store)]) == 0
    out = capsys.readouterr().out
    assert "24/24 tiles done" in out
    assert out.count("6/6") == 4


def test_resume_computes_only_missing_tiles_and_ignores_crash_leftovers(spec_file, tmp_path):
    spec = load_spec(spec_file)
    store = prepare_store(spec, tmp_path / "study.zarr")
    tiles = spec.tiles()
    for tile in tiles[::3]:
        assert compute_tile(spec, store, tile)
    assert not compute_tile(spec, store, tiles[0])  # already done: nothing recomputed
    # A crash mid-tile: some of its data written (garbage here) but the tile never marked, plus a temporary file.
    crashed = tiles[1]
    region = (*spec.experiment_index(crashed.experiment), *spec.tile_slices(crashed))
    import zarr

    zarr.open_group(str(store), mode="r+")["forward"][region] = -1.0
    leftover = store / "forward" / "c" / "0.0123456789abcdef0123456789abcdef.partial"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a chunk")

    result = run_sweep(spec_file, store)
    assert set(result.computed) == set(tiles) - set(tiles[::3])
    assert result.skipped == len(tiles[::3]) and result.total == len(tiles)
    assert not leftover.exists()
    np.testing.assert_array_equal(tile_counts(spec, store), 1)
    assert_store_equals_direct(spec, store)


def test_open_landscape_refuses_an_incomplete_landscape(spec_file, tmp_path):
    spec = load_spec(spec_file)
    store = prepare_store(spec, tmp_path / "study.zarr")
    compute_tile(spec, store, spec.tiles()[0])
    with pytest.raises(ValueError, match="incomplete: 1 of 6 tiles written"):
        open_landscape(store, metric="forward", arch="mlp", depth=2)
    assert [row["done"] for row in sweep_status(store)] == [1, 0, 0, 0]


def test_spec_mismatch_is_refused_and_the_store_untouched(spec_file, in_process_store, tmp_path, capsys):
    before = snapshot(in_process_store)
    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace("tile = 3", "tile = 2"))
    assert main(["sweep", "run", str(other), "--out", str(in_process_store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a sweep of a different spec (differs in: tile)" in err
    assert snapshot(in_process_store) == before


def test_overwrite_replaces_an_own_store_of_another_spec_and_never_resumes_it(spec_file, in_process_store, tmp_path):
    store = tmp_path / "study.zarr"
    shutil.copytree(in_process_store, store)
    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace("seed = 1", "seed = 2"))
    result = run_sweep(other, store, overwrite=True)
    assert len(result.computed) == result.total == 24
    assert_store_equals_direct(load_spec(other), store)
    assert sorted(os.listdir(tmp_path)) == ["other.toml", "study.zarr"]  # the old store is gone, no temporaries


def test_a_store_of_another_infoprop_version_is_refused(spec_file, in_process_store, monkeypatch):
    before = snapshot(in_process_store)
    monkeypatch.setattr("infoprop._src.sweep.store.__version__", "99.0")
    with pytest.raises(ValueError, match=r"was written by infoprop .*, this is 99.0"):
        run_sweep(spec_file, in_process_store)
    assert snapshot(in_process_store) == before


@pytest.mark.parametrize("make_out", ["under_a_file", "not_a_store"])
def test_unusable_output_path_is_refused(spec_file, tmp_path, capsys, make_out):
    if make_out == "under_a_file":
        (tmp_path / "file").write_text("x")
        out, message = tmp_path / "file" / "study.zarr", "out must be a writable path"
    else:
        out, message = tmp_path / "results.zarr", "never replaced"  # a user's folder, whatever its name
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    for overwrite in ([], ["--overwrite"]):
        assert main(["sweep", "run", str(spec_file), "--out", str(out), *overwrite]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--workers", "0"], "workers must be an integer >= 1"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "either workers or scheduler"),
        (["--scheduler", "127.0.0.1:8786"], "scheduler must be an address like"),
    ],
)
def test_bad_execution_options_are_refused_before_any_work(spec_file, tmp_path, capsys, options, message):
    out = tmp_path / "study.zarr"
    assert main(["sweep", "run", str(spec_file), "--out", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.dask
def test_local_cluster_with_two_workers_equals_in_process_run(spec_file, in_process_store, tmp_path):
    out = tmp_path / "cluster.zarr"
    assert main(["sweep", "run", str(spec_file), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    reference, distributed = xr.open_zarr(in_process_store), xr.open_zarr(out)
    for metric in ("forward", "lyapunov"):
        assert np.array_equal(distributed[metric].values, reference[metric].values, equal_nan=True)
    np.testing.assert_array_equal(distributed.tile_count.values, 1)


HANG_GUARD_SECONDS = 900  # only stops a hung run from blocking the suite forever; no speed is asserted


def wait_for_tiles(spec, store, minimum, alive):
    """Poll the store (written by another process) until at least ``minimum`` tiles are done.

    Returns False as soon as ``alive()`` is false (the writer ended); fails after the hang guard.
    """
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while alive():
        assert time.monotonic() < deadline, f"hang guard: fewer than {minimum} tiles after {HANG_GUARD_SECONDS} s"
        try:
            if np.count_nonzero(tile_counts(spec, store)) >= minimum:
                return True
        except (ValueError, FileNotFoundError, KeyError):
            pass  # the store is still being prepared
        time.sleep(0.01)
    return False


@pytest.mark.slow
def test_sigkill_part_way_then_resume_equals_uninterrupted_run(tmp_path):
    spec_path = tmp_path / "slow.toml"
    spec_path.write_text(SLOW_SPEC)
    spec = parse_spec(SLOW_SPEC)
    store = tmp_path / "slow.zarr"
    command = [sys.executable, "-m", "infoprop.cli", "sweep", "run", str(spec_path), "--out", str(store)]
    command.append("--no-progress")
    # One torch thread, as in a Dask worker: tiny per-tile products are slow with several threads on a busy machine.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        assert wait_for_tiles(spec, store, 3, alive=lambda: process.poll() is None), process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    counts = tile_counts(spec, store)
    missing = {t for t in spec.tiles() if counts[tile_index(spec, t)] == 0}
    assert 0 < len(missing) < len(spec.tiles())

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_sweep(spec_path, store)
    finally:
        torch.set_num_threads(threads)
    assert set(result.computed) == missing  # only the missing tiles were recomputed
    np.testing.assert_array_equal(tile_counts(spec, store), 1)
    assert_store_equals_direct(spec, store)


@pytest.mark.slow
@pytest.mark.dask
def test_killing_a_worker_mid_run_still_completes(tmp_path):
    from distributed import Client, LocalCluster

    spec = parse_spec(SLOW_SPEC)
    store = tmp_path / "slow.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            victim = next(iter(client.run(os.getpid).values()))
        killed, done_at_kill = [], []

        def kill_one_worker():
            if wait_for_tiles(spec, store, 3, alive=lambda: not killed):
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                done_at_kill.append(np.count_nonzero(tile_counts(spec, store)))

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        try:
            result = run_sweep(spec, store, scheduler=cluster.scheduler_address)
        finally:
            killed.append(None)  # stops the poller if the run ended first
            killer.join()
    assert killed[0] == victim and done_at_kill[0] < len(spec.tiles()), "the worker was not killed part-way"
    assert len(result.computed) == len(spec.tiles())
    assert np.all(tile_counts(spec, store) >= 1)
    assert_store_equals_direct(spec, store)


# ------------------------------------------------------------------ stores are verified, not trusted (issue 10, 3)
def damage(store, spec):
    """Delete one data chunk and overwrite another with garbage; return the two tiles they belong to."""
    tiles = spec.tiles()
    deleted, garbage = tiles[1], tiles[8]
    group_index = lambda tile: "/".join(map(str, (*spec.experiment_index(tile.experiment), tile.i, tile.j)))  # noqa: E731
    (store / "forward" / "c" / group_index(deleted)).unlink()
    (store / "lyapunov" / "c" / group_index(garbage)).write_bytes(b"garbage\n")
    return deleted, garbage


def test_deleted_and_garbage_chunks_are_reported_and_resume_ends_bitwise_equal(
    spec_file, in_process_store, tmp_path, capsys
):
    spec = load_spec(spec_file)
    store = tmp_path / "damaged.zarr"
    shutil.copytree(in_process_store, store)
    deleted, garbage = damage(store, spec)

    for verify in ([], ["--verify"]):
        assert main(["sweep", "status", str(store), *verify]) == 0
        out = capsys.readouterr().out
        assert "22/24 tiles done, incomplete" in out
        assert "2 tiles marked done have missing or unreadable data" in out
    assert "every chunk decoded" in out and " s)" in out  # --verify says how long the full decode took

    experiment = spec.experiment(deleted.experiment)
    named = rf"missing or unreadable data in 1 of 6 tiles: tile \({deleted.i}, {deleted.j}\)"
    with pytest.raises(ValueError, match=named):
        open_landscape(store, metric="forward", arch=experiment["arch"], depth=experiment["depth"])
    experiment = spec.experiment(garbage.experiment)
    selection = [f"arch={experiment['arch']}", f"depth={experiment['depth']}"]
    argv = ["report", "--from", str(store), "--metric", "lyapunov", "--out", str(tmp_path / "r")]
    assert main([*argv, *(x for item in selection for x in ("--select", item))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"tile ({garbage.i}, {garbage.j})" in err
    assert not (tmp_path / "r").exists()

    result = run_sweep(spec_file, store)
    assert set(result.repaired) == set(result.computed) == {deleted, garbage}
    assert snapshot(store) == snapshot(in_process_store)  # every file, data and marks, byte for byte
    assert_store_equals_direct(spec, store)


def test_corruption_inside_a_chunk_is_found_by_the_full_decode(spec_file, in_process_store, tmp_path, capsys):
    spec = load_spec(spec_file)
    store = tmp_path / "flipped.zarr"
    shutil.copytree(in_process_store, store)
    tile = spec.tiles()[5]
    chunk = store / "forward" / "c" / "/".join(map(str, (*spec.experiment_index(tile.experiment), tile.i, tile.j)))
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the zstd header stays valid: only decoding (with its checksum) finds this
    chunk.write_bytes(bytes(data))
    assert damaged_tiles(spec, store) == []
    assert damaged_tiles(spec, store, decode=True) == [tile]
    assert main(["sweep", "status", str(store), "--verify"]) == 0
    assert "23/24 tiles done, incomplete" in capsys.readouterr().out
    assert run_sweep(spec_file, store).repaired == (tile,)
    assert snapshot(store) == snapshot(in_process_store)


def test_an_all_nan_tile_still_writes_its_chunk(tmp_path):
    """zarr skips chunks equal to the fill value (NaN) by default; then a deleted chunk could not be told apart."""
    spec = parse_spec(SPEC)
    store = prepare_store(spec, tmp_path / "nan.zarr")
    tile = spec.tiles()[0]
    values = {m: v.isel(sigma_w=spec.tile_slices(tile)[0], sigma_b=spec.tile_slices(tile)[1]) * np.nan
              for m, v in direct(spec, tile.experiment).items()}  # fmt: skip
    write_tile(spec, store, tile, values)
    assert damaged_tiles(spec, store) == []


# ------------------------------------------------------------------ one-line deterministic errors (issue 10, 6)
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("workers", [[], ["--workers", "1"]])
def test_an_unavailable_device_is_refused_before_any_store_or_cluster(tmp_path, capfd, workers):
    spec = tmp_path / "cuda.toml"
    spec.write_text(SPEC + 'device = "cuda"\n')
    out = tmp_path / "cuda.zarr"
    assert main(["sweep", "run", str(spec), "--out", str(out), "--no-progress", *workers]) == 2
    err = capfd.readouterr().err  # file-descriptor level: worker processes' logs would show here
    assert err.count("\n") == 1 and "device 'cuda' is not available" in err
    assert sorted(os.listdir(tmp_path)) == ["cuda.toml"]


@pytest.mark.dask
def test_a_deterministic_error_in_a_dask_task_is_raised_once_without_retries(spec_file, tmp_path, monkeypatch, capfd):
    from distributed import LocalCluster

    import infoprop._src.sweep.run as run_module

    calls = []

    def failing(spec, tile):
        calls.append(tile)
        raise ValueError(f"deterministic failure at {tile}")

    monkeypatch.setattr(run_module, "evaluate_tile", failing)  # threads of this process: the patch applies
    out = tmp_path / "study.zarr"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(ValueError, match="deterministic failure at Tile"):
            run_sweep(spec_file, out, scheduler=cluster.scheduler_address)
    assert len(calls) == len(set(calls)) >= 1  # no tile was retried
    assert not out.exists()  # the store this run created, still empty, is gone
    assert "Compute Failed" not in capfd.readouterr().err
