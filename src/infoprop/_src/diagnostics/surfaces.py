"""Exact fractional Brownian surfaces: the planted reference for :func:`infoprop.diagnostics.roughness`.

A fractional Brownian surface ``B`` with Hurst exponent ``H`` in (0, 1) is the Gaussian field with ``B(0) = 0`` and
stationary isotropic increments ``E (B(p) - B(q))^2 = |p - q|^(2H)``; its graph has fractal dimension ``3 - H``.

:func:`fbm_surface` samples it *exactly* (no spectral approximation) on an ``n x n`` grid with Stein's
circulant-embedding method (M. L. Stein, "Fast and exact simulation of fractional Brownian surfaces", J. Comput.
Graph. Statist. 11 (2002) 587-599): the stationary covariance

    r(x) = c0 - |x|^(2H) + c2 |x|^2          for |x| <= 1,
    r(x) = beta (R - |x|)^3 / |x|           for 1 < |x| <= R,   0 beyond,

(R = 1, beta = 0, c2 = H, c0 = 1 - H for H <= 3/4; R = 2 and beta, c2, c0 as in Stein's paper otherwise) has a
nonnegative-definite circulant embedding on ``[0, R]^2``. A field ``Y`` with covariance ``r`` then gives

    X(x) = (Y(x) - Y(0) + sqrt(2 c2) (x . Z)) / sqrt(2),       Z ~ N(0, I_2) independent,

whose covariance is exactly that of fBm, ``(|x|^(2H) + |y|^(2H) - |x - y|^(2H)) / 2``, for all pairs with
``|x|, |y|, |x - y| <= 1``. The grid is therefore placed on the square ``[0, 1/sqrt(2)]^2`` (diameter 1) and the
result rescaled by self-similarity to grid units: the returned ``B[i, j]`` has ``E (B[p] - B[q])^2 = |p - q|^(2H)``
with ``p, q`` integer index pairs. Tests check the sample covariance against that closed form.
"""

from __future__ import annotations

import numpy as np

from ..common import check_int, check_real

__all__ = ["fbm_covariance", "fbm_surface"]

_MIN_SIDE = 2


def _stein_constants(alpha: float) -> tuple[float, float, float, float]:
    """``(R, beta, c0, c2)`` of Stein's embedding for ``alpha = 2 H``."""
    if alpha <= 1.5:
        return 1.0, 0.0, 1.0 - alpha / 2, alpha / 2
    big_r = 2.0
    beta = alpha * (2 - alpha) / (3 * big_r * (big_r**2 - 1))
    c2 = (alpha - beta * (big_r - 1) ** 2 * (big_r + 2)) / 2
    c0 = beta * (big_r - 1) ** 3 + 1 - c2
    return big_r, beta, c0, c2


def fbm_covariance(points: np.ndarray, hurst: float) -> np.ndarray:
    """Closed-form covariance ``(|p|^(2H) + |q|^(2H) - |p - q|^(2H)) / 2`` of fBm at ``points`` (shape ``(k, 2)``)."""
    hurst = check_real("hurst", hurst, minimum=0.0, maximum=1.0, strict_minimum=True)
    p = np.asarray(points, dtype=np.float64)
    norm = np.hypot(p[:, 0], p[:, 1]) ** (2 * hurst)
    dist = np.hypot(p[:, None, 0] - p[None, :, 0], p[:, None, 1] - p[None, :, 1]) ** (2 * hurst)
    return (norm[:, None] + norm[None, :] - dist) / 2


def fbm_surface(n: int, hurst: float, seed: int) -> np.ndarray:
    """An exact fractional Brownian surface on an ``n x n`` grid, in grid units (see the module docstring).

    Parameters
    ----------
    n : int
        Side of the grid (>= 2). Cost: FFTs of side about ``2 sqrt(2) n`` (H <= 3/4) or ``4 sqrt(2) n`` (H > 3/4);
        ``n = 512`` takes about a second, or four for H > 3/4.
    hurst : float in (0, 1)
        Hurst exponent ``H``; the surface dimension is ``3 - H``.
    seed : int
        Seed of the ``numpy`` generator: equal seeds give bitwise-equal surfaces.

    Returns
    -------
    numpy.ndarray, float64, shape (n, n)
        ``B[i, j]`` with ``B[0, 0] = 0`` and ``E (B[i, j] - B[k, l])^2 = ((i - k)^2 + (j - l)^2)^H``.

    Examples
    --------
    >>> b = fbm_surface(64, 0.5, seed=0)
    >>> b.shape, float(b[0, 0])
    ((64, 64), 0.0)
    """
    n = check_int("n", n, minimum=_MIN_SIDE)
    hurst = check_real("hurst", hurst, minimum=0.0, maximum=1.0, strict_minimum=True)
    if hurst >= 1.0:
        raise ValueError(f"hurst must be in (0, 1), got {hurst}")
    seed = check_int("seed", seed, minimum=0)
    alpha = 2 * hurst
    big_r, beta, c0, c2 = _stein_constants(alpha)
    step = (1 / np.sqrt(2)) / (n - 1)  # the n x n grid spans a square of diameter 1
    m = int(np.ceil(big_r / step)) + 1  # grid points per side of [0, R]^2
    t = np.arange(m) * step
    dist = np.hypot(t[:, None], t[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        outer = np.where(dist <= big_r, beta * np.clip(big_r - dist, 0.0, None) ** 3 / dist, 0.0)
    cov = np.where(dist <= 1.0, c0 - dist**alpha + c2 * dist**2, outer)
    # First row of the block-circulant embedding: the covariance reflected into the torus of side 2 (m - 1).
    row = np.block([[cov, cov[:, -2:0:-1]], [cov[-2:0:-1, :], cov[-2:0:-1, -2:0:-1]]])
    eigen = np.fft.fft2(row).real
    # Stein's constants make the embedding nonnegative definite; only rounding can go (slightly) below zero.
    if eigen.min() < -1e-8 * eigen.max():
        raise RuntimeError(f"circulant embedding not nonnegative definite (min eigenvalue {eigen.min():.3g})")
    amplitude = np.sqrt(np.clip(eigen, 0.0, None) / row.size)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(row.shape) + 1j * rng.standard_normal(row.shape)
    field = np.fft.fft2(amplitude * noise)[:n, :n].real  # real part: one exact draw of Y (the imaginary, another)
    tilt = rng.standard_normal(2)
    x = np.arange(n) * step
    surface = field - field[0, 0] + np.sqrt(2 * c2) * (x[:, None] * tilt[0] + x[None, :] * tilt[1])
    # 1/sqrt(2): Stein's field has variogram 2|x|^(2H); step^-H: self-similarity rescales to grid units.
    return surface / np.sqrt(2) * step ** (-hurst)
