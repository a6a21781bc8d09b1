"""Tests of the finite-width engine against independent references.

References: a plain float64 torch loop (one point at a time), torch.autograd, NumPy's FFT with the documented
draw order, the mean-field engine (infoprop.meanfield), and bitwise self-consistency for determinism.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from infoprop._src.activations import get_activation
from infoprop._src.common import write_zarr
from infoprop._src.networks import ARCHITECTURES, RandomNetwork

STRUCTURED = ("cnn", "fdf", "fdfd")


# --------------------------------------------------------------------------- references
def reference_states(net: RandomNetwork, sw: float, sb: float, x: np.ndarray) -> list[torch.Tensor]:
    """h^1..h^D for one input, plain float64 loop over the documented recursion (layer 1 acts on x)."""
    phi = net.activation.torch_fn
    h = torch.as_tensor(x, dtype=torch.float64)
    states = []
    for layer in range(1, net.depth + 1):
        a = torch.as_tensor(net.operator_matrix(layer))
        b = torch.as_tensor(net.bias(layer))
        h = sw * a @ (h if layer == 1 else phi(h)) + sb * b
        states.append(h)
    return states


def documented_draw(arch: str, width: int, depth: int, seed: int, kernel_size: int | None = None):
    """Re-draw from the documented order with torch.Generator, build operators with NumPy FFTs."""
    gen = torch.Generator().manual_seed(seed)
    n = width
    vecs = [torch.randn(n, dtype=torch.float64, generator=gen).numpy() for _ in range(6)]
    ops, biases = [], []
    for _ in range(depth):
        if arch == "mlp":
            g = torch.randn(n, n, dtype=torch.float64, generator=gen).numpy() / math.sqrt(n)
            ops.append(lambda v, g=g: g @ v)
        elif arch == "cnn":
            w = torch.randn(kernel_size, dtype=torch.float64, generator=gen).numpy() / math.sqrt(kernel_size)
            ops.append(lambda v, w=w: np.array([sum(w[j] * v[(i - j) % n] for j in range(len(w))) for i in range(n)]))
        elif arch == "fdf":
            d = np.exp(1j * torch.rand(n, dtype=torch.float64, generator=gen).numpy() * 2 * np.pi)
            ops.append(lambda v, d=d: math.sqrt(2) * np.fft.fft(d * np.fft.fft(v, norm="ortho"), norm="ortho").real)
        else:  # fdfd
            d1, d2 = np.exp(1j * torch.rand(2, n, dtype=torch.float64, generator=gen).numpy() * 2 * np.pi)
            ops.append(
                lambda v, d1=d1, d2=d2: (
                    math.sqrt(2) * np.fft.fft(d2 * np.fft.fft(d1 * v, norm="ortho"), norm="ortho").real
                )
            )
        biases.append(torch.randn(n, dtype=torch.float64, generator=gen).numpy())
    return vecs, ops, biases


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"arch": "rnn", "width": 4, "depth": 2}, ValueError, "arch"),
        ({"arch": "mlp", "width": 0, "depth": 2}, ValueError, "width"),
        ({"arch": "mlp", "width": 4, "depth": 0}, ValueError, "depth"),
        ({"arch": "mlp", "width": 4.5, "depth": 2}, TypeError, "width"),
        ({"arch": "cnn", "width": 4, "depth": 2, "kernel_size": 5}, ValueError, "kernel_size"),
        ({"arch": "cnn", "width": 4, "depth": 2, "kernel_size": 0}, ValueError, "kernel_size"),
        ({"arch": "mlp", "width": 4, "depth": 2, "kernel_size": 2}, TypeError, "options"),
        ({"arch": "mlp", "width": 4, "depth": 2, "device": "tpu"}, ValueError, "device"),
        ({"arch": "mlp", "width": 4, "depth": 2, "dtype": "float16"}, ValueError, "dtype"),
        ({"arch": "mlp", "width": 4, "depth": 2, "seed": -1}, ValueError, "seed"),
        ({"arch": "mlp", "width": 4, "depth": 2, "operator": "fft"}, ValueError, "operator"),
        ({"arch": "mlp", "width": 4, "depth": 2, "activation": "swish"}, ValueError, "activation"),
    ],
)
def test_bad_construction(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        RandomNetwork(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_unavailable_is_a_clear_error():
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        RandomNetwork("mlp", 4, 2, device="cuda")


def test_bad_grid_arguments():
    net = RandomNetwork("mlp", 8, 3)
    with pytest.raises(ValueError, match="sigma_w must contain only finite values, got nan"):
        net.divergence([1.0, np.nan], [0.1])
    with pytest.raises(ValueError, match="sigma_b must be >= 0"):
        net.divergence([1.0], [-0.5])
    with pytest.raises(ValueError, match="sigma_w must be >= 0"):
        net.lyapunov([-1.0], [0.5])
    with pytest.raises(ValueError, match="equal length"):
        net.divergence([1.0, 2.0], [0.1], grid=False)
    with pytest.raises(ValueError, match="1-D"):
        net.divergence(np.ones((2, 2)), [0.1])
    with pytest.raises(ValueError, match="layers must be an integer <= 3"):
        net.divergence([1.0], [0.1], layers=[1, 4])
    with pytest.raises(ValueError, match="inputs must be one of"):
        net.divergence([1.0], [0.1], inputs="paired")
    with pytest.raises(ValueError, match="eps must be > 0"):
        net.divergence([1.0], [0.1], inputs="perturbed", eps=0.0)
    with pytest.raises(ValueError, match="quantity must be one of"):
        net.backward_divergence([1.0], [0.1], quantity="norm")
    with pytest.raises(ValueError, match="block_size must be an integer >= 1"):
        net.divergence([1.0], [0.1], block_size=0)
    with pytest.raises(TypeError, match="progress"):
        net.divergence([1.0], [0.1], progress=3)


# --------------------------------------------------------------------------- operators and draw
@pytest.mark.parametrize("arch", ["mlp", "cnn", "fdf", "fdfd"])
def test_draw_follows_documented_order_and_unitary_dft(arch):
    width, depth, seed, k = 12, 3, 7, 5
    options = {"kernel_size": k} if arch == "cnn" else {}
    vecs, ops, biases = documented_draw(arch, width, depth, seed, kernel_size=k)
    v = np.random.default_rng(0).normal(size=width)
    for operator in ("dense", "fft") if arch in STRUCTURED else ("dense",):
        net = RandomNetwork(arch, width, depth, seed=seed, dtype="float64", operator=operator, **options)
        drawn = net.vectors()
        np.testing.assert_allclose(drawn["x1"], vecs[0] * math.sqrt(width) / np.linalg.norm(vecs[0]), rtol=1e-14)
        np.testing.assert_allclose(drawn["v"], vecs[5] / np.linalg.norm(vecs[5]), rtol=1e-14)
        for layer in range(1, depth + 1):
            np.testing.assert_array_equal(net.bias(layer), biases[layer - 1])
            expected = ops[layer - 1](v)
            np.testing.assert_allclose(net.apply_operator(layer, v).numpy(), expected, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(net.operator_matrix(layer) @ v, expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("arch", STRUCTURED)
def test_fft_application_equals_dense_matrix(arch):
    """The structured operators applied with FFTs equal their dense real matrix, forward and transposed."""
    dense = RandomNetwork(arch, 30, 4, seed=3, dtype="float64", operator="dense")
    fft = RandomNetwork(arch, 30, 4, seed=3, dtype="float64", operator="fft")
    rows = np.random.default_rng(1).normal(size=(5, 30))
    for layer in (1, 4):
        mat = fft.operator_matrix(layer)
        np.testing.assert_allclose(fft.apply_operator(layer, rows).numpy(), rows @ mat.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fft.apply_operator(layer, rows, True).numpy(), rows @ mat, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dense.apply_operator(layer, rows).numpy(), rows @ mat.T, rtol=1e-12, atol=1e-12)
    grid = dict(sigma_w=[0.5, 1.5, 3.0], sigma_b=[0.0, 0.7])
    np.testing.assert_allclose(fft.divergence(**grid).values, dense.divergence(**grid).values, rtol=1e-9)
    np.testing.assert_allclose(fft.lyapunov(**grid).values, dense.lyapunov(**grid).values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        fft.backward_divergence(**grid).values, dense.backward_divergence(**grid).values, rtol=1e-9
    )


def test_cnn_is_an_explicit_circulant():
    """cnn via FFT equals the explicit circular convolution matrix C[i, m] = w[(i - m) mod N] (zero beyond k)."""
    net = RandomNetwork("cnn", 16, 2, kernel_size=5, dtype="float64", operator="fft")
    w = net.apply_operator(1, np.eye(16)[0]).numpy()  # A e_0 = the kernel, zero-padded (up to FFT roundoff)
    assert np.all(np.abs(w[5:]) < 1e-15) and np.all(np.abs(w[:5]) > 1e-3)
    kernel = np.concatenate([w[:5], np.zeros(11)])
    circulant = np.array([[kernel[(i - m) % 16] for m in range(16)] for i in range(16)])
    v = np.random.default_rng(2).normal(size=16)
    np.testing.assert_allclose(net.apply_operator(1, v).numpy(), circulant @ v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_operators_preserve_norm_in_expectation(arch):
    """E ||A v||^2 = ||v||^2: mean over 400 independent layers within 4 standard errors of 1."""
    net = RandomNetwork(arch, 24, 400, seed=11, dtype="float64")
    v = np.random.default_rng(3).normal(size=24)
    ratios = np.array([np.sum(net.apply_operator(l, v).numpy() ** 2) for l in range(1, 401)]) / np.sum(v**2)
    if arch == "orthogonal":
        np.testing.assert_allclose(ratios, 1.0, rtol=1e-12)
    else:
        assert abs(ratios.mean() - 1.0) < 4 * ratios.std() / math.sqrt(ratios.size)
    # the bias is standard normal per component
    b = np.concatenate([net.bias(l) for l in range(1, 401)])
    assert abs(b.var() - 1.0) < 4 * math.sqrt(2 / b.size)


def test_orthogonal_is_orthogonal_and_mlp_scaling():
    q = RandomNetwork("orthogonal", 20, 1, dtype="float64").operator_matrix(1)
    np.testing.assert_allclose(q.T @ q, np.eye(20), atol=1e-13)
    a = RandomNetwork("mlp", 300, 1, dtype="float64").operator_matrix(1)
    # entries N(0, 1/N): the sigma convention is sigma_w^2 / fan_in for the weights sigma_w * A
    assert abs(a.var() * 300 - 1.0) < 4 * math.sqrt(2 / a.size) * 1.0


def test_inputs_convention():
    net = RandomNetwork("mlp", 50, 2, dtype="float64")
    x1, x2 = net.inputs("independent")
    assert math.isclose(x1 @ x1 / 50, 1.0, rel_tol=1e-14) and math.isclose(x2 @ x2 / 50, 1.0, rel_tol=1e-14)
    x1p, x2p = net.inputs("perturbed", eps=1e-3)
    np.testing.assert_array_equal(x1p, x1)
    assert math.isclose(np.sum((x2p - x1p) ** 2) / 50, 1e-6, rel_tol=1e-9)
    d = net.divergence(1.0, 0.5, inputs="perturbed", eps=1e-3, layers=0)
    assert math.isclose(float(d), 1e-6, rel_tol=1e-9)


# --------------------------------------------------------------------------- metrics vs references
@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("activation", ["erf", "tanh", "relu"])
def test_forward_divergence_matches_plain_loop(arch, activation):
    net = RandomNetwork(arch, 10, 6, activation=activation, seed=5, dtype="float64")
    sw, sb = np.array([0.3, 1.2, 2.5]), np.array([0.0, 0.4])
    got = net.divergence(sw, sb, layers=[0, 1, 3, 6])
    mom = net.moments(sw, sb, layers=[2, 6])
    x1, x2 = net.inputs()
    for i, w in enumerate(sw):
        for j, b in enumerate(sb):
            s1, s2 = reference_states(net, w, b, x1), reference_states(net, w, b, x2)
            for d in (1, 3, 6):
                ref = float(torch.sum((s1[d - 1] - s2[d - 1]) ** 2) / 10)
                assert got.values[i, j, [0, 1, 3, 6].index(d)] == pytest.approx(ref, rel=1e-10, abs=1e-300)
            q11 = float(s1[1] @ s1[1] / 10)
            assert float(mom.q11.isel(sigma_w=i, sigma_b=j, layer=0)) == pytest.approx(q11, rel=1e-10)
    np.testing.assert_allclose(got.values[..., 0], np.sum((x1 - x2) ** 2) / 10, rtol=1e-14)


def autograd_reference(net: RandomNetwork, sw: float, sb: float):
    """Backward metric, gradient ratio per layer d and Lyapunov exponent with torch.autograd (float64)."""
    phi = net.activation.torch_fn
    vec = net.vectors()
    x = torch.tensor(vec["x1"], requires_grad=True)
    states = [x]
    h = x
    for layer in range(1, net.depth + 1):
        a = torch.as_tensor(net.operator_matrix(layer))
        h = sw * a @ (h if layer == 1 else phi(h)) + sb * torch.as_tensor(net.bias(layer))
        states.append(h)
    g1, g2 = torch.as_tensor(vec["g1"]), torch.as_tensor(vec["g2"])
    grads_diff = torch.autograd.grad(states[-1], states[:-1], grad_outputs=g1 - g2, retain_graph=True)
    grads_g1 = torch.autograd.grad(states[-1], states[:-1], grad_outputs=g1, retain_graph=True)
    jac = torch.autograd.functional.jacobian(lambda x0: _forward_only(net, x0, sw, sb), torch.as_tensor(vec["x1"]))
    lyap = math.log(float(torch.linalg.vector_norm(jac @ torch.as_tensor(vec["v"])))) / net.depth
    diff = [float(torch.linalg.vector_norm(g)) for g in grads_diff] + [float(torch.linalg.vector_norm(g1 - g2))]
    ratio = [float(torch.linalg.vector_norm(g)) for g in grads_g1] + [1.0]
    return diff, ratio, lyap


def _forward_only(net, x, sw, sb):
    h = x
    for layer in range(1, net.depth + 1):
        a = torch.as_tensor(net.operator_matrix(layer))
        h = sw * a @ (h if layer == 1 else net.activation.torch_fn(h)) + sb * torch.as_tensor(net.bias(layer))
    return h


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("activation", ["erf", "relu", "gelu"])
def test_backward_and_lyapunov_match_autograd(arch, activation):
    net = RandomNetwork(arch, 9, 5, activation=activation, seed=2, dtype="float64")
    sw, sb = np.array([0.4, 1.3, 3.0]), np.array([0.0, 0.5, 0.5])
    layers = [0, 1, 2, 4, 5]
    back = net.backward_divergence(sw, sb, layers=layers, grid=False)
    ratio = net.backward_divergence(sw, sb, layers=layers, grid=False, quantity="gradient_ratio")
    lyap = net.lyapunov(sw, sb, grid=False)
    for p in range(3):
        diff_ref, ratio_ref, lyap_ref = autograd_reference(net, sw[p], sb[p])
        np.testing.assert_allclose(back.values[p], [diff_ref[d] for d in layers], rtol=1e-10)
        np.testing.assert_allclose(ratio.values[p], [ratio_ref[d] for d in layers], rtol=1e-10)
        assert float(lyap[p]) == pytest.approx(lyap_ref, rel=1e-10, abs=1e-12)


def test_zero_sigma_w_edge_cases():
    net = RandomNetwork("mlp", 8, 4, dtype="float64")
    assert float(net.divergence(0.0, 1.0)) == 0.0  # h^1 = sigma_b b_1 for both inputs
    assert float(net.lyapunov(0.0, 1.0)) == -math.inf
    assert float(net.backward_divergence(0.0, 1.0)) == 0.0


def test_overflow_is_inf_with_a_warning():
    net = RandomNetwork("mlp", 16, 100, activation="relu")
    with pytest.warns(RuntimeWarning, match="overflowed"):
        d = net.divergence([4.0], [0.0])
    assert np.isinf(d.values).all()


# --------------------------------------------------------------------------- determinism
def _all_metrics(net, sw, sb, **kw):
    return (
        net.divergence(sw, sb, layers=[3, net.depth], **kw).values,
        net.divergence(sw, sb, inputs="perturbed", eps=1e-4, **kw).values,
        net.backward_divergence(sw, sb, layers=[0, 5], **kw).values,
        net.lyapunov(sw, sb, **kw).values,
    )


@pytest.mark.parametrize(
    ("arch", "options"),
    [("mlp", {}), ("cnn", {"operator": "fft"}), ("fdfd", {"operator": "fft"}), ("fdf", {"operator": "dense"})],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitwise_determinism_blocks_splits_threads(arch, options, dtype):
    net = RandomNetwork(arch, 20, 24, seed=1, dtype=dtype, **options)
    sw, sb = np.linspace(0.0, 4.0, 9), np.linspace(0.0, 2.0, 5)
    whole = _all_metrics(net, sw, sb)
    # early exit happened somewhere (ordered region), so compaction was exercised
    assert (whole[0][..., -1] == 0).any() and (whole[0][..., -1] > 0).any()
    for block in (1, 40):
        for a, b in zip(whole, _all_metrics(net, sw, sb, block_size=block)):
            np.testing.assert_array_equal(a, b)
    # sub-grid split: every tile equals its slice of the whole grid
    for rows, cols in ((slice(0, 5), slice(0, 3)), (slice(5, 9), slice(3, 5)), (slice(7, 8), slice(4, 5))):
        for a, b in zip(whole, _all_metrics(net, sw[rows], sb[cols], block_size=16)):
            np.testing.assert_array_equal(a[rows, cols], b)
    # point lists in a shuffled order
    pw, pb = np.meshgrid(sw, sb, indexing="ij")
    order = np.random.default_rng(0).permutation(pw.size)
    shuffled = _all_metrics(net, pw.ravel()[order], pb.ravel()[order], grid=False)
    for a, b in zip(whole, shuffled):
        np.testing.assert_array_equal(a.reshape(pw.size, -1)[order].reshape(b.shape), b)
    # thread count
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = _all_metrics(net, sw, sb)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(whole, single):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_early_exit_does_not_change_values(dtype):
    """moments() never exits early; its divergence equals divergence() bitwise (exits make exact zeros)."""
    net = RandomNetwork("mlp", 16, 60, seed=4, dtype=dtype)
    sw, sb = np.linspace(0.0, 1.5, 61), np.array([0.0, 1e-3, 0.3])
    layers = [10, 30, 60]
    fast = net.divergence(sw, sb, layers=layers)
    slow = net.moments(sw, sb, layers=layers)["divergence"]
    np.testing.assert_array_equal(fast.values, slow.values)
    assert (fast.values[..., -1] == 0).sum() >= 2 * 16  # enough exits to compact (in multiples of 16 points)
    assert np.isfinite(fast.values).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_do_not_depend_on_the_callers_denormal_mode(dtype):
    """States decaying to 0 (sigma_b = 0, ordered) pass through the denormal range; the explicit flush makes every
    layer's value independent of the caller's flush-to-zero mode (which worker threads inherit). Without the
    flush this test fails (checked by setting the thresholds to 0)."""
    net = RandomNetwork("mlp", 16, 150 if dtype == "float32" else 1000, seed=6, dtype=dtype, activation="tanh")
    sw, sb = np.array([0.3, 0.6, 0.9, 2.0]), np.array([0.0, 1e-30, 0.5])
    layers = list(range(1, net.depth + 1))

    def metrics():
        return [
            net.divergence(sw, sb, layers=layers).values,
            net.backward_divergence(sw, sb, layers=layers).values,
            net.lyapunov(sw, sb).values,
        ]

    default = metrics()
    assert (default[0][..., -1] == 0).any()
    try:
        assert torch.set_flush_denormal(True)
        flushed = metrics()
    finally:
        torch.set_flush_denormal(False)
    for a, b in zip(default, flushed):
        np.testing.assert_array_equal(a, b)


def test_depth_prefix_and_seed_reproducibility():
    short = RandomNetwork("fdfd", 12, 5, seed=9)
    long = RandomNetwork("fdfd", 12, 9, seed=9)
    sw, sb = [0.5, 2.0], [0.1, 1.0]
    np.testing.assert_array_equal(short.divergence(sw, sb).values, long.divergence(sw, sb, layers=5).values)
    again = RandomNetwork("fdfd", 12, 5, seed=9)
    np.testing.assert_array_equal(short.lyapunov(sw, sb).values, again.lyapunov(sw, sb).values)
    other = RandomNetwork("fdfd", 12, 5, seed=10)
    assert not np.array_equal(short.lyapunov(sw, sb).values, other.lyapunov(sw, sb).values)


def test_float32_close_to_float64():
    sw, sb = [0.5, 1.0, 2.0], [0.2, 0.8]
    a = RandomNetwork("mlp", 32, 4, dtype="float32").divergence(sw, sb)
    b = RandomNetwork("mlp", 32, 4, dtype="float64").divergence(sw, sb)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4)


# --------------------------------------------------------------------------- output format
def test_dataarray_format_and_zarr_roundtrip(tmp_path):
    net = RandomNetwork("cnn", 8, 3, seed=2, kernel_size=3)
    da = net.divergence(np.array([0.5, 1.0]), np.array([0.0, 0.5, 1.0]), layers=[1, 3])
    assert da.dims == ("sigma_w", "sigma_b", "layer")
    np.testing.assert_array_equal(da.sigma_b.values, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(da.layer.values, [1, 3])
    assert da.attrs["arch"] == "cnn" and da.attrs["kernel_size"] == 3 and da.attrs["seed"] == 2
    assert da.attrs["sigma_convention"] == "std" and "long_name" in da.attrs and "parameters" in da.attrs
    assert da.attrs["metric"] == "forward" and da.attrs["inputs"] == "independent"
    scalar = net.divergence([0.5, 1.0], [0.1])
    assert scalar.dims == ("sigma_w", "sigma_b") and int(scalar.layer) == 3
    points = net.lyapunov([0.5, 1.0], [0.1, 0.2], grid=False)
    assert points.dims == ("point",) and points.attrs["units"] == "1/layer"
    back = net.backward_divergence([0.5], [0.1], layers=[0, 2])
    assert back.dims == ("sigma_w", "sigma_b", "layer")
    path = write_zarr(da, tmp_path / "d.zarr")
    xr.testing.assert_identical(xr.open_zarr(path)["divergence"].load(), da)


def test_progress_callback_reports_points_done():
    net = RandomNetwork("mlp", 8, 3)
    seen = []
    net.divergence(np.linspace(0, 1, 10), np.linspace(0, 1, 5), block_size=16, progress=seen.append)
    assert seen == [16, 32, 48, 50]


def test_custom_callable_activation():
    net = RandomNetwork("mlp", 8, 3, activation=torch.sin, dtype="float64")
    ref = RandomNetwork("mlp", 8, 3, activation="sin", dtype="float64")
    np.testing.assert_array_equal(net.lyapunov([1.0], [0.3]).values, ref.lyapunov([1.0], [0.3]).values)
    assert get_activation("sin").name == ref.activation.name


# --------------------------------------------------------------------------- mean field
@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_large_width_matches_mean_field(arch):
    """N = 2000 (orthogonal: 1000, its Haar QR is slow): q^l, c^l, L^l follow the mean-field trajectory
    started from the same input moments (layer 0), layers 1..10.

    Per layer, ||A v||^2 / ||v||^2 fluctuates by about sqrt(2/N) = 3% (N = 2000) and these deviations compound
    along the trajectory, so single layers can be 5-15% off. The test uses layer means per point: q within 4%,
    L (which compounds the errors of q and c) within 10% per point and 5% pooled over the 4 points, and the mean
    absolute deviation of c below 0.06 (about 3 / sqrt(N)).
    """
    from infoprop._src.meanfield import MeanField

    mf = MeanField("erf")
    width = 1000 if arch == "orthogonal" else 2000
    depth = 10
    net = RandomNetwork(arch, width, depth, dtype="float64", seed=0)
    sw, sb = np.array([1.0, 1.5, 2.5, 3.5]), np.array([0.3, 0.1, 0.5, 1.0])
    ds = net.moments(sw, sb, grid=False, layers=list(range(depth + 1)))
    emp_l, mf_l = [], []
    for p in range(sw.size):
        emp = ds.isel(point=p)
        start = emp.sel(layer=0)
        traj = mf.trajectory(sw[p], sb[p], q0=(float(start.q11), float(start.q22)), c0=float(start.c), depth=depth)
        assert abs(emp.q11.values[1:].mean() / traj.q11.values[1:].mean() - 1) < 0.04
        assert abs(emp.q22.values[1:].mean() / traj.q22.values[1:].mean() - 1) < 0.04
        assert abs(emp.divergence.values[1:].mean() / traj.divergence.values[1:].mean() - 1) < 0.10
        assert np.abs(emp.c.values[1:] - traj.c.values[1:]).mean() < 0.06
        emp_l.append(emp.divergence.values[1:].mean())
        mf_l.append(traj.divergence.values[1:].mean())
    assert abs(np.mean(emp_l) / np.mean(mf_l) - 1) < 0.05


@pytest.fixture(scope="module")
def wide_mlp():
    return RandomNetwork("mlp", 1000, 40, seed=0)


@pytest.mark.slow
def test_lyapunov_approaches_half_log_chi1(wide_mlp):
    """lambda uses norms (not squared norms): its mean-field value is ln(chi_1) / 2."""
    from infoprop._src.meanfield import MeanField

    sw = np.array([0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0])
    sb = np.array([0.05, 0.3, 0.6, 0.2, 1.0, 0.5, 2.0])
    expected = 0.5 * np.log(MeanField("erf").chi1(sw, sb))
    got = wide_mlp.lyapunov(sw, sb, grid=False).values
    # N = 1000, D = 40: layer-to-layer fluctuations ~ sqrt(1/(2 N D)) ~ 0.004 plus an O(1/D) transient
    np.testing.assert_allclose(got, expected, atol=0.03)


@pytest.mark.slow
def test_phase_classification_agrees_with_chi1(wide_mlp):
    """Away from the critical line (|ln chi_1| > 0.2) the sign of lambda and the growth of a small
    perturbation agree with the mean-field phase at N = 1000."""
    from infoprop._src.meanfield import MeanField

    sw, sb = np.linspace(0.25, 4.0, 9), np.linspace(0.0, 3.0, 7)
    log_chi = np.log(MeanField("erf").chi1(sw[:, None], sb[None, :]))
    away = np.abs(log_chi) > 0.2
    assert away.sum() > 30 and (log_chi[away] > 0).any() and (log_chi[away] < 0).any()
    lyap = wide_mlp.lyapunov(sw, sb).values
    growth = wide_mlp.divergence(sw, sb, inputs="perturbed", eps=1e-3).values / 1e-6
    np.testing.assert_array_equal(np.sign(lyap[away]), np.sign(log_chi[away]))
    np.testing.assert_array_equal(growth[away] > 1, log_chi[away] > 0)


# --------------------------------------------------------------------------- GPU
@pytest.mark.cuda
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_cuda_matches_cpu(arch):
    sw, sb = np.linspace(0.2, 3.5, 6), np.linspace(0.0, 1.5, 4)
    for dtype, rtol in (("float64", 1e-9), ("float32", 2e-3)):
        cpu = RandomNetwork(arch, 32, 6, seed=3, dtype=dtype)
        gpu = RandomNetwork(arch, 32, 6, seed=3, dtype=dtype, device="cuda")
        np.testing.assert_allclose(gpu.divergence(sw, sb).values, cpu.divergence(sw, sb).values, rtol=rtol)
        np.testing.assert_allclose(gpu.lyapunov(sw, sb).values, cpu.lyapunov(sw, sb).values, rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(
            gpu.backward_divergence(sw, sb).values, cpu.backward_divergence(sw, sb).values, rtol=rtol
        )


def test_moments_warn_when_an_unbounded_network_overflows():
    net = RandomNetwork("mlp", 8, 200, activation="linear", seed=0, dtype="float32")
    with pytest.warns(RuntimeWarning, match="moments: the network overflowed"):
        ds = net.moments([40.0], [0.0], layers=[200])
    assert not np.isfinite(ds["q11"].values).all()
