"""One finite-width landscape: metric names mapped onto the engine, and the store + figure it is written as.

``infoprop landscape`` and the explorer's *export* both go through :func:`compute_landscape` and
:func:`write_landscape`, so the two write the same store and the same figure for the same parameters.

Metric names are the team vocabulary: ``"forward"`` (``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` on
pre-activations), ``"backward"`` (``L' = ||J^T g1 - J^T g2||``) and ``"lyapunov"`` (finite-size Lyapunov
exponent): :data:`infoprop.METRICS` (:func:`landscape_metrics`). ``sigma_w``, ``sigma_b`` are
standard deviations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from .arch import get_arch
from .common import check_choice, check_output, save_figure, write_zarr
from .metrics import FORWARD_METRICS, METRICS

__all__ = ["compute_landscape", "landscape_metrics", "make_network", "write_landscape"]



def landscape_metrics() -> tuple[str, ...]:
    """Metric names :func:`compute_landscape` accepts: :data:`infoprop.METRICS`."""
    return METRICS


def make_network(
    arch: str,
    width: int,
    depth: int,
    activation: str = "erf",
    *,
    seed: int = 0,
    dtype: str = "float32",
    device: str = "cpu",
    kernel_size: int | None = None,
) -> Any:
    """The :class:`infoprop.RandomNetwork` of ``infoprop landscape``'s options (``kernel_size``: cnn only)."""
    from .networks import RandomNetwork

    if kernel_size is not None and get_arch(arch).operator != "conv":
        raise ValueError(f"kernel_size applies to arch 'cnn' only, got arch {arch!r}")
    options = {} if kernel_size is None else {"kernel_size": kernel_size}
    return RandomNetwork(arch, width, depth, activation, seed=seed, dtype=dtype, device=device, **options)


def compute_landscape(
    network: Any,
    metric: str,
    sigma_w: Any,
    sigma_b: Any,
    *,
    inputs: str = "independent",
    eps: float = 1e-5,
    progress: Callable[[int, int], None] | None = None,
) -> xr.DataArray:
    """One network draw's landscape of ``metric`` on the grid ``sigma_w x sigma_b`` (standard deviations).

    Parameters
    ----------
    network : RandomNetwork
        The draw (see :func:`make_network`); every grid point uses the same one.
    metric : str
        One of :func:`landscape_metrics` (``"forward"``, ``"backward"``, ``"lyapunov"``, ...).
    sigma_w, sigma_b : 1-D array_like
        Grid axes (>= 0, finite). Each value depends only on its own ``(sigma_w, sigma_b)``, never on the other
        grid points, so any sub-grid gives bitwise the same values as the whole grid.
    inputs, eps : str, float
        Forward metrics only: ``"independent"`` inputs or ``"perturbed"`` (``x2 = x1 + eps g``).
    progress : callable, optional
        ``progress(done, total)`` in grid points.

    Returns
    -------
    xarray.DataArray
        Dims ``(sigma_w, sigma_b)``, named by the engine, with ``metric`` and provenance attributes.
    """
    metric = check_choice("metric", metric, landscape_metrics())
    forward = metric in FORWARD_METRICS
    if not forward and inputs != "independent":
        raise ValueError(f"inputs applies to the forward metrics only, got inputs={inputs!r} with metric={metric!r}")
    options: dict[str, Any] = {"inputs": inputs, "eps": eps} if forward else {}
    return network.landscape(metric, sigma_w, sigma_b, progress=progress, **options)


def write_landscape(
    landscape: xr.DataArray,
    out: str | os.PathLike[str],
    plot: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
) -> tuple[Path, Path | None]:
    """Write a landscape as ``infoprop landscape`` does: a zarr store and, if ``plot``, its PNG figure.

    The store holds the DataArray as computed (one data variable named like it, all attributes); the figure
    is :func:`infoprop.plots.plot_landscape` saved at 150 dpi. Both go through the shared atomic writers.

    Parameters
    ----------
    landscape : xarray.DataArray
        From :func:`compute_landscape`.
    out, plot : path
        Store and figure paths.
    overwrite : bool
        With ``False`` (default) an existing ``out`` or ``plot`` is refused with ``FileExistsError`` before
        anything is written; with ``True`` only a store or figure infoprop wrote is replaced (anything else is
        refused with a ``ValueError``, see :func:`infoprop._src.output.check_output`).

    Returns
    -------
    (Path, Path or None)
    """
    from .plots.landscape import plot_landscape

    if not isinstance(landscape, xr.DataArray):
        raise TypeError(f"landscape must be an xarray.DataArray, got {type(landscape).__name__}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    paths = [Path(out)] + ([Path(plot)] if plot is not None else [])
    if not overwrite:
        for path in paths:
            if path.exists() or path.is_symlink():
                raise FileExistsError(f"{path} exists; choose another path (nothing was written)")
    # Both paths are checked before either is written; with overwrite only infoprop's own outputs are replaced.
    check_output(out, "store", overwrite=overwrite, name="--out")
    if plot is not None:
        check_output(plot, "figure", overwrite=overwrite, name="--plot")
    store = write_zarr(landscape, out, "--out", overwrite=overwrite)
    figure = None
    if plot is not None:
        figure = save_figure(plot_landscape(landscape), plot, "--plot", overwrite=overwrite)
    return store, figure
