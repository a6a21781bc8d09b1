"""The fractal frontier between order and chaos of finite-width random networks (SPEC section 4).

A *landscape* is a 2-D map ``L(sigma_w, sigma_b)`` of a propagation metric (e.g. the forward divergence of
:class:`infoprop.RandomNetwork`), given as an ``xarray.DataArray`` with dims ``(sigma_w, sigma_b)`` (standard
deviations, SPEC section 0) or as a plain 2-D array whose rows are ``sigma_w`` and columns ``sigma_b``.

* :func:`boundary` thresholds a landscape: the ordered set is ``{L <= threshold}`` and the boundary is the set
  of 2x2 cells of neighbouring grid points whose corners contain both classes.
* :func:`box_dimension` estimates the box-counting dimension of a boolean image, with either the seed authors'
  estimator (``"dinverno"``) or infoprop's validated default (``"robust"``).
* :func:`frontier_dimension` combines the two over a sweep of thresholds.
* :func:`mean_field_disagreement` measures the finite-size effect: the fraction of grid points whose finite-width
  class differs from the mean-field class ``chi_1 < 1``.
* :func:`zoom` computes landscapes of nested windows with one network draw.
* :func:`load_landscape` reads a landscape from a zarr store (a sweep or a single landscape) instead.

Thresholds are in the units of ``L`` itself (not ``log10 L``): ``threshold=1e-3`` means ``L <= 1e-3`` is ordered.
The seed authors swept ``tau`` over ``logspace(-5, 0)``; :data:`SWEEP_THRESHOLDS` is that sweep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .arch import get_arch
from .common import as_float_array, check_choice, check_int, check_real, load_checked, provenance_attrs
from .metrics import METRICS

__all__ = [
    "ESTIMATORS",
    "METRICS",
    "PAPER_DIMENSIONS",
    "PAPER_WINDOWS",
    "SWEEP_THRESHOLDS",
    "BoxDimension",
    "authors_metric_factor",
    "boundary",
    "box_dimension",
    "bracketing_thresholds",
    "crossover_scale",
    "dimension_summary",
    "fit_power_law",
    "follow_frontier",
    "frontier_dimension",
    "frontier_point",
    "has_critical_line",
    "landscape_values",
    "load_landscape",
    "local_dimensions",
    "mean_field_chi1",
    "mean_field_disagreement",
    "step_crossover",
    "zoom",
]

ESTIMATORS: tuple[str, ...] = ("robust", "dinverno")

#: The seed authors' threshold sweep, in units of L: 21 values, four per decade, from 1e-5 to 1.
SWEEP_THRESHOLDS = np.logspace(-5.0, 0.0, 21)


def authors_metric_factor(arch: str, width: int) -> float:
    """The seed authors' divergence divided by ``forward_normalised``'s, per architecture (their code).

    ``jon-dong/reservoir-frontier`` (``src/network.py``, ``Network.iter``) keeps as state ``erf(z) / sqrt(N)``
    for ``mode="rand"`` (mlp), ``erf(z)`` for ``"conv"`` (cnn) and ``sqrt(2) erf(Re z)`` for ``"struct"``
    (FDF, FDFD), and thresholds the squared distance of the final states: ``1``, ``N`` and ``2 N`` times
    ``||phi(h^D(x1)) - phi(h^D(x2))||^2 / N``. Their threshold ``tau`` is therefore ``tau / factor`` on
    infoprop's normalised divergence. (Their cnn/struct first layer also acts on a unit-norm input, ``q^0 = 1/N``,
    which infoprop does not reproduce.)
    """
    factors = {"mlp": 1.0, "orthogonal": 1.0, "cnn": float(width), "fdf": 2.0 * width, "fdfd": 2.0 * width}
    if arch not in factors:
        raise ValueError(f"arch must be one of {tuple(factors)} (the seed authors' architectures), got {arch!r}")
    return factors[arch]


#: The seed paper's zoom windows ((centre sigma_w, centre sigma_b), side), full view first (SPEC section 4).
PAPER_WINDOWS: tuple[tuple[tuple[float, float], float], ...] = (
    ((2.0, 2.0), 4.0),
    ((2.2, 2.0), 0.4),
    ((2.2, 2.05), 0.1),
    ((2.2, 2.05), 0.025),
)
#: The seed paper's published frontier dimensions per window of :data:`PAPER_WINDOWS` (SPEC section 4; erf,
#: N = 100, D = 1000, 1000^2 grids, the authors' estimator and maximum-over-threshold rule). The paper's figure
#: 5c calls the third architecture FDF; SPEC and the authors' code default (two diagonals) make it FDFD.
PAPER_DIMENSIONS: dict[str, tuple[float, float, float, float]] = {
    "mlp": (1.72, 1.89, 1.88, 1.75),
    "cnn": (1.41, 1.78, 1.84, 1.81),
    "fdfd": (1.48, 1.68, 1.91, 1.94),
}

_ROBUST_MIN_SIZE = 4
_ROBUST_MAX_FRACTION = 1 / 8
_ROBUST_NUM_SIZES = 16
_ROBUST_MIN_SIDE = 128
_DINVERNO_SIZES = np.arange(1, 49)
# A boundary is "resolved" at a threshold when it meets at least this many boxes of side min(n, m) / 8.
_RESOLVED_MIN_COUNT = 8
# The scalar summaries frontier_dimension puts in its attributes (NaN without a resolved threshold).
SUMMARY_ATTRS: tuple[str, ...] = (
    "authors_threshold",
    "authors_dimension",
    "authors_stderr",
    "recommended_dimension",
    "recommended_stderr",
)


# --------------------------------------------------------------------------- box counting
@dataclass(frozen=True)
class BoxDimension:
    """Result of :func:`box_dimension`.

    Attributes
    ----------
    dimension : float
        Estimated box-counting dimension: minus the slope of ``log N(s)`` against ``log s``.
    stderr : float
        One-sigma uncertainty of ``dimension`` (see :func:`box_dimension` for how each estimator defines it).
    interval : tuple of float
        ``(dimension - 2 stderr, dimension + 2 stderr)``, an approximately 95% interval.
    sizes : numpy.ndarray
        Box sides in pixels (int), increasing.
    counts : numpy.ndarray
        ``N(s)`` for each size (float: the robust estimator weights boxes cut by the image edge by their area).
    local_slopes : numpy.ndarray
        One-octave local slopes: ``local_slopes[i] = -d log N / d log s`` from ``sizes[i]`` to the size
        nearest ``2 * sizes[i]`` (only sizes with such a partner at least 0.75 octave away, so the array is
        shorter than ``sizes``).
    intercept : float
        Intercept of the fitted line ``log N = intercept - dimension * log s``.
    estimator : str
        ``"robust"`` or ``"dinverno"``.
    """

    dimension: float
    stderr: float
    interval: tuple[float, float]
    sizes: np.ndarray
    counts: np.ndarray
    local_slopes: np.ndarray
    intercept: float
    estimator: str


def _integral_image(image: np.ndarray) -> np.ndarray:
    """Summed-area table with a leading zero row and column: box sums in O(1) each, for every size and offset."""
    table = np.zeros((image.shape[0] + 1, image.shape[1] + 1), dtype=np.int64 if image.size >= 2**31 else np.int32)
    np.cumsum(image, axis=0, dtype=table.dtype, out=table[1:, 1:])
    np.cumsum(table[1:, 1:], axis=1, out=table[1:, 1:])
    return table


def _box_edges(offset: int, size: int, length: int) -> np.ndarray:
    """Edges of a grid of boxes of side ``size`` shifted by ``offset`` pixels, clipped to ``[0, length]``."""
    first = size - offset if offset else size
    return np.concatenate([[0], np.arange(first, length, size), [length]])


def _box_count(table: np.ndarray, size: int, offset: int, area_weighted: bool) -> float:
    rows = _box_edges(offset, size, table.shape[0] - 1)
    cols = _box_edges(offset, size, table.shape[1] - 1)
    corner = table[np.ix_(rows, cols)]
    occupied = (corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]) > 0
    if not area_weighted:
        return float(np.count_nonzero(occupied))
    # A box cut by the image edge counts by the fraction of it inside the image: a set that fills the image
    # then counts (n/s)^2 at every offset, instead of an excess that flattens log N at large s.
    weights = np.outer(np.diff(rows), np.diff(cols)) / float(size * size)
    return float(weights[occupied].sum())


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope, intercept and the slope's ordinary-least-squares standard error of ``y ~ x`` (>= 3 points)."""
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    residual = y - intercept - slope * x
    stderr = float(np.sqrt((residual @ residual) / (len(x) - 2) / sxx))
    return slope, intercept, stderr


