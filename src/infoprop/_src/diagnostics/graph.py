"""The segment graph and the graph-neural-network surrogate on it (SPEC section 6, issue 14).

Graph
-----
Nodes are segments (at one scale); node ``i`` has a feature vector ``a_i`` and a layer index. Edges join segments of
*consecutive* layers only, as in the seed, with weight

    w_ij = exp(-||a_i - a_j|| / lambda),

an affinity that decays with the feature distance (the seed's summary writes ``gamma exp(||a - b||)``, which grows
with distance: not an affinity). Features are standardised first (each column to mean 0, standard deviation 1 over
all nodes; a constant column to 0) so that no unit dominates the distance. ``lambda`` defaults to the median
distance over all pairs of nodes in consecutive layers, so a typical pair has weight ``1/e``. Sparsification: each
node keeps its ``k`` strongest edges to each adjacent layer (ties broken by node order), and an edge exists when
either end keeps it; the graph is undirected and stored with both directions.

Surrogate
---------
:func:`fit_gnn` is a two-layer message-passing network in plain torch (GraphSAGE-style, weighted-mean aggregation):

    m_i = sum_j w_ij h_j / sum_j w_ij,      h'_i = relu(A h_i + B m_i + c),

two such layers of ``hidden`` units, then a linear read-out; full-batch Adam on the mean squared error of the
training nodes. :func:`compare_surrogates` fits it and three feature-only baselines on the same node features --
the training mean (constant), linear regression and gradient-boosted trees (scikit-learn) -- over several random
held-out splits of the nodes, and scores each on the held-out nodes by R^2 and Spearman's rank correlation. The
graph helps only if the GNN beats the baselines that see the same features without it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..common import as_float_array, check_int, check_real, provenance_attrs
from .runtime import child_seed, single_thread

__all__ = [
    "PREDICTORS",
    "SegmentGraph",
    "compare_surrogates",
    "fit_gnn",
    "kernel_graph",
    "standardise",
]

#: Surrogates compared by :func:`compare_surrogates`, in storage order.
PREDICTORS: tuple[str, ...] = ("constant", "linear", "gradient_boosting", "gnn")


@dataclass(frozen=True)
class SegmentGraph:
    """A weighted undirected graph in coordinate form, both directions stored.

    Attributes
    ----------
    source, target : numpy.ndarray of int64, shape (2 E,)
        Edge ends (node indices); every undirected edge appears as ``(i, j)`` and ``(j, i)``.
    weight : numpy.ndarray of float64, shape (2 E,)
        ``exp(-||a_i - a_j|| / length_scale)`` of each directed copy.
    n_nodes : int
    length_scale : float
        The kernel's ``lambda``.
    k : int or None
        Edges kept per node and adjacent layer (None: all pairs of consecutive layers).
    """

    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    n_nodes: int
    length_scale: float
    k: int | None


def standardise(features: Any, reference: np.ndarray | None = None) -> np.ndarray:
    """Columns to mean 0 and std 1 using the rows ``reference`` (a boolean mask; default all); constant columns -> 0."""
    x = as_float_array("features", features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (nodes, features), got shape {x.shape}")
    rows = x if reference is None else x[reference]
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    return np.where(std > 0, (x - mean) / np.where(std > 0, std, 1.0), 0.0)


def _top_k_pairs(weights: np.ndarray, k: int | None) -> np.ndarray:
    """Boolean mask of the pairs kept: each row keeps its k largest, each column too; union."""
    if k is None:
        return np.ones(weights.shape, dtype=bool)
    keep = np.zeros(weights.shape, dtype=bool)
    kr, kc = min(k, weights.shape[1]), min(k, weights.shape[0])
    rows = np.argsort(-weights, axis=1, kind="stable")[:, :kr]
    keep[np.arange(weights.shape[0])[:, None], rows] = True
    cols = np.argsort(-weights, axis=0, kind="stable")[:kc, :]
    keep[cols, np.arange(weights.shape[1])[None, :]] = True
    return keep


def kernel_graph(
    features: Any, layer: Any, *, k: int | None = 8, length_scale: float | None = None, scale_features: bool = True
) -> SegmentGraph:
    """Segment graph: exponential-kernel edges between nodes of consecutive layers, top-``k`` sparsified.

    Parameters
    ----------
    features : array_like, shape (n_nodes, n_features)
        Node feature vectors ``a_i``.
    layer : array_like of int, shape (n_nodes,)
        Layer of each node; layers ``l`` and ``l + 1`` (consecutive values among those present) are adjacent.
    k : int or None
        Strongest edges kept per node and adjacent layer (>= 1); None keeps every pair.
    length_scale : float, optional
        The kernel's ``lambda`` (> 0); default the median distance over all consecutive-layer pairs.
    scale_features : bool
        Standardise the feature columns first (default True; see the module docstring).

    Returns
    -------
    SegmentGraph

    Examples
    --------
    >>> import numpy as np
    >>> g = kernel_graph([[0.0], [1.0], [3.0]], [0, 1, 1], k=None, scale_features=False)
    >>> g.length_scale, np.round(g.weight[:2], 4).tolist()  # distances 1 and 3, median 2
    (2.0, [0.6065, 0.2231])
    """
    x = as_float_array("features", features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (nodes, features), got shape {x.shape}")
    layers = np.asarray(layer)
    if layers.shape != (x.shape[0],) or not np.issubdtype(layers.dtype, np.integer):
        raise ValueError(f"layer must be integers, one per node ({x.shape[0]}), got {layers.dtype} {layers.shape}")
    if k is not None:
        k = check_int("k", k, minimum=1)
    if scale_features:
        x = standardise(x)
    levels = np.unique(layers)
    if len(levels) < 2:
        raise ValueError(f"layer must hold at least two distinct layers to link, got {levels.tolist()}")
    blocks = []
    for a, b in itertools.pairwise(levels):
        ia, ib = np.flatnonzero(layers == a), np.flatnonzero(layers == b)
        dist = np.sqrt(np.maximum(
            np.sum(x[ia] ** 2, 1)[:, None] + np.sum(x[ib] ** 2, 1)[None, :] - 2 * x[ia] @ x[ib].T, 0.0))
        blocks.append((ia, ib, dist))
    if length_scale is None:
        length_scale = float(np.median(np.concatenate([d.ravel() for _, _, d in blocks])))
        if length_scale <= 0:
            raise ValueError("features must differ between consecutive layers (median feature distance is 0)")
    else:
        length_scale = check_real("length_scale", length_scale, minimum=0.0, strict_minimum=True)
    sources, targets, weights = [], [], []
    for ia, ib, dist in blocks:
        w = np.exp(-dist / length_scale)
        i, j = np.nonzero(_top_k_pairs(w, k))
        sources += [ia[i], ib[j]]
        targets += [ib[j], ia[i]]
        weights += [w[i, j], w[i, j]]
    return SegmentGraph(
        source=np.concatenate(sources).astype(np.int64),
        target=np.concatenate(targets).astype(np.int64),
        weight=np.concatenate(weights),
        n_nodes=int(x.shape[0]),
        length_scale=float(length_scale),
        k=k,
    )


# --------------------------------------------------------------------------- graph neural network
def _mean_adjacency(graph: SegmentGraph):
    """The weighted mean over in-neighbours as a sparse (CSR) matrix ``M`` (row i: ``w_ij / sum_j w_ij``; a node
    without edges has an empty row, no message), and its transpose, for the backward pass."""
    import warnings

    import torch

    degree = np.bincount(graph.target, weights=graph.weight, minlength=graph.n_nodes)
    values = torch.from_numpy(graph.weight / np.where(degree > 0, degree, 1.0)[graph.target])
    ends = torch.from_numpy(np.stack([graph.target, graph.source]))
    shape = (graph.n_nodes, graph.n_nodes)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)", category=UserWarning)
        return tuple(torch.sparse_coo_tensor(index, values, shape, dtype=torch.float64).coalesce().to_sparse_csr()
                     for index in (ends, ends.flip(0)))


def _propagate_function():
    """``h -> M h`` for a fixed sparse ``M`` with the backward ``g -> M^T g`` given explicitly (five times faster than
    autograd through the sparse product, which rebuilds the transpose at every step)."""
    import torch

    class Propagate(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h, matrix, transpose):
            ctx.transpose = transpose
            return matrix @ h

        @staticmethod
        def backward(ctx, grad):
            return ctx.transpose @ grad, None, None

    return Propagate.apply


def _check_graph(graph: Any, n_nodes: int) -> SegmentGraph:
    if not isinstance(graph, SegmentGraph):
        raise TypeError(f"graph must be a SegmentGraph (from kernel_graph), got {type(graph).__name__}")
    if graph.n_nodes != n_nodes:
        raise ValueError(f"graph must have one node per feature row ({n_nodes}), got {graph.n_nodes} nodes")
    return graph


def fit_gnn(
    graph: SegmentGraph,
    features: Any,
    targets: Any,
    train: Any,
    *,
    hidden: int = 32,
    epochs: int = 400,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    seed: int = 0,
) -> np.ndarray:
    """Train the two-layer message-passing network on the ``train`` nodes; predict every node.

    Features and targets are standardised with the training nodes' mean and standard deviation; the prediction is
    returned in the targets' units. Full-batch Adam for ``epochs`` steps on the mean squared error (no early
    stopping: there is no validation set to stop on). Initialisation from ``seed``; float64 throughout.

    Parameters
    ----------
    graph : SegmentGraph
    features : array_like, shape (n_nodes, n_features)
    targets : array_like, shape (n_nodes,)
    train : array_like of bool, shape (n_nodes,)
        Nodes whose targets the fit may see.

    Returns
    -------
    numpy.ndarray, shape (n_nodes,)
    """
    import torch

    x = as_float_array("features", features)
    y = as_float_array("targets", targets)
    graph = _check_graph(graph, x.shape[0])
    mask = np.asarray(train, dtype=bool)
    if y.shape != (x.shape[0],) or mask.shape != y.shape or mask.sum() < 2:
        raise ValueError(f"targets and train must have shape ({x.shape[0]},) with >= 2 training nodes, got "
                         f"{y.shape}, {mask.shape} ({int(mask.sum())} training nodes)")
    hidden = check_int("hidden", hidden, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_real("lr", lr, minimum=0.0, strict_minimum=True)
    weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    y_mean, y_std = y[mask].mean(), y[mask].std()
    y_std = y_std if y_std > 0 else 1.0
    xs = torch.from_numpy(standardise(x, mask))
    ys = torch.from_numpy((y - y_mean) / y_std)
    train_index = torch.from_numpy(np.flatnonzero(mask))
    adjacency, transpose = _mean_adjacency(graph)
    propagate = _propagate_function()

    def aggregate(h: torch.Tensor) -> torch.Tensor:
        return propagate(h, adjacency, transpose)

    neighbours_x = aggregate(xs)  # the first layer's messages are of the fixed features: computed once

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, 0))
        layers = torch.nn.ModuleDict({
            "self1": torch.nn.Linear(x.shape[1], hidden),
            "neighbours1": torch.nn.Linear(x.shape[1], hidden, bias=False),
            "self2": torch.nn.Linear(hidden, hidden),
            "neighbours2": torch.nn.Linear(hidden, hidden, bias=False),
            "readout": torch.nn.Linear(hidden, 1),
        }).double()

    def forward(h: torch.Tensor) -> torch.Tensor:
        h = torch.relu(layers["self1"](h) + layers["neighbours1"](neighbours_x))
        h = torch.relu(layers["self2"](h) + layers["neighbours2"](aggregate(h)))
        return layers["readout"](h)[:, 0]

    optimiser = torch.optim.Adam(layers.parameters(), lr=lr, weight_decay=weight_decay)
    with single_thread():
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = torch.mean((forward(xs)[train_index] - ys[train_index]) ** 2)
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            return forward(xs).numpy() * y_std + y_mean


# --------------------------------------------------------------------------- comparison with baselines
def _scores(truth: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    from scipy.stats import spearmanr

    total = np.sum((truth - truth.mean()) ** 2)
    r2 = 1.0 - np.sum((truth - prediction) ** 2) / total if total > 0 else 0.0
    # A constant prediction ranks nothing: its rank correlation is 0 by definition (scipy would return NaN).
    rho = float(spearmanr(truth, prediction).statistic) if np.ptp(prediction) > 0 and np.ptp(truth) > 0 else 0.0
    return float(r2), rho


def compare_surrogates(
    graph: SegmentGraph,
    features: Any,
    targets: Any,
    *,
    feature_names: Any = None,
    splits: int = 5,
    test_fraction: float = 0.3,
    seed: int = 0,
    hidden: int = 32,
    epochs: int = 400,
    lr: float = 0.01,
    progress: Callable[[int, int], None] | None = None,
):
    """Held-out comparison of the GNN with the constant, linear and gradient-boosted feature-only baselines.

    For each of ``splits`` random splits (split ``s`` from ``child_seed(seed, 1, s)``) a fraction ``test_fraction``
    of the nodes is held out; every predictor is fitted on the rest and scored on the held-out nodes.
    ``progress(done, splits)`` is called after each split.

    Returns
    -------
    xarray.Dataset
        ``r2`` and ``spearman`` (predictor, split); ``prediction`` (predictor, split, node); ``held_out`` (split,
        node); ``target`` (node); ``mean_r2`` and ``mean_spearman`` (predictor); attrs: provenance.
    """
    import xarray as xr
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    x = as_float_array("features", features)
    y = as_float_array("targets", targets)
    graph = _check_graph(graph, x.shape[0])
    if y.shape != (x.shape[0],):
        raise ValueError(f"targets must have one value per node, shape ({x.shape[0]},), got {y.shape}")
    splits = check_int("splits", splits, minimum=1)
    test_fraction = check_real("test_fraction", test_fraction, minimum=0.0, maximum=1.0, strict_minimum=True)
    n = x.shape[0]
    n_test = round(test_fraction * n)
    if not 2 <= n_test <= n - 3:
        raise ValueError(f"test_fraction must leave >= 2 held-out and >= 3 training nodes of {n}, got {test_fraction}")
    r2 = np.zeros((len(PREDICTORS), splits))
    rho = np.zeros_like(r2)
    predictions = np.zeros((len(PREDICTORS), splits, n))
    held_out = np.zeros((splits, n), dtype=bool)
    for s in range(splits):
        order = np.random.default_rng(child_seed(seed, 1, s)).permutation(n)
        test = np.zeros(n, dtype=bool)
        test[order[:n_test]] = True
        train = ~test
        xs = standardise(x, train)
        fitted = {
            "constant": np.full(n, y[train].mean()),
            "linear": LinearRegression().fit(xs[train], y[train]).predict(xs),
            "gradient_boosting": GradientBoostingRegressor(random_state=child_seed(seed, 2, s) % 2**31)
            .fit(xs[train], y[train]).predict(xs),
            "gnn": fit_gnn(graph, x, y, train, hidden=hidden, epochs=epochs, lr=lr, seed=child_seed(seed, 3, s)),
        }
        for p, name in enumerate(PREDICTORS):
            predictions[p, s] = fitted[name]
            r2[p, s], rho[p, s] = _scores(y[test], fitted[name][test])
        held_out[s] = test
        if progress is not None:
            progress(s + 1, splits)
    parameters = {"splits": splits, "test_fraction": test_fraction, "seed": seed, "hidden": hidden, "epochs": epochs,
                  "lr": lr, "n_nodes": n, "n_edges": len(graph.source) // 2, "k": graph.k,
                  "length_scale": graph.length_scale,
                  "features": None if feature_names is None else list(feature_names)}
    ds = xr.Dataset(
        {
            "r2": (("predictor", "split"), r2, {"long_name": "R^2 on the held-out nodes"}),
            "spearman": (("predictor", "split"), rho, {"long_name": "Spearman rank correlation on held-out nodes"}),
            "mean_r2": ("predictor", r2.mean(axis=1), {"long_name": "R^2 on held-out nodes, mean over splits"}),
            "mean_spearman": ("predictor", rho.mean(axis=1), {"long_name": "Spearman, mean over splits"}),
            "prediction": (("predictor", "split", "node"), predictions, {"long_name": "predicted target"}),
            "held_out": (("split", "node"), held_out, {"long_name": "node held out of the fit"}),
            "target": ("node", y, {"long_name": "measured target"}),
        },
        coords={"predictor": np.array(PREDICTORS, dtype=object), "split": np.arange(splits)},
        attrs=provenance_attrs("diagnostics_surrogates", parameters),
    )
    return ds
