"""The sweep store: one zarr store per study, readable with ``xarray.open_zarr``.

Layout. Each metric is one data variable on dims ``(*spec.dims, "sigma_w", "sigma_b")``, chunked one tile per
chunk, so that every tile writes whole chunks of its own and no two tiles ever write the same file. The
non-index coordinate ``tile_count`` on dims ``(*spec.dims, "tile_sigma_w", "tile_sigma_b")`` (one chunk per
tile) counts how many times each tile has been written: 0 means missing. It is written only after all of the
tile's data, and zarr (>= 3.1.3) writes every chunk atomically (a ``*.partial`` temporary, then a rename), so a
tile marked done is complete whatever process is killed when. The root attributes record the spec (its text,
its canonical form in ``parameters`` and its hash), the infoprop version and the sigma convention.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ..common import ensure_parent_writable, provenance_attrs
from .spec import AXES, SweepSpec, Tile, parse_spec

STATUS = "tile_count"
PROVENANCE = "provenance"
KIND = "sweep"
#: long_name and units of each metric's data variable (those of the engine's results, at d = D).
METRIC_ATTRS: dict[str, dict[str, str]] = {
    "divergence": {"long_name": "forward divergence L^(D) = ||h^D(x1) - h^D(x2)||^2 / N", "units": "1"},
    "forward_normalised": {
        "long_name": "normalised post-activation divergence ||phi(h^D(x1)) - phi(h^D(x2))||^2 / N",
        "units": "1",
    },
    "backward_divergence": {"long_name": "backward divergence L' = ||J^T g1 - J^T g2||", "units": "1"},
    "lyapunov": {"long_name": "finite-size Lyapunov exponent (1/D) ln(||J v|| / ||v||)", "units": "1/layer"},
}
_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial$")


def prepare_store(spec: SweepSpec, path: str | os.PathLike[str]) -> Path:
    """Create the store for ``spec`` (all metadata, no data) or check that an existing one matches it.

    The store is built under a temporary name and renamed into place, so a killed run never leaves a
    half-prepared store. An existing store written for another spec or another infoprop version is refused
    with ``ValueError`` before anything is written.
    """
    path = Path(path)
    if path.exists():
        check_store(spec, path)
        return path
    ensure_parent_writable(path, "out")
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with warnings.catch_warnings():
            # zarr warns that consolidated metadata is not part of the v3 spec; xarray reads it fine.
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            _template(spec).to_zarr(tmp, mode="w", compute=False, consolidated=False, encoding=_encoding(spec))
            _add_provenance_group(spec, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise ValueError(f"out must be a writable path, got {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
    """How many times each tile was written, on dims ``(*spec.dims, tile_sigma_w, tile_sigma_b)``; 0 = missing."""
    return _group(path, "r")[STATUS][...]


def tile_index(spec: SweepSpec, tile: Tile) -> tuple[int, ...]:
    """Index of ``tile`` in :func:`tile_counts`."""
    return (*spec.experiment_index(tile.experiment), tile.i, tile.j)


def is_done(spec: SweepSpec, path: str | os.PathLike[str], tile: Tile) -> bool:
    """Whether ``tile`` is marked done (reads one status chunk)."""
    return bool(_group(path, "r")[STATUS][tile_index(spec, tile)] > 0)


def write_tile(spec: SweepSpec, path: str | os.PathLike[str], tile: Tile, values: dict[str, Any]) -> None:
    """Write one tile into its region, then mark it done.

    ``values`` maps each metric to the engine's ``xarray.DataArray`` on the tile's sub-grid. The first tile of
    an experiment also records the DataArray's name, attributes and scalar coordinates (the engine's
    provenance, the same for every sub-grid) for :func:`open_landscape`.
    """
    group = _group(path, "r+")
    index = spec.experiment_index(tile.experiment)
    region = (*index, *spec.tile_slices(tile))
    for metric in spec.metrics:
        result = values[metric].transpose("sigma_w", "sigma_b")
        if tile.i == tile.j == 0:
            group[PROVENANCE][metric][tile.experiment] = json.dumps(_header(result))
        group[metric][region] = result.values
    status = group[STATUS]
    at = tile_index(spec, tile)
    status[at] = status[at] + 1


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


def sweep_status(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Progress per experiment: one dict per experiment with its axis values, ``done`` and ``total`` tiles."""
    spec = read_spec(path)
    counts = tile_counts(spec, path)
    rows = []
    for number, experiment in enumerate(spec.experiments()):
        done = counts[spec.experiment_index(number)]
        rows.append({**experiment, "done": int(np.count_nonzero(done)), "total": int(done.size)})
    return rows


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
        Exactly what the finite-width engine returns for the whole grid (``RandomNetwork(...).divergence(
        sigma_w, sigma_b)`` etc.): values on dims (sigma_w, sigma_b), sigma as standard deviations, the same
        name, coordinates and attributes (``long_name``, ``units`` and the provenance: ``parameters`` JSON with
        arch, activation, width, depth, seed, dtype, device, ...).

    Raises
    ------
    ValueError
        Unknown metric or axis, a value the sweep does not contain, an axis left unselected, or a landscape
        whose tiles are not all written yet (rather than returning NaN holes).
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
    values = _group(store, "r")[metric][(*spec.experiment_index(number), slice(None), slice(None))]
    header = json.loads(_group(store, "r")[PROVENANCE][metric][number].item())
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
        group.create_array(metric, shape=(len(spec.experiments()),), chunks=(1,), dtype=str, fill_value="")
    zarr.consolidate_metadata(str(path))


def _group(path: str | os.PathLike[str], mode: str) -> Any:
    import zarr

    if not Path(path).is_dir():
        raise ValueError(f"store must be an existing zarr directory, got {str(path)!r}")
    try:
        return zarr.open_group(str(path), mode=mode)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"store must be an infoprop sweep store, got {str(path)!r} ({exc})") from None


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
    encoding: dict[str, dict[str, Any]] = {m: {"chunks": _chunks(spec)} for m in spec.metrics}
    encoding[STATUS] = {"chunks": (1,) * (len(spec.dims) + 2)}
    for axis in ("arch", "activation"):
        # variable-length strings: zarr v3 has no stable spec for numpy's fixed-width unicode
        encoding[axis] = {"dtype": object}
    return encoding
