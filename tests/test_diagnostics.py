"""Tests of infoprop.diagnostics against planted structure: fractal supports of known dimension, exact fractional
Brownian surfaces, null models, hand-computed graphs and segment statistics, synthetic phase-flow trajectories, a
planted graph signal, and brute-force segment importance."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
import xarray as xr

from infoprop._src.common import write_zarr
from infoprop._src.diagnostics import graph as dg
from infoprop._src.diagnostics import phase as dp
from infoprop._src.diagnostics import recorder as dr
from infoprop._src.diagnostics import statistics as ds
from infoprop._src.diagnostics.pipeline import diagnose
from infoprop._src.diagnostics.surfaces import fbm_covariance, fbm_surface

CARPET = math.log(8) / math.log(3)
TRIANGLE = math.log(3) / math.log(2)
CANTOR = math.log(2) / math.log(3)


# --------------------------------------------------------------------------- planted matrices
def _carpet(level: int) -> np.ndarray:
    """Filled Sierpinski carpet on a 3^level grid (mass dimension log 8 / log 3)."""
    n = 3**level
    rows, cols = np.arange(n)[:, None].copy(), np.arange(n)[None, :].copy()
    keep = np.ones((n, n), dtype=bool)
    for _ in range(level):
        keep &= ~((rows % 3 == 1) & (cols % 3 == 1))
        rows, cols = rows // 3, cols // 3
    return keep


def _cantor(level: int) -> np.ndarray:
    """Middle-thirds Cantor set on a 3^level line (dimension log 2 / log 3)."""
    index = np.arange(3**level)
    keep = np.ones(3**level, dtype=bool)
    for _ in range(level):
        keep &= index % 3 != 1
        index //= 3
    return keep


def _planted(mask: np.ndarray, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """Weights of magnitude ~1 (random sign) on ``mask``, small Gaussian noise everywhere."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=mask.shape)
    return np.where(mask, signs, 0.0) + noise * rng.standard_normal(mask.shape)


def _quantile_for(mask: np.ndarray) -> float:
    # The support |w| > quantile is then exactly the planted set (noise << 1).
    return 1.0 - mask.mean()