def _octave_slopes(log_s: np.ndarray, log_n: np.ndarray) -> np.ndarray:
    """``-d log N / d log s`` from each size to the size nearest twice it (pairs at least 0.75 octave apart).

    One-octave baselines average out the count noise of neighbouring sizes (whose local slopes are
    anti-correlated) while keeping the log-periodic oscillations of self-similar sets, which are the real
    source of error of a slope fitted over a few octaves.
    """
    octaves = log_s / np.log(2.0)
    partner = np.abs(octaves[None, :] - octaves[:, None] - 1.0).argmin(axis=1)
    start = np.flatnonzero(octaves[partner] - octaves >= 0.75)
    end = partner[start]
    return -(log_n[end] - log_n[start]) / (log_s[end] - log_s[start])


def _as_image(image: Any) -> np.ndarray:
    values = image.values if isinstance(image, xr.DataArray) else image
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"image must be a 2-D array, got {type(image).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(f"image must be a 2-D array, got an array of shape {arr.shape}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"image must be a boolean or numeric 2-D array, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("image must contain only finite values, got NaN or inf")
        arr = arr != 0
    if not arr.any():
        raise ValueError(f"image must contain at least one set (nonzero) pixel, got an empty image of {arr.shape}")
    return arr


def _default_sizes(estimator: str, shape: tuple[int, ...]) -> np.ndarray:
    side = min(shape)
    if estimator == "dinverno":
        if side < _DINVERNO_SIZES[-1]:
            raise ValueError(f"image must be at least 48 x 48 pixels for the 'dinverno' estimator, got {shape}")
        return _DINVERNO_SIZES
    if side < _ROBUST_MIN_SIDE:
        raise ValueError(f"image must be at least {_ROBUST_MIN_SIDE} x {_ROBUST_MIN_SIDE} pixels, got {shape}")
    sizes = np.geomspace(_ROBUST_MIN_SIZE, side * _ROBUST_MAX_FRACTION, _ROBUST_NUM_SIZES)
    return np.unique(np.round(sizes).astype(np.int64))


def _resolve_sizes(estimator: str, shape: tuple[int, ...], sizes: Any) -> np.ndarray:
    if sizes is None:
        return _default_sizes(estimator, shape)
    size_array = np.unique(as_float_array("sizes", sizes, minimum=1))
    if np.any(size_array != np.round(size_array)) or size_array[-1] > min(shape) or len(size_array) < 3:
        raise ValueError(f"sizes must be at least 3 distinct integers in [1, {min(shape)}], got {np.asarray(sizes)!r}")
    return size_array.astype(np.int64)


def box_dimension(
    image: Any,
    estimator: str = "robust",
    *,
    sizes: Sequence[int] | np.ndarray | None = None,
    offsets: int = 4,
) -> BoxDimension:
    """Box-counting dimension of the set pixels of a 2-D image.

    ``N(s)`` is the number of ``s x s`` pixel boxes of a square grid that contain at least one set pixel, and
    the dimension is minus the slope of ``log N`` against ``log s``.

    Parameters
    ----------
    image : array_like or xarray.DataArray, shape (n, m)
        Boolean image (nonzero = set pixel), e.g. from :func:`boundary`. Must contain a set pixel. To count a
        filled region as mass (dimension 2 for a filled square) pass the region itself.
    estimator : {"robust", "dinverno"}
        ``"robust"`` (default): box sides ``s`` geometric from 4 px to ``min(n, m) / 8`` (16 values, rounded,
        duplicates dropped), i.e. away from the pixel scale (rasterisation) and the image scale (too few boxes).
        For each ``s`` the grid is shifted by ``offsets`` diagonal offsets ``(j s / offsets, j s / offsets)``
        and the *smallest* count is kept: box-counting dimension is defined by the minimal number of boxes that
        cover the set, and the minimum over shifts approximates it, whereas the mean over shifts carries an
        excess of about one box per set extremity that biases the slope low (filled square -0.04, carpet
        boundary -0.04 at 4096^2 with the mean, -0.01 and -0.02 with the minimum). Boxes cut by the image edge
        count by the fraction of their area inside the image (so sets clipped by the image, like frontiers, are
        not biased). The dimension is the OLS slope; ``stderr`` is the standard deviation of the one-octave
        local slopes divided by the square root of the number of octaves spanned: the log-periodic
        oscillations of self-similar sets make OLS residuals correlated, so the OLS error underestimates the
        real error up to 7-fold on the validation sets, while this one covers it (``docs/fractal.md``).
        Needs an image of at least 128 x 128 pixels (two octaves of sizes).
        ``"dinverno"``: the seed authors' estimator, sizes 1, 2, ..., 48 px, one grid anchored at pixel (0, 0)
        with boxes cut by the image edge counted as whole boxes, OLS of ``log N`` on ``log s``; ``stderr`` is
        the OLS standard error. It weights large boxes heavily (most of 1..48 lies in one octave) and includes
        the pixel scale, which biases it.
    sizes : sequence of int, optional
        Box sides in pixels to use instead of the estimator's default (at least 3 distinct values >= 1 and
        <= ``min(n, m)``).
    offsets : int
        Number of grid shifts per size for ``"robust"`` (>= 1; ignored by ``"dinverno"``).

    Returns
    -------
    BoxDimension

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((256, 256), dtype=bool)
    >>> image[100, :] = True  # a straight line across the image
    >>> result = box_dimension(image)
    >>> round(result.dimension, 6), result.sizes[[0, -1]].tolist()
    (1.0, [4, 32])
    """
    estimator = check_choice("estimator", estimator, ESTIMATORS)
    offsets = check_int("offsets", offsets, minimum=1)
    arr = _as_image(image)
    size_array = _resolve_sizes(estimator, arr.shape, sizes)
    table = _integral_image(arr)
    if estimator == "robust":
        counts = np.array(
            [
                min(_box_count(table, int(s), round(j * s / offsets), area_weighted=True) for j in range(offsets))
                for s in size_array
            ]
        )
    else:
        counts = np.array([_box_count(table, int(s), 0, area_weighted=False) for s in size_array])
    log_s, log_n = np.log(size_array), np.log(counts)
    slope, intercept, ols_stderr = _ols(log_s, log_n)
    local = _octave_slopes(log_s, log_n)
    if estimator == "robust":
        if len(local) < 2:
            raise ValueError(f"sizes must span at least two octaves for the 'robust' estimator, got {size_array}")
        stderr = float(np.std(local, ddof=1) / np.sqrt(np.log2(size_array[-1] / size_array[0])))
    else:
        stderr = ols_stderr
    dimension = -slope
    return BoxDimension(
        dimension=dimension,
        stderr=stderr,
        interval=(dimension - 2 * stderr, dimension + 2 * stderr),
        sizes=size_array,
        counts=counts,
        local_slopes=local,
        intercept=intercept,
        estimator=estimator,
    )


