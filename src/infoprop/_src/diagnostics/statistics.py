"""Statistics of one weight matrix and of its ``r x r`` segments (SPEC section 6, issue 14).

Conventions
-----------
* A *weight matrix* is 2-D, rows = output units, columns = inputs. A convolution kernel of shape
  ``(out, in, k, k)`` is viewed as the ``out x (in * k * k)`` matrix of its row-major flattening (so neighbouring
  columns are neighbouring kernel pixels of one input channel).
* *Segments at scale r* are the ``r x r`` blocks of a regular grid anchored at entry ``(0, 0)``. Only whole blocks
  are segments: the last ``n mod r`` rows and ``m mod r`` columns belong to no segment at scale ``r``
  (:func:`segment_grid` says how many blocks there are; :func:`segments` returns them).
* The *support* of a matrix is ``{|w| > t}``. By default ``t`` is the ``quantile`` of ``|w|`` over the matrix
  itself (``numpy.quantile``, linear interpolation), so the support's density is about ``1 - quantile`` by
  construction and the box-counting dimension measures only how the support is *arranged*. A fixed ``threshold``
  can be given instead (then the density varies, e.g. over training).

Every statistic here is meaningless without a null model: a random set of density ``p`` has a box-counting
"dimension" between 1 and 2 that depends on ``p`` and on the box sizes alone (a single-scale box count of any
dense matrix is 2). :func:`permuted` gives the permutation null (same entries, no arrangement);
:func:`infoprop.diagnostics.diagnose` compares every statistic with it and with fresh draws at initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..common import as_float_array, check_choice, check_int, check_real
from ..fractal import BoxDimension, box_dimension

__all__ = [
    "SURFACES",
    "Roughness",
    "as_matrix",
    "default_box_sizes",
    "default_lags",
    "permuted",
    "roughness",
    "segment_grid",
    "segment_statistics",
    "segments",
    "support",
    "support_dimension",
    "weight_entropy",
]

#: What :func:`roughness` treats as the grey-level surface: ``|w|`` or ``w`` itself.
SURFACES: tuple[str, ...] = ("abs", "signed")

_MIN_BOX_SIDE = 8
_MIN_LAG_SIDE = 4


def as_matrix(value: Any, name: str = "matrix") -> np.ndarray:
    """``value`` (array-like, torch tensor or xarray) as a finite float64 2-D array; ``ValueError`` otherwise."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "values") and hasattr(value, "dims"):  # an xarray DataArray
        value = value.values
    arr = as_float_array(name, value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows = outputs, columns = inputs), got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------- segmentation
def segment_grid(shape: tuple[int, int], scale: int) -> tuple[int, int]:
    """Number of whole ``scale x scale`` blocks along the rows and the columns of a matrix of ``shape``.

    The grid is anchored at entry (0, 0); the last ``shape[0] mod scale`` rows and ``shape[1] mod scale`` columns
    are in no block. Raises ``ValueError`` when not even one block fits.
    """
    scale = check_int("scale", scale, minimum=1)
    rows, cols = int(shape[0]) // scale, int(shape[1]) // scale
    if rows == 0 or cols == 0:
        raise ValueError(f"scale must be <= the smaller side of the matrix ({min(shape)}), got {scale}")
    return rows, cols


def segments(matrix: Any, scale: int) -> np.ndarray:
    """The whole ``scale x scale`` segments of ``matrix``, as an array of shape ``(block_rows, block_cols, r, r)``.

    ``segments(w, r)[i, j]`` is ``w[i*r:(i+1)*r, j*r:(j+1)*r]``; remainder rows/columns are dropped (see
    :func:`segment_grid`).

    Examples
    --------
    >>> import numpy as np
    >>> blocks = segments(np.arange(30.0).reshape(5, 6), 2)
    >>> blocks.shape, blocks[1, 2].tolist()
    ((2, 3, 2, 2), [[16.0, 17.0], [22.0, 23.0]])
    """
    w = as_matrix(matrix)
    rows, cols = segment_grid(w.shape, scale)
    return w[: rows * scale, : cols * scale].reshape(rows, scale, cols, scale).swapaxes(1, 2)


# --------------------------------------------------------------------------- support and its dimension
def _threshold(w: np.ndarray, quantile: float, threshold: float | None) -> float:
    if threshold is not None:
        return check_real("threshold", threshold, minimum=0.0)
    quantile = check_real("quantile", quantile, minimum=0.0, maximum=1.0)
    if quantile >= 1.0:
        raise ValueError(f"quantile must be in [0, 1) (the support is |w| > that quantile), got {quantile}")
    return float(np.quantile(np.abs(w), quantile))


