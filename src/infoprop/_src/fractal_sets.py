"""Rasterised sets of known box-counting dimension, to validate box-counting estimators.

Every function returns a square boolean image of side ``n`` pixels (``image[i, j]``: row ``i``, column ``j``).
Curves (segment, circle, Koch curve) are drawn by sampling points every quarter pixel along the exact curve and
marking the pixels they fall in, so a curve is a connected chain of pixels about one pixel thick. Self-similar
sets (Sierpinski triangle and carpet) are evaluated per pixel centre from the base-b digits of its coordinates,
refined until the smallest copies are about one pixel wide. All sets leave a margin of ``n // 16`` pixels so that
box grids of every offset see the whole set.

``REFERENCE_SETS`` maps each name to ``(function, true dimension)``. The filled square has dimension 2 when its
pixels are counted as mass (box counting applied to the filled set itself, not to its boundary).

>>> import numpy as np
>>> from infoprop.fractal import REFERENCE_SETS
>>> image = REFERENCE_SETS["circle"][0](256)
>>> image.shape, image.dtype
((256, 256), dtype('bool'))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .common import check_int

__all__ = [
    "REFERENCE_SETS",
    "circle",
    "filled_square",
    "koch_curve",
    "segment",
    "sierpinski_carpet_boundary",
    "sierpinski_triangle",
]

_MIN_SIDE = 16


def _check_side(n: int) -> int:
    return check_int("n", n, minimum=_MIN_SIDE)


def _margin(n: int) -> int:
    return n // 16


def _rasterise_points(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    image = np.zeros((n, n), dtype=bool)
    r = np.clip(np.floor(rows).astype(np.int64), 0, n - 1)
    c = np.clip(np.floor(cols).astype(np.int64), 0, n - 1)
    image[r, c] = True
    return image


def _rasterise_polyline(n: int, points: np.ndarray) -> np.ndarray:
    """Mark the pixels crossed by the polyline through complex ``points`` (real part = column, imag = row)."""
    lengths = np.abs(np.diff(points))
    per_segment = np.maximum(np.ceil(4 * lengths).astype(np.int64), 1)
    starts = np.repeat(points[:-1], per_segment)
    steps = np.repeat(np.diff(points) / per_segment, per_segment)
    offsets = np.arange(per_segment.sum()) - np.repeat(np.cumsum(per_segment) - per_segment, per_segment)
    samples = np.concatenate([starts + offsets * steps, points[-1:]])
    return _rasterise_points(n, samples.imag, samples.real)


def segment(n: int) -> np.ndarray:
    """A straight segment at an irrational-looking slope (dimension 1)."""
    n = _check_side(n)
    m = _margin(n)
    start, stop = complex(m + 0.3, m + 0.7), complex(n - m - 0.6, 0.62 * n + 0.1)
    return _rasterise_polyline(n, np.array([start, stop]))


def circle(n: int) -> np.ndarray:
    """A circle of radius ``n/2 - n/16`` pixels centred in the image (dimension 1)."""
    n = _check_side(n)
    radius = n / 2 - _margin(n)
    angles = np.linspace(0.0, 2 * np.pi, int(np.ceil(8 * np.pi * radius)) + 1)
    points = n / 2 + radius * np.exp(1j * angles)
    return _rasterise_points(n, points.imag, points.real)


def koch_curve(n: int) -> np.ndarray:
    """The triadic Koch curve spanning the image width, refined to sub-pixel segments (dimension log 4 / log 3)."""
    n = _check_side(n)
    m = _margin(n)
    span = n - 2 * m
    points = np.array([0.0, 1.0], dtype=complex)
    bump = np.exp(1j * np.pi / 3)
    while span * abs(points[1] - points[0]) > 1.0:
        a, d = points[:-1], np.diff(points) / 3
        refined = np.stack([a, a + d, a + d + d * bump, a + 2 * d], axis=1).ravel()
        points = np.concatenate([refined, points[-1:]])
    # The curve bulges upwards by span * sqrt(3) / 6; centre it vertically.
    image_points = m + span * points.real + 1j * (n / 2 + span * (np.sqrt(3) / 12 - points.imag))
    return _rasterise_polyline(n, image_points)


def _digits_grid(n: int, base: int) -> tuple[np.ndarray, int]:
    """Integer cell index per pixel centre on the finest base-``base`` level whose cells are >= 1 pixel."""
    m = _margin(n)
    span = n - 2 * m
    levels = int(np.floor(np.log(span) / np.log(base) + 1e-12))
    u = (np.arange(n) + 0.5 - m) / span
    inside = (u >= 0) & (u < 1)
    cells = np.where(inside, np.floor(u * base**levels), -1).astype(np.int64)
    return cells, levels


def sierpinski_triangle(n: int) -> np.ndarray:
    """The Sierpinski triangle (Pascal's triangle mod 2: cell (i, j) kept iff i AND j == 0), dimension log 3 / log 2."""
    n = _check_side(n)
    cells, _ = _digits_grid(n, 2)
    inside = cells >= 0
    return (np.bitwise_and(cells[:, None], cells[None, :]) == 0) & inside[:, None] & inside[None, :]


def sierpinski_carpet_boundary(n: int) -> np.ndarray:
    """Boundary of the Sierpinski carpet (dimension log 8 / log 3).

    The carpet is rasterised as a filled set, then its boundary is taken with the same rule as
    :func:`infoprop.fractal.boundary`: pixels of the (n-1, n-1) grid of 2x2 cells whose corners contain both
    classes, padded with an empty last row and column.
    """
    n = _check_side(n)
    cells, levels = _digits_grid(n, 3)
    inside = cells >= 0
    carpet = inside[:, None] & inside[None, :]
    rows, cols = cells[:, None], cells[None, :]
    for _ in range(levels):
        carpet &= ~((rows % 3 == 1) & (cols % 3 == 1))
        rows, cols = rows // 3, cols // 3
    from .fractal import mixed_cells

    image = np.zeros((n, n), dtype=bool)
    image[:-1, :-1] = mixed_cells(carpet)
    return image


def filled_square(n: int) -> np.ndarray:
    """A filled square (dimension 2 when its pixels are counted as mass)."""
    n = _check_side(n)
    m = _margin(n)
    image = np.zeros((n, n), dtype=bool)
    image[m : n - m, m : n - m] = True
    return image


REFERENCE_SETS: dict[str, tuple[Callable[[int], np.ndarray], float]] = {
    "segment": (segment, 1.0),
    "circle": (circle, 1.0),
    "koch_curve": (koch_curve, float(np.log(4) / np.log(3))),
    "sierpinski_triangle": (sierpinski_triangle, float(np.log(3) / np.log(2))),
    "sierpinski_carpet_boundary": (sierpinski_carpet_boundary, float(np.log(8) / np.log(3))),
    "filled_square": (filled_square, 2.0),
}