# --------------------------------------------------------------------------- landscapes and boundaries
_INDEX_DIMS = ("sigma_w_index", "sigma_b_index")


def landscape_values(landscape: Any, name: str = "landscape") -> np.ndarray:
    """Return a landscape as a float64 array of shape (n_sigma_w, n_sigma_b), validated.

    Accepts an ``xarray.DataArray`` with dims ``(sigma_w, sigma_b)`` in either order (or the pixel-index dims
    ``(sigma_w_index, sigma_b_index)`` of one :func:`zoom` level), or a 2-D array (rows = sigma_w). Values must
    be >= 0 and not NaN; ``+inf`` (overflow in the chaotic phase) is allowed and counts as above every threshold.
    """
    if isinstance(landscape, xr.DataArray):
        dims = set(landscape.dims)
        if dims == {"sigma_w", "sigma_b"}:
            landscape = landscape.transpose("sigma_w", "sigma_b")
        elif dims == set(_INDEX_DIMS):
            landscape = landscape.transpose(*_INDEX_DIMS)
        else:
            raise ValueError(
                f"{name} must have dims ('sigma_w', 'sigma_b'), got {landscape.dims}; select one layer/zoom first"
            )
        values = landscape.values
    else:
        values = landscape
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 2-D array of real numbers, got {type(landscape).__name__}") from exc
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise ValueError(f"{name} must be a 2-D array of at least 2 x 2 values, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN, got {int(np.isnan(arr).sum())} NaN values")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0 (a squared distance), got minimum {arr.min()}")
    return arr


def load_landscape(path: str | os.PathLike[str], metric: str | None = None, **selection: Any) -> xr.DataArray:
    """Read one 2-D landscape ``L(sigma_w, sigma_b)`` from a zarr store, in memory, with its provenance.

    Parameters
    ----------
    path : path
        A zarr store of one of two kinds:

        * a sweep store (``infoprop sweep run``; recognised by its root attribute ``infoprop_kind = "sweep"``),
          read with :func:`infoprop.sweep.open_landscape`;
        * a store of landscapes written from an xarray object: ``infoprop landscape --out``, the report's
          ``landscape.zarr``, or any store whose data variable has dims ``sigma_w`` and ``sigma_b`` (standard
          deviations) and possibly others to select (e.g. ``layer``).
    metric : str, optional
        Which data variable (``forward``, ``lyapunov``, ...); may be omitted when the store holds only one.
    **selection
        One value for each dimension besides ``sigma_w``, ``sigma_b``: for a sweep store each axis the sweep
        varies (``arch``, ``activation``, ``width``, ``depth``, ``seed``), for a landscape store each extra dim
        of the variable (e.g. ``layer=100``).

    Returns
    -------
    xarray.DataArray
        Dims ``(sigma_w, sigma_b)``, values loaded eagerly. A sweep store gives exactly what the finite-width
        engine returned for the whole grid; a landscape store gives the variable with its coordinates and
        attributes (where the store's root attributes hold keys the variable lacks, such as the provenance of
        a figure recipe's stack, they are added).

    Raises
    ------
    ValueError
        ``path`` is not a zarr store; ``metric`` is missing while the store has several variables, or unknown;
        a selection key or value the store does not have; a dimension left unselected (the result must be 2-D);
        an incomplete sweep landscape.

    Examples
    --------
    >>> landscape = load_landscape("sweep.zarr", width=100, depth=50)  # doctest: +SKIP
    >>> frontier_dimension(landscape).attrs["recommended_dimension"]  # doctest: +SKIP
    """
    import zarr

    from .sweep.store import KIND, open_landscape

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be the path of a zarr store, got {path!r}")
    if not Path(path).is_dir():
        raise ValueError(f"path must be a zarr store (a directory), got {str(path)!r}")
    try:
        root = zarr.open_group(str(path), mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"path must be a zarr store, got {str(path)!r} ({exc})") from None
    if root.attrs.get("infoprop_kind") == KIND:
        return open_landscape(path, metric, **selection)
    try:
        ds = xr.open_zarr(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"path must be a zarr store written from xarray, got {str(path)!r} ({exc})") from None
    with ds:
        names = sorted(str(name) for name in ds.data_vars)
        if metric is None:
            if len(names) != 1:
                raise ValueError(f"metric must be given, one of {names} (the variables of {str(path)!r})")
            metric = names[0]
        if metric not in names:
            raise ValueError(f"metric must be one of {names} (the variables of {str(path)!r}), got {metric!r}")
        variable = ds[metric]
        if not {"sigma_w", "sigma_b"} <= set(variable.dims):
            raise ValueError(
                f"path must hold a landscape on dims (sigma_w, sigma_b), got {metric!r} on dims {variable.dims}"
            )
        extra = [str(d) for d in variable.dims if d not in ("sigma_w", "sigma_b")]
        for key in selection:
            if key not in extra:
                raise ValueError(
                    f"selection keys must be among {extra} (dims of {metric!r} besides sigma_w, sigma_b), got {key!r}"
                )
        index = {}
        for dim in extra:
            allowed = variable[dim].values.tolist()
            if dim not in selection:
                raise ValueError(f"{dim} must be selected ({dim}=...), one of {allowed}: a landscape is 2-D")
            if selection[dim] not in allowed:
                raise ValueError(f"{dim} must be one of {allowed} (the store's values), got {selection[dim]!r}")
            index[dim] = allowed.index(selection[dim])
        landscape = load_checked(variable.isel(index).transpose("sigma_w", "sigma_b"), path, "path")
        return landscape.assign_attrs({**ds.attrs, **variable.attrs})


def mixed_cells(mask: np.ndarray) -> np.ndarray:
    """2x2 cells of neighbouring pixels whose four corners contain both classes (shape (n-1, m-1))."""
    a, b, c, d = mask[:-1, :-1], mask[1:, :-1], mask[:-1, 1:], mask[1:, 1:]
    return (a | b | c | d) & ~(a & b & c & d)


def boundary(landscape: Any, threshold: float) -> Any:
    """Boundary of the ordered set ``{L <= threshold}`` of a landscape.

    Parameters
    ----------
    landscape : xarray.DataArray or array_like, shape (n, m)
        ``L(sigma_w, sigma_b)``, dims ``(sigma_w, sigma_b)`` (see :func:`landscape_values`). Exact zeros are
        fine (ordered).
    threshold : float
        ``tau`` in the units of ``L`` (> 0), e.g. ``1e-3``; not ``log10``.

    Returns
    -------
    numpy.ndarray or xarray.DataArray of bool, shape (n - 1, m - 1)
        ``True`` for each 2x2 cell of neighbouring grid points whose corners are not all in the same class.
        For a DataArray input the result is a DataArray with dims ``(sigma_w, sigma_b)`` at the cell centres
        (midpoints of neighbouring grid coordinates).

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> boundary(L, 0.5).astype(int)
    array([[1, 1]])
    """
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    cells = mixed_cells(landscape_values(landscape) <= threshold)
    if not isinstance(landscape, xr.DataArray) or set(landscape.dims) != {"sigma_w", "sigma_b"}:
        return cells
    da = landscape.transpose("sigma_w", "sigma_b")
    coords = {dim: 0.5 * (da[dim].values[1:] + da[dim].values[:-1]) for dim in ("sigma_w", "sigma_b")}
    return xr.DataArray(
        cells,
        dims=("sigma_w", "sigma_b"),
        coords=coords,
        name="boundary",
        attrs={"long_name": f"boundary of {{L <= {threshold:g}}}", "threshold": threshold},
    )


