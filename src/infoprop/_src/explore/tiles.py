"""A view's grid computed by the finite-width engine in tiles, cached on disk, cancellable.

A *tile* is a rectangular block of one level's sub-lattice (see :func:`.view.level_slices`): a set of rows
(``sigma_w`` values) by all the columns (``sigma_b`` values) of that sub-lattice, at most :data:`TILE_POINTS`
points. Each tile is one call of :func:`infoprop._src.landscape.compute_landscape` on the same network draw;
the engine's value at a grid point depends only on that point, so tiles assemble into exactly the landscape
that one call on the whole grid gives.

Tiles are cached as float64 ``.npy`` files under ``<cache>/explore-v1/tiles/``, keyed like the sweeps key their
tasks: the SHA-256 of the canonical JSON of every parameter that determines the values (infoprop version,
network, device, metric and its options) and of the exact float64 bytes of the tile's coordinates.
Everything the explorer writes lives under ``<cache>/explore-v1/``; files are written under a temporary name
and renamed, and a file that cannot be read is recomputed and replaced (it is the explorer's own). The tiles
and views together are bounded (``max_bytes``, default :data:`DEFAULT_CACHE_BYTES`): past the bound the least
recently used ones are deleted; exports are never deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ..metrics import FORWARD_METRICS
from .view import View, digest, level_slices

#: Largest number of grid points in one tile (about 25 engine blocks at width 100: both cores stay busy).
TILE_POINTS = 8192
CACHE_FOLDER = "explore-v1"
#: Default bound of the cache's tiles and views (about 2,000 new 256^2 views); exports do not count.
DEFAULT_CACHE_BYTES = 2 * 1024**3
_MARKER = "INFOPROP_EXPLORE_CACHE"


class Cancelled(Exception):
    """The request was superseded by a newer one, or its client went away."""


@dataclass(frozen=True)
class Tile:
    """Grid indices of one tile: rows ``w`` (sigma_w) x columns ``b`` (sigma_b)."""

    w: np.ndarray
    b: np.ndarray

    @property
    def points(self) -> int:
        return self.w.size * self.b.size


def level_tiles(res: int, strides: tuple[int, ...], level: int) -> list[Tile]:
    """The tiles of the grid points that ``level`` adds (row blocks of each of its sub-lattices)."""
    index = np.arange(res)
    tiles = []
    for rows, cols in level_slices(strides, level):
        w, b = index[rows], index[cols]
        if not (w.size and b.size):
            continue
        step = max(1, TILE_POINTS // b.size)
        tiles.extend(Tile(w[i : i + step], b) for i in range(0, w.size, step))
    return tiles


def _coordinate_hash(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


def tile_key(view: View, device: str, sigma_w: np.ndarray, sigma_b: np.ndarray) -> str:
    """Cache key of the values of ``view``'s network and metric on the grid ``sigma_w x sigma_b``."""
    return digest(
        {
            "infoprop_version": __version__,
            "network": view.network_parameters(),
            "device": device,
            "metric": view.metric_parameters(),
            "sigma_w": _coordinate_hash(sigma_w),
            "sigma_b": _coordinate_hash(sigma_b),
        }
    )