def support(matrix: Any, quantile: float = 0.5, *, threshold: float | None = None) -> np.ndarray:
    """Boolean support ``|w| > t`` of ``matrix``: ``t`` the ``quantile`` of ``|w|``, or ``threshold`` if given.

    Examples
    --------
    >>> support([[0.1, -2.0], [0.5, 3.0]]).tolist()  # median of |w| is 1.25
    [[False, True], [False, True]]
    """
    w = as_matrix(matrix)
    return np.abs(w) > _threshold(w, quantile, threshold)


def default_box_sizes(shape: tuple[int, int]) -> np.ndarray:
    """Box sides for :func:`support_dimension`: powers of two from 1 to ``max(4, min(shape) // 4)``.

    They start at the single entry (the segments of scale 1) because a weight matrix has no sub-entry structure,
    and stop at a quarter of the smaller side so that at least four boxes span it. Needs a side of at least 8.
    """
    side = min(int(s) for s in shape)
    if side < _MIN_BOX_SIDE:
        raise ValueError(
            f"matrix must be at least {_MIN_BOX_SIDE} x {_MIN_BOX_SIDE} for the default box sizes 1, 2, 4, got {shape}"
        )
    top = max(4, side // 4)
    return 2 ** np.arange(int(np.log2(top)) + 1)


def support_dimension(
    matrix: Any,
    quantile: float = 0.5,
    *,
    threshold: float | None = None,
    sizes: Any = None,
    offsets: int = 4,
) -> BoxDimension:
    """Box-counting dimension of the support of ``matrix`` across scales.

    The support ``{|w| > t}`` (see :func:`support`) is box-counted with infoprop's validated estimator
    :func:`infoprop.box_dimension` (``estimator="robust"``: minimum count over ``offsets`` grid shifts, boxes cut by
    the matrix edge weighted by their area inside it, OLS slope, an uncertainty from one-octave local slopes).
    The box sides are the segment scales ``r``: by default :func:`default_box_sizes` (1, 2, 4, ... up to a quarter
    of the smaller side), so ``N(r)`` is the number of scale-``r`` segments that hold part of the support.

    What it means: a support made of lines has dimension 1, of filled regions 2, a Sierpinski carpet 1.893. A
    *random* support of density ``p`` is filled at large ``r`` but sparse at ``r = 1``, so its value lies between 1
    and 2 and depends on ``p`` and the sizes only: compare with the same statistic of :func:`permuted` (equal
    density, no arrangement) before reading anything into it.

    Parameters
    ----------
    matrix : array_like, shape (n, m)
        The weights (a conv kernel as its ``out x (in k k)`` matrix).
    quantile : float in [0, 1)
        The support is ``|w| >`` this quantile of ``|w|`` (0.5: the larger half of the entries).
    threshold : float, optional
        A fixed threshold on ``|w|`` instead of the quantile.
    sizes : sequence of int, optional
        Box sides (at least 3 distinct, spanning two octaves); default :func:`default_box_sizes`.
    offsets : int
        Grid shifts per size, as in :func:`infoprop.box_dimension`.

    Returns
    -------
    BoxDimension
        The estimator's result (dimension, stderr, sizes, counts, local slopes). The support's density is
        ``counts[0] / (n m)`` when ``sizes[0] == 1``, or ``support(...).mean()``.

    Raises
    ------
    ValueError
        Empty support (e.g. a constant matrix, or a threshold above every ``|w|``), a matrix smaller than 8 x 8
        without explicit ``sizes``, bad ``quantile``/``threshold``/``sizes``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.full((64, 64), 0.01)
    >>> w[:, 20] = 1.0  # the large weights form one column: a line
    >>> round(support_dimension(w, quantile=0.9).dimension, 6)
    1.0
    """
    w = as_matrix(matrix)
    mask = np.abs(w) > _threshold(w, quantile, threshold)
    if not mask.any():
        setting = f"threshold={threshold}" if threshold is not None else f"quantile={quantile}"
        raise ValueError(f"matrix must have a non-empty support |w| > t, got none with {setting} (max |w| = "
                         f"{np.abs(w).max():.3g})")
    size_array = default_box_sizes(w.shape) if sizes is None else sizes
    return box_dimension(mask, "robust", sizes=size_array, offsets=offsets)


# --------------------------------------------------------------------------- roughness
@dataclass(frozen=True)
class Roughness:
    """Result of :func:`roughness`.

    Attributes
    ----------
    dimension : float
        Surface dimension ``3 - H`` with ``H`` clipped to [0, 1], so in [2, 3]: 2 for a smooth surface, 3 for one
        with uncorrelated entries.
    hurst : float
        The fitted Hurst exponent ``H`` (half the log-log slope of the variogram), unclipped: ``H < 0`` means
        increments *shrink* with the lag (anti-correlated neighbours), ``H > 1`` a trend.
    stderr : float
        OLS standard error of ``hurst`` (and so of ``dimension`` where it is not clipped).
    lags : numpy.ndarray
        Lags in entries (int).
    variogram : numpy.ndarray
        ``V(h)``, mean squared increment at each lag.
    surface : str
        ``"abs"`` (the surface is ``|w|``) or ``"signed"`` (``w``).
    axis : int or None
        Increments along axis 0 (between rows), 1 (between columns) or both (None).
    """

    dimension: float
    hurst: float
    stderr: float
    lags: np.ndarray
    variogram: np.ndarray
    surface: str
    axis: int | None


def default_lags(length: int) -> np.ndarray:
    """Lags for :func:`roughness` along an axis of ``length`` entries: about 8 geometric integers in
    ``[1, max(3, length // 8)]`` (small lags: the variogram's power law is exact there for fBm, and many pairs)."""
    length = int(length)
    if length < _MIN_LAG_SIDE:
        raise ValueError(f"matrix must have at least {_MIN_LAG_SIDE} entries along each increment axis, got {length}")
    top = max(3, length // 8)
    return np.unique(np.round(np.geomspace(1, top, 8)).astype(np.int64))


def roughness(matrix: Any, *, surface: str = "abs", lags: Any = None, axis: int | None = None) -> Roughness:
    """Surface (fractal) dimension of a matrix seen as a grey-level surface, from its variogram.

    The variogram ``V(h)`` is the mean of ``(z[i + h, j] - z[i, j])^2`` over all pairs in the matrix (increments
    along rows, ``axis=0``), of ``(z[i, j + h] - z[i, j])^2`` (along columns, ``axis=1``), or the mean of the two
    (``axis=None``, the isotropic estimate). For a fractional Brownian surface ``V(h) = h^(2H)`` exactly, so the
    OLS slope of ``log V`` on ``log h`` is ``2H`` and the surface dimension is ``D = 3 - H`` (Mandelbrot).
    Validated on exact fBm surfaces (:func:`infoprop.diagnostics.fbm_surface`, 512 x 512, H = 0.3, 0.5, 0.8).

    Which axes mean something: a weight matrix's row order is the arbitrary order of its output units, so
    increments between rows measure nothing that permuting the units would not change; column order is the
    input order (pixels, or a conv kernel's pixels), where smoothness is real geometry.

    Parameters
    ----------
    matrix : array_like, shape (n, m)
    surface : {"abs", "signed"}
        The surface is ``|w|`` (default) or ``w``.
    lags : sequence of int, optional
        At least 2 distinct lags >= 1, each smaller than the lengths of the axes used; default :func:`default_lags`
        of the shorter axis used.
    axis : {None, 0, 1}

    Returns
    -------
    Roughness

    Raises
    ------
    ValueError
        A constant surface (zero variogram), an axis shorter than 4 entries, bad ``lags``/``axis``/``surface``.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.add.outer(np.arange(64.0), np.arange(64.0))  # a plane: increments grow linearly, H = 1
    >>> r = roughness(z, surface="signed")
    >>> round(r.hurst, 6), r.dimension
    (1.0, 2.0)
    """
    w = as_matrix(matrix)
    surface = check_choice("surface", surface, SURFACES)
    if axis not in (None, 0, 1):
        raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")
    axes = (0, 1) if axis is None else (axis,)
    length = min(w.shape[a] for a in axes)
    if lags is None:
        lag_array = default_lags(length)
    else:
        lag_array = np.unique(as_float_array("lags", lags, minimum=1))
        if np.any(lag_array != np.round(lag_array)) or len(lag_array) < 2 or lag_array[-1] >= length:
            raise ValueError(f"lags must be at least 2 distinct integers in [1, {length - 1}], got {lags!r}")
        lag_array = lag_array.astype(np.int64)
    z = np.abs(w) if surface == "abs" else w
    variogram = np.array([
        np.mean([np.mean(np.square(_lagged(z, int(h), a))) for a in axes])
        for h in lag_array
    ])
    if np.any(variogram <= 0):
        raise ValueError("matrix must not be constant along the increment axes (its variogram is zero)")
    x, y = np.log(lag_array.astype(np.float64)), np.log(variogram)
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    if len(x) > 2:
        residual = y - y.mean() - slope * xc
        stderr = float(np.sqrt(residual @ residual / (len(x) - 2) / (xc @ xc))) / 2
    else:
        stderr = 0.0  # two lags: the line is exact, no residual to estimate an error from
    hurst = slope / 2
    return Roughness(
        dimension=3.0 - float(np.clip(hurst, 0.0, 1.0)),
        hurst=hurst,
        stderr=stderr,
        lags=lag_array,
        variogram=variogram,
        surface=surface,
        axis=axis,
    )


def _lagged(z: np.ndarray, h: int, axis: int) -> np.ndarray:
    return z[h:, :] - z[:-h, :] if axis == 0 else z[:, h:] - z[:, :-h]


# --------------------------------------------------------------------------- entropy and nulls
def weight_entropy(matrix: Any) -> float:
    """Normalised entropy of the weight magnitudes: ``-sum p log p / log n`` with ``p = |w| / sum |w|``.

    1 when every weight has the same magnitude, 0 when one weight carries all of it; ``n`` is the number of
    entries (>= 2). A permutation of the entries leaves it unchanged (so its permutation null is itself).

    Examples
    --------
    >>> weight_entropy([[1.0, -1.0], [1.0, 1.0]]), weight_entropy([[0.0, 0.0], [0.0, 2.0]])
    (1.0, 0.0)
    """
    w = np.abs(as_matrix(matrix)).ravel()
    if w.size < 2:
        raise ValueError(f"matrix must have at least 2 entries, got {w.size}")
    total = w.sum()
    if total == 0:
        raise ValueError("matrix must have a nonzero entry (the entropy of no magnitude is undefined)")
    p = w[w > 0] / total
    return float(max(0.0, -(p @ np.log(p)) / np.log(w.size)))


def permuted(matrix: Any, seed: int) -> np.ndarray:
    """The permutation null: the entries of ``matrix`` in a uniformly random order (``numpy`` generator ``seed``).

    Same multiset of values, hence the same density of any support and the same entropy, but no arrangement.
    """
    w = as_matrix(matrix)
    seed = check_int("seed", seed, minimum=0)
    return np.random.default_rng(seed).permutation(w.ravel()).reshape(w.shape)


# --------------------------------------------------------------------------- vectorised per-segment statistics
def segment_statistics(
    matrix: Any, scale: int, *, threshold: float, gradient: Any = None
) -> dict[str, np.ndarray]:
    """Scalar statistics of every whole ``scale x scale`` segment, vectorised; each array is ``(block_rows,
    block_cols)``.

    * ``density``: fraction of the segment's entries with ``|w| > threshold`` (pass the *layer's* threshold, e.g.
      the median of the layer's ``|w|``, so densities compare across segments);
    * ``abs_mean``: mean ``|w|``;
    * ``entropy``: :func:`weight_entropy` of the segment (0 for an all-zero segment, which has no spread);
    * ``grad_norm``: Frobenius norm of ``gradient`` (same shape as ``matrix``) over the segment, if given.
    """
    scale = check_int("scale", scale, minimum=2)
    threshold = check_real("threshold", threshold, minimum=0.0)
    blocks = np.abs(segments(matrix, scale)).reshape(*segment_grid(np.shape(matrix), scale), scale * scale)
    total = blocks.sum(axis=-1)
    safe = np.where(total > 0, total, 1.0)[..., None]
    p = blocks / safe
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out = {
        "density": np.mean(blocks > threshold, axis=-1),
        "abs_mean": blocks.mean(axis=-1),
        "entropy": np.clip(-plogp.sum(axis=-1) / np.log(scale * scale), 0.0, 1.0),
    }
    if gradient is not None:
        g = as_matrix(gradient, "gradient")
        if g.shape != np.shape(matrix):
            raise ValueError(f"gradient must have the matrix's shape {np.shape(matrix)}, got {g.shape}")
        out["grad_norm"] = np.sqrt(np.square(segments(g, scale)).sum(axis=(-2, -1)))
    return out