def _thresholds(thresholds: Any) -> np.ndarray:
    if isinstance(thresholds, str):
        check_choice("thresholds", thresholds, ("sweep",))
        return SWEEP_THRESHOLDS.copy()
    values = np.atleast_1d(as_float_array("thresholds", thresholds))
    if values.ndim != 1 or (values <= 0).any():
        raise ValueError(f"thresholds must be 'sweep', a number > 0 or a 1-D array of numbers > 0, got {thresholds!r}")
    return values


def _is_resolved(cells: np.ndarray) -> bool:
    """Whether a boundary meets at least 8 boxes of side ``min(n, m) / 8`` (estimator-independent)."""
    side = max(1, min(cells.shape) // 8)
    return _box_count(_integral_image(cells), side, 0, area_weighted=False) >= _RESOLVED_MIN_COUNT


def frontier_dimension(
    landscape: Any,
    thresholds: str | float | Sequence[float] | np.ndarray = "sweep",
    estimator: str = "robust",
    *,
    strict: bool = True,
    **options: Any,
) -> xr.Dataset:
    """Box-counting dimension of a landscape's frontier for each threshold, with two summaries.

    Parameters
    ----------
    landscape : xarray.DataArray or array_like
        ``L(sigma_w, sigma_b)`` (see :func:`landscape_values`).
    thresholds : "sweep", float or 1-D array
        ``tau`` in the units of ``L``; ``"sweep"`` is :data:`SWEEP_THRESHOLDS` (``logspace(-5, 0, 21)``).
    estimator : {"robust", "dinverno"}
        Passed to :func:`box_dimension`, as are ``options`` (``sizes``, ``offsets``).
    strict : bool
        If True (default) a landscape without a resolved boundary at any threshold raises ``ValueError``;
        if False it gives a result with ``resolved_thresholds = 0`` and NaN summaries (for batch jobs such
        as the figure recipes, where a zoom window may miss the frontier).

    Returns
    -------
    xarray.Dataset
        Variables on dim ``threshold``: ``dimension``, ``stderr``, ``boundary_pixels``, ``resolved``; and
        ``count`` on ``(threshold, box_size)``. A threshold is *resolved* when its boundary meets at least 8
        boxes of side ``min(n, m) / 8`` (a curve crossing the image meets at least 8 of them), whatever the
        estimator;
        unresolved thresholds (no boundary, or a boundary in a corner) have ``dimension`` and ``stderr`` NaN.
        Attributes:

        * ``authors_threshold``, ``authors_dimension``, ``authors_stderr``: the seed authors' rule, the resolved
          threshold with the largest dimension. Taking a maximum over noisy estimates biases it upwards.
        * ``recommended_dimension``: infoprop's summary, the median dimension over resolved thresholds (a
          fractal frontier has one dimension whatever the level set; the median ignores thresholds caught in
          the ordered or chaotic plateaus); ``recommended_stderr`` combines the median per-threshold ``stderr``
          and the spread across thresholds (1.4826 x median absolute deviation) in quadrature.
        * ``resolved_thresholds`` (how many), ``estimator`` and the provenance attributes.

    Raises
    ------
    ValueError
        If no threshold gives a resolved boundary (unless ``strict=False``).
    """
    estimator = check_choice("estimator", estimator, ESTIMATORS)
    unknown = sorted(set(options) - {"sizes", "offsets"})
    if unknown:
        raise TypeError(f"options must be among ('sizes', 'offsets') (passed to box_dimension), got {unknown}")
    if "offsets" in options:
        check_int("offsets", options["offsets"], minimum=1)
    values = landscape_values(landscape)
    taus = _thresholds(thresholds)
    image_shape = (values.shape[0] - 1, values.shape[1] - 1)
    try:
        sizes = _resolve_sizes(estimator, image_shape, options.get("sizes"))
    except ValueError as exc:
        raise ValueError(f"landscape of shape {values.shape} has a boundary image of {image_shape}: {exc}") from None
    results: list[BoxDimension | None] = []
    pixels = np.zeros(len(taus), dtype=np.int64)
    resolved = np.zeros(len(taus), dtype=bool)
    for i, tau in enumerate(taus):
        cells = mixed_cells(values <= tau)
        pixels[i] = int(cells.sum())
        resolved[i] = pixels[i] > 0 and _is_resolved(cells)
        results.append(box_dimension(cells, estimator, **options) if pixels[i] else None)
    if strict and not pixels.any():
        raise ValueError(
            f"landscape has no boundary at any threshold in [{taus.min():g}, {taus.max():g}]: L ranges over "
            f"[{values.min():g}, {values.max():g}]"
        )
    counts = np.array([r.counts if r is not None else np.zeros(len(sizes)) for r in results])
    if strict and not resolved.any():
        raise ValueError("landscape has no resolved boundary (meeting >= 8 boxes of side 1/8 image) at any threshold")
    dimension = np.array([r.dimension if ok else np.nan for r, ok in zip(results, resolved)])
    stderr = np.array([r.stderr if ok else np.nan for r, ok in zip(results, resolved)])
    summary = dict.fromkeys(SUMMARY_ATTRS, float("nan"))
    if resolved.any():
        best = int(np.nanargmax(dimension))
        good = dimension[resolved]
        median = float(np.median(good))
        spread = 1.4826 * float(np.median(np.abs(good - median)))
        summary.update(
            authors_threshold=float(taus[best]),
            authors_dimension=float(dimension[best]),
            authors_stderr=float(stderr[best]),
            recommended_dimension=median,
            recommended_stderr=float(np.hypot(np.median(stderr[resolved]), spread)),
        )
    parameters = {"thresholds": taus, "estimator": estimator, **options}
    if isinstance(landscape, xr.DataArray) and "parameters" in landscape.attrs:
        parameters["landscape"] = json.loads(landscape.attrs["parameters"])
    attrs = {
        **provenance_attrs("frontier_dimension", parameters),
        "estimator": estimator,
        **summary,
        "resolved_thresholds": int(resolved.sum()),
    }
    return xr.Dataset(
        {
            "dimension": ("threshold", dimension, {"long_name": "box-counting dimension of the frontier"}),
            "stderr": ("threshold", stderr, {"long_name": "standard error of the dimension"}),
            "boundary_pixels": ("threshold", pixels, {"long_name": "number of boundary cells"}),
            "resolved": ("threshold", resolved, {"long_name": "boundary resolved at this threshold"}),
            "count": (("threshold", "box_size"), counts, {"long_name": "box count N(s)"}),
        },
        coords={
            "threshold": ("threshold", taus, {"long_name": "threshold tau on L (ordered: L <= tau)"}),
            "box_size": ("box_size", sizes, {"long_name": "box side", "units": "pixels"}),
        },
        attrs=attrs,
    )


# --------------------------------------------------------------------------- finite-size effect
def landscape_parameter(landscape: Any, key: str) -> Any:
    """A network parameter recorded in a landscape's provenance (the activation as an ``Activation``)."""
    from .activations import get_activation

    try:
        recorded = json.loads(landscape.attrs["parameters"])[key]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ValueError(
            f"{key} must be given: the landscape carries no provenance 'parameters' with an {key!r}"
        ) from None
    if key != "activation":
        return recorded
    if isinstance(recorded, dict):
        params = {k: v for k, v in recorded.items() if k != "name"}
        return get_activation(recorded["name"], **params)
    return get_activation(recorded)


def has_critical_line(arch: Any, activation: Any) -> bool:
    """Whether mean field gives ``arch`` (with ``activation``) a critical line ``chi_1 = 1`` to compare with.

    True for the feed-forward maps of :class:`infoprop.MeanField` (``arch=...``); False for residual networks
    (no fixed point, no line) and for combinations mean field has no deterministic map for (``MeanField``
    raises, e.g. cnn or fdf with a non-odd activation). Figures omit the line and the report the disagreement
    with mean field where this is False.
    """
    from .meanfield import MeanField

    try:
        mean_field = MeanField(activation, arch=arch)
    except ValueError:
        return False
    return not mean_field.residual


def mean_field_chi1(sigma_w: Any, sigma_b: Any, activation: Any, *, arch: Any = "mlp") -> np.ndarray:
    """Mean-field ``chi_1`` on the grid ``sigma_w x sigma_b`` (1-D std coordinates): shape (n_w, n_b).

    Infinite ``chi_1`` (no finite fixed point, e.g. ReLU with ``sigma_w^2 >= 2``) is chaotic. ``arch`` must have a
    critical line (:func:`has_critical_line`): a residual network has no fixed point and no line ``chi_1 = 1``,
    and conv/fdf operators have no mean-field map for a non-odd activation (``ValueError`` for both).
    """
    from .meanfield import MeanField

    if get_arch(arch).residual:
        raise ValueError(
            f"arch {get_arch(arch).name!r} has no mean-field critical line chi_1 = 1: residual networks have no "
            "fixed point (q grows with depth); use a feed-forward arch"
        )

    sigma_w = as_float_array("sigma_w", sigma_w, minimum=0.0)
    sigma_b = as_float_array("sigma_b", sigma_b, minimum=0.0)
    mean_field = MeanField(activation, arch=arch)  # raises where the arch has no mean-field map for phi
    shape = (len(sigma_w), len(sigma_b))
    chi1 = np.broadcast_to(mean_field.chi1(sigma_w[:, None], sigma_b[None, :]), shape).copy()
    unbounded = ~np.isfinite(np.broadcast_to(mean_field.q_star(sigma_w[:, None], sigma_b[None, :]), shape))
    chi1[unbounded & np.isnan(chi1)] = np.inf
    if np.isnan(chi1).any():
        raise ValueError(f"mean-field chi_1 of {activation!r} is NaN on part of the grid")
    return chi1


def mean_field_disagreement(
    landscape: Any,
    threshold: float,
    activation: Any = None,
    *,
    reference: str = "chi1",
    depth: int | None = None,
    arch: str | None = None,
) -> float:
    """Fraction of grid points whose finite-width class differs from the mean-field class.

    Finite width: ordered iff ``L <= threshold``. Mean field (``reference="chi1"``, the default): ordered iff
    ``chi_1(sigma_w, sigma_b) < 1`` (:class:`infoprop.MeanField`). As the width grows the finite-width
    frontier converges to the mean-field line, but at finite depth the disagreement keeps a floor from points
    next to the line, where ``xi_c`` diverges and the divergence decays too slowly to fall below
    ``threshold`` within the depth. ``reference="depth"`` removes that floor: the mean-field class is then
    ``L_mf^D <= threshold`` with ``L_mf^D`` the mean-field divergence after the same depth ``D`` for two
    independent inputs (``q^0 = 1``, ``c^0 = 0``; :meth:`infoprop.MeanField.trajectory`), so only the
    finite-width effect remains.

    Parameters
    ----------
    landscape : xarray.DataArray
        Forward divergence ``L(sigma_w, sigma_b)`` of independent inputs, with ``sigma_w``, ``sigma_b``
        coordinates (standard deviations).
    threshold : float
        ``tau`` in the units of ``L`` (> 0).
    activation : str or Activation, optional
        The network's activation; by default read from the landscape's provenance ``parameters`` JSON.
    reference : {"chi1", "depth"}
        Mean-field class to compare with (see above).
    depth : int, optional
        Depth ``D`` for ``reference="depth"``; by default read from the provenance ``parameters``.
    arch : str, optional
        Architecture whose mean-field map to use (:class:`infoprop.MeanField` ``arch``); by default read from
        the provenance ``parameters``, or ``"mlp"`` without one. ``ValueError`` if it has no critical line
        (:func:`has_critical_line`).

    Returns
    -------
    float
        The fraction in [0, 1].
    """
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    reference = check_choice("reference", reference, ("chi1", "depth"))
    if not isinstance(landscape, xr.DataArray):
        raise TypeError(f"landscape must be an xarray.DataArray with sigma_w, sigma_b coordinates, got {landscape!r}")
    values = landscape_values(landscape)
    # Without them xarray would hand out integer positions as sigma and the mean-field class would be wrong.
    if not {"sigma_w", "sigma_b"} <= set(landscape.coords):
        raise ValueError(
            "landscape must have sigma_w and sigma_b coordinates (standard deviations), got coordinates "
            f"{sorted(map(str, landscape.coords))}"
        )
    if activation is None:
        activation = landscape_parameter(landscape, "activation")
    if arch is None:
        try:
            arch = landscape_parameter(landscape, "arch")
        except ValueError:  # no provenance: the caller vouches for a feed-forward network
            arch = "mlp"
    arch = get_arch(arch).name  # validates the name
    if not has_critical_line(arch, activation):
        residual = get_arch(arch).residual
        why = "a residual network has no fixed point" if residual else f"no mean-field map for {activation!r}"
        raise ValueError(f"arch {arch!r} has no mean-field critical line to compare with ({why})")
    da = landscape.transpose(*[d for d in ("sigma_w", "sigma_b", *_INDEX_DIMS) if d in landscape.dims])
    sigma_w, sigma_b = da["sigma_w"].values, da["sigma_b"].values
    if reference == "chi1":
        mean_field_ordered = mean_field_chi1(sigma_w, sigma_b, activation, arch=arch) < 1.0
    else:
        from .meanfield import MeanField

        depth = check_int("depth", landscape_parameter(landscape, "depth") if depth is None else depth, minimum=1)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled below
            # Only the last layer is kept: a 1000^2 grid at depth 1000 would otherwise need ~40 GB.
            trajectory = MeanField(activation, arch=arch).trajectory(
                sigma_w, sigma_b, q0=1.0, c0=0.0, depth=depth, layers=[depth]
            )
        final = trajectory.isel(layer=0).transpose("sigma_w", "sigma_b")
        divergence = final["divergence"].values
        # Unbounded activations in their unbounded (chaotic) phase overflow q, which makes the divergence NaN.
        overflow = np.isnan(divergence) & ~(np.isfinite(final["q11"].values) & np.isfinite(final["q22"].values))
        divergence = np.where(overflow, np.inf, divergence)
        if np.isnan(divergence).any():
            raise ValueError(f"mean-field divergence of {activation!r} at depth {depth} is NaN on part of the grid")
        mean_field_ordered = divergence <= threshold
    return float(np.mean((values <= threshold) != mean_field_ordered))


# --------------------------------------------------------------------------- zoom
def zoom(
    network: Any,
    center: Sequence[float] | np.ndarray,
    widths: Sequence[float] | np.ndarray,
    resolution: int,
    *,
    metric: str = "forward",
    progress: Callable[[int, int], None] | None = None,
    **metric_options: Any,
) -> xr.DataArray:
    """Landscapes of nested square windows computed with one network draw.

    Parameters
    ----------
    network : infoprop.RandomNetwork
        One draw of the random operators; every window is evaluated with it.
    center : (2,) or (n_zoom, 2) array_like
        Window centre ``(sigma_w, sigma_b)`` (standard deviations), one for all windows or one per window
        (the seed paper's windows are not concentric).
    widths : sequence of float
        Side of each square window (> 0), e.g. ``[4, 0.4, 0.1, 0.025]``. Every window must stay in
        ``sigma_w, sigma_b >= 0``.
    resolution : int
        Grid points per axis in every window (>= 2).
    metric : {"forward", "forward_normalised", "backward", "lyapunov"}
        Which landscape metric (:meth:`infoprop.RandomNetwork.landscape`); ``metric_options`` are passed to it (if
        they ask for several ``layers``, the last one listed is kept).
    progress : callable, optional
        Called as ``progress(done, total)`` after each window.

    Returns
    -------
    xarray.DataArray
        Dims ``(zoom, sigma_w_index, sigma_b_index)``; since the coordinates differ per window they are 2-D
        coordinates ``sigma_w(zoom, sigma_w_index)`` and ``sigma_b(zoom, sigma_b_index)``, plus ``window_side`` and
        ``center_sigma_w``/``center_sigma_b`` on ``zoom``. One level as an ordinary landscape:
        ``z.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")``.
    """
    metric = check_choice("metric", metric, METRICS)
    resolution = check_int("resolution", resolution, minimum=2)
    width_array = np.atleast_1d(as_float_array("widths", widths))
    if width_array.ndim != 1 or (width_array <= 0).any():
        raise ValueError(f"widths must be a 1-D sequence of numbers > 0, got {widths!r}")
    centers = as_float_array("center", center)
    if centers.shape == (2,):
        centers = np.broadcast_to(centers, (len(width_array), 2))
    if centers.shape != (len(width_array), 2):
        raise ValueError(f"center must have shape (2,) or ({len(width_array)}, 2), got shape {centers.shape}")
    lows = centers - width_array[:, None] / 2
    if (lows < -1e-12).any():
        k = int(np.argwhere(lows < -1e-12)[0, 0])
        raise ValueError(
            f"widths[{k}] = {width_array[k]} around center {tuple(centers[k])} reaches negative sigma; "
            "sigma_w and sigma_b must stay >= 0"
        )
    if not callable(getattr(network, "landscape", None)):
        raise TypeError(f"network must be an infoprop.RandomNetwork (with a landscape method), got {network!r}")
    unit = np.linspace(-0.5, 0.5, resolution)
    levels = []
    for k, (c, w) in enumerate(zip(centers, width_array)):
        sigma_w = np.clip(c[0] + w * unit, 0.0, None)
        sigma_b = np.clip(c[1] + w * unit, 0.0, None)
        level = network.landscape(metric, sigma_w, sigma_b, **metric_options)
        if "layer" in level.dims:
            level = level.isel(layer=-1)
        levels.append(level.transpose("sigma_w", "sigma_b"))
        if progress is not None:
            progress(k + 1, len(width_array))
    first = levels[0]
    data = np.stack([lv.values for lv in levels])
    parameters = json.loads(first.attrs["parameters"]) if "parameters" in first.attrs else {}
    parameters.update(zoom_centers=centers, zoom_widths=width_array, zoom_resolution=resolution, zoom_metric=metric)
    attrs = {k: v for k, v in first.attrs.items() if k not in ("infoprop_kind", "parameters")}
    attrs.update(provenance_attrs("zoom", parameters))
    return xr.DataArray(
        data,
        dims=("zoom", *_INDEX_DIMS),
        coords={
            "sigma_w": (
                ("zoom", "sigma_w_index"),
                np.stack([lv["sigma_w"].values for lv in levels]),
                {"long_name": "weight standard deviation sigma_w"},
            ),
            "sigma_b": (
                ("zoom", "sigma_b_index"),
                np.stack([lv["sigma_b"].values for lv in levels]),
                {"long_name": "bias standard deviation sigma_b"},
            ),
            "window_side": ("zoom", width_array, {"long_name": "window side"}),
            "center_sigma_w": ("zoom", centers[:, 0].copy(), {"long_name": "window centre sigma_w"}),
            "center_sigma_b": ("zoom", centers[:, 1].copy(), {"long_name": "window centre sigma_b"}),
        },
        name=first.name,
        attrs=attrs,
    )


def frontier_point(
    landscape: xr.DataArray, threshold: float, target: Sequence[float], side: float
) -> tuple[float, float]:
    """Centre for a square window of side ``side`` on the frontier of ``landscape``, near ``target``.

    The centre is the boundary cell of ``{L <= threshold}`` nearest ``target`` (a ``(sigma_w, sigma_b)``
    pair) among those whose window stays inside ``landscape``'s own window and in ``sigma >= 0``. Without
    such a cell the window is centred on ``target`` moved inside (and the zoom misses the frontier).
    """
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    side = check_real("side", side, minimum=0.0, strict_minimum=True)
    target = as_float_array("target", target)
    if target.shape != (2,):
        raise ValueError(f"target must be a (sigma_w, sigma_b) pair, got shape {target.shape}")
    cells = boundary(landscape, threshold)
    if not isinstance(cells, xr.DataArray):
        raise TypeError(f"landscape must be an xarray.DataArray with sigma_w, sigma_b coordinates, got {landscape!r}")
    sw, sb = np.meshgrid(cells["sigma_w"].values, cells["sigma_b"].values, indexing="ij")
    half = side / 2
    lo_w, hi_w = landscape["sigma_w"].values[[0, -1]]
    lo_b, hi_b = landscape["sigma_b"].values[[0, -1]]
    lo_w, lo_b = max(lo_w, 0.0), max(lo_b, 0.0)
    if hi_w - lo_w < side or hi_b - lo_b < side:
        raise ValueError(
            f"side must fit in the landscape's window, got side {side} for a window of "
            f"{hi_w - lo_w:g} x {hi_b - lo_b:g}"
        )
    inside = (sw - half >= lo_w) & (sw + half <= hi_w) & (sb - half >= lo_b) & (sb + half <= hi_b)
    candidates = cells.values & inside
    if not candidates.any():
        return (
            float(np.clip(target[0], lo_w + half, hi_w - half)),
            float(np.clip(target[1], lo_b + half, hi_b - half)),
        )
    distance = np.where(candidates, (sw - target[0]) ** 2 + (sb - target[1]) ** 2, np.inf)
    i, j = np.unravel_index(int(np.argmin(distance)), distance.shape)
    return float(sw[i, j]), float(sb[i, j])


def follow_frontier(
    network: Any,
    landscape: xr.DataArray,
    sides: Sequence[float],
    resolution: int,
    *,
    threshold: float,
    targets: Sequence[Sequence[float]] | np.ndarray | None = None,
    metric: str = "forward_normalised",
    progress: Callable[[int, int], None] | None = None,
    **metric_options: Any,
) -> xr.DataArray:
    """A sequence of nested zoom windows into the frontier of ``landscape``, with the same network draw.

    Window ``k`` (side ``sides[k]``) is centred by :func:`frontier_point` on the boundary of
    ``{L <= threshold}`` of the window before it (window 0: of ``landscape``), at the boundary cell nearest
    ``targets[k]`` that keeps the new window inside the previous one. The seed paper's windows are centred on
    frontier points of the authors' own draw; with another draw the frontier passes elsewhere, so infoprop
    keeps their window sides and follows its own frontier, nearest their centres (``targets``).

    Parameters
    ----------
    network : infoprop.RandomNetwork
        The draw that computed ``landscape``; every window is evaluated with it.
    landscape : xarray.DataArray
        The outer landscape on dims ``(sigma_w, sigma_b)`` (e.g. the full view ``[0, 4]^2``).
    sides : sequence of float
        Decreasing window sides (> 0), e.g. ``(0.4, 0.1, 0.025)``.
    resolution : int
        Grid points per axis in every window.
    threshold : float
        ``tau`` (units of the metric) of the frontier that the windows follow.
    targets : (len(sides), 2) array_like, optional
        Preferred centres; default: the centre of ``landscape``'s window for every level.
    metric, progress, **metric_options
        As in :func:`zoom` (``progress(done, total)`` after each window).

    Returns
    -------
    xarray.DataArray
        As :func:`zoom`: dims ``(zoom, sigma_w_index, sigma_b_index)``, window coordinates per level, and a
        ``follow_threshold`` attribute.
    """
    if not isinstance(landscape, xr.DataArray) or set(landscape.dims) != {"sigma_w", "sigma_b"}:
        raise TypeError(f"landscape must be an xarray.DataArray on dims (sigma_w, sigma_b), got {landscape!r}")
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    side_array = np.atleast_1d(as_float_array("sides", sides))
    if side_array.ndim != 1 or side_array.size == 0 or (side_array <= 0).any():
        raise ValueError(f"sides must be a non-empty 1-D sequence of numbers > 0, got {sides!r}")
    if targets is None:
        centre = [float(landscape[d].values[[0, -1]].mean()) for d in ("sigma_w", "sigma_b")]
        target_array = np.tile(centre, (side_array.size, 1))
    else:
        target_array = as_float_array("targets", targets)
        if target_array.shape != (side_array.size, 2):
            raise ValueError(f"targets must have shape ({side_array.size}, 2), got {target_array.shape}")
    previous = landscape
    levels = []
    for k, (side, target) in enumerate(zip(side_array, target_array)):
        centre = frontier_point(previous, threshold, target, side)
        level = zoom(network, centre, [side], resolution, metric=metric, **metric_options)
        levels.append(level)
        previous = level.isel(zoom=0).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")
        if progress is not None:
            progress(k + 1, side_array.size)
    first = levels[0]
    stacked = xr.concat(levels, dim="zoom", combine_attrs="drop_conflicts")
    parameters = json.loads(first.attrs["parameters"]) if "parameters" in first.attrs else {}
    parameters.update(
        zoom_centers=np.stack([[float(lv.center_sigma_w[0]), float(lv.center_sigma_b[0])] for lv in levels]),
        zoom_widths=side_array,
        follow_threshold=threshold,
        follow_targets=target_array,
    )
    stacked.attrs.update(provenance_attrs("zoom", parameters))
    stacked.attrs["follow_threshold"] = threshold
    return stacked


def bracketing_thresholds(landscape: Any) -> np.ndarray:
    """The authors' quarter-decade threshold sweep from ``1e-5``, extended upwards past the landscape's values.

    ``10^(-5 + k/4)`` for ``k = 0, 1, ...`` up to the first value at or above the largest finite ``L`` (and at
    least up to 1, so the authors' 21 thresholds are always included). Above the largest ``L`` every point is
    ordered and there is no boundary, so a maximum of the dimension over this sweep is never at its upper
    edge merely because the sweep stopped (the authors' ``logspace(-5, 0)`` stops at 1, which is where their
    maximum sits for the normalised divergence).
    """
    values = landscape_values(landscape)
    finite = values[np.isfinite(values)]
    top = max(0.0, float(np.log10(finite.max()))) if finite.size and finite.max() > 0 else 0.0
    steps = int(np.ceil((top + 5.0) * 4 - 1e-9))
    return 10.0 ** (-5.0 + np.arange(max(steps, 20) + 1) / 4)


def _estimate(cells: np.ndarray, estimator: str) -> dict[str, Any]:
    try:
        result = box_dimension(cells, estimator)
    except ValueError as exc:  # no boundary, or too small an image
        return {"dimension": None, "stderr": None, "note": str(exc)}
    if not _is_resolved(cells):
        return {"dimension": None, "stderr": None, "note": "boundary not resolved (meets < 8 boxes of side 1/8)"}
    return {"dimension": result.dimension, "stderr": result.stderr}


def dimension_summary(
    landscape: Any, threshold: float, thresholds: str | Sequence[float] | np.ndarray = "bracket"
) -> tuple[dict[str, Any], xr.Dataset, xr.Dataset]:
    """The frontier dimension of one landscape with both estimators and three threshold rules, labelled.

    Parameters
    ----------
    landscape : xarray.DataArray or array_like
        ``L(sigma_w, sigma_b)``.
    threshold : float
        The frontier threshold ``tau`` (units of ``L``): the one figures draw and zooms follow.
    thresholds : "bracket", "sweep" or 1-D array
        The sweep for the two over-threshold rules; ``"bracket"`` (default) is :func:`bracketing_thresholds`.

    Returns
    -------
    summary : dict
        JSON-ready, one entry per rule, each with ``estimator``, ``rule``, the threshold(s), ``dimension`` and
        ``stderr`` (``None`` with a ``note`` where there is no resolved boundary):

        * ``robust_at_threshold``: infoprop's estimator at ``threshold``;
        * ``robust_median``: infoprop's estimator, median over the resolved thresholds of the sweep
          (``recommended_dimension`` of :func:`frontier_dimension`);
        * ``authors``: the seed authors' estimator and rule, the maximum over the sweep, at ``threshold``
          ``tau*``; ``interior`` says whether ``tau*`` has a resolved threshold on both sides (a maximum at the
          sweep's edge is not a maximum);
        * ``between_fraction``: the fraction of grid points with ``threshold < L <= tau*`` (counted ordered by
          the authors' threshold but chaotic by ``threshold``).
    robust, authors : xarray.Dataset
        The :func:`frontier_dimension` results of the two estimators over the sweep.
    """
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    values = landscape_values(landscape)
    taus = bracketing_thresholds(values) if isinstance(thresholds, str) and thresholds == "bracket" else thresholds
    robust = frontier_dimension(landscape, taus, "robust", strict=False)
    authors = frontier_dimension(landscape, taus, "dinverno", strict=False)
    sweep = robust["threshold"].values
    resolved = np.flatnonzero(robust["resolved"].values)
    summary: dict[str, Any] = {
        "robust_at_threshold": {
            "estimator": "robust",
            "rule": "fixed threshold",
            "threshold": threshold,
            **_estimate(mixed_cells(values <= threshold), "robust"),
        },
        "robust_median": {
            "estimator": "robust",
            "rule": "median over resolved thresholds",
            "thresholds": [float(sweep[0]), float(sweep[-1]), len(sweep)],
            "resolved_thresholds": int(resolved.size),
            "dimension": _finite_or_none(robust.attrs["recommended_dimension"]),
            "stderr": _finite_or_none(robust.attrs["recommended_stderr"]),
        },
    }
    best = authors.attrs["authors_threshold"]
    entry: dict[str, Any] = {
        "estimator": "dinverno",
        "rule": "maximum over thresholds",
        "thresholds": [float(sweep[0]), float(sweep[-1]), len(sweep)],
        "threshold": _finite_or_none(best),
        "dimension": _finite_or_none(authors.attrs["authors_dimension"]),
        "stderr": _finite_or_none(authors.attrs["authors_stderr"]),
    }
    if np.isfinite(best):
        index = int(np.argmin(np.abs(np.log(sweep / best))))
        entry["interior"] = bool(resolved.size and resolved[0] < index < resolved[-1])
        summary["between_fraction"] = float(np.mean((values > threshold) & (values <= best)))
    else:
        entry["interior"] = False
        summary["between_fraction"] = None
    summary["authors"] = entry
    return summary, robust, authors


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# --------------------------------------------------------------------------- scale and width dependence
def local_dimensions(result: BoxDimension) -> tuple[np.ndarray, np.ndarray]:
    """One-octave local dimensions of a :func:`box_dimension` result and the box sides they belong to.

    Returns ``(scales, slopes)``: ``slopes[i] = -d log N / d log s`` between a size and the size nearest twice
    it (the ``local_slopes`` of the result) and ``scales[i]`` the geometric mean of the two sides, in pixels.
    Multiply ``scales`` by the grid spacing to get the physical scale in ``sigma`` units.
    """
    log_s = np.log(result.sizes.astype(float))
    octaves = log_s / np.log(2.0)
    partner = np.abs(octaves[None, :] - octaves[:, None] - 1.0).argmin(axis=1)
    start = np.flatnonzero(octaves[partner] - octaves >= 0.75)
    end = partner[start]
    slopes = -(np.log(result.counts[end]) - np.log(result.counts[start])) / (log_s[end] - log_s[start])
    return np.exp(0.5 * (log_s[start] + log_s[end])), slopes


def fit_power_law(x: Any, y: Any, yerr: Any = None) -> dict[str, float]:
    """Weighted least-squares fit of ``y = a x^(-p)`` in log-log; ``p`` with its standard error.

    ``y`` must be > 0; ``yerr`` (one sigma of ``y``) become errors ``yerr / y`` of ``ln y``. The stderr is
    scaled by the square root of the reduced chi-square when that exceeds 1 (scatter beyond the error bars).
    Returns ``exponent``, ``exponent_stderr``, ``prefactor``, ``reduced_chi2``.
    """
    x = as_float_array("x", x)
    y = as_float_array("y", y)
    if x.ndim != 1 or x.shape != y.shape or x.size < 3 or (x <= 0).any() or (y <= 0).any():
        raise ValueError(f"x and y must be 1-D of equal length >= 3 and > 0, got x={x!r}, y={y!r}")
    w = np.ones_like(y) if yerr is None else 1.0 / np.maximum(as_float_array("yerr", yerr) / y, 1e-12) ** 2
    lx, ly = np.log(x), np.log(y)
    design = np.stack([np.ones_like(lx), -lx], axis=1)
    normal = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(normal, design.T @ (w * ly))
    cov = np.linalg.inv(normal)
    residual = ly - design @ coef
    chi2 = float(residual @ (w * residual) / max(1, x.size - 2))
    if yerr is None:
        cov = cov * chi2
    else:
        cov = cov * max(1.0, chi2)
    return {
        "exponent": float(coef[1]),
        "exponent_stderr": float(np.sqrt(cov[1, 1])),
        "prefactor": float(np.exp(coef[0])),
        "reduced_chi2": chi2,
    }


def _crossing(log_scale: np.ndarray, values: np.ndarray, min_rise: float) -> tuple[float, float, float]:
    """Half-height crossing of the binned median profile below its peak: (log10 s*, peak, level)."""
    bins = np.floor(2 * log_scale) / 2
    centres = np.unique(bins)
    medians = np.array([np.median(values[bins == b]) for b in centres])
    centres = centres + 0.25  # bin centres, half decades
    peak = int(np.argmax(medians))
    rise = medians[peak] - 1.0
    if rise < min_rise:
        raise ValueError(
            f"no rough regime: the local dimension never exceeds 1 + {min_rise:g} (peak {medians[peak]:.3g})"
        )
    level = 1.0 + rise / 2
    above = np.flatnonzero(medians[: peak + 1] >= level)
    first = int(above[0])
    if first == 0:
        raise ValueError("the local dimension is above half height at the smallest scale: crossover not reached")
    x0, x1, y0, y1 = centres[first - 1], centres[first], medians[first - 1], medians[first]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0)), float(medians[peak]), float(level)


