"""The frontier report: infoprop's main job (``infoprop report``, ``python3 tasks.py run``).

One finite-width network draw (default: erf MLP, width 100, depth 300, seed 0) is evaluated on a grid of
``(sigma_w, sigma_b)`` in [0, 4]^2 (standard deviations, 256 x 256 points). The report contains

* the landscape ``L`` (forward divergence of two independent inputs at the last layer) with the mean-field
  critical line ``chi_1 = 1`` of the same activation;
* the boundary of the ordered set ``{L <= threshold}`` (default ``threshold = 1e-3``, in units of ``L``);
* the box-counting dimension of the frontier: infoprop's robust estimator over the threshold sweep
  ``logspace(-5, 0, 21)`` (median over resolved thresholds, with its uncertainty), the seed authors' rule
  (maximum over thresholds, their estimator) for comparison, and both at ``threshold``;
* the disagreement with mean field: the fraction of grid points whose class (``L <= threshold``) differs from
  the mean-field class (``chi_1 < 1``).

With ``landscape=`` (a DataArray or a zarr store read by :func:`infoprop.fractal.load_landscape`, e.g. one
landscape of a sweep) the report takes ``L`` from there instead of drawing a network; the network's
arch, activation, width, depth and seed come from the landscape's provenance.

Files written to ``out``: ``landscape.zarr``, ``frontier.zarr`` (robust sweep), ``frontier_dinverno.zarr``,
``report.png`` (landscape and boundary), ``report-dimension.png`` (box counts and dimension vs threshold,
both estimators) and ``summary.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .common import (
    OutputDir,
    _jsonable,
    as_float_array,
    check_int,
    check_memory,
    check_real,
    save_figure,
    write_text,
    write_zarr,
)

__all__ = ["DEFAULTS", "frontier_report"]

#: Memory per grid point: the network's per-point moments and results, the landscape, boundary images and
#: summed-area tables of the threshold sweep, and the figures' image copies (an upper estimate).
REPORT_BYTES_PER_POINT = 256

#: Built-in defaults of the report (about a minute on 2 CPU cores).
DEFAULTS: dict[str, Any] = {
    "arch": "mlp",
    "activation": "erf",
    "width": 100,
    "depth": 300,
    "resolution": 256,
    "sigma_max": 4.0,
    "seed": 0,
    "threshold": 1e-3,
}


def frontier_report(
    out: str | os.PathLike[str] = "out",
    *,
    arch: str = DEFAULTS["arch"],
    activation: str = DEFAULTS["activation"],
    width: int = DEFAULTS["width"],
    depth: int = DEFAULTS["depth"],
    sigma_w: Any = None,
    sigma_b: Any = None,
    seed: int = DEFAULTS["seed"],
    threshold: float = DEFAULTS["threshold"],
    progress: Callable[[int, int], None] | None = None,
    landscape: Any = None,
    selection: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Compute the frontier report and write it to ``out``; return the summary (also in ``summary.json``).

    Parameters
    ----------
    out : path
        Output folder: new, empty, or (with ``overwrite=True``) one an earlier report wrote; checked before
        anything is computed (:class:`infoprop._src.output.OutputDir`). Files are written atomically.
    arch, activation, width, depth, seed
        The network draw, as in :class:`infoprop.RandomNetwork` (``arch`` e.g. ``"mlp"`` or ``"resnet"``; a
        residual arch has no mean-field critical line, so the disagreement is ``None`` and no line is drawn).
    sigma_w, sigma_b : 1-D array_like, optional
        Grid axes (standard deviations, >= 0, at least 129 points each: the boundary image is one smaller
        and box counting needs 128 pixels for two octaves of box sizes); default ``linspace(0, 4, 256)`` each.
    threshold : float
        ``tau`` in units of ``L`` (> 0) for the boundary image, the dimension at one threshold and the
        disagreement with mean field.
    progress : callable, optional
        Called as ``progress(done, total)`` with the number of grid points evaluated so far.
    landscape : xarray.DataArray or path, optional
        Use this forward divergence of independent inputs ``L(sigma_w, sigma_b)`` instead of evaluating a
        network: a DataArray on dims (sigma_w, sigma_b) with the engine's provenance attributes, or a zarr
        store (a sweep store or a single-landscape store such as ``infoprop landscape --out`` or an earlier
        report's ``landscape.zarr``), read with :func:`infoprop.fractal.load_landscape`. The grid is the
        landscape's (``sigma_w``, ``sigma_b`` must not be given); arch, activation, width, depth and
        seed are read from its provenance ``parameters`` (those arguments may be left out; given with a value
        other than their default they must agree with it). ``progress`` is not called.
    selection : mapping, optional
        Keyword arguments of :func:`~infoprop.fractal.load_landscape` for a store: ``metric`` and one value
        per axis or extra dim, e.g. ``{"width": 100, "depth": 50}``.
    overwrite : bool, keyword-only
        Replace the files of an earlier report in ``out`` (only infoprop's own output folder; never other files).

    Returns
    -------
    dict
        The JSON summary: parameters, dimensions with uncertainties, disagreement, file names. With
        ``landscape``, ``parameters["landscape"]`` records its source (the store's path or ``"DataArray"``),
        the selection and the landscape's full provenance parameters.
    """
    from .fractal import boundary, box_dimension, frontier_dimension, has_critical_line, mean_field_disagreement
    from .networks import RandomNetwork

    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    source = None
    if landscape is None:
        if selection is not None:
            raise ValueError(f"selection applies only together with landscape=, got selection={dict(selection)!r}")
        width = check_int("width", width, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        seed = check_int("seed", seed, minimum=0)
        default_axis = np.linspace(0.0, DEFAULTS["sigma_max"], DEFAULTS["resolution"])
        axes = {}
        for name, value in (("sigma_w", sigma_w), ("sigma_b", sigma_b)):
            axis = default_axis if value is None else as_float_array(name, value, minimum=0.0)
            _check_axis(name, axis)
            axes[name] = axis
        check_memory(len(axes["sigma_w"]) * len(axes["sigma_b"]) * REPORT_BYTES_PER_POINT, "the report's grid")
    else:
        for name, value in (("sigma_w", sigma_w), ("sigma_b", sigma_b)):
            if value is not None:
                raise ValueError(f"{name} must not be given together with landscape: the grid is the landscape's")
        given = {"arch": arch, "activation": activation, "width": width, "depth": depth, "seed": seed}
        landscape, source = _given_landscape(landscape, selection)
        network_parameters = _network_parameters(landscape, given)
        arch, width, depth, seed = (network_parameters[k] for k in ("arch", "width", "depth", "seed"))
        activation = network_parameters["activation"]
        axes = {name: landscape[name].values for name in ("sigma_w", "sigma_b")}
        for name, axis in axes.items():
            _check_axis(name, axis)
    out_dir = OutputDir(out, overwrite=overwrite, name="out")  # arguments first, then the output, then compute

    if source is None:
        network = RandomNetwork(arch, width, depth, activation=activation, seed=seed)
        landscape = network.forward(axes["sigma_w"], axes["sigma_b"], inputs="independent", progress=progress)
        landscape = landscape.transpose("sigma_w", "sigma_b")

    robust = frontier_dimension(landscape, "sweep", "robust")
    authors = frontier_dimension(landscape, "sweep", "dinverno")
    cells = boundary(landscape, threshold)
    at_threshold = {}
    for estimator in ("robust", "dinverno"):
        try:
            result = box_dimension(cells, estimator)
            at_threshold[estimator] = {"dimension": result.dimension, "stderr": result.stderr}
        except ValueError as exc:  # no boundary at this threshold: say so in the summary
            at_threshold[estimator] = {"dimension": None, "stderr": None, "note": str(exc)}
    # residual networks (and conv/fdf with a non-odd activation) have no mean-field critical line to disagree with
    has_line = has_critical_line(arch, activation)
    disagreement = mean_field_disagreement(landscape, threshold, activation) if has_line else None
    activation_name = getattr(activation, "name", activation)  # an Activation when read from provenance

    files = {
        "landscape": write_zarr(landscape, out_dir.file("landscape.zarr"), overwrite=True).name,
        "frontier": write_zarr(robust, out_dir.file("frontier.zarr"), overwrite=True).name,
        "frontier_dinverno": write_zarr(authors, out_dir.file("frontier_dinverno.zarr"), overwrite=True).name,
    }
    files["figure"] = save_figure(
        _landscape_figure(landscape, cells, activation, threshold, arch), out_dir.file("report.png"), overwrite=True
    ).name
    from .plots.fractal import plot_frontier_dimensions

    fig = plot_frontier_dimensions(
        {"robust": robust, "dinverno (authors)": authors},
        title=f"{arch.upper()}, {activation_name}, N = {width}, D = {depth}",
    )
    files["dimension_figure"] = save_figure(fig, out_dir.file("report-dimension.png"), overwrite=True).name
    summary = {
        "parameters": {
            "arch": arch,
            "activation": activation_name,
            "width": width,
            "depth": depth,
            "seed": seed,
            "sigma_w": [float(axes["sigma_w"][0]), float(axes["sigma_w"][-1]), len(axes["sigma_w"])],
            "sigma_b": [float(axes["sigma_b"][0]), float(axes["sigma_b"][-1]), len(axes["sigma_b"])],
            "threshold": threshold,
            "sigma_convention": "std",
            **({} if source is None else {"landscape": source}),
        },
        "dimension": {
            "recommended": robust.attrs["recommended_dimension"],
            "recommended_stderr": robust.attrs["recommended_stderr"],
            "rule": "robust estimator, median over resolved thresholds of logspace(-5, 0, 21)",
            "resolved_thresholds": robust.attrs["resolved_thresholds"],
            "authors": authors.attrs["authors_dimension"],
            "authors_stderr": authors.attrs["authors_stderr"],
            "authors_threshold": authors.attrs["authors_threshold"],
            "at_threshold": at_threshold,
        },
        "boundary_cells": int(cells.sum()),
        "mean_field_disagreement": disagreement,
        "files": files,
    }
    write_text(json.dumps(summary, indent=2) + "\n", out_dir.file("summary.json"), overwrite=True)
    summary["files"]["summary"] = "summary.json"
    return summary


def _check_axis(name: str, axis: np.ndarray) -> None:
    # The boundary image is one smaller than the grid, and box counting needs 128 pixels for two octaves.
    if axis.ndim != 1 or len(axis) < 129:
        raise ValueError(f"{name} must be a 1-D grid of at least 129 values, got shape {axis.shape}")


def _given_landscape(landscape: Any, selection: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """The landscape (read from its store if a path) and the record of where it came from."""
    import xarray as xr

    from .fractal import load_landscape

    selection = {} if selection is None else dict(selection)
    if isinstance(landscape, xr.DataArray):
        if selection:
            raise ValueError(f"selection applies to a landscape store, not a DataArray, got {selection!r}")
        where = "DataArray"
    elif isinstance(landscape, (str, os.PathLike)):
        where = str(landscape)
        landscape = load_landscape(landscape, **selection)
    else:
        raise TypeError(f"landscape must be an xarray.DataArray or the path of a zarr store, got {landscape!r}")
    if set(landscape.dims) != {"sigma_w", "sigma_b"}:
        raise ValueError(f"landscape must have dims (sigma_w, sigma_b), got {landscape.dims}; select one layer first")
    try:
        provenance = json.loads(landscape.attrs["parameters"])
    except (KeyError, TypeError, ValueError):
        provenance = {}
    if not isinstance(provenance, dict) or not {"arch", "activation", "width", "depth", "seed"} <= set(provenance):
        raise ValueError(
            "landscape must carry the network's provenance (a 'parameters' JSON attribute with arch, activation,"
            f" width, depth and seed, as the finite-width engine writes), got attributes {sorted(landscape.attrs)}"
        )
    metric, inputs = provenance.get("metric", "forward"), provenance.get("inputs", "independent")
    if (metric, inputs) != ("forward", "independent"):
        raise ValueError(
            "landscape must be the forward divergence of independent inputs (the report's L), got "
            f"metric={metric!r}, inputs={inputs!r}"
        )
    record = {"source": where, "selection": _jsonable(selection), "provenance": provenance}
    return landscape.transpose("sigma_w", "sigma_b"), record


def _network_parameters(landscape: Any, given: dict[str, Any]) -> dict[str, Any]:
    """Architecture, activation (an ``Activation``), width, depth and seed from the landscape's provenance.

    A value given explicitly (other than its default) must agree with the recorded one.
    """
    from .fractal import landscape_parameter

    recorded = {key: landscape_parameter(landscape, key) for key in ("activation", "width", "depth", "seed")}
    recorded["arch"] = landscape_parameter(landscape, "arch")
    for key, value in given.items():
        label = recorded[key].name if key == "activation" else recorded[key]
        if value != DEFAULTS[key] and value != label:
            raise ValueError(f"{key} must agree with the landscape's provenance ({key} = {label!r}), got {value!r}")
    return recorded


def _landscape_figure(landscape: Any, cells: Any, activation: Any, threshold: float, arch: str) -> Any:
    import matplotlib.pyplot as plt

    from .plots.fractal import draw_landscape, draw_mean_field_line

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    draw_landscape(left, landscape, activation=activation, arch=arch, threshold=threshold)
    left.set_title(f"log10 L; black: L = {threshold:g}; dashed: mean-field chi_1 = 1", fontsize=8)
    sw, sb = cells["sigma_w"].values, cells["sigma_b"].values
    right.imshow(
        cells.values.T,
        origin="lower",
        extent=(sw[0], sw[-1], sb[0], sb[-1]),
        aspect="auto",
        cmap="Greys",
        interpolation="nearest",
    )
    sigma_w, sigma_b = landscape["sigma_w"].values, landscape["sigma_b"].values
    draw_mean_field_line(right, sigma_w, sigma_b, activation, arch=arch, colour="C3", linewidth=1.0)
    right.set_xlabel("sigma_w (std)")
    right.set_ylabel("sigma_b (std)")
    right.set_title(f"boundary of {{L <= {threshold:g}}} (2x2 cells); red: mean field", fontsize=8)
    return fig
