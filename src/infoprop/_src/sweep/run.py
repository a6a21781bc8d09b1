"""Running a sweep: missing tiles computed in-process or on a dask.distributed cluster, each written to the store.

Dask only maps :func:`compute_tile` over the missing tiles, with deterministic keys (:meth:`SweepSpec.tile_key`);
every task writes its own tile into the store, so workers must see the store's path (a shared file system when
the cluster spans several machines). A tile task first checks the tile's status and does nothing if it is
already done, so retries after a lost worker and concurrent duplicates are harmless.

Errors. A deterministic error of a tile (``ValueError``/``TypeError``: bad input, an activation returning NaN,
a size refused) is returned by the task rather than raised, so Dask neither logs it nor retries it; the client
cancels the rest and raises it once. Other exceptions (I/O, a lost worker) are retried :data:`RETRIES` times.
Everything that can be checked before the cluster starts is checked first (spec, output path, device, memory),
and a store this run created is removed again if the run fails before any tile was written.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arch import get_arch
from ..common import check_int, check_memory, check_output, remove_output, resolve_device
from ..metrics import FORWARD_METRICS
from .spec import SweepSpec, Tile, load_spec
from .store import (
    check_store,
    clean_partial_files,
    damaged_tiles,
    is_done,
    prepare_store,
    reset_tiles,
    tile_counts,
    tile_index,
    write_tile,
)

#: Retries of a tile task that raised something other than a deterministic error (an I/O hiccup); killed
#: workers are covered by dask's ``allowed-failures`` (default 3).
RETRIES = 2
#: Errors that recur whenever the same tile is computed again: never retried, reported once.
DETERMINISTIC = (ValueError, TypeError)
#: Networks kept per process; tiles are submitted experiment by experiment, so two cover the overlap.
NETWORK_CACHE = 2


@dataclass(frozen=True)
class SweepResult:
    """What one :func:`run_sweep` call did.

    Attributes
    ----------
    store : pathlib.Path
        The zarr store.
    computed : tuple of Tile
        Tiles this run computed and wrote (those missing or damaged when it started).
    skipped : int
        Tiles already done (and verified) when it started.
    total : int
        All tiles of the sweep.
    repaired : tuple of Tile
        Tiles marked done whose data was missing or unreadable; computed again (part of ``computed``).
    """

    store: Path
    computed: tuple[Tile, ...]
    skipped: int
    total: int
    repaired: tuple[Tile, ...] = ()


def run_sweep(
    spec: SweepSpec | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> SweepResult:
    """Compute every missing tile of ``spec`` into the zarr store ``out`` (created if needed).

    Parameters
    ----------
    spec : SweepSpec or path
        A validated spec or the path of a TOML spec file.
    out : path
        The store (a new path ends in ``.zarr``). If it exists it must have been written for the same spec by
        the same infoprop version: then it is verified (every tile marked done is decoded) and only its
        missing or damaged tiles are computed (resume).
    workers : int, optional
        Start a local ``dask.distributed.LocalCluster`` with this many worker processes (one thread each).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://HOST:PORT``) whose workers can write to ``out``.
    progress : callable, optional
        Called as ``progress(done, total)`` after every tile this run computes (``total``: the tiles missing when
        it started). ``infoprop sweep run`` shows a Rich bar with it.
    overwrite : bool, keyword-only
        Replace an existing infoprop store at ``out`` that cannot be resumed (another spec or version). A store
        of the same spec is always resumed; a path that is not an infoprop store is never replaced.

    Returns
    -------
    SweepResult
        The tiles computed by this run. Values are bitwise identical however the sweep is split, resumed or
        distributed, because each tile evaluates the same network draw on its own sub-grid.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give either workers or scheduler, not both")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total), got {progress!r}")
    if workers is not None:
        workers = check_int("workers", workers, minimum=1)
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise ValueError(f"scheduler must be an address like 'tcp://HOST:PORT', got {scheduler!r}")
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    out = Path(out)
    # Everything that can fail deterministically is checked before a store or a cluster exists.
    replace = _check_out(spec, out, overwrite)
    if scheduler is None:
        resolve_device(spec.options["device"])
    check_memory(_tile_memory(spec), "one tile of the sweep (network draw and tile grid)")
    existed = out.exists() and not replace
    with _client(workers, scheduler) as client:
        if client is not None and scheduler is not None:
            client.run(resolve_device, spec.options["device"])  # the workers' devices, not this machine's
        store = prepare_store(spec, out, replace=replace).resolve()
        clean_partial_files(store)
        tiles = spec.tiles()
        repaired = damaged_tiles(spec, store, decode=True) if existed else []
        reset_tiles(spec, store, repaired)
        counts = tile_counts(spec, store)
        todo = [tile for tile in tiles if counts[tile_index(spec, tile)] == 0]
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, len(todo))

        try:
            if client is None:
                for tile in todo:
                    compute_tile(spec, store, tile)
                    advance()
            else:
                _run_on_dask(client, spec, store, todo, advance)
        except DETERMINISTIC:
            if not existed and not np.any(tile_counts(spec, store) > 0):
                remove_output(store, "store")  # created by this run and still empty: leave nothing behind
            raise
    return SweepResult(
        store=store, computed=tuple(todo), skipped=len(tiles) - len(todo), total=len(tiles), repaired=tuple(repaired)
    )