def crossover_scale(
    scales: Any, dimensions: Any, groups: Any, *, min_rise: float = 0.15, resamples: int = 200, seed: int = 0
) -> dict[str, float]:
    """Scale below which a frontier is smooth, from local dimensions measured in several windows.

    At finite depth a landscape is a smooth function of ``(sigma_w, sigma_b)``, so its frontier is a smooth
    curve (local dimension 1) below some scale ``s*`` and rough above it. The local dimensions (e.g.
    :func:`local_dimensions` of zoom windows, at physical scales) are binned by half decades of scale and
    the median taken per bin; ``s*`` is where this profile first rises through half its height
    (``1 + (peak - 1) / 2``) coming from small scales, interpolated linearly in ``log10 s``. Only scales up to
    the profile's peak count (at the scale of a whole view the frontier is again close to a curve).

    Parameters
    ----------
    scales, dimensions : 1-D array_like
        Physical scales (> 0) and local dimensions, one per sample.
    groups : 1-D array_like
        The window each sample comes from: the uncertainty is a bootstrap over windows (they are the
        independent units; samples of one window are correlated).
    min_rise : float
        The profile must rise at least this much above 1, otherwise there is no rough regime to cross over to.
    resamples, seed : int
        Bootstrap size and seed.

    Returns
    -------
    dict
        ``crossover`` (``s*``), ``log10_crossover``, ``log10_crossover_stderr`` (bootstrap standard deviation
        over windows), ``peak`` (the profile's maximum), ``level`` (half height), ``resamples_used``. Raises
        ``ValueError`` when the profile has no rough regime or is already rough at the smallest scale.
    """
    scales = as_float_array("scales", scales)
    dimensions = as_float_array("dimensions", dimensions)
    groups = np.asarray(groups)
    if scales.ndim != 1 or scales.shape != dimensions.shape or groups.shape != scales.shape or (scales <= 0).any():
        raise ValueError(
            f"scales, dimensions and groups must be 1-D of equal length with scales > 0, got shapes {scales.shape}, "
            f"{dimensions.shape}, {groups.shape}"
        )
    resamples = check_int("resamples", resamples, minimum=0)
    log_scale = np.log10(scales)
    centre, peak, level = _crossing(log_scale, dimensions, min_rise)
    rng = np.random.default_rng(seed)
    labels = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in labels]
    estimates = []
    for _ in range(resamples):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(labels), len(labels))])
        try:
            estimates.append(_crossing(log_scale[pick], dimensions[pick], min_rise)[0])
        except ValueError:
            continue
    spread = float(np.std(estimates, ddof=1)) if len(estimates) > 1 else float("nan")
    return {
        "crossover": float(10**centre),
        "log10_crossover": centre,
        "log10_crossover_stderr": spread,
        "peak": peak,
        "level": level,
        "resamples_used": len(estimates),
    }


