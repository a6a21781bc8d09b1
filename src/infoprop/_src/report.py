"""The frontier report: infoprop's main job (``infoprop report``, ``python3 tasks.py run``).

On its defaults the report measures the seed paper's headline setting: one erf MLP draw of width 100 and
depth 1000 (seed 0), the seed authors' normalised post-activation divergence
``L = ||phi(h^D(x1)) - phi(h^D(x2))||^2 / N`` of two independent inputs (metric ``"forward_normalised"``, so a
threshold means what the paper's ``tau`` means), evaluated on

* the full view ``[0, 4]^2`` (``sigma_w``, ``sigma_b`` standard deviations, ``resolution`` points per axis), and
* a sequence of zoom windows of the same draw with the paper's window sides ``0.4, 0.1, 0.025``
  (``zoom_resolution`` points per axis), each centred on the frontier ``{L <= threshold}`` of the window
  before it, nearest the paper's window centre (:func:`infoprop.fractal.follow_frontier`).

For every window it reports the frontier's box-counting dimension three ways, each labelled with its
estimator, threshold rule and threshold (:func:`infoprop.fractal.dimension_summary`): infoprop's robust
estimator at the frontier threshold ``threshold``; the robust estimator's median over the resolved thresholds
of a sweep; and the seed authors' estimator with their rule (maximum over the sweep, at ``tau*``), next to
the paper's published value. The sweep is the authors' quarter-decade sweep from ``1e-5``, extended upwards
past the largest ``L`` so that the maximum is bracketed (:func:`infoprop.fractal.bracketing_thresholds`).
For the full view it also gives the disagreement with the mean-field class ``chi_1 < 1`` where mean field has a
critical line for the arch (:func:`infoprop.fractal.has_critical_line`; not for residual networks).

With ``landscape=`` (a DataArray or a zarr store, e.g. one landscape of a sweep) the full view is taken from
there and the network (arch, activation, width, depth, seed, dtype) is re-drawn from its provenance
for the zoom windows (the draw is a deterministic function of the seed).

Files written to ``out``: ``landscape.zarr`` (full view), ``zoom.zarr`` (the windows), ``frontier.zarr`` and
``frontier_dinverno.zarr`` (dimension against threshold per window, both estimators), ``report.png``
(landscapes with the frontier and the windows), ``report-dimension.png`` (box counts and dimension against
threshold, both estimators) and ``summary.json``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .common import (
    OutputDir,
    as_float_array,
    check_choice,
    check_int,
    check_memory,
    check_real,
    jsonable,
    save_figure,
    write_text,
    write_zarr,
)
from .metrics import FORWARD_METRICS

__all__ = ["DEFAULTS", "REPORT_METRICS", "frontier_report"]

#: Memory per grid point: the network's per-point moments and results, the landscape, boundary images and
#: summed-area tables of the threshold sweep, and the figures' image copies (an upper estimate).
REPORT_BYTES_PER_POINT = 256

#: Metrics the report can analyse (forward divergences of two independent inputs).
REPORT_METRICS: tuple[str, ...] = FORWARD_METRICS

#: Built-in defaults: the seed paper's headline setting at the cheapest resolutions that resolve it
#: (docs/fractal.md, "Resolution"; a few minutes on 2 CPU cores, docs/benchmarks.md).
DEFAULTS: dict[str, Any] = {
    "arch": "mlp",
    "activation": "erf",
    "width": 100,
    "depth": 1000,
    "seed": 0,
    "metric": "forward_normalised",
    "resolution": 257,
    "zoom_resolution": 129,
    "sides": (0.4, 0.1, 0.025),
    "sigma_max": 4.0,
    "threshold": 1e-3,
}


def frontier_report(
    out: str | os.PathLike[str] = "out",
    *,
    arch: str = DEFAULTS["arch"],
    activation: str = DEFAULTS["activation"],
    width: int = DEFAULTS["width"],
    depth: int = DEFAULTS["depth"],
    seed: int = DEFAULTS["seed"],
    metric: str = DEFAULTS["metric"],
    sigma_w: Any = None,
    sigma_b: Any = None,
    resolution: int = DEFAULTS["resolution"],
    sides: Sequence[float] = DEFAULTS["sides"],
    zoom_resolution: int = DEFAULTS["zoom_resolution"],
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
    metric : {"forward_normalised", "forward"}
        The landscape: the seed authors' normalised post-activation divergence (default) or infoprop's
        pre-activation ``L`` (:meth:`~infoprop.RandomNetwork.forward`), both of two independent inputs.
    sigma_w, sigma_b : 1-D array_like, optional
        Full-view grid axes (standard deviations, >= 0, at least 129 points: the boundary image is one
        smaller and box counting needs 128 pixels); default ``linspace(0, 4, resolution)`` each.
    resolution : int
        Points per axis of the default full-view grid (>= 129).
    sides : sequence of float
        Zoom window sides, decreasing (default the paper's ``0.4, 0.1, 0.025``); empty for no zoom.
    zoom_resolution : int
        Points per axis of every zoom window (>= 129).
    threshold : float
        The frontier threshold ``tau`` in units of the metric (> 0): the boundary drawn, followed by the
        zooms, measured at a fixed threshold and compared with mean field.
    progress : callable, optional
        ``progress(done, total)`` with the number of grid points evaluated so far (full view and windows).
    landscape : xarray.DataArray or path, optional
        Take the full view from here instead of evaluating it: a DataArray on dims ``(sigma_w, sigma_b)``
        with the engine's provenance, or a zarr store read with :func:`infoprop.fractal.load_landscape`. It
        must be the forward divergence (``metric`` ``"forward"`` or ``"forward_normalised"``) of independent
        inputs; the grid, network and metric are its own (those arguments may be left out; given with a value
        other than their default they must agree with it).
    selection : mapping, optional
        Keyword arguments of :func:`~infoprop.fractal.load_landscape` for a store, e.g. ``{"width": 100}``.
    overwrite : bool, keyword-only
        Replace the files of an earlier report in ``out`` (only infoprop's own output folder; never other files).

    Returns
    -------
    dict
        The JSON summary: ``parameters``, ``levels`` (one entry per window: its window, resolution, the three
        labelled dimensions and the paper's value), ``mean_field_disagreement`` and ``files``.
    """
    from .activations import get_activation
    from .arch import get_arch
    from .fractal import PAPER_DIMENSIONS, PAPER_WINDOWS, dimension_summary, follow_frontier, has_critical_line

    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    side_list = [float(s) for s in np.atleast_1d(as_float_array("sides", list(sides)))] if len(sides) else []
    if any(s <= 0 for s in side_list) or any(b >= a for a, b in itertools.pairwise(side_list)):
        raise ValueError(f"sides must be decreasing numbers > 0, got {list(sides)!r}")
    zoom_resolution = check_int("zoom_resolution", zoom_resolution, minimum=129)
    source = None
    if landscape is None:
        if selection is not None:
            raise ValueError(f"selection applies only together with landscape=, got selection={dict(selection)!r}")
        arch = get_arch(arch).name
        metric = check_choice("metric", metric, REPORT_METRICS)
        width = check_int("width", width, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        seed = check_int("seed", seed, minimum=0)
        resolution = check_int("resolution", resolution, minimum=129)
        default_axis = np.linspace(0.0, DEFAULTS["sigma_max"], resolution)
        axes = {}
        for name, value in (("sigma_w", sigma_w), ("sigma_b", sigma_b)):
            axis = default_axis if value is None else as_float_array(name, value, minimum=0.0)
            _check_axis(name, axis)
            axes[name] = axis
        points = axes["sigma_w"].size * axes["sigma_b"].size + len(side_list) * zoom_resolution**2
        check_memory(points * REPORT_BYTES_PER_POINT, "the report's grid")
        activation = get_activation(activation)  # validated here; the network is drawn after the output check
    else:
        for name, value in (("sigma_w", sigma_w), ("sigma_b", sigma_b)):
            if value is not None:
                raise ValueError(f"{name} must not be given together with landscape: the grid is the landscape's")
        given = {
            "arch": arch,
            "activation": activation,
            "width": width,
            "depth": depth,
            "seed": seed,
            "metric": metric,
        }
        landscape, source = _given_landscape(landscape, selection)
        recorded = _network_parameters(landscape, given)
        arch, width, depth, seed, metric = (recorded[k] for k in ("arch", "width", "depth", "seed", "metric"))
        activation = recorded["activation"]
        axes = {name: landscape[name].values for name in ("sigma_w", "sigma_b")}
        for name, axis in axes.items():
            _check_axis(name, axis)
    out_dir = OutputDir(out, overwrite=overwrite, name="out")  # arguments first, then the output, then compute
    if source is None:
        network = _network(arch, width, depth, activation, seed)
    else:
        network = _network(arch, width, depth, activation, seed, **recorded["options"]) if side_list else None

    n_full = 0 if source is not None else axes["sigma_w"].size * axes["sigma_b"].size
    total = n_full + len(side_list) * zoom_resolution**2
    if source is None:
        landscape = network.landscape(
            metric,
            axes["sigma_w"],
            axes["sigma_b"],
            inputs="independent",
            progress=None if progress is None else lambda done, _: progress(done, total),
        ).transpose("sigma_w", "sigma_b")
    zoomed = None
    if side_list:
        targets = [centre for centre, _ in PAPER_WINDOWS[1:]]
        targets += [targets[-1]] * (len(side_list) - len(targets))
        zoomed = follow_frontier(
            network,
            landscape,
            side_list,
            zoom_resolution,
            threshold=threshold,
            targets=targets[: len(side_list)],
            metric=metric,
            inputs="independent",
            progress=None if progress is None else lambda k, n: progress(n_full + k * zoom_resolution**2, total),
        )

    levels, robust_sets, author_sets = [], [], []
    activation_name = getattr(activation, "name", activation)
    # the published values belong to the paper's setting only
    paper_setting = (activation_name, width, depth, metric) == ("erf", 100, 1000, "forward_normalised")
    paper = PAPER_DIMENSIONS.get(arch) if paper_setting else None
    windows = [landscape] + ([] if zoomed is None else [_level(zoomed, k) for k in range(len(side_list))])
    for k, window in enumerate(windows):
        summary, robust, authors = dimension_summary(window, threshold)
        robust_sets.append(robust)
        author_sets.append(authors)
        sw, sb = window["sigma_w"].values, window["sigma_b"].values
        paper_side = PAPER_WINDOWS[k][1] if k < len(PAPER_WINDOWS) else None
        side = float(sw[-1] - sw[0])
        levels.append(
            {
                "label": "full view" if k == 0 else f"zoom {k} (side {side_list[k - 1]:g})",
                "window": {"sigma_w": [float(sw[0]), float(sw[-1])], "sigma_b": [float(sb[0]), float(sb[-1])]},
                "resolution": [len(sw), len(sb)],
                **summary,
                "paper": paper[k]
                if paper is not None and paper_side is not None and np.isclose(side, paper_side)
                else None,
            }
        )

    has_mean_field = has_critical_line(arch, activation)
    disagreement = None
    if has_mean_field:
        from .fractal import mean_field_disagreement

        disagreement = mean_field_disagreement(landscape, threshold, activation, arch=arch)
    title = f"{arch.upper()}, {activation_name}, N = {width}, D = {depth}, seed {seed}"

    def write(obj: Any, filename: str) -> str:
        return write_zarr(obj, out_dir.file(filename), overwrite=True).name

    files = {"landscape": write(landscape, "landscape.zarr")}
    if zoomed is not None:
        files["zoom"] = write(zoomed, "zoom.zarr")
    files["frontier"] = write(_stack(robust_sets, levels), "frontier.zarr")
    files["frontier_dinverno"] = write(_stack(author_sets, levels), "frontier_dinverno.zarr")

    from .plots.fractal import plot_report_dimensions, plot_report_landscapes

    note = None if has_mean_field else f"no mean-field critical line for arch {arch!r} with {activation_name}"
    fig = plot_report_landscapes(
        windows,
        [lv["label"] for lv in levels],
        threshold,
        activation=activation if has_mean_field else None,
        arch=arch,
        title=title,
        note=note,
    )
    files["figure"] = save_figure(fig, out_dir.file("report.png"), overwrite=True).name
    fig = plot_report_dimensions(levels, robust_sets, author_sets, windows, title=title)
    files["dimension_figure"] = save_figure(fig, out_dir.file("report-dimension.png"), overwrite=True).name
    summary = {
        "parameters": {
            "arch": arch,
            "activation": activation_name,
            "width": width,
            "depth": depth,
            "seed": seed,
            "metric": metric,
            "inputs": "independent",
            "sigma_w": [float(axes["sigma_w"][0]), float(axes["sigma_w"][-1]), len(axes["sigma_w"])],
            "sigma_b": [float(axes["sigma_b"][0]), float(axes["sigma_b"][-1]), len(axes["sigma_b"])],
            "sides": side_list,
            "zoom_resolution": zoom_resolution if side_list else None,
            "threshold": threshold,
            "sigma_convention": "std",
            **({} if source is None else {"landscape": source}),
        },
        "levels": levels,
        "mean_field_disagreement": disagreement,
        "mean_field_note": None if has_mean_field else note,
        "files": files,
    }
    summary = jsonable(summary)
    write_text(json.dumps(summary, indent=2) + "\n", out_dir.file("summary.json"), overwrite=True)
    summary["files"]["summary"] = "summary.json"
    return summary


def _network(arch: str, width: int, depth: int, activation: Any, seed: int, **options: Any) -> Any:
    from .networks import RandomNetwork

    return RandomNetwork(arch, width, depth, activation=activation, seed=seed, **options)


def _level(zoomed: Any, k: int) -> Any:
    return zoomed.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")


def _stack(datasets: list[Any], levels: list[dict[str, Any]]) -> Any:
    """Per-window frontier_dimension results on one ``level`` dim (thresholds differ: outer join)."""
    import xarray as xr

    from .fractal import SUMMARY_ATTRS

    parts = []
    for ds in datasets:
        scalars = {key: ((), ds.attrs[key], {"long_name": key.replace("_", " ")}) for key in SUMMARY_ATTRS}
        parts.append(ds.assign(scalars).drop_attrs(deep=False))
    stacked = xr.concat(parts, dim="level", join="outer", fill_value={"resolved": False, "boundary_pixels": 0})
    stacked = stacked.assign_coords(level=("level", np.array([lv["label"] for lv in levels], dtype=object)))
    attrs = {k: v for k, v in datasets[0].attrs.items() if k not in SUMMARY_ATTRS}
    return stacked.assign_attrs(attrs)


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
    if metric not in REPORT_METRICS or inputs != "independent":
        raise ValueError(
            f"landscape must be a forward divergence ({' or '.join(REPORT_METRICS)}) of independent inputs (the "
            f"report's L), got metric={metric!r}, inputs={inputs!r}"
        )
    record = {"source": where, "selection": jsonable(selection), "provenance": provenance}
    return landscape.transpose("sigma_w", "sigma_b"), record


def _network_parameters(landscape: Any, given: dict[str, Any]) -> dict[str, Any]:
    """Arch, activation (an ``Activation``), width, depth, seed, metric and draw options from the provenance.

    A value given explicitly (other than its default) must agree with the recorded one.
    """
    from .fractal import landscape_parameter

    recorded = {key: landscape_parameter(landscape, key) for key in ("arch", "activation", "width", "depth", "seed")}
    provenance = json.loads(landscape.attrs["parameters"])
    recorded["metric"] = provenance.get("metric", "forward")
    for key, value in given.items():
        label = recorded[key].name if key == "activation" else recorded[key]
        if value != DEFAULTS[key] and value != label:
            raise ValueError(f"{key} must agree with the landscape's provenance ({key} = {label!r}), got {value!r}")
    # the draw's options, so that the zoom windows are evaluated with the same network as the stored full view
    recorded["options"] = {k: provenance[k] for k in ("dtype", "apply_method", "kernel_size") if k in provenance}
    return recorded
