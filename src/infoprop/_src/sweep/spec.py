"""Sweep specification: a TOML file describing a study, validated before any work starts.

A spec lists the study axes (``arch``, ``activation``, ``width``, ``depth``, ``seed``), the metrics, the
(sigma_w, sigma_b) grid and the tile size. An axis written as a TOML array is a dimension of the store
(even with one element); an axis written as a scalar is a scalar coordinate. Every error names the key and
the line of the file it is on.

How lines are found: ``tomllib`` reports no positions for valid documents, so :func:`_key_lines` scans the
text once, tracking ``[table]`` headers, and records the first line on which each (dotted) key is assigned,
including the keys of single-line inline tables (TOML 1.0 inline tables cannot span lines). A key that the
scanner cannot place (for example one assigned inside a multi-line string) is reported without a line.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..activations import ACTIVATIONS
from ..arch import get_arch
from ..common import check_choice, check_int, check_memory, check_real
from ..metrics import METRICS
from ..networks import DTYPES, INPUTS

#: Experiment axes in the order of the store's dimensions (before ``sigma_w``, ``sigma_b``).
AXES: tuple[str, ...] = ("arch", "activation", "width", "depth", "seed")
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")
_BYTES_PER_TILE = 160

_RANGE_KEYS = ("start", "stop", "count")
_KEYS = (
    *AXES,
    "metric",
    "sigma_w",
    "sigma_w2",
    "sigma_b",
    "sigma_b2",
    "resolution",
    "tile",
    "dtype",
    "device",
    "inputs",
    "eps",
    "kernel_size",
)
DEFAULTS: dict[str, Any] = {
    "activation": "erf",
    "seed": 0,
    "metric": "forward",
    "tile": 100,
    "dtype": "float32",
    "device": "cpu",
    "inputs": "independent",
    "eps": 1e-5,
}


class Tile(NamedTuple):
    """One unit of work: experiment number (row-major over the axes) and tile indices along sigma_w, sigma_b."""

    experiment: int
    i: int
    j: int


@dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep specification (build it with :func:`load_spec` or :func:`parse_spec`).

    Attributes
    ----------
    axes : dict
        Values of each experiment axis (``arch``, ``activation``, ``width``, ``depth``, ``seed``), as tuples.
    dims : tuple of str
        The axes given as TOML arrays: the store's experiment dimensions, in :data:`AXES` order.
    metrics : tuple of str
        Metrics to compute, each one data variable of the store.
    sigma_w, sigma_b : numpy.ndarray
        Grid values, float64 standard deviations (variance ranges are converted with ``sqrt``).
    tile : int
        Grid points per tile side; the store's chunks along ``sigma_w`` and ``sigma_b``.
    options : dict
        ``dtype``, ``device``, ``inputs``, ``eps`` and (for cnn) ``kernel_size``.
    canonical : dict
        The normalised spec as plain JSON types; its SHA-256 is :attr:`hash`.
    text : str
        The TOML text the spec was read from.
    """

    axes: dict[str, tuple[Any, ...]]
    dims: tuple[str, ...]
    metrics: tuple[str, ...]
    sigma_w: np.ndarray
    sigma_b: np.ndarray
    tile: int
    options: dict[str, Any]
    canonical: dict[str, Any]
    text: str

    @functools.cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical spec: equal for specs that differ only in comments or layout."""
        return hashlib.sha256(json.dumps(self.canonical, sort_keys=True).encode()).hexdigest()

    @property
    def tile_grid(self) -> tuple[int, int]:
        """Number of tiles along sigma_w and sigma_b."""
        return -(-self.sigma_w.size // self.tile), -(-self.sigma_b.size // self.tile)

    @property
    def experiment_shape(self) -> tuple[int, ...]:
        """Shape of the experiment dimensions :attr:`dims`."""
        return tuple(len(self.axes[name]) for name in self.dims)

    def experiments(self) -> list[dict[str, Any]]:
        """All experiments (Cartesian product of the axes, row-major in :data:`AXES` order)."""
        return [dict(zip(AXES, values)) for values in itertools.product(*(self.axes[a] for a in AXES))]

    def experiment(self, number: int) -> dict[str, Any]:
        """Axis values of experiment ``number`` (its position in :meth:`experiments`)."""
        return {a: self.axes[a][p] for a, p in zip(AXES, self._position(number))}

    def experiment_index(self, number: int) -> tuple[int, ...]:
        """Position of experiment ``number`` along the store's experiment dimensions :attr:`dims`."""
        return tuple(p for a, p in zip(AXES, self._position(number)) if a in self.dims)

    def _position(self, number: int) -> tuple[int, ...]:
        return tuple(int(p) for p in np.unravel_index(number, tuple(len(self.axes[a]) for a in AXES)))

    def tiles(self) -> list[Tile]:
        """All tiles, experiment-major so that consecutive tiles share one network."""
        n_w, n_b = self.tile_grid
        n_exp = int(np.prod([len(self.axes[a]) for a in AXES]))
        return [Tile(e, i, j) for e in range(n_exp) for i in range(n_w) for j in range(n_b)]

    def tile_slices(self, tile: Tile) -> tuple[slice, slice]:
        """Grid slices (along sigma_w, sigma_b) covered by ``tile``."""
        t = self.tile
        return slice(tile.i * t, (tile.i + 1) * t), slice(tile.j * t, (tile.j + 1) * t)

    def tile_key(self, tile: Tile) -> str:
        """Deterministic task key: the same tile of the same spec has the same key in every run."""
        return f"tile-{self.hash[:16]}-{tile.experiment}-{tile.i}-{tile.j}"


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec file; errors are ``ValueError`` naming the key and its line."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"spec must be a readable TOML file, got {str(path)!r} ({exc})") from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<spec>") -> SweepSpec:
    """Validate the TOML ``text`` of a sweep spec; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    lines = _key_lines(text)

    def fail(key: str, message: str) -> ValueError:
        line = lines.get(key) or lines.get(key.split(".")[0])
        where = f"{source}, line {line}" if line else source
        return ValueError(f"{where}: {message}")

    def checked(key: str, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except (TypeError, ValueError) as exc:
            raise fail(key, str(exc)) from None

    for key in data:
        if key not in _KEYS:
            raise fail(key, f"unknown key {key!r}; allowed keys are {', '.join(_KEYS)}")
    for key in ("arch", "width", "depth"):
        if key not in data:
            raise fail(key, f"missing required key {key!r}")
    values = {**DEFAULTS, **data}

    def axis(key: str, check: Callable[[str, Any], Any]) -> tuple[tuple[Any, ...], bool]:
        raw = values[key]
        is_dim = isinstance(raw, list)
        items = raw if is_dim else [raw]
        if not items:
            raise fail(key, f"{key} must not be an empty array")
        checked_items = tuple(checked(key, lambda v=v: check(key, v)) for v in items)
        if len(set(checked_items)) != len(checked_items):
            raise fail(key, f"{key} must not repeat values, got {raw!r}")
        return checked_items, is_dim

    checks: dict[str, Callable[[str, Any], Any]] = {
        "arch": lambda k, v: get_arch(v).name,
        "activation": lambda k, v: check_choice(k, v, ACTIVATIONS),
        "width": lambda k, v: check_int(k, v, minimum=1),
        "depth": lambda k, v: check_int(k, v, minimum=1),
        "seed": lambda k, v: check_int(k, v, minimum=0),
    }
    axes: dict[str, tuple[Any, ...]] = {}
    dims = []
    for key in AXES:
        axes[key], is_dim = axis(key, checks[key])
        if is_dim:
            dims.append(key)
    metrics, _ = axis("metric", lambda k, v: check_choice(k, v, METRICS))

    resolution = None
    if "resolution" in values:
        resolution = checked("resolution", lambda: check_int("resolution", values["resolution"], minimum=1))
    grid_canon = {name: _grid(name, values, resolution, fail) for name in ("sigma_w", "sigma_b")}
    counts = {name: next(iter(canon.values()))["count"] for name, canon in grid_canon.items()}
    tile = checked("tile", lambda: check_int("tile", values["tile"], minimum=1))
    # Sizes before anything is allocated: the grid axes, the tile list (one small Python object per tile) and
    # the status array held while running.
    for name, canon in grid_canon.items():
        key = next(iter(canon))
        where = f"{key}.count" if "count" in values[key] else "resolution"
        checked(where, lambda key=key, n=counts[name]: check_memory(8 * n, f"{key} grid ({n} values)"))
    n_tiles = math.prod(len(a) for a in axes.values()) * math.prod(-(-n // tile) for n in counts.values())
    checked("tile", lambda: check_memory(n_tiles * _BYTES_PER_TILE, f"the list of the sweep's {n_tiles} tiles"))
    grids = {name: _axis(canon) for name, canon in grid_canon.items()}

    options: dict[str, Any] = {
        "dtype": checked("dtype", lambda: check_choice("dtype", values["dtype"], DTYPES)),
        "device": checked("device", lambda: _check_device(values["device"])),
        "inputs": checked("inputs", lambda: check_choice("inputs", values["inputs"], INPUTS)),
        "eps": checked("eps", lambda: check_real("eps", values["eps"], minimum=0.0, strict_minimum=True)),
    }
    if "kernel_size" in values:
        if not any(get_arch(a).operator == "conv" for a in axes["arch"]):
            raise fail("kernel_size", "kernel_size applies to arch 'cnn' only, and arch does not include it")
        kernel = checked("kernel_size", lambda: check_int("kernel_size", values["kernel_size"], minimum=1))
        if kernel > min(axes["width"]):
            raise fail("kernel_size", f"kernel_size must be <= every width ({min(axes['width'])}), got {kernel}")
        options["kernel_size"] = kernel

    canonical = {
        "axes": {a: list(axes[a]) for a in AXES},
        "dims": dims,
        "metric": list(metrics),
        **grid_canon,
        "tile": tile,
        **options,
    }
    return SweepSpec(
        axes=axes,
        dims=tuple(dims),
        metrics=metrics,
        sigma_w=grids["sigma_w"],
        sigma_b=grids["sigma_b"],
        tile=tile,
        options=options,
        canonical=canonical,
        text=text,
    )


# --------------------------------------------------------------------------- helpers
def _check_device(value: Any) -> str:
    if not isinstance(value, str) or not DEVICE_PATTERN.match(value):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {value!r}")
    return value


def _grid(
    name: str,
    values: Mapping[str, Any],
    resolution: int | None,
    fail: Callable[[str, str], ValueError],
) -> dict[str, Any]:
    """``{key: {start, stop, count}}`` from ``name = {start, stop[, count]}`` or its variance form ``name2``."""
    variance_key = f"{name}2"
    if name in values and variance_key in values:
        raise fail(variance_key, f"give either {name} (std) or {variance_key} (variance), not both")
    if name not in values and variance_key not in values:
        raise fail(name, f"missing required key {name!r} (or {variance_key!r}), e.g. {name} = {{start = 0, stop = 4}}")
    key = name if name in values else variance_key
    table = values[key]
    if not isinstance(table, dict):
        raise fail(key, f"{key} must be a table {{start = ..., stop = ..., count = ...}}, got {table!r}")
    for sub in table:
        if sub not in _RANGE_KEYS:
            raise fail(f"{key}.{sub}", f"unknown key {key}.{sub}; allowed keys are {', '.join(_RANGE_KEYS)}")
    for sub in ("start", "stop"):
        if sub not in table:
            raise fail(key, f"missing required key {key}.{sub}")

    def checked(where: str, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except (TypeError, ValueError) as exc:
            raise fail(where, str(exc)) from None

    start = checked(f"{key}.start", lambda: check_real(f"{key}.start", table["start"], minimum=0.0))
    stop = checked(f"{key}.stop", lambda: check_real(f"{key}.stop", table["stop"], minimum=0.0))
    if stop < start:
        raise fail(f"{key}.stop", f"{key}.stop must be >= {key}.start ({start}), got {stop}")
    if "count" in table:
        count = checked(f"{key}.count", lambda: check_int(f"{key}.count", table["count"], minimum=1))
    elif resolution is not None:
        count = resolution
    else:
        raise fail(key, f"give {key}.count or a top-level resolution (grid points per axis)")
    return {key: {"start": start, "stop": stop, "count": count}}


def _axis(canon: dict[str, Any]) -> np.ndarray:
    """Grid of standard deviations (a variance range ``sigma_w2``/``sigma_b2`` is converted with ``sqrt``)."""
    ((key, grid),) = canon.items()
    values = np.linspace(grid["start"], grid["stop"], grid["count"])
    return np.sqrt(values) if key.endswith("2") else values


_HEADER = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*=")


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _key_lines(text: str) -> dict[str, int]:
    """Map each dotted key of a TOML document to the (1-based) line where it is first assigned."""
    lines: dict[str, int] = {}
    prefix = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            prefix = _dotted(header.group(1))
            lines.setdefault(prefix, number)
            continue
        match = _KEY.match(line)
        if not match:
            continue
        key = _dotted(match.group(1))
        key = f"{prefix}.{key}" if prefix else key
        lines.setdefault(key, number)
        for inner in _INLINE_KEY.finditer(line, match.end()):
            lines.setdefault(f"{key}.{_dotted(inner.group(1))}", number)
    return lines
