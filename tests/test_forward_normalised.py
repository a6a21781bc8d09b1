"""The seed authors' normalised post-activation divergence (metric ``"forward_normalised"``, issue 11).

References: an independent NumPy forward pass written the way the seed authors' code
(``jon-dong/reservoir-frontier``, ``src/network.py``, ``mode="rand"``) computes its metric: the state is
``erf(z) / sqrt(N)`` with ``z = sigma_w G s + sigma_b b``, ``G`` with N(0, 1) entries, ``s^0`` the unit-norm
input, metric ``sum((s^D(x1) - s^D(x2))^2)``; the exact identity ``L^(d+1) = sigma_w^2 L_post^(d)`` for
orthogonal operators; the elementwise bound ``|erf(a) - erf(b)| <= (2 / sqrt(pi)) |a - b|``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy.special import erf

from infoprop._src.metrics import FORWARD_METRICS, METRICS
from infoprop._src.networks import RandomNetwork


def authors_mlp_metric(net: RandomNetwork, sw: float, sb: float, depth: int) -> float:
    """The seed authors' MLP metric, in NumPy float64, from the network's drawn matrices, biases and inputs."""
    n = net.width
    x1, x2 = net.inputs()
    states = [x / np.linalg.norm(x) for x in (x1, x2)]  # their inputs have unit norm
    for layer in range(1, depth + 1):
        gauss = net.operator_matrix(layer) * math.sqrt(n)  # their Random linop: N(0, 1) entries
        bias = net.bias(layer)
        states = [erf(sw * gauss @ s + sb * bias) / math.sqrt(n) for s in states]
    return float(np.sum((states[0] - states[1]) ** 2))


def test_matches_the_authors_mlp_metric_in_numpy():
    net = RandomNetwork("mlp", 12, 7, activation="erf", seed=3, dtype="float64")
    sw, sb = np.array([0.4, 1.5, 3.2]), np.array([0.0, 0.7, 2.0])
    got = net.forward_normalised(sw, sb, layers=[1, 4, 7])
    for i, w in enumerate(sw):
        for j, b in enumerate(sb):
            for k, d in enumerate((1, 4, 7)):
                ref = authors_mlp_metric(net, w, b, d)
                assert got.values[i, j, k] == pytest.approx(ref, rel=1e-10, abs=1e-300)


def test_float32_default_agrees_with_the_authors_metric():
    # the working precision the report uses: chaotic values agree to float32 round-off propagated over depth
    net32 = RandomNetwork("mlp", 16, 5, activation="erf", seed=1)
    net64 = RandomNetwork("mlp", 16, 5, activation="erf", seed=1, dtype="float64")
    got = float(net32.forward_normalised(2.5, 1.0))
    assert got == pytest.approx(authors_mlp_metric(net64, 2.5, 1.0, 5), rel=1e-3)


@pytest.mark.parametrize("activation", ["erf", "tanh"])
def test_orthogonal_next_layer_identity(activation):
    # h^{d+1}(x1) - h^{d+1}(x2) = sigma_w A (phi(h1) - phi(h2)): with orthogonal A, L^(d+1) = sigma_w^2 L_post^(d)
    net = RandomNetwork("orthogonal", 10, 6, activation=activation, seed=4, dtype="float64")
    sw, sb = np.array([0.6, 1.3, 2.9]), np.array([0.0, 1.1])
    post = net.forward_normalised(sw, sb, layers=[2, 5]).values
    pre = net.forward(sw, sb, layers=[3, 6]).values
    np.testing.assert_allclose(pre, sw[:, None, None] ** 2 * post, rtol=1e-11)


def test_erf_lipschitz_bound_and_range():
    net = RandomNetwork("mlp", 20, 30, activation="erf", seed=2, dtype="float64")
    sw = np.linspace(0.2, 4.0, 9)
    sb = np.array([0.0, 0.5, 2.0])
    post = net.forward_normalised(sw, sb, layers=[1, 10, 30]).values
    pre = net.forward(sw, sb, layers=[1, 10, 30]).values
    assert np.all(post <= 4 / math.pi * pre * (1 + 1e-12))
    assert np.all(post <= 4.0)  # erf in [-1, 1]
    assert post.max() > 0.1  # the chaotic part of the grid is not trivially small


def test_layer_zero_is_phi_of_the_inputs():
    net = RandomNetwork("cnn", 8, 3, activation="tanh", seed=0, dtype="float64")
    x1, x2 = net.inputs()
    expected = np.sum((np.tanh(x1) - np.tanh(x2)) ** 2) / 8
    assert float(net.forward_normalised(1.0, 0.3, layers=0)) == pytest.approx(expected, rel=1e-13)


def test_name_metric_attribute_and_registry():
    net = RandomNetwork("fdf", 16, 4, seed=0)
    da = net.forward_normalised(np.array([0.5, 2.0]), np.array([0.1, 1.0]))
    assert da.name == "forward_normalised"
    assert da.attrs["metric"] == "forward_normalised"
    assert "forward_normalised" in METRICS and "forward_normalised" in FORWARD_METRICS
    xr.testing.assert_identical(net.landscape("forward_normalised", [0.5, 2.0], [0.1, 1.0]), da)
    assert da.dims == ("sigma_w", "sigma_b")


def test_bad_input_names_the_argument():
    net = RandomNetwork("mlp", 4, 2)
    with pytest.raises(ValueError, match="inputs"):
        net.forward_normalised(1.0, 1.0, inputs="other")
    with pytest.raises(ValueError, match="eps"):
        net.forward_normalised(1.0, 1.0, inputs="perturbed", eps=0.0)


def test_landscape_cli_and_sweeps_accept_the_metric(tmp_path):
    from infoprop.cli import main
    from infoprop.sweep import open_landscape, run_sweep

    out = tmp_path / "land.zarr"
    argv = ["landscape", "--metric", "forward_normalised", "--width", "8", "--depth", "5", "--seed", "2"]
    assert main([*argv, "--sigma-w", "0:4:6", "--sigma-b", "0:4:5", "--out", str(out)]) == 0
    stored = xr.open_zarr(out)["forward_normalised"]
    expected = RandomNetwork("mlp", 8, 5, seed=2).forward_normalised(np.linspace(0, 4, 6), np.linspace(0, 4, 5))
    np.testing.assert_array_equal(stored.values, expected.values)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'arch = "mlp"\nwidth = 8\ndepth = 5\nseed = 2\nmetric = ["forward", "forward_normalised"]\n'
        "sigma_w = { start = 0.0, stop = 4.0, count = 6 }\nsigma_b = { start = 0.0, stop = 4.0, count = 5 }\n"
    )
    store = run_sweep(spec, tmp_path / "sweep.zarr").store
    swept = open_landscape(store, "forward_normalised")
    np.testing.assert_array_equal(swept.transpose("sigma_w", "sigma_b").values, expected.values)
    assert swept.attrs["metric"] == "forward_normalised"