class TileCache:
    """The explorer's cache directory: tiles (``.npy``) and finished view responses (``.json``)."""

    def __init__(self, cache_dir: str | os.PathLike[str], max_bytes: int | None = DEFAULT_CACHE_BYTES):
        base = Path(cache_dir).expanduser()
        if base.exists() and not base.is_dir():
            raise ValueError(f"cache must be a directory, got {str(base)!r} (a file)")
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive number of bytes or None (no limit), got {max_bytes!r}")
        self.root = base / CACHE_FOLDER
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            marker = self.root / _MARKER
            if not marker.exists():
                self._write(marker, b"Written by infoprop explore: cached tiles and views; safe to delete.\n")
        except OSError as exc:
            raise ValueError(f"cache must be a writable directory, got {str(base)!r} ({exc.strerror})") from None
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self._bytes = sum(size for _, _, size in self._entries())

    # ------------------------------------------------------------------ size bound
    def _entries(self) -> list[tuple[float, Path, int]]:
        """``(mtime, path, size)`` of every cached tile and view (the explorer's own files; exports excluded)."""
        out = []
        for pattern in ("tiles/*/*.npy", "views/*/*.json"):
            for path in self.root.glob(pattern):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                out.append((stat.st_mtime, path, stat.st_size))
        return out

    @property
    def size_bytes(self) -> int:
        """Bytes of tiles and views on disk, as tracked since this cache was opened."""
        return self._bytes

    def _added(self, size: int) -> None:
        """Account for a new file; past ``max_bytes``, delete the least recently used tiles and views until the
        cache is at 3/4 of it (a loaded file counts as used: :meth:`_touch`)."""
        with self._lock:
            self._bytes += size
            if self.max_bytes is None or self._bytes <= self.max_bytes:
                return
            entries = sorted(self._entries())
            self._bytes = sum(size for _, _, size in entries)
            for _, path, size in entries:
                if self._bytes <= 0.75 * self.max_bytes:
                    break
                try:
                    path.unlink()
                except OSError:
                    continue
                self._bytes -= size

    @staticmethod
    def _touch(path: Path) -> None:
        try:
            os.utime(path)
        except OSError:
            pass

    # ------------------------------------------------------------------ files
    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def _tile_path(self, key: str) -> Path:
        return self.root / "tiles" / key[:2] / f"{key}.npy"

    def load_tile(self, key: str, shape: tuple[int, int]) -> np.ndarray | None:
        """The cached tile, or None when absent, unreadable or of another shape."""
        path = self._tile_path(key)
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if values.shape != shape or values.dtype != np.float64:
            return None
        self._touch(path)
        return values

    def save_tile(self, key: str, values: np.ndarray) -> None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(values, dtype=np.float64), allow_pickle=False)
        self._write(self._tile_path(key), buffer.getvalue())
        self._added(buffer.getbuffer().nbytes)

    def _response_path(self, key: str, level: int) -> Path:
        return self.root / "views" / key[:2] / f"{key}-{level}.json"

    def load_response(self, key: str, level: int) -> dict[str, Any] | None:
        """A finished view response, or None."""
        path = self._response_path(key, level)
        try:
            response = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        self._touch(path)
        return response

    def save_response(self, key: str, level: int, response: dict[str, Any]) -> None:
        data = json.dumps(response).encode()
        self._write(self._response_path(key, level), data)
        self._added(len(data))

    def count_tiles(self) -> int:
        """Number of tiles on disk."""
        return sum(1 for _ in (self.root / "tiles").glob("*/*.npy"))


@dataclass
class LevelValues:
    """The grid of one view up to one level: NaN where a finer level has not been computed yet."""

    values: np.ndarray  # (res, res), rows sigma_w, columns sigma_b
    computed_points: int
    computed_tiles: int
    loaded_tiles: int
    compute_seconds: float


def compute_level(
    view: View,
    level: int,
    cache: TileCache,
    get_network: Callable[[], Any],
    *,
    device: str = "cpu",
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LevelValues:
    """Values of ``view`` at every grid point of levels ``0..level``, from the cache or the engine.

    Raises :class:`Cancelled` (between tiles, or from inside the engine at its next block) once ``cancel`` is
    set; tiles finished before that stay cached.
    """
    from ..landscape import compute_landscape

    strides = view.strides()
    sw, sb = view.sigma_w(), view.sigma_b()
    values = np.full((view.res, view.res), np.nan)
    missing: list[tuple[Tile, str]] = []
    loaded = 0
    for k in range(level + 1):
        for tile in level_tiles(view.res, strides, k):
            key = tile_key(view, device, sw[tile.w], sb[tile.b])
            cached = cache.load_tile(key, (tile.w.size, tile.b.size))
            if cached is None:
                missing.append((tile, key))
            else:
                values[np.ix_(tile.w, tile.b)] = cached
                loaded += 1
    total = sum(tile.points for tile, _ in missing)
    done = 0

    def check(points_in_tile: int) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("superseded by a newer request")
        if progress is not None:
            progress(done + points_in_tile, total)

    start = time.perf_counter()
    if missing:
        check(0)
        network = get_network()
        for tile, key in missing:
            check(0)
            da = compute_landscape(
                network,
                view.metric,
                sw[tile.w],
                sb[tile.b],
                inputs=view.inputs if view.metric in FORWARD_METRICS else "independent",
                eps=view.eps,
                progress=lambda points, _total: check(points),
            )
            tile_values = np.asarray(da.transpose("sigma_w", "sigma_b").values, dtype=np.float64)
            cache.save_tile(key, tile_values)
            values[np.ix_(tile.w, tile.b)] = tile_values
            done += tile.points
        check(0)
    return LevelValues(values, total, len(missing), loaded, time.perf_counter() - start)
