"""Sweeps at scale: a TOML spec, split into tiles, computed locally or on Dask, stored in one resumable zarr store.

- :func:`load_spec` / :func:`parse_spec` validate a spec file (errors name the key and its line).
- :func:`run_sweep` computes the missing tiles (in-process, ``workers=N`` local processes, or ``scheduler=``).
- :func:`sweep_status` reports progress per experiment (verified tiles only); :func:`damaged_tiles` lists tiles
  marked done whose chunks are missing or unreadable; :func:`open_landscape` reads one 2-D landscape.
- ``xarray.open_zarr(store)`` gives the whole study as labelled arrays.
"""

from __future__ import annotations

from ._src.sweep.run import SweepResult, compute_tile, evaluate_tile, run_sweep
from ._src.sweep.spec import AXES, METRICS, SweepSpec, Tile, load_spec, parse_spec
from ._src.sweep.store import (
    check_store,
    clean_partial_files,
    damaged_tiles,
    open_landscape,
    prepare_store,
    read_spec,
    sweep_status,
    tile_counts,
    write_tile,
)

__all__ = [
    "AXES",
    "METRICS",
    "SweepResult",
    "SweepSpec",
    "Tile",
    "check_store",
    "clean_partial_files",
    "compute_tile",
    "damaged_tiles",
    "evaluate_tile",
    "load_spec",
    "open_landscape",
    "parse_spec",
    "prepare_store",
    "read_spec",
    "run_sweep",
    "sweep_status",
    "tile_counts",
    "write_tile",
]
