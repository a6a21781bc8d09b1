"""The sweep store: one zarr store per study, readable with ``xarray.open_zarr``.

Layout. Each metric is one data variable on dims ``(*spec.dims, "sigma_w", "sigma_b")``, chunked one tile per
chunk, so that every tile writes whole chunks of its own and no two tiles ever write the same file. The
non-index coordinate ``tile_count`` on dims ``(*spec.dims, "tile_sigma_w", "tile_sigma_b")`` (one chunk per
tile) counts how many times each tile has been written: 0 means missing. It is written only after all of the
tile's data, and zarr (>= 3.1.3) writes every chunk atomically (a ``*.partial`` temporary, then a rename), so a
tile marked done is complete whatever process is killed when. The root attributes record the spec (its text,
its canonical form in ``parameters`` and its hash), the infoprop version and the sigma convention.

Verification. A mark is not trusted on its own: a chunk can be deleted or damaged after it was written.
:func:`damaged_tiles` lists the tiles marked done whose chunks are missing or unreadable. Its cheap check looks
at each chunk file (present, non-empty, starting with the zstd frame magic); ``decode=True`` also decompresses
every chunk (zstd frames carry a content checksum, so corruption inside a frame is caught too). Every chunk of
a tile is written even when it equals the fill value, so that a missing chunk always means damage.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ..common import (
    StoreError,
    discard_temporary,
    is_temporary_of,
    move_into_place,
    provenance_attrs,
    remove_output,
    temporary_sibling,
)
from ..metrics import METRIC_INFO
from .spec import AXES, SweepSpec, Tile, parse_spec

STATUS = "tile_count"
PROVENANCE = "provenance"
KIND = "sweep"
#: long_name and units of each metric's data variable (those of the engine's results).
METRIC_ATTRS: dict[str, dict[str, str]] = {
    name: {"long_name": info.long_name, "units": info.units} for name, info in METRIC_INFO.items()
}
_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial$")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def prepare_store(spec: SweepSpec, path: str | os.PathLike[str], *, replace: bool = False) -> Path:
    """Create the store for ``spec`` (all metadata, no data) or check that an existing one matches it.

    The store is built under a temporary name and renamed into place, so a killed run never leaves a
    half-prepared store. An existing store written for another spec or another infoprop version is refused
    with ``ValueError`` before anything is written -- unless ``replace=True``, which replaces it if it is an
    infoprop store (the caller has checked that with :func:`infoprop._src.output.check_output`).
    """
    path = Path(path)
    if path.exists() and not replace:
        check_store(spec, path)
        return path
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        if is_temporary_of(stale, path):  # a store a killed run was preparing: infoprop's own
            remove_output(stale, "store")
    tmp = temporary_sibling(path)
    try:
        with warnings.catch_warnings():
            # zarr warns that consolidated metadata is not part of the v3 spec; xarray reads it fine.
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            _template(spec).to_zarr(tmp, mode="w-", compute=False, consolidated=False, encoding=_encoding(spec))
            _add_provenance_group(spec, tmp)
        move_into_place(tmp, path, "store")
    except OSError as exc:
        raise ValueError(f"out must be a writable path, got {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        discard_temporary(tmp)
    return path


def check_store(spec: SweepSpec, path: str | os.PathLike[str]) -> None:
    """Raise ``ValueError`` unless ``path`` is a sweep store written for ``spec`` by this infoprop version."""
    attrs = _root_attrs(path)
    if attrs.get("infoprop_version") != __version__:
        raise ValueError(
            f"out {str(path)!r} was written by infoprop {attrs.get('infoprop_version')}, this is {__version__}:"
            " values could differ, so it cannot be resumed; write to a new --out path"
        )
    if attrs.get("sweep_spec_hash") != spec.hash:
        stored = json.loads(attrs["parameters"])
        changed = sorted(k for k in set(stored) | set(spec.canonical) if stored.get(k) != spec.canonical.get(k))
        raise ValueError(
            f"out {str(path)!r} holds a sweep of a different spec (differs in: {', '.join(changed)});"
            " use the original spec to resume it, or a new --out path"
        )


def read_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """The spec a store was written for (parsed again from the TOML text stored in it)."""
    return parse_spec(_root_attrs(path)["sweep_spec"], source=f"{path} (stored spec)")


def tile_counts(spec: SweepSpec, path: str | os.PathLike[str]) -> np.ndarray:
    """How many times each tile was written, on dims ``(*spec.dims, tile_sigma_w, tile_sigma_b)``; 0 = missing.

    A status chunk that is missing or cannot be decoded counts as 0 (missing): the tile is computed again.
    """
    status = _group(path, "r")[STATUS]
    try:
        return status[...]
    except Exception:  # one damaged status chunk: read them one by one
        counts = np.zeros(status.shape, dtype=status.dtype)
        for index in np.ndindex(status.shape):
            try:
                counts[index] = status[index]
            except Exception:
                counts[index] = 0
        return counts


def tile_index(spec: SweepSpec, tile: Tile) -> tuple[int, ...]:
    """Index of ``tile`` in :func:`tile_counts`."""
    return (*spec.experiment_index(tile.experiment), tile.i, tile.j)


def is_done(spec: SweepSpec, path: str | os.PathLike[str], tile: Tile) -> bool:
    """Whether ``tile`` is marked done (reads one status chunk; an unreadable one means not done)."""
    try:
        return bool(_group(path, "r")[STATUS][tile_index(spec, tile)] > 0)
    except (ValueError, KeyError, OSError, RuntimeError):
        return False


def write_tile(spec: SweepSpec, path: str | os.PathLike[str], tile: Tile, values: dict[str, Any]) -> None:
    """Write one tile into its region, then mark it done.

    ``values`` maps each metric to the engine's ``xarray.DataArray`` on the tile's sub-grid. The first tile of
    an experiment also records the DataArray's name, attributes and scalar coordinates (the engine's
    provenance, the same for every sub-grid) for :func:`open_landscape`. Every chunk is written, even one that
    equals the fill value, so that a missing chunk always means damage (:func:`damaged_tiles`).
    """
    group = _group(path, "r+")
    index = spec.experiment_index(tile.experiment)
    region = (*index, *spec.tile_slices(tile))
    for metric in spec.metrics:
        result = values[metric].transpose("sigma_w", "sigma_b")
        if tile.i == tile.j == 0:
            group[PROVENANCE][metric][tile.experiment] = json.dumps(_header(result))
        group[metric].with_config({"write_empty_chunks": True})[region] = result.values
    status = group[STATUS].with_config({"write_empty_chunks": True})
    at = tile_index(spec, tile)
    try:
        count = int(status[at])
    except Exception:  # a damaged status chunk: this write replaces it
        count = 0
    status[at] = count + 1


def reset_tiles(spec: SweepSpec, path: str | os.PathLike[str], tiles: list[Tile]) -> None:
    """Mark ``tiles`` missing (count 0), e.g. those :func:`damaged_tiles` found, so that a run computes them again."""
    if not tiles:
        return
    status = _group(path, "r+")[STATUS].with_config({"write_empty_chunks": True})
    for tile in tiles:
        status[tile_index(spec, tile)] = 0


def damaged_tiles(
    spec: SweepSpec,
    path: str | os.PathLike[str],
    tiles: list[Tile] | None = None,
    *,
    decode: bool = False,
    counts: np.ndarray | None = None,
) -> list[Tile]:
    """Tiles marked done (among ``tiles``; default all) whose data is missing or unreadable.

    The cheap check (default) looks at every chunk file of those tiles -- each metric's chunk and, for the first
    tile of an experiment, its provenance entry -- without reading the data: it must exist, be non-empty and
    start with the zstd frame magic. ``decode=True`` also decodes every one of them (zstd checks its content
    checksum), which reads the whole store. ``counts``: :func:`tile_counts` if already read.
    """
    group = _group(path, "r")
    counts = tile_counts(spec, path) if counts is None else counts
    candidates = spec.tiles() if tiles is None else tiles
    done = [tile for tile in candidates if counts[tile_index(spec, tile)] > 0]
    root = Path(path)
    arrays = [(root / metric, group[metric]) for metric in spec.metrics]
    headers = [(root / PROVENANCE / metric, group[PROVENANCE][metric]) for metric in spec.metrics]
    zstd = {id(a): any(type(c).__name__ == "ZstdCodec" for c in a.metadata.codecs) for _, a in arrays + headers}

    def chunks_ok(tile: Tile) -> bool:
        index = (*spec.experiment_index(tile.experiment), tile.i, tile.j)
        files = [(folder / a.metadata.encode_chunk_key(index), zstd[id(a)]) for folder, a in arrays]
        if tile.i == tile.j == 0:
            files += [(folder / h.metadata.encode_chunk_key((tile.experiment,)), zstd[id(h)]) for folder, h in headers]
        return all(_chunk_file_ok(file, is_zstd) for file, is_zstd in files)

    damaged = [tile for tile in done if not chunks_ok(tile)]
    if decode:
        for number in sorted({tile.experiment for tile in done}):
            rest = [t for t in done if t.experiment == number and t not in damaged]
            if rest and not _decodes(spec, group, number):  # one read per experiment; per tile only on failure
                damaged += [t for t in rest if not _decodes(spec, group, number, t)]
    return sorted(damaged)


def _chunk_file_ok(file: Path, is_zstd: bool) -> bool:
    try:
        with open(file, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head == _ZSTD_MAGIC if is_zstd else len(head) > 0


def _decodes(spec: SweepSpec, group: Any, number: int, tile: Tile | None = None) -> bool:
    """Whether experiment ``number`` (or only ``tile`` of it) decodes: data of every metric and provenance."""
    index = spec.experiment_index(number)
    region = (*index, *(spec.tile_slices(tile) if tile is not None else (slice(None), slice(None))))
    try:
        for metric in spec.metrics:
            group[metric][region]
            if tile is None or tile.i == tile.j == 0:
                json.loads(group[PROVENANCE][metric][number].item() or "{}")
    except MemoryError:
        raise
    except Exception:
        return False
    return True


def clean_partial_files(path: str | os.PathLike[str]) -> int:
    """Delete the temporary chunk files (``*.<32 hex>.partial``) a killed writer left behind; return how many.

    Only safe while no other process writes to the store: run one sweep per store at a time.
    """
    removed = 0
    for directory, _, files in os.walk(path):
        for name in files:
            if _PARTIAL.search(name):
                Path(directory, name).unlink(missing_ok=True)
                removed += 1
    return removed


def sweep_status(path: str | os.PathLike[str], *, verify: bool = False) -> list[dict[str, Any]]:
    """Progress per experiment: its axis values, ``done``, ``damaged`` and ``total`` tiles.

    ``done`` counts tiles marked done whose data passes :func:`damaged_tiles` (the cheap check, or with
    ``verify=True`` the full decode); ``damaged`` counts those marked done whose data is missing or unreadable
    (a resume computes them again).
    """
    spec = read_spec(path)
    counts = tile_counts(spec, path)
    damaged = damaged_tiles(spec, path, decode=verify, counts=counts)
    rows = []
    for number, experiment in enumerate(spec.experiments()):
        marked = int(np.count_nonzero(counts[spec.experiment_index(number)]))
        bad = sum(1 for tile in damaged if tile.experiment == number)
        total = int(counts[spec.experiment_index(number)].size)
        rows.append({**experiment, "done": marked - bad, "damaged": bad, "total": total})
    return rows


def describe_tiles(spec: SweepSpec, tiles: list[Tile], limit: int = 4) -> str:
    """``"tile (0, 1) of {arch: mlp, ...} [sigma_w 0.5..1.2, sigma_b 0..0.3], ..."`` for error messages."""
    parts = []
    for tile in tiles[:limit]:
        rows, cols = spec.tile_slices(tile)
        sw, sb = spec.sigma_w[rows], spec.sigma_b[cols]
        experiment = ", ".join(f"{k}={v}" for k, v in spec.experiment(tile.experiment).items())
        parts.append(
            f"tile ({tile.i}, {tile.j}) of experiment {tile.experiment} ({experiment}; "
            f"sigma_w {sw[0]:g}..{sw[-1]:g}, sigma_b {sb[0]:g}..{sb[-1]:g})"
        )
    more = f" and {len(tiles) - limit} more" if len(tiles) > limit else ""
    return "; ".join(parts) + more


def open_landscape(store: str | os.PathLike[str], metric: str | None = None, **selection: Any) -> Any:
    """One complete 2-D (sigma_w, sigma_b) landscape of a sweep store, as an ``xarray.DataArray``.

    Parameters
    ----------
    store : path
        A store written by ``infoprop sweep run``.
    metric : str, optional
        Which data variable; may be omitted when the sweep computed only one metric.
    **selection
        One value for each experiment axis that the sweep varies (``arch``, ``activation``, ``width``,
        ``depth``, ``seed``), e.g. ``open_landscape(store, width=100, depth=50)``.

    Returns
    -------
    xarray.DataArray
        Exactly what the finite-width engine returns for the whole grid (``RandomNetwork(...).forward(
        sigma_w, sigma_b)`` etc.): values on dims (sigma_w, sigma_b), sigma as standard deviations, the same
        name, coordinates and attributes (``long_name``, ``units`` and the provenance: ``parameters`` JSON with
        arch, activation, width, depth, seed, dtype, device, ...).

    Raises
    ------
    ValueError
        Unknown metric or axis, a value the sweep does not contain, an axis left unselected, a landscape
        whose tiles are not all written yet (rather than returning NaN holes), or one with tiles marked done
        whose chunks are missing or unreadable (:class:`~infoprop._src.output.StoreError`, naming the tiles).
    """
    import xarray as xr

    spec = read_spec(store)
    if metric is None:
        if len(spec.metrics) != 1:
            raise ValueError(f"metric must be given, one of {spec.metrics}, for this sweep")
        metric = spec.metrics[0]
    if metric not in spec.metrics:
        raise ValueError(f"metric must be one of {spec.metrics} (computed by this sweep), got {metric!r}")
    for key in selection:
        if key not in AXES:
            raise ValueError(f"selection keys must be among {AXES}, got {key!r}")
    experiment: dict[str, Any] = {}
    for axis in AXES:
        values = spec.axes[axis]
        if axis not in selection and len(values) > 1:
            raise ValueError(f"{axis} must be selected, one of {list(values)}")
        value = selection.get(axis, values[0])
        if value not in values:
            raise ValueError(f"{axis} must be one of {list(values)} (the sweep's values), got {value!r}")
        experiment[axis] = value
    number = spec.experiments().index(experiment)
    counts = tile_counts(spec, store)[spec.experiment_index(number)]
    if not np.all(counts > 0):
        raise ValueError(
            f"landscape {experiment} is incomplete: {np.count_nonzero(counts)} of {counts.size} tiles written;"
            " finish it with `infoprop sweep run`"
        )
    tiles = [tile for tile in spec.tiles() if tile.experiment == number]
    damaged = damaged_tiles(spec, store, tiles)
    try:
        values = _group(store, "r")[metric][(*spec.experiment_index(number), slice(None), slice(None))]
        header = json.loads(_group(store, "r")[PROVENANCE][metric][number].item())
    except MemoryError:
        raise
    except Exception:  # a chunk that passed the cheap check but does not decode: find every such tile
        damaged = damaged_tiles(spec, store, tiles, decode=True)
    if damaged:
        raise StoreError(
            f"landscape {experiment} of store {str(store)!r} has missing or unreadable data in "
            f"{len(damaged)} of {len(tiles)} tiles: {describe_tiles(spec, damaged)}; "
            "`infoprop sweep run SPEC --out STORE` computes them again"
        )
    coords = {
        "sigma_w": ("sigma_w", spec.sigma_w, header["sigma_attrs"]["sigma_w"]),
        "sigma_b": ("sigma_b", spec.sigma_b, header["sigma_attrs"]["sigma_b"]),
        **{name: ((), np.asarray(c["value"], dtype=c["dtype"]), c["attrs"]) for name, c in header["scalars"].items()},
    }
    return xr.DataArray(values, dims=("sigma_w", "sigma_b"), coords=coords, name=header["name"], attrs=header["attrs"])


# --------------------------------------------------------------------------- internals
def _root_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    attrs = _group(path, "r").attrs.asdict()
    if attrs.get("infoprop_kind") != KIND:
        raise ValueError(f"store must be an infoprop sweep store, got {str(path)!r} (no sweep metadata)")
    return attrs


def _header(result: Any) -> dict[str, Any]:
    """What :func:`open_landscape` needs besides the values: name, attributes, coordinate attributes, scalars."""
    scalars = {
        name: {"value": coord.values.item(), "dtype": str(coord.dtype), "attrs": dict(coord.attrs)}
        for name, coord in result.coords.items()
        if coord.ndim == 0
    }
    sigma_attrs = {name: dict(result[name].attrs) for name in ("sigma_w", "sigma_b")}
    return {"name": result.name, "attrs": dict(result.attrs), "sigma_attrs": sigma_attrs, "scalars": scalars}


def _add_provenance_group(spec: SweepSpec, path: Path) -> None:
    """A ``provenance`` sub-group (not seen by ``xarray.open_zarr``): one JSON header per metric and experiment."""
    import zarr

    root = zarr.open_group(str(path), mode="r+")
    group = root.create_group(PROVENANCE)
    for metric in spec.metrics:
        group.create_array(
            metric, shape=(len(spec.experiments()),), chunks=(1,), dtype=str, fill_value="", compressors=_compressors()
        )
    zarr.consolidate_metadata(str(path))


def _group(path: str | os.PathLike[str], mode: str) -> Any:
    import zarr

    if not Path(path).is_dir():
        raise ValueError(f"store must be an existing zarr directory, got {str(path)!r}")
    try:
        return zarr.open_group(str(path), mode=mode)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"store must be an infoprop sweep store, got {str(path)!r} ({exc})") from None


def _compressors() -> list[Any]:
    """zstd with its content checksum: a damaged chunk fails to decode instead of giving wrong numbers."""
    from zarr.codecs import ZstdCodec

    return [ZstdCodec(level=0, checksum=True)]


def _template(spec: SweepSpec) -> Any:
    """The store's Dataset: lazy NaN data (never computed), zero tile counts, coordinates and provenance."""
    import dask.array as da
    import xarray as xr

    coords: dict[str, Any] = {}
    for axis in AXES:
        values = np.array(spec.axes[axis], dtype=object if isinstance(spec.axes[axis][0], str) else np.int64)
        coords[axis] = (axis, values) if axis in spec.dims else values[0]
    coords["sigma_w"] = ("sigma_w", spec.sigma_w, {"long_name": "weight standard deviation sigma_w", "units": "1"})
    coords["sigma_b"] = ("sigma_b", spec.sigma_b, {"long_name": "bias standard deviation sigma_b", "units": "1"})
    tile_dims = (*spec.dims, "tile_sigma_w", "tile_sigma_b")
    coords[STATUS] = (
        tile_dims,
        np.zeros((*spec.experiment_shape, *spec.tile_grid), dtype=np.int32),
        {"long_name": "times each tile was written (0 = missing)"},
    )
    shape = (*spec.experiment_shape, spec.sigma_w.size, spec.sigma_b.size)
    chunks = _chunks(spec)
    data_vars = {
        metric: (
            (*spec.dims, "sigma_w", "sigma_b"),
            da.full(shape, np.nan, dtype=np.float64, chunks=chunks),
            METRIC_ATTRS[metric],
        )
        for metric in spec.metrics
    }
    attrs = {
        **provenance_attrs(KIND, spec.canonical),
        "sweep_spec": spec.text,
        "sweep_spec_hash": spec.hash,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _chunks(spec: SweepSpec) -> tuple[int, ...]:
    return (
        *(1 for _ in spec.dims),
        min(spec.tile, spec.sigma_w.size),
        min(spec.tile, spec.sigma_b.size),
    )


def _encoding(spec: SweepSpec) -> dict[str, dict[str, Any]]:
    encoding: dict[str, dict[str, Any]] = {
        m: {"chunks": _chunks(spec), "compressors": _compressors()} for m in spec.metrics
    }
    encoding[STATUS] = {"chunks": (1,) * (len(spec.dims) + 2), "compressors": _compressors()}
    for axis in ("arch", "activation"):
        # variable-length strings: zarr v3 has no stable spec for numpy's fixed-width unicode
        encoding[axis] = {"dtype": object}
    return encoding