def step_crossover(x: Any, y: Any, yerr: Any, *, resamples: int = 200, seed: int = 0) -> dict[str, float]:
    """Where a rising sequence ``y(x)`` (e.g. a window's dimension against depth) passes half its height.

    ``x*`` is where ``y`` first reaches ``1 + (max y - 1) / 2`` (from 1, a smooth curve, towards the largest
    value), interpolated linearly in ``log10 x`` between the two points around it. Its uncertainty is a
    parametric bootstrap: ``y`` redrawn with independent normal errors ``yerr`` (one sigma), the crossing
    recomputed, the standard deviation of ``log10 x*`` reported. Raises ``ValueError`` when ``y`` starts above
    half height or never rises by 0.15.
    """
    x = as_float_array("x", x)
    y = as_float_array("y", y)
    yerr = as_float_array("yerr", yerr, minimum=0.0)
    if x.ndim != 1 or x.shape != y.shape or y.shape != yerr.shape or x.size < 3 or (x <= 0).any():
        raise ValueError(f"x, y and yerr must be 1-D of equal length >= 3 with x > 0, got shapes {x.shape}, {y.shape}")
    order = np.argsort(x)
    log_x, y, yerr = np.log10(x[order]), y[order], yerr[order]

    def crossing(values: np.ndarray) -> float:
        top = int(np.argmax(values))
        rise = values[top] - 1.0
        if rise < 0.15:
            raise ValueError(f"no rise: the values never exceed 1.15 (maximum {values[top]:.3g})")
        level = 1.0 + rise / 2
        first = int(np.flatnonzero(values[: top + 1] >= level)[0])
        if first == 0:
            raise ValueError("the first value is already above half height: the crossover is below the data")
        x0, x1, y0, y1 = log_x[first - 1], log_x[first], values[first - 1], values[first]
        return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))

    centre = crossing(y)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(check_int("resamples", resamples, minimum=0)):
        try:
            estimates.append(crossing(y + rng.normal(0.0, 1.0, y.size) * yerr))
        except ValueError:
            continue
    spread = float(np.std(estimates, ddof=1)) if len(estimates) > 1 else float("nan")
    return {
        "crossover": float(10**centre),
        "log10_crossover": centre,
        "log10_crossover_stderr": spread,
        "resamples_used": len(estimates),
    }