# --------------------------------------------------------------------------- segmentation
def test_segments_are_the_blocks_and_remainders_are_dropped():
    w = np.arange(7 * 10, dtype=float).reshape(7, 10)
    blocks = ds.segments(w, 3)
    assert ds.segment_grid(w.shape, 3) == (2, 3) and blocks.shape == (2, 3, 3, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(blocks[i, j], w[3 * i : 3 * i + 3, 3 * j : 3 * j + 3])
    with pytest.raises(ValueError, match="scale must be <= the smaller side"):
        ds.segments(w, 8)


def test_segment_statistics_match_loops():
    rng = np.random.default_rng(3)
    w, g = rng.standard_normal((9, 12)), rng.standard_normal((9, 12))
    w[4:8, 0:4] = 0.0  # an all-zero segment: entropy 0 by definition
    out = ds.segment_statistics(w, 4, threshold=0.7, gradient=g)
    assert out["density"].shape == (2, 3)
    for i in range(2):
        for j in range(3):
            block, gblock = np.abs(w[4 * i : 4 * i + 4, 4 * j : 4 * j + 4]), g[4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
            assert out["density"][i, j] == pytest.approx(np.mean(block > 0.7), abs=1e-15)
            assert out["abs_mean"][i, j] == pytest.approx(block.mean(), rel=1e-13)
            assert out["grad_norm"][i, j] == pytest.approx(np.linalg.norm(gblock), rel=1e-13)
            expected = ds.weight_entropy(block) if block.sum() > 0 else 0.0
            assert out["entropy"][i, j] == pytest.approx(expected, abs=1e-13)
    assert out["entropy"][1, 0] == 0.0


def test_weight_entropy_hand_values_and_permutation_invariance():
    assert ds.weight_entropy(np.ones((3, 3))) == pytest.approx(1.0, abs=1e-15)
    # p = (1/2, 1/4, 1/4, 0): H = 1.5 ln 2, normalised by ln 4.
    assert ds.weight_entropy([[2.0, 1.0], [-1.0, 0.0]]) == pytest.approx(1.5 * math.log(2) / math.log(4), 1e-14)
    w = np.random.default_rng(0).standard_normal((16, 16))
    assert ds.weight_entropy(ds.permuted(w, 5)) == pytest.approx(ds.weight_entropy(w), rel=1e-12)
    with pytest.raises(ValueError, match="nonzero entry"):
        ds.weight_entropy(np.zeros((2, 2)))


# --------------------------------------------------------------------------- support dimension on planted sets
def test_support_dimension_recovers_sierpinski_carpet_in_noise():
    mask = _carpet(6)  # 729 x 729
    result = ds.support_dimension(_planted(mask), _quantile_for(mask))
    assert abs(result.dimension - CARPET) < 0.05
    np.testing.assert_array_equal(ds.support(_planted(mask), _quantile_for(mask)), mask)


def test_support_dimension_recovers_sierpinski_triangle_in_noise():
    n = 512
    index = np.arange(n)
    mask = (index[:, None] & index[None, :]) == 0  # Pascal's triangle mod 2
    result = ds.support_dimension(_planted(mask, seed=1), _quantile_for(mask))
    assert abs(result.dimension - TRIANGLE) < 0.05


def test_support_dimension_of_low_rank_and_block_matrices_is_their_geometry():
    # Rank one: u v^T with u an interval of rows (dimension 1) and v a Cantor set of columns: a product set,
    # whose box counts multiply, so its dimension is 1 + log 2 / log 3. Box sides from 4 entries, as in the fractal
    # module's robust default: the rasterised Cantor dust is one-entry pieces one entry apart, which no 2 x 2 box
    # merges (local slope 1.0 instead of 1.63 between sides 1 and 2; default sizes give 1.55).
    u = np.zeros(729)
    u[91:638] = 1.0
    v = _cantor(6).astype(float)
    low_rank = np.outer(u, v)
    assert np.linalg.matrix_rank(low_rank) == 1
    planted, q = _planted(low_rank > 0, seed=2), _quantile_for(low_rank > 0)
    result = ds.support_dimension(planted, q, sizes=2 ** np.arange(2, 8))
    assert abs(result.dimension - (1 + CANTOR)) < 0.05
    # Block diagonal: filled squares (dimension 2 below the block size); a diagonal: a line (dimension 1).
    blocks = np.kron(np.eye(4), np.ones((64, 64))) > 0
    assert abs(ds.support_dimension(_planted(blocks, 3), _quantile_for(blocks)).dimension - 2.0) < 0.05
    diagonal = np.eye(256) > 0
    assert abs(ds.support_dimension(_planted(diagonal, 4), _quantile_for(diagonal)).dimension - 1.0) < 0.05


def test_iid_gaussian_matches_its_permutation_null_and_planted_structure_does_not():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((128, 128))
    actual = ds.support_dimension(w).dimension
    null = np.array([ds.support_dimension(ds.permuted(w, s)).dimension for s in range(8)])
    assert null.std() > 0
    assert abs(actual - null.mean()) < 4 * null.std(ddof=1) + 1e-3
    # Density is fixed by the quantile: 1 - q of the entries, for the matrix and its null alike.
    assert ds.support(w, 0.5).mean() == pytest.approx(0.5, abs=1 / w.size)
    # Against the same null, a sparse planted fractal stands out: the triangle (density 0.1) is 1.585 where a
    # random set of equal density gives 1.52, and its local slopes are flat where the null's climb towards 2.
    index = np.arange(256)
    triangle = _planted((index[:, None] & index[None, :]) == 0, seed=5)
    q = 0.9
    planted = ds.support_dimension(triangle, q)
    nulls = [ds.support_dimension(ds.permuted(triangle, s), q) for s in range(4)]
    null_dims = np.array([n.dimension for n in nulls])
    assert planted.dimension - null_dims.mean() > 0.04 and planted.dimension - null_dims.mean() > 20 * null_dims.std()
    assert np.ptp(planted.local_slopes) < 0.01 and nulls[0].local_slopes[-1] - nulls[0].local_slopes[0] > 1.0
    # The pitfall: a dense fractal (the carpet, density 0.55) has nearly the fitted dimension of random sets of its
    # density (1.86 vs 1.87), although its local slope from 1 to 2 entries is far from theirs (1.67 vs 1.21).
    mask = _carpet(5)
    carpet, q = _planted(mask), _quantile_for(mask)
    dense, dense_null = ds.support_dimension(carpet, q), ds.support_dimension(ds.permuted(carpet, 0), q)
    assert abs(dense.dimension - dense_null.dimension) < 0.03
    assert dense.local_slopes[0] - dense_null.local_slopes[0] > 0.3


def test_support_dimension_bad_input():
    with pytest.raises(ValueError, match="non-empty support"):
        ds.support_dimension(np.ones((16, 16)))
    with pytest.raises(ValueError, match=r"quantile must be in \[0, 1\)"):
        ds.support_dimension(np.eye(16), quantile=1.0)
    with pytest.raises(ValueError, match="at least 8 x 8"):
        ds.support_dimension(np.eye(4))
    with pytest.raises(ValueError, match="finite"):
        ds.support_dimension(np.full((16, 16), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        ds.support_dimension(np.ones(16))


# --------------------------------------------------------------------------- fBm and roughness
@pytest.mark.parametrize("hurst", [0.3, 0.8])  # both branches of Stein's embedding (H <= 3/4 and H > 3/4)
def test_fbm_surface_has_the_exact_fbm_covariance(hurst):
    n, draws = 5, 3000
    samples = np.stack([fbm_surface(n, hurst, seed).ravel() for seed in range(draws)])
    points = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), axis=-1).reshape(-1, 2)
    truth = fbm_covariance(points, hurst)
    sample = samples.T @ samples / draws  # B[0, 0] = 0 and E B = 0: second moments are covariances
    stderr = np.sqrt((truth**2 + np.outer(np.diag(truth), np.diag(truth))) / draws)
    inside = stderr > 0
    z = np.abs(sample - truth)[inside] / stderr[inside]
    assert z.max() < 5.0
    # In grid units: E (B[1, 0] - B[0, 0])^2 = 1 and E B[3, 4]^2 = 5^(2H).
    assert truth[n, n] == pytest.approx(1.0) and truth[3 * n + 4, 3 * n + 4] == pytest.approx(25.0**hurst)
    assert np.all(samples[:, 0] == 0.0)


@pytest.mark.parametrize("hurst", [0.3, 0.5, 0.8])
def test_roughness_recovers_fbm_dimension(hurst):
    surface = fbm_surface(512, hurst, seed=0)
    for kind in ("signed", "abs"):
        result = ds.roughness(surface, surface=kind)
        assert abs(result.dimension - (3 - hurst)) < 0.1, kind
    # Its permutation null has no spatial correlation left: dimension 3 (H ~ 0).
    assert ds.roughness(ds.permuted(surface, 1), surface="signed").dimension > 2.95


def test_roughness_of_plane_and_white_noise():
    plane = np.add.outer(0.5 * np.arange(64.0), np.arange(64.0))
    result = ds.roughness(plane, surface="signed")
    assert result.hurst == pytest.approx(1.0, abs=1e-12) and result.dimension == 2.0
    noise = np.random.default_rng(0).standard_normal((256, 256))
    assert ds.roughness(noise).dimension > 2.97
    # Along one axis only: rows constant along the column axis carry no column increments.
    ramp = np.repeat(np.random.default_rng(1).standard_normal((64, 1)), 64, axis=1)
    with pytest.raises(ValueError, match="not be constant"):
        ds.roughness(ramp, surface="signed", axis=1)
    assert ds.roughness(ramp, surface="signed", axis=0).dimension > 2.9


# --------------------------------------------------------------------------- phase flow
def _spiral(t: np.ndarray, decay: float, radius: np.ndarray | float = 1.0) -> np.ndarray:
    r = radius * np.exp(-t / decay) if decay else radius
    return np.stack([1.0 + r * np.cos(3 * t), 0.5 + r * np.sin(3 * t)], axis=-1)


def test_phase_rule_classifies_synthetic_trajectories():
    t = np.linspace(0, 12, 60)
    spiral = _spiral(t, decay=1.5)  # damped spiral into (1, 0.5)
    cycle = _spiral(t, decay=0.0, radius=1.0 - 0.9 * np.exp(-t))  # approaches a limit cycle of radius 1
    drift = np.stack([t, 0.3 * t + 0.05 * np.sin(t)], axis=-1)  # keeps going
    slow = np.stack([np.exp(-t / 30), np.exp(-t / 20)], axis=-1)  # relaxing, but far from done
    assert dp.classify_trajectory(spiral[:, 0], spiral[:, 1]) == "fixed_point"
    assert dp.classify_trajectory(cycle[:, 0], cycle[:, 1]) == "oscillating"
    assert dp.classify_trajectory(drift[:, 0], drift[:, 1]) == "moving"
    assert dp.classify_trajectory(slow[:, 0], slow[:, 1]) == "moving"
    codes = dp.classify_phase_flow(np.stack([spiral, cycle, drift, slow]))
    assert [dp.PHASES[c] for c in codes] == ["fixed_point", "oscillating", "moving", "moving"]


def test_phase_rule_is_scale_free_and_validates():
    t = np.linspace(0, 12, 60)
    spiral = _spiral(t, decay=1.5)
    scaled = spiral * np.array([1e-3, 1e4]) + np.array([5.0, -2.0])  # units must not matter
    assert dp.classify_trajectory(scaled[:, 0], scaled[:, 1]) == "fixed_point"
    with pytest.raises(ValueError, match="at least 4 points"):
        dp.classify_trajectory([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="equal length"):
        dp.classify_trajectory([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- segment graph
def test_kernel_graph_exact_on_a_toy_case():
    # Layer 0: nodes 0, 1; layer 1: nodes 2, 3, 4; layer 2: node 5. One feature, no standardisation.
    features = np.array([[0.0], [4.0], [1.0], [2.0], [7.0], [3.0]])
    layer = np.array([0, 0, 1, 1, 1, 2])
    g = dg.kernel_graph(features, layer, k=None, scale_features=False)
    # Consecutive-layer distances: 0-2:1, 0-3:2, 0-4:7, 1-2:3, 1-3:2, 1-4:3, 2-5:2, 3-5:1, 4-5:4 -> median 2.
    expected = {(0, 2): 1, (0, 3): 2, (0, 4): 7, (1, 2): 3, (1, 3): 2, (1, 4): 3, (2, 5): 2, (3, 5): 1, (4, 5): 4}
    assert g.length_scale == 2.0
    got = {(int(s), int(t)): w for s, t, w in zip(g.source, g.target, g.weight)}
    assert len(got) == 2 * len(expected)
    for (i, j), d in expected.items():
        assert got[i, j] == pytest.approx(math.exp(-d / 2.0), rel=1e-14)
        assert got[j, i] == got[i, j]
    # k = 1: each node keeps its strongest edge to each adjacent layer; an edge survives if either end keeps it.
    g1 = dg.kernel_graph(features, layer, k=1, scale_features=False)
    kept = {tuple(sorted((int(s), int(t)))) for s, t in zip(g1.source, g1.target)}
    # node 0 -> 2, node 1 -> 3 (2 < 3); node 2 -> 0, node 3 -> 0 (tie 0/1 at distance 2: lower index), node 4 -> 1;
    # towards layer 2: node 5 -> 3; nodes 2, 3, 4 -> 5.
    assert kept == {(0, 2), (1, 3), (0, 3), (1, 4), (3, 5), (2, 5), (4, 5)}


def _planted_graph(n_per_layer: int, degree: int, seed: int) -> tuple[dg.SegmentGraph, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 3 * n_per_layer
    source, target = [], []
    for a in (0, 1):
        for i in range(n_per_layer):
            for j in rng.choice(n_per_layer, degree, replace=False):
                u, v = a * n_per_layer + i, (a + 1) * n_per_layer + j
                source += [u, v]
                target += [v, u]
    src, tgt = np.array(source), np.array(target)
    graph = dg.SegmentGraph(src, tgt, np.ones(len(src)), n, 1.0, None)
    x = rng.standard_normal((n, 3))
    # The target is the mean of the neighbours' first feature: invisible in a node's own features.
    y = np.bincount(tgt, weights=x[src, 0], minlength=n) / np.maximum(np.bincount(tgt, minlength=n), 1)
    return graph, x, y


def test_gnn_beats_constant_and_features_on_a_planted_graph_signal():
    graph, x, y = _planted_graph(60, 4, seed=0)
    result = dg.compare_surrogates(graph, x, y, splits=2, seed=0, epochs=200)
    r2 = dict(zip(result.predictor.values, result.mean_r2.values))
    assert r2["gnn"] > 0.8
    assert r2["constant"] < 0.1 and r2["linear"] < 0.3 and r2["gradient_boosting"] < 0.3
    assert result.held_out.values.sum(axis=1).tolist() == [54, 54]  # 30% of 180 nodes


def test_gnn_is_reproducible_and_validates():
    graph, x, y = _planted_graph(20, 3, seed=1)
    train = np.arange(60) % 3 != 0
    a = dg.fit_gnn(graph, x, y, train, epochs=30, seed=4)
    b = dg.fit_gnn(graph, x, y, train, epochs=30, seed=4)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="one node per feature row"):
        dg.fit_gnn(graph, x[:10], y[:10], train[:10])
    with pytest.raises(TypeError, match="SegmentGraph"):
        dg.fit_gnn("graph", x, y, train)


# --------------------------------------------------------------------------- networks and importance
def test_model_layers_and_initialisation_convention():
    cnn = dr.model_layers("cnn", (28, 28))
    assert [(s.name, s.matrix_shape) for s in cnn] == [
        ("conv1", (8, 25)), ("conv2", (16, 200)), ("fc1", (64, 784)), ("fc2", (10, 64))]
    mlp = dr.model_layers("mlp", (28, 28))
    assert [s.matrix_shape for s in mlp] == [(128, 784), (64, 128), (10, 64)]
    weight, bias = dr.init_parameters(mlp, seed=0)[0]
    # sigma_w = sqrt(2) is a standard deviation: W ~ N(0, 2 / fan_in). 100,352 draws: std within 1%.
    assert weight.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.01)
    assert torch.all(bias == 0)
    with pytest.raises(ValueError, match="multiples of 4"):
        dr.model_layers("cnn", (30, 30))
    assert dr.record_steps(2, 5, 0).tolist() == [0, 5, 10]
    assert dr.record_steps(2, 5, 3).tolist() == [0, 3, 5, 6, 9, 10]


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_segment_importance_equals_zeroing_and_rerunning(model):
    layers = dr.model_layers(model, (8, 8))
    params = dr.init_parameters(layers, seed=2)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(20, 64, generator=gen)
    labels = torch.randint(0, 10, (20,), generator=gen)
    x = images.reshape(20, 1, 8, 8) if model == "cnn" else images
    base = torch.nn.functional.cross_entropy(dr.logits(layers, params, x), labels).item()
    for index, spec in enumerate(layers):
        scale = 4 if min(spec.matrix_shape) >= 4 else 2
        fast = dr.segment_importance(layers, params, index, scale, x, labels)
        rows, cols = ds.segment_grid(spec.matrix_shape, scale)
        for i, j in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 3)]:
            weight, bias = params[index]
            matrix = weight.reshape(spec.matrix_shape).clone()
            matrix[i * scale : (i + 1) * scale, j * scale : (j + 1) * scale] = 0.0
            zeroed = list(params)
            zeroed[index] = (matrix.reshape(spec.weight_shape), bias)
            loss = torch.nn.functional.cross_entropy(dr.logits(layers, zeroed, x), labels).item()
            assert fast[i, j] == pytest.approx(loss - base, abs=2e-5), (spec.name, i, j)


# --------------------------------------------------------------------------- the whole pipeline, small
TINY = dict(epochs=4, train_size=300, probe_size=200, batch_size=50, null_draws=2, splits=2, gnn_epochs=20,
            scales=(2, 8))


@pytest.fixture(scope="module")
def tiny_run():
    return diagnose("digits", "cnn", **TINY)


def test_diagnose_store_contents_and_nulls(tiny_run, tmp_path):
    run = tiny_run
    assert run.sizes["record"] == 5 and run.epoch.values.tolist() == [0, 1, 2, 3, 4]
    assert list(run.layer.values) == ["conv1", "conv2", "fc1", "fc2"]
    assert run.weight_conv2.shape == (5, 16, 200)
    # Record 0 is the initialisation; its weights are N(0, 2 / fan_in) (fc1: 64 x 64 on digits).
    assert run.weight_fc1.isel(record=0).std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.05)
    # Every layer statistic has both nulls; densities are 1 - quantile.
    assert run.support_dimension_permuted.dims == ("record", "layer", "null_draw")
    assert run.support_dimension_init.dims == ("layer", "null_draw")
    np.testing.assert_allclose(run.support_density.values, 0.5, atol=1 / 200)
    # Segment statistics: every whole block of every layer that fits, per scale.
    n_blocks = sum((r // s) * (c // s) for r, c in [(8, 25), (16, 200), (64, 64), (10, 64)] for s in (2, 8)
                   if min(r, c) >= s)
    assert run.sizes["segment"] == n_blocks
    node_layers = set(run.node_layer.values)
    assert node_layers == {"conv1", "conv2", "fc1", "fc2"}
    assert np.all(run.segment_scale.values[run.node_segment.values] == 8)
    assert set(np.unique(run.segment_phase.values)) <= {0, 1, 2}
    params = json.loads(run.attrs["parameters"])
    assert params["model"] == "cnn" and params["quantile"] == 0.5 and params["sigma_w"] == pytest.approx(2**0.5)
    path = write_zarr(run, tmp_path / "diag.zarr")
    xr.testing.assert_identical(xr.open_zarr(path).load(), run)


def test_diagnose_reruns_bitwise_and_reports_progress(tiny_run):
    calls = []
    again = diagnose("digits", "cnn", **TINY, progress=lambda done, total: calls.append((done, total)))
    # progress(done, total): training steps (4 epochs x 6 steps), then 4 layers x 5 records, 4 graph layers, 2 splits.
    assert calls[-1] == (24 + 20 + 4 + 2, 24 + 20 + 4 + 2)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(calls)) and len({t for _, t in calls}) == 1
    again.attrs.pop("training_seconds"), again.attrs.pop("analysis_seconds")
    first = tiny_run.copy()
    first.attrs = {k: v for k, v in tiny_run.attrs.items() if not k.endswith("_seconds")}
    xr.testing.assert_identical(first, again)


def test_diagnose_bad_input():
    with pytest.raises(ValueError, match="model must be one of"):
        diagnose("digits", "resnet")
    with pytest.raises(ValueError, match="graph_scale must be an integer >= 8"):
        diagnose("digits", "cnn", graph_scale=4)
    with pytest.raises(ValueError, match="scales must be integers >= 2"):
        diagnose("digits", "cnn", scales=(1, 2))
    with pytest.raises(ValueError, match="data must be one of"):
        diagnose("imagenet", "cnn")
    # Sizes are checked before training: 2,000 epochs of digits recorded at every step would need 2.8 GiB.
    with pytest.raises(ValueError, match="record_every must keep the records under 2 GiB"):
        dr.record_training("digits", "cnn", epochs=2000, record_every=1)
