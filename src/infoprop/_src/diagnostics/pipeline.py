"""``diagnose``: train a small network with records, then every diagnostic of SPEC section 6 against its null models.

Steps (each defined in its own module; docs/diagnostics.md has the full definitions):

1. *Record* (:func:`record_training`): weights, biases, probe loss and its gradient at initialisation and after
   every epoch (optionally every k steps).
2. *Layer statistics*, per record and layer: support dimension (support = ``|w| >`` the layer's ``quantile``) with
   the support's density and threshold; roughness of the ``|w|`` surface, isotropic and along the input axis only;
   weight entropy; gradient norm. Each is repeated on two null models: ``null_draws`` permutations of the layer's
   entries (same values, no arrangement; a fresh permutation per record) and ``null_draws`` fresh draws of the layer
   at initialisation (``N(0, 2 / fan_in)``, the distribution the network started from).
3. *Segment statistics*, per record, scale ``r`` and whole ``r x r`` segment: density of the layer's support in the
   segment, mean ``|w|``, entropy, gradient norm.
4. *Phase flow*, per segment and per layer: the class of the (probe loss, gradient norm) trajectory's end (only
   with at least 4 records, e.g. 3 epochs; otherwise ``segment_phase`` and ``layer_phase`` are absent).
5. *Segment graph* at ``graph_scale``: node features at the last record, exponential-kernel edges between
   consecutive layers, the measured importance of each segment (test-loss increase when zeroed), and the held-out
   comparison of the graph network with feature-only baselines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..common import as_float_array, check_choice, check_int, check_real, provenance_attrs
from .graph import PREDICTORS, compare_surrogates, kernel_graph
from .phase import PHASES, classify_phase_flow
from .recorder import MODELS, SIGMA_W, model_layers, record_steps, record_training, segment_importance
from .runtime import child_seed, single_thread
from .statistics import (
    SURFACES,
    default_box_sizes,
    permuted,
    roughness,
    segment_grid,
    segment_statistics,
    segments,
    support_dimension,
    weight_entropy,
)

__all__ = ["DEFAULT_SCALES", "NODE_FEATURES", "diagnose"]

DEFAULT_SCALES: tuple[int, ...] = (2, 4, 8, 16)
#: Node features of the segment graph (all at the last record unless named otherwise); the predictors also get a
#: one-hot column per layer (``layer=<name>``), the kernel does not.
NODE_FEATURES: tuple[str, ...] = (
    "abs_mean", "density", "entropy", "grad_norm", "grad_norm_init", "displacement", "support_dimension", "roughness",
)
_MIN_GRAPH_SCALE = 8
# child_seed keys of the independent streams used here (the recorder uses 0 and 1).
_PERMUTED, _INIT_NULL, _SURROGATES, _PERMUTED_UPDATE = 10, 11, 12, 13


def _check_scales(scales: Any) -> tuple[int, ...]:
    values = as_float_array("scales", scales).ravel()
    if np.any(values != np.round(values)) or values.min() < 2:
        raise ValueError(f"scales must be integers >= 2, got {np.asarray(scales).tolist()}")
    return tuple(int(v) for v in np.unique(values))


def _matrix_statistics(w: np.ndarray, quantile: float, surface: str, entropy: bool = True) -> dict[str, Any]:
    """The layer-level statistics of one matrix (weights, an update, or a null draw of either)."""
    box = support_dimension(w, quantile)
    out = {
        "support_dimension": box.dimension,
        "support_dimension_stderr": box.stderr,
        "local_slopes": box.local_slopes,
        "roughness": roughness(w, surface=surface).dimension,
        "roughness_inputs": roughness(w, surface=surface, axis=1).dimension,
    }
    if entropy:  # a permutation leaves the entropy unchanged: no need to compute it for permuted draws
        out["entropy"] = weight_entropy(w)
    return out


def diagnose(
    data: str = "mnist",
    model: str = "cnn",
    *,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: str = "sgd",
    lr: float = 0.01,
    record_every: int = 0,
    probe_size: int = 1000,
    train_size: int | None = None,
    seed: int = 0,
    data_path: Any = None,
    pool: int = 1,
    scales: Sequence[int] = DEFAULT_SCALES,
    quantile: float = 0.5,
    surface: str = "abs",
    null_draws: int = 8,
    graph_scale: int = 8,
    k: int = 8,
    splits: int = 5,
    test_fraction: float = 0.3,
    gnn_epochs: int = 300,
    hidden: int = 32,
    progress: Callable[[int, int], None] | None = None,
):
    """Train ``model`` on ``data`` and compute every diagnostic against its null models (module docstring).

    Parameters
    ----------
    data, model, epochs, batch_size, optimizer, lr, record_every, probe_size, train_size, seed, data_path, pool
        Training and records: see :func:`infoprop.diagnostics.record_training`.
    scales : sequence of int
        Segment scales ``r`` (>= 2) for the per-segment statistics and phase flow. A layer smaller than ``r`` has no
        segment at that scale.
    quantile : float in [0, 1)
        Support = ``|w| >`` this quantile of the layer's ``|w|`` (per record).
    surface : {"abs", "signed"}
        Roughness of ``|w|`` or ``w``.
    null_draws : int
        Permutations per record, and fresh initialisations per layer, for the null models (>= 2).
    graph_scale : int
        Scale of the segment graph's nodes (>= 8, so each segment has its own support dimension and roughness).
    k : int
        Edges kept per node and adjacent layer in the segment graph.
    splits, test_fraction, gnn_epochs, hidden
        Held-out comparison of the surrogates (:func:`infoprop.diagnostics.compare_surrogates`).
    progress : callable, optional
        ``progress(done, total)``: training steps, then one unit per layer per record of analysis, one per layer of
        importance and one per surrogate split.

    Returns
    -------
    xarray.Dataset
        The recording plus the statistics; every variable has a ``long_name`` and dims named in
        docs/diagnostics.md. Attrs: provenance (all parameters), ``training_seconds``, ``analysis_seconds``.
    """
    import xarray as xr

    check_choice("model", model, MODELS)
    scales = _check_scales(scales)
    quantile = check_real("quantile", quantile, minimum=0.0, maximum=1.0)
    if quantile >= 1:
        raise ValueError(f"quantile must be in [0, 1), got {quantile}")
    surface = check_choice("surface", surface, SURFACES)
    null_draws = check_int("null_draws", null_draws, minimum=2)
    graph_scale = check_int("graph_scale", graph_scale, minimum=_MIN_GRAPH_SCALE)
    k = check_int("k", k, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    splits = check_int("splits", splits, minimum=1)
    test_fraction = check_real("test_fraction", test_fraction, minimum=0.0, maximum=1.0, strict_minimum=True)
    gnn_epochs = check_int("gnn_epochs", gnn_epochs, minimum=1)
    hidden = check_int("hidden", hidden, minimum=1)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total) or None, got {progress!r}")

    from .. import data as _data

    # Everything that the shapes decide is checked here, before any training.
    layer_specs = model_layers(model, _data.image_shape(check_choice("data", data, _data.DATASETS), pool=pool))
    sides = [min(spec.matrix_shape) for spec in layer_specs]
    if not any(side >= scale for side in sides for scale in scales):
        raise ValueError(f"scales must include one <= {max(sides)} (the largest layer's smaller side), got "
                         f"{list(scales)}")
    graph_layers = [spec for spec in layer_specs if min(spec.matrix_shape) >= graph_scale]
    n_graph_layers = len(graph_layers)
    if n_graph_layers < 2:
        raise ValueError(f"graph_scale must fit at least two layers, got {graph_scale} (layer matrices "
                         f"{[s.matrix_shape for s in layer_specs]})")
    n_nodes = sum(int(np.prod(segment_grid(spec.matrix_shape, graph_scale))) for spec in graph_layers)
    if not 2 <= round(test_fraction * n_nodes) <= n_nodes - 3:
        raise ValueError(f"test_fraction must leave >= 2 held-out and >= 3 training nodes of the {n_nodes} graph "
                         f"nodes, got {test_fraction}")
    state = {"train_total": 0, "analysis": 0}

    def total() -> int:
        steps = state["train_total"]
        n_records = len(record_steps(epochs, steps // epochs, record_every))
        return steps + len(layer_specs) * n_records + n_graph_layers + splits

    def train_progress(done: int, steps: int) -> None:
        state["train_total"] = steps
        if progress is not None:
            progress(done, total())

    def advance() -> None:
        state["analysis"] += 1
        if progress is not None:
            progress(state["train_total"] + state["analysis"], total())

    with single_thread():
        recording, layers, params, tensors = record_training(
            data, model, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, record_every=record_every,
            probe_size=probe_size, train_size=train_size, seed=seed, data_path=data_path, pool=pool,
            progress=train_progress)
        start = time.perf_counter()
        names = [spec.name for spec in layers]
        stats = _layer_statistics(recording, layers, quantile, surface, null_draws, seed, advance)
        seg = _segment_statistics(recording, layers, scales, stats["support_threshold"])
        graph_part = _graph(recording, layers, params, tensors, seg, graph_scale, quantile, surface, k, splits,
                            test_fraction, gnn_epochs, hidden, seed, advance)
    analysis_seconds = time.perf_counter() - start

    ds = xr.merge([recording, stats, seg, graph_part], combine_attrs="drop_conflicts", join="exact")
    parameters = {
        **_recording_parameters(recording), "scales": list(scales), "quantile": quantile, "surface": surface,
        "null_draws": null_draws, "graph_scale": graph_scale, "k": k, "splits": splits,
        "test_fraction": test_fraction, "gnn_epochs": gnn_epochs, "hidden": hidden, "layers_analysed": names,
    }
    ds.attrs = {**provenance_attrs("diagnostics", parameters),
                "training_seconds": recording.attrs["training_seconds"], "analysis_seconds": analysis_seconds,
                "graph_length_scale": graph_part.attrs["length_scale"],
                "phase_flow_classes": list(PHASES)}
    return ds


def _recording_parameters(recording: Any) -> dict[str, Any]:
    import json

    return json.loads(recording.attrs["parameters"])


# --------------------------------------------------------------------------- layer statistics
_SCALARS = ("support_dimension", "support_dimension_stderr", "roughness", "roughness_inputs", "entropy")
_NULL_SCALARS = ("support_dimension", "roughness", "roughness_inputs")
_LONG_NAMES = {
    "support_dimension": "box-counting dimension of the support |w| > quantile",
    "support_dimension_stderr": "uncertainty of the support dimension (one-octave local slopes)",
    "roughness": "surface dimension 3 - H of the matrix (variogram, both axes)",
    "roughness_inputs": "surface dimension 3 - H along the input (column) axis",
    "entropy": "normalised entropy of |w|",
}


def _layer_statistics(recording, layers, quantile, surface, null_draws, seed, advance):
    """Per record and layer: the statistics of the weights W_t and of the update W_t - W_0, each with its nulls."""
    import xarray as xr

    n_rec, n_lay = recording.sizes["record"], len(layers)
    weights_stats = {key: np.zeros((n_rec, n_lay)) for key in _SCALARS}
    update_stats = {key: np.zeros((n_rec - 1, n_lay)) for key in _SCALARS if key != "entropy"}
    perm = {key: np.zeros((n_rec, n_lay, null_draws)) for key in _NULL_SCALARS}
    update_perm = {key: np.zeros((n_rec - 1, n_lay, null_draws)) for key in _NULL_SCALARS}
    init = {key: np.zeros((n_lay, null_draws)) for key in (*_NULL_SCALARS, "entropy")}
    density, threshold, grad_norm = (np.zeros((n_rec, n_lay)) for _ in range(3))
    update_norm = np.zeros((n_rec - 1, n_lay))
    variables: dict[str, Any] = {}
    for li, spec in enumerate(layers):
        for d in range(null_draws):
            rng = np.random.default_rng(child_seed(seed, _INIT_NULL, li, d))
            fresh = rng.standard_normal(spec.matrix_shape) * (SIGMA_W / np.sqrt(spec.matrix_shape[1]))
            table = _matrix_statistics(fresh, quantile, surface)
            for key in init:
                init[key][li, d] = table[key]
        weights = recording[f"weight_{spec.name}"].values.astype(np.float64)
        grads = recording[f"grad_{spec.name}"].values.astype(np.float64)
        slopes = {"weights": [], "weights_permuted": [], "update": [], "update_permuted": []}
        for t in range(n_rec):
            for kind, matrix in (("weights", weights[t]), ("update", weights[t] - weights[0])):
                if kind == "update" and t == 0:
                    continue  # the update at initialisation is zero: no support, no surface
                row = t if kind == "weights" else t - 1
                table = _matrix_statistics(matrix, quantile, surface, entropy=kind == "weights")
                target, null_target = (weights_stats, perm) if kind == "weights" else (update_stats, update_perm)
                for key in target:
                    target[key][row, li] = table[key]
                slopes[kind].append(table["local_slopes"])
                null_slopes = []
                for d in range(null_draws):
                    key_kind = _PERMUTED if kind == "weights" else _PERMUTED_UPDATE
                    null = _matrix_statistics(permuted(matrix, child_seed(seed, key_kind, li, t, d)), quantile,
                                              surface, entropy=False)
                    for key in null_target:
                        null_target[key][row, li, d] = null[key]
                    null_slopes.append(null["local_slopes"])
                slopes[f"{kind}_permuted"].append(null_slopes)
            threshold[t, li] = np.quantile(np.abs(weights[t]), quantile)
            density[t, li] = np.mean(np.abs(weights[t]) > threshold[t, li])
            grad_norm[t, li] = np.sqrt(np.sum(grads[t] ** 2))
            if t:
                update_norm[t - 1, li] = np.linalg.norm(weights[t] - weights[0]) / np.linalg.norm(weights[0])
            advance()
        sizes = default_box_sizes(spec.matrix_shape)[:-1]
        box = f"{spec.name}_box"
        variables[f"support_local_slopes_{spec.name}"] = (("record", box), np.array(slopes["weights"]), {
            "long_name": f"{spec.name}: local slope -dlogN/dlogs of the support from box side s to 2s"})
        variables[f"support_local_slopes_permuted_{spec.name}"] = (
            ("record", "null_draw", box), np.array(slopes["weights_permuted"]), {
                "long_name": f"{spec.name}: local slopes of the permuted layer's support (null)"})
        variables[f"update_local_slopes_{spec.name}"] = (("update", box), np.array(slopes["update"]), {
            "long_name": f"{spec.name}: local slopes of the support of W_t - W_0"})
        variables[f"update_local_slopes_permuted_{spec.name}"] = (
            ("update", "null_draw", box), np.array(slopes["update_permuted"]), {
                "long_name": f"{spec.name}: local slopes of the permuted update's support (null)"})
        variables[box] = (box, sizes, {"long_name": f"{spec.name}: box side s (entries) at the start of the octave"})
    rl, ul, lnd = ("record", "layer"), ("update", "layer"), ("layer", "null_draw")
    for key in _SCALARS:
        variables[key] = (rl, weights_stats[key], {"long_name": _LONG_NAMES[key]})
        if key in init:
            variables[f"{key}_init"] = (lnd, init[key], {
                "long_name": f"{_LONG_NAMES[key]}: fresh draws at initialisation (null)"})
        if key in update_stats:
            variables[f"update_{key}"] = (ul, update_stats[key], {"long_name": f"{_LONG_NAMES[key]}, of W_t - W_0"})
    for key in _NULL_SCALARS:
        variables[f"{key}_permuted"] = ((*rl, "null_draw"), perm[key], {
            "long_name": f"{_LONG_NAMES[key]}: the layer's entries permuted (null)"})
        variables[f"update_{key}_permuted"] = ((*ul, "null_draw"), update_perm[key], {
            "long_name": f"{_LONG_NAMES[key]}: W_t - W_0 permuted (null)"})
    variables["support_density"] = (rl, density, {"long_name": "fraction of entries in the support"})
    variables["support_threshold"] = (rl, threshold, {"long_name": "support threshold on |w| (the quantile)"})
    variables["grad_norm"] = (rl, grad_norm, {"long_name": "Frobenius norm of the probe-loss gradient"})
    variables["update_norm"] = (ul, update_norm, {"long_name": "relative change ||W_t - W_0|| / ||W_0||"})
    loss = recording["loss"].values
    if n_rec >= 4:
        layer_points = np.stack([np.broadcast_to(loss[:, None], grad_norm.shape), grad_norm], axis=-1)
        codes = classify_phase_flow(np.moveaxis(layer_points, 0, 1))
        variables["layer_phase"] = ("layer", codes, _phase_attrs("layer (probe loss, layer gradient norm)"))
    coords = {"null_draw": np.arange(null_draws), "update": np.arange(1, n_rec),
              "update_epoch": ("update", recording.epoch.values[1:], {"long_name": "epoch (fractional)"})}
    return xr.Dataset(variables, coords=coords)


def _phase_attrs(what: str) -> dict[str, Any]:
    return {"long_name": f"phase-flow class of the {what} trajectory", "flag_values": list(range(len(PHASES))),
            "flag_meanings": " ".join(PHASES)}


# --------------------------------------------------------------------------- segment statistics
def _segment_statistics(recording, layers, scales, threshold):
    import xarray as xr

    n_rec = recording.sizes["record"]
    table: dict[str, list] = {"layer": [], "scale": [], "row": [], "col": []}
    values: dict[str, list] = {"density": [], "abs_mean": [], "entropy": [], "grad_norm": []}
    for scale in scales:
        for li, spec in enumerate(layers):
            if min(spec.matrix_shape) < scale:
                continue
            rows, cols = segment_grid(spec.matrix_shape, scale)
            weights = recording[f"weight_{spec.name}"].values.astype(np.float64)
            grads = recording[f"grad_{spec.name}"].values.astype(np.float64)
            per_record = [segment_statistics(weights[t], scale, threshold=float(threshold.values[t, li]),
                                             gradient=grads[t]) for t in range(n_rec)]
            for key in values:
                values[key].append(np.stack([p[key].ravel() for p in per_record]))
            table["layer"] += [spec.name] * (rows * cols)
            table["scale"] += [scale] * (rows * cols)
            table["row"] += np.repeat(np.arange(rows), cols).tolist()
            table["col"] += np.tile(np.arange(cols), rows).tolist()
    if not table["layer"]:
        largest = max(min(s.matrix_shape) for s in layers)
        raise ValueError(f"scales must include one <= {largest} (the largest layer's smaller side), got {list(scales)}")
    stacked = {key: np.concatenate(v, axis=1) for key, v in values.items()}
    rs = ("record", "segment")
    variables = {
        "segment_density": (rs, stacked["density"], {"long_name": "fraction of the segment in the layer's support"}),
        "segment_abs_mean": (rs, stacked["abs_mean"], {"long_name": "mean |w| over the segment"}),
        "segment_entropy": (rs, stacked["entropy"], {"long_name": "normalised entropy of |w| in the segment"}),
        "segment_grad_norm": (rs, stacked["grad_norm"], {
            "long_name": "Frobenius norm of the probe-loss gradient over the segment"}),
    }
    if n_rec >= 4:
        loss = recording["loss"].values
        points = np.stack([np.broadcast_to(loss[:, None], stacked["grad_norm"].shape), stacked["grad_norm"]], -1)
        variables["segment_phase"] = ("segment", classify_phase_flow(np.moveaxis(points, 0, 1)),
                                      _phase_attrs("segment (probe loss, segment gradient norm)"))
    coords = {
        "segment": np.arange(len(table["layer"])),
        "segment_layer": ("segment", np.array(table["layer"], dtype=object)),
        "segment_scale": ("segment", np.array(table["scale"], dtype=np.int64)),
        "segment_block_row": ("segment", np.array(table["row"], dtype=np.int64)),
        "segment_block_col": ("segment", np.array(table["col"], dtype=np.int64)),
    }
    return xr.Dataset(variables, coords=coords)


# --------------------------------------------------------------------------- graph and surrogates
def _graph(recording, layers, params, tensors, seg, graph_scale, quantile, surface, k, splits, test_fraction,
           gnn_epochs, hidden, seed, advance):
    import xarray as xr

    last = recording.sizes["record"] - 1
    in_graph = [li for li, spec in enumerate(layers) if min(spec.matrix_shape) >= graph_scale]
    if len(in_graph) < 2:
        raise ValueError(f"graph_scale must fit at least two layers, got {graph_scale} (layer sides "
                         f"{[s.matrix_shape for s in layers]})")
    features, layer_index, node_segment, importance = [], [], [], []
    for li in in_graph:
        spec = layers[li]
        w_last = recording[f"weight_{spec.name}"].values[last].astype(np.float64)
        w_first = recording[f"weight_{spec.name}"].values[0].astype(np.float64)
        mask = (seg.segment_layer.values == spec.name) & (seg.segment_scale.values == graph_scale)
        index = np.flatnonzero(mask)
        blocks = segments(w_last, graph_scale).reshape(-1, graph_scale, graph_scale)
        change = segments(w_last - w_first, graph_scale).reshape(len(index), -1)
        columns = {
            "abs_mean": seg.segment_abs_mean.values[last, index],
            "density": seg.segment_density.values[last, index],
            "entropy": seg.segment_entropy.values[last, index],
            "grad_norm": seg.segment_grad_norm.values[last, index],
            "grad_norm_init": seg.segment_grad_norm.values[0, index],
            "displacement": np.sqrt(np.mean(change**2, axis=1)),
            "support_dimension": np.array([support_dimension(b, quantile).dimension for b in blocks]),
            "roughness": np.array([roughness(b, surface=surface).dimension for b in blocks]),
        }
        features.append(np.stack([columns[name] for name in NODE_FEATURES], axis=1))
        layer_index += [li] * len(index)
        node_segment.append(index)
        importance.append(segment_importance(layers, params, li, graph_scale, tensors["test_x"],
                                             tensors["test_y"]).ravel())
        advance()
    x = np.concatenate(features)
    layer_index = np.array(layer_index, dtype=np.int64)
    onehot_names = [f"layer={layers[li].name}" for li in in_graph]
    onehot = (layer_index[:, None] == np.array(in_graph)[None, :]).astype(np.float64)
    predictors_x = np.concatenate([x, onehot], axis=1)
    target = np.concatenate(importance)
    graph = kernel_graph(x, layer_index, k=k)
    surrogate = compare_surrogates(graph, predictors_x, target, feature_names=[*NODE_FEATURES, *onehot_names],
                                   splits=splits, test_fraction=test_fraction, seed=child_seed(seed, _SURROGATES),
                                   hidden=hidden, epochs=gnn_epochs,
                                   progress=lambda done, total: advance())
    node_segments = np.concatenate(node_segment)
    variables = {
        "node_features": (("node", "feature"), predictors_x, {
            "long_name": "segment-graph node features (last record; one-hot layer columns last)"}),
        "importance": ("node", target, {"long_name": "test-loss increase when the segment is set to zero"}),
        "edge_source": ("edge", graph.source, {"long_name": "edge source node (both directions stored)"}),
        "edge_target": ("edge", graph.target, {"long_name": "edge target node"}),
        "edge_weight": ("edge", graph.weight, {"long_name": "exp(-||a_i - a_j|| / lambda) of standardised features"}),
    }
    for name in ("r2", "spearman", "mean_r2", "mean_spearman", "prediction", "held_out"):
        variables[f"surrogate_{name}"] = surrogate[name].variable
    coords = {
        "node": np.arange(len(target)),
        "node_segment": ("node", node_segments),
        "node_layer": ("node", np.array([layers[li].name for li in layer_index], dtype=object)),
        "feature": np.array([*NODE_FEATURES, *onehot_names], dtype=object),
        "predictor": np.array(PREDICTORS, dtype=object),
        "split": np.arange(splits),
    }
    out = xr.Dataset(variables, coords=coords)
    out.attrs["length_scale"] = graph.length_scale
    return out