def _check_out(spec: SweepSpec, out: Path, overwrite: bool) -> bool:
    """Validate ``out``; return whether an existing store is to be replaced (``overwrite`` and not resumable)."""
    if not os.path.lexists(out):
        check_output(out, "store", name="out")
        return False
    try:
        check_store(spec, out)
        return False  # the same sweep: resume it
    except ValueError as exc:
        mismatch = exc
    check_output(out, "store", overwrite=True, name="out")  # refuses anything that is not infoprop's own store
    if not overwrite:
        raise mismatch
    return True


def _tile_memory(spec: SweepSpec) -> int:
    """Memory of one tile on one worker: the largest experiment's network draw and a tile's sub-grid."""
    from ..networks import memory_estimate

    points = min(spec.tile, spec.sigma_w.size) * min(spec.tile, spec.sigma_b.size)
    return max(
        memory_estimate(e["arch"], e["width"], e["depth"], spec.options["dtype"], points=points)
        for e in _distinct_networks(spec)
    )


def _distinct_networks(spec: SweepSpec) -> list[dict[str, Any]]:
    return [
        {"arch": a, "width": w, "depth": d}
        for a in spec.axes["arch"]
        for w in spec.axes["width"]
        for d in spec.axes["depth"]
    ]


def compute_tile(spec: SweepSpec, store: str | os.PathLike[str], tile: Tile) -> bool:
    """Compute ``tile`` and write it into ``store`` unless it is already done; return whether it computed."""
    if is_done(spec, store, tile):
        return False
    write_tile(spec, store, tile, evaluate_tile(spec, tile))
    return True


def evaluate_tile(spec: SweepSpec, tile: Tile) -> dict[str, Any]:
    """Every metric of ``spec`` on the sub-grid of ``tile``, as the engine's ``xarray.DataArray`` results.

    ``dtype`` is the engine's working precision; its results (and so the store) are float64.
    """
    experiment = spec.experiment(tile.experiment)
    options = spec.options
    arch_options = ()
    if get_arch(experiment["arch"]).operator == "conv" and "kernel_size" in options:
        arch_options = (("kernel_size", options["kernel_size"]),)
    network = _network(
        experiment["arch"],
        experiment["width"],
        experiment["depth"],
        experiment["activation"],
        experiment["seed"],
        options["dtype"],
        options["device"],
        arch_options,
    )
    rows, cols = spec.tile_slices(tile)
    sigma_w, sigma_b = spec.sigma_w[rows], spec.sigma_b[cols]
    values = {}
    for metric in spec.metrics:
        # the spec's inputs/eps are options of the forward metrics
        metric_options = {"inputs": options["inputs"], "eps": options["eps"]} if metric in FORWARD_METRICS else {}
        values[metric] = network.landscape(metric, sigma_w, sigma_b, **metric_options)
    return values


@functools.lru_cache(maxsize=NETWORK_CACHE)
def _network(
    arch: str,
    width: int,
    depth: int,
    activation: str,
    seed: int,
    dtype: str,
    device: str,
    arch_options: tuple[tuple[str, Any], ...],
) -> Any:
    """One network per experiment and process: drawing depth x width^2 weights once, not once per tile."""
    from ..networks import RandomNetwork

    return RandomNetwork(
        arch, width, depth, activation=activation, seed=seed, dtype=dtype, device=device, **dict(arch_options)
    )


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A dask client for ``workers`` local processes or the ``scheduler`` address; ``None`` for in-process."""
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,  # not the routine warnings of workers shut down at the end
        )
        with cluster:
            with Client(cluster) as client:
                yield client
        return
    try:
        client = Client(scheduler, timeout=30)
    except OSError as exc:
        raise ValueError(f"scheduler must be a reachable dask scheduler, got {scheduler!r} ({exc})") from None
    with client:
        yield client


def _run_on_dask(client: Any, spec: SweepSpec, store: Path, todo: list[Tile], advance: Callable[[], None]) -> None:
    from distributed import as_completed

    # One copy of the spec on every worker instead of one per task (its grids travel with it).
    shared_spec = client.scatter(spec, broadcast=True)
    futures = [
        client.submit(_tile_task, shared_spec, str(store), tile, key=spec.tile_key(tile), pure=False, retries=RETRIES)
        for tile in todo
    ]
    try:
        for future in as_completed(futures):
            failure = future.result()
            if failure is not None:
                error, message = failure
                raise error(message)
            advance()
    except BaseException:
        client.cancel(futures)
        raise


def _tile_task(spec: SweepSpec, store: str, tile: Tile) -> tuple[type[Exception], str] | None:
    """:func:`compute_tile` as a Dask task: a deterministic error comes back as a value (not logged, not retried)."""
    try:
        compute_tile(spec, store, tile)
    except DETERMINISTIC as exc:
        return type(exc) if type(exc) in DETERMINISTIC else ValueError, str(exc)
    return None
