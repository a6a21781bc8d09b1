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

from infoprop._src.common import write_zarr
from infoprop._src.networks import ARCHS, RandomNetwork

STRUCTURED = ("cnn", "fdf", "fdfd")


# --------------------------------------------------------------------------- references
def reference_states(net: RandomNetwork, sw: float, sb: float, x: np.ndarray) -> list[torch.Tensor]:
    """h^1..h^D for one input, plain float64 loop over the documented recursion (layer 1 acts on x; layers
    l >= 2 of a residual network add h^{l-1})."""
    phi = net.activation.torch_fn
    h = torch.as_tensor(x, dtype=torch.float64)
    states = []
    for layer in range(1, net.depth + 1):
        a = torch.as_tensor(net.operator_matrix(layer))
        b = torch.as_tensor(net.bias(layer))
        skip = h if net.residual and layer > 1 else 0.0
        h = skip + sw * a @ (h if layer == 1 else phi(h)) + sb * b
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
        ({"arch": "mlp", "width": 4, "depth": 2, "apply_method": "fft"}, ValueError, "apply_method"),
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
        net.forward([1.0, np.nan], [0.1])
    with pytest.raises(ValueError, match="sigma_b must be >= 0"):
        net.forward([1.0], [-0.5])
    with pytest.raises(ValueError, match="sigma_w must be >= 0"):
        net.lyapunov([-1.0], [0.5])
    with pytest.raises(ValueError, match="equal length"):
        net.forward([1.0, 2.0], [0.1], grid=False)
    with pytest.raises(ValueError, match="1-D"):
        net.forward(np.ones((2, 2)), [0.1])
    with pytest.raises(ValueError, match="layers must be an integer <= 3"):
        net.forward([1.0], [0.1], layers=[1, 4])
    with pytest.raises(ValueError, match="inputs must be one of"):
        net.forward([1.0], [0.1], inputs="paired")
    with pytest.raises(ValueError, match="eps must be > 0"):
        net.forward([1.0], [0.1], inputs="perturbed", eps=0.0)
    with pytest.raises(ValueError, match="quantity must be one of"):
        net.backward([1.0], [0.1], quantity="norm")
    with pytest.raises(ValueError, match="block_size must be an integer >= 1"):
        net.forward([1.0], [0.1], block_size=0)
    with pytest.raises(TypeError, match="progress"):
        net.forward([1.0], [0.1], progress=3)


# --------------------------------------------------------------------------- operators and draw
@pytest.mark.parametrize("arch", ["mlp", "cnn", "fdf", "fdfd"])
def test_draw_follows_documented_order_and_unitary_dft(arch):
    width, depth, seed, k = 12, 3, 7, 5
    options = {"kernel_size": k} if arch == "cnn" else {}
    vecs, ops, biases = documented_draw(arch, width, depth, seed, kernel_size=k)
    v = np.random.default_rng(0).normal(size=width)
    for method in ("dense", "fft") if arch in STRUCTURED else ("dense",):
        net = RandomNetwork(arch, width, depth, seed=seed, dtype="float64", apply_method=method, **options)
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
    dense = RandomNetwork(arch, 30, 4, seed=3, dtype="float64", apply_method="dense")
    fft = RandomNetwork(arch, 30, 4, seed=3, dtype="float64", apply_method="fft")
    rows = np.random.default_rng(1).normal(size=(5, 30))
    for layer in (1, 4):
        mat = fft.operator_matrix(layer)
        np.testing.assert_allclose(fft.apply_operator(layer, rows).numpy(), rows @ mat.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fft.apply_operator(layer, rows, True).numpy(), rows @ mat, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dense.apply_operator(layer, rows).numpy(), rows @ mat.T, rtol=1e-12, atol=1e-12)
    grid = dict(sigma_w=[0.5, 1.5, 3.0], sigma_b=[0.0, 0.7])
    np.testing.assert_allclose(fft.forward(**grid).values, dense.forward(**grid).values, rtol=1e-9)
    np.testing.assert_allclose(fft.lyapunov(**grid).values, dense.lyapunov(**grid).values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        fft.backward(**grid).values, dense.backward(**grid).values, rtol=1e-9
    )


def test_cnn_is_an_explicit_circulant():
    """cnn via FFT equals the explicit circular convolution matrix C[i, m] = w[(i - m) mod N] (zero beyond k)."""
    net = RandomNetwork("cnn", 16, 2, kernel_size=5, dtype="float64", apply_method="fft")
    w = net.apply_operator(1, np.eye(16)[0]).numpy()  # A e_0 = the kernel, zero-padded (up to FFT roundoff)
    assert np.all(np.abs(w[5:]) < 1e-15) and np.all(np.abs(w[:5]) > 1e-3)
    kernel = np.concatenate([w[:5], np.zeros(11)])
    circulant = np.array([[kernel[(i - m) % 16] for m in range(16)] for i in range(16)])
    v = np.random.default_rng(2).normal(size=16)
    np.testing.assert_allclose(net.apply_operator(1, v).numpy(), circulant @ v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("arch", ARCHS)
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
    d = net.forward(1.0, 0.5, inputs="perturbed", eps=1e-3, layers=0)
    assert math.isclose(float(d), 1e-6, rel_tol=1e-9)


# --------------------------------------------------------------------------- metrics vs references
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("activation", ["erf", "tanh", "relu"])
def test_forward_divergence_matches_plain_loop(arch, activation):
    net = RandomNetwork(arch, 10, 6, activation=activation, seed=5, dtype="float64")
    sw, sb = np.array([0.3, 1.2, 2.5]), np.array([0.0, 0.4])
    got = net.forward(sw, sb, layers=[0, 1, 3, 6])
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
        skip = h if net.residual and layer > 1 else 0.0
        h = skip + sw * a @ (h if layer == 1 else phi(h)) + sb * torch.as_tensor(net.bias(layer))
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
        skip = h if net.residual and layer > 1 else 0.0
        h = skip + sw * a @ (h if layer == 1 else net.activation.torch_fn(h)) + sb * torch.as_tensor(net.bias(layer))
    return h


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("activation", ["erf", "relu", "gelu"])
def test_backward_and_lyapunov_match_autograd(arch, activation):
    net = RandomNetwork(arch, 9, 5, activation=activation, seed=2, dtype="float64")
    sw, sb = np.array([0.4, 1.3, 3.0]), np.array([0.0, 0.5, 0.5])
    layers = [0, 1, 2, 4, 5]
    back = net.backward(sw, sb, layers=layers, grid=False)
    ratio = net.backward(sw, sb, layers=layers, grid=False, quantity="gradient_ratio")
    lyap = net.lyapunov(sw, sb, grid=False)
    for p in range(3):
        diff_ref, ratio_ref, lyap_ref = autograd_reference(net, sw[p], sb[p])
        np.testing.assert_allclose(back.values[p], [diff_ref[d] for d in layers], rtol=1e-10)
        np.testing.assert_allclose(ratio.values[p], [ratio_ref[d] for d in layers], rtol=1e-10)
        assert float(lyap[p]) == pytest.approx(lyap_ref, rel=1e-10, abs=1e-12)


def test_zero_sigma_w_edge_cases():
    net = RandomNetwork("mlp", 8, 4, dtype="float64")
    assert float(net.forward(0.0, 1.0)) == 0.0  # h^1 = sigma_b b_1 for both inputs
    assert float(net.lyapunov(0.0, 1.0)) == -math.inf
    assert float(net.backward(0.0, 1.0)) == 0.0


def test_overflow_is_inf_with_a_warning():
    net = RandomNetwork("mlp", 16, 100, activation="relu")
    with pytest.warns(RuntimeWarning, match="overflowed"):
        d = net.forward([4.0], [0.0])
    assert np.isinf(d.values).all()


# --------------------------------------------------------------------------- determinism
def _all_metrics(net, sw, sb, **kw):
    return (
        net.forward(sw, sb, layers=[3, net.depth], **kw).values,
        net.forward(sw, sb, inputs="perturbed", eps=1e-4, **kw).values,
        net.backward(sw, sb, layers=[0, 5], **kw).values,
        net.lyapunov(sw, sb, **kw).values,
    )


@pytest.mark.parametrize(
    ("arch", "options"),
    [
        ("mlp", {}),
        ("cnn", {"apply_method": "fft"}),
        ("fdfd", {"apply_method": "fft"}),
        ("fdf", {"apply_method": "dense"}),
        ("resnet", {}),
        ("cnn+residual", {"apply_method": "fft"}),
    ],
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
    fast = net.forward(sw, sb, layers=layers)
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
            net.forward(sw, sb, layers=layers).values,
            net.backward(sw, sb, layers=layers).values,
            net.lyapunov(sw, sb).values,
        ]

    default = metrics()
    assert (default[0][..., -1] == 0).any()
    try:
        if not torch.set_flush_denormal(True):  # the CPU has no flush-to-zero mode: nothing can depend on it
            pytest.skip("torch.set_flush_denormal is not supported on this CPU")
        flushed = metrics()
    finally:
        torch.set_flush_denormal(False)
    for a, b in zip(default, flushed):
        np.testing.assert_array_equal(a, b)


def test_depth_prefix_and_seed_reproducibility():
    short = RandomNetwork("fdfd", 12, 5, seed=9)
    long = RandomNetwork("fdfd", 12, 9, seed=9)
    sw, sb = [0.5, 2.0], [0.1, 1.0]
    np.testing.assert_array_equal(short.forward(sw, sb).values, long.forward(sw, sb, layers=5).values)
    again = RandomNetwork("fdfd", 12, 5, seed=9)
    np.testing.assert_array_equal(short.lyapunov(sw, sb).values, again.lyapunov(sw, sb).values)
    other = RandomNetwork("fdfd", 12, 5, seed=10)
    assert not np.array_equal(short.lyapunov(sw, sb).values, other.lyapunov(sw, sb).values)


def test_float32_close_to_float64():
    sw, sb = [0.5, 1.0, 2.0], [0.2, 0.8]
    a = RandomNetwork("mlp", 32, 4, dtype="float32").forward(sw, sb)
    b = RandomNetwork("mlp", 32, 4, dtype="float64").forward(sw, sb)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4)


# --------------------------------------------------------------------------- output format
def test_dataarray_format_and_zarr_roundtrip(tmp_path):
    net = RandomNetwork("cnn", 8, 3, seed=2, kernel_size=3)
    da = net.forward(np.array([0.5, 1.0]), np.array([0.0, 0.5, 1.0]), layers=[1, 3])
    assert da.dims == ("sigma_w", "sigma_b", "layer")
    np.testing.assert_array_equal(da.sigma_b.values, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(da.layer.values, [1, 3])
    assert da.attrs["arch"] == "cnn" and da.attrs["kernel_size"] == 3 and da.attrs["seed"] == 2
    assert da.attrs["sigma_convention"] == "std" and "long_name" in da.attrs and "parameters" in da.attrs
    assert da.attrs["metric"] == "forward" and da.attrs["inputs"] == "independent"
    scalar = net.forward([0.5, 1.0], [0.1])
    assert scalar.dims == ("sigma_w", "sigma_b") and int(scalar.layer) == 3
    points = net.lyapunov([0.5, 1.0], [0.1, 0.2], grid=False)
    assert points.dims == ("point",) and points.attrs["units"] == "1/layer"
    back = net.backward([0.5], [0.1], layers=[0, 2])
    assert back.dims == ("sigma_w", "sigma_b", "layer")
    path = write_zarr(da, tmp_path / "d.zarr")
    xr.testing.assert_identical(xr.open_zarr(path)["forward"].load(), da)


def test_progress_callback_reports_points_done():
    net = RandomNetwork("mlp", 8, 3)
    seen = []
    net.forward(np.linspace(0, 1, 10), np.linspace(0, 1, 5), block_size=16, progress=lambda *a: seen.append(a))
    assert seen == [(16, 50), (32, 50), (48, 50), (50, 50)]


def numpy_divergence(net: RandomNetwork, phi, sw: float, sb: float) -> tuple[float, float]:
    """L^(D) for two independent inputs and the largest pre-activation fed to ``phi``: a NumPy float64 loop."""
    states, largest = [], -np.inf
    for x in net.inputs("independent"):
        h = np.asarray(x, dtype=np.float64)
        for layer in range(1, net.depth + 1):
            if layer > 1:
                largest = max(largest, h.max())
            h = sw * net.operator_matrix(layer) @ (h if layer == 1 else phi(h)) + sb * net.bias(layer)
        states.append(h)
    return float(np.sum((states[0] - states[1]) ** 2) / net.width), largest


def test_custom_callable_activation_matches_a_numpy_forward_pass():
    """A torch callable with no built-in twin against a NumPy loop that applies the same function by hand."""
    net = RandomNetwork("mlp", 8, 3, activation=lambda t: torch.tanh(t) + 0.1 * t, dtype="float64")
    sw, sb = np.array([0.7, 1.9, 3.1]), np.array([0.0, 0.4])
    got = net.forward(sw, sb).values
    for i, w in enumerate(sw):
        for j, b in enumerate(sb):
            expected, _ = numpy_divergence(net, lambda h: np.tanh(h) + 0.1 * h, w, b)
            assert got[i, j] == pytest.approx(expected, rel=1e-12)


def test_nan_from_a_user_activation_names_the_first_grid_point():
    """Issue 10, 7: NaN is reported as NaN (an error), not as +inf 'overflow', with the first (sigma_w, sigma_b)
    in grid order (sigma_w-major) at which a pre-activation reaches the activation's NaN region (> 3.5)."""

    def nan_above(t):
        return torch.where(t > 3.5, torch.full_like(t, float("nan")), torch.tanh(t))

    net = RandomNetwork("mlp", 8, 4, activation=nan_above, dtype="float64")
    sw, sb = np.linspace(0.0, 4.0, 9), np.linspace(0.0, 4.0, 9)
    # up to the first NaN the states are those of tanh, so the NumPy loop with tanh finds where it first happens
    first = next((w, b) for w in sw for b in sb if numpy_divergence(net, np.tanh, w, b)[1] > 3.5)
    with pytest.raises(ValueError, match=rf"returned NaN .* at sigma_w = {first[0]:.6g}, sigma_b = {first[1]:.6g}$"):
        net.forward(sw, sb, block_size=16)


# --------------------------------------------------------------------------- mean field
@pytest.mark.slow
@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "resnet"])
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
    growth = wide_mlp.forward(sw, sb, inputs="perturbed", eps=1e-3).values / 1e-6
    np.testing.assert_array_equal(np.sign(lyap[away]), np.sign(log_chi[away]))
    np.testing.assert_array_equal(growth[away] > 1, log_chi[away] > 0)


# --------------------------------------------------------------------------- GPU
@pytest.mark.cuda
@pytest.mark.parametrize("arch", ARCHS)
def test_cuda_matches_cpu(arch):
    sw, sb = np.linspace(0.2, 3.5, 6), np.linspace(0.0, 1.5, 4)
    for dtype, rtol in (("float64", 1e-9), ("float32", 2e-3)):
        cpu = RandomNetwork(arch, 32, 6, seed=3, dtype=dtype)
        gpu = RandomNetwork(arch, 32, 6, seed=3, dtype=dtype, device="cuda")
        np.testing.assert_allclose(gpu.forward(sw, sb).values, cpu.forward(sw, sb).values, rtol=rtol)
        np.testing.assert_allclose(gpu.lyapunov(sw, sb).values, cpu.lyapunov(sw, sb).values, rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(
            gpu.backward(sw, sb).values, cpu.backward(sw, sb).values, rtol=rtol
        )


def test_moments_warn_when_an_unbounded_network_overflows():
    net = RandomNetwork("mlp", 8, 200, activation="linear", seed=0, dtype="float32")
    with pytest.warns(RuntimeWarning, match="moments: the network overflowed"):
        ds = net.moments([40.0], [0.0], layers=[200])
    assert not np.isfinite(ds["q11"].values).all()


# --------------------------------------------------------------------------- residual networks vs mean field
def _gauss_expectation(f):
    """E[f(z)], z ~ N(0, 1), by adaptive scipy quadrature."""
    from scipy import integrate

    value, _ = integrate.quad(
        lambda z: f(z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi), -12.0, 12.0, epsabs=1e-13, epsrel=1e-12
    )
    return value


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(400)


def _pair_expectation(phi, q1, q2, q12):
    """E[phi(u1) phi(u2)] for a centred Gaussian pair: tensor Gauss-Legendre on [-10, 10]^2 in (z1, z2)."""
    z, w = 10.0 * _NODES, 10.0 * _WEIGHTS * np.exp(-0.5 * (10.0 * _NODES) ** 2) / math.sqrt(2 * math.pi)
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    c = q12 / (s1 * s2)
    u1 = s1 * z[:, None]
    u2 = s2 * (c * z[:, None] + math.sqrt(max(1.0 - c * c, 0.0)) * z[None, :])
    return float(w @ (phi(u1) * phi(u2)) @ w)


def residual_recursion(sw, sb, q11, q22, q12, layers):
    """Independent residual mean-field recursion for erf, from layer-1 moments: for l >= 2
    q^l = q^{l-1} + sw^2 E[phi(u)^2] + sb^2 and q12^l = q12^{l-1} + sw^2 E[phi(u1) phi(u2)] + sb^2."""
    from scipy import special

    def second_moment(q):
        s = math.sqrt(q)
        return _gauss_expectation(lambda z: math.erf(s * z) ** 2)

    out = [(q11, q22, q12)]
    for _ in range(layers):
        e11, e22 = second_moment(q11), second_moment(q22)
        e12 = _pair_expectation(special.erf, q11, q22, q12)
        q11, q22, q12 = q11 + sw**2 * e11 + sb**2, q22 + sw**2 * e22 + sb**2, q12 + sw**2 * e12 + sb**2
        out.append((q11, q22, q12))
    return np.array(out)


def test_pair_quadrature_matches_nested_scipy_quadrature():
    """The tensor Gauss-Legendre rule of the residual reference against nested adaptive scipy quadrature."""
    q1, q2, q12 = 7.3, 2.1, 1.9
    s1, s2, c = math.sqrt(q1), math.sqrt(q2), q12 / math.sqrt(q1 * q2)
    sn = math.sqrt(1 - c * c)
    nested = _gauss_expectation(
        lambda z1: _gauss_expectation(lambda z2: math.erf(s1 * z1) * math.erf(s2 * (c * z1 + sn * z2)))
    )
    from scipy import special

    assert _pair_expectation(special.erf, q1, q2, q12) == pytest.approx(nested, rel=1e-9, abs=1e-12)


def test_mean_field_engine_speaks_the_same_residual_recursion():
    """MeanField(arch="resnet").trajectory (moments() vocabulary: same names, same dims) equals the independent
    recursion above to 1e-9, layer 1 acting on the input (q^1 = sigma_w^2 q^0 + sigma_b^2)."""
    from infoprop._src.meanfield import MeanField

    sw, sb, q0, c0, depth = np.array([0.5, 3.0]), np.array([0.1, 1.0]), (1.0, 1.3), 0.2, 8
    mean_field = MeanField("erf", arch=RandomNetwork("resnet", 4, 2).description)
    traj = mean_field.trajectory(sw, sb, q0=q0, c0=c0, depth=depth)
    assert traj.q11.dims == ("sigma_w", "sigma_b", "layer")
    for i, w in enumerate(sw):
        for j, b in enumerate(sb):
            q12 = c0 * math.sqrt(q0[0] * q0[1])
            ref = residual_recursion(w, b, w * w * q0[0] + b * b, w * w * q0[1] + b * b, w * w * q12 + b * b, depth - 1)
            got = traj.isel(sigma_w=i, sigma_b=j).sel(layer=slice(1, None))
            for k, name in enumerate(("q11", "q22", "q12")):
                np.testing.assert_allclose(got[name].values, ref[:, k], rtol=1e-9)


@pytest.mark.slow
def test_wide_resnet_follows_the_residual_mean_field_recursion():
    """N = 2000 resnet (erf) against the residual q/c recursion (independent scipy/Gauss-Legendre quadrature),
    averaged over 6 draws.

    The recursion starts from each draw's own layer-1 moments: layer 1's fluctuation (||A_1 x||^2 / N is random at
    sqrt(2/N) = 3%) is never forgotten by the skip connections, so it must not be charged to layers 2..D. Per draw,
    the cross terms <h, A phi(h)> / N of layers 2..10 (zero mean, ~1/sqrt(N)) make q and L wander by 3-8% and c by
    ~0.05 (measured over 8 draws); the mean over 6 draws, pooled over layers, has standard errors of about 1% (q),
    2% (L) and 0.01 (c), and the tolerances are 3, 3 and 4 of those. Dropping the skip connection, a sigma_b^2 term
    or the factor sigma_w^2 moves at least one point far outside them.
    """
    depth, width = 10, 2000
    sw, sb = np.array([0.5, 1.5, 3.0]), np.array([0.1, 0.5, 1.0])
    dev_q, dev_l, dev_c = [], [], []
    for seed in range(6):
        net = RandomNetwork("resnet", width, depth, seed=seed, dtype="float64")
        ds = net.moments(sw, sb, grid=False, layers=list(range(1, depth + 1)))
        for p in range(sw.size):
            emp = ds.isel(point=p)
            ref = residual_recursion(sw[p], sb[p], *(float(emp[k][0]) for k in ("q11", "q22", "q12")), depth - 1)
            divergence = ref[:, 0] + ref[:, 1] - 2 * ref[:, 2]
            dev_q.append(emp.q11.values[1:] / ref[1:, 0] - 1)
            dev_l.append(emp.divergence.values[1:] / divergence[1:] - 1)
            dev_c.append(emp.c.values[1:] - ref[1:, 2] / np.sqrt(ref[1:, 0] * ref[1:, 1]))
    for p in range(sw.size):
        q, l, c = (np.array(d[p :: sw.size]) for d in (dev_q, dev_l, dev_c))
        assert abs(q.mean()) < 0.03, (p, q.mean())
        assert abs(l.mean()) < 0.06, (p, l.mean())
        assert abs(c.mean()) < 0.04, (p, c.mean())


def test_engine_uses_every_core_from_a_thread_of_its_own():
    """A thread started after the engine ran (a web server's worker) sees torch.get_num_threads() == 1 under
    torch 2.13; the engine must still use the main thread's count there, and give the same values."""
    import threading

    from infoprop._src.networks import cpu_workers

    main_threads = torch.get_num_threads()
    if main_threads < 2:
        pytest.skip("needs 2 or more CPU threads")
    net = RandomNetwork("mlp", 16, 6, seed=3)
    axis = np.linspace(0.5, 3.0, 24)
    expected = net.forward(axis, axis).values  # runs the engine's workers first
    seen = {}

    def in_thread():
        seen["workers"] = cpu_workers()
        seen["values"] = net.forward(axis, axis).values

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen["workers"] == main_threads
    np.testing.assert_array_equal(seen["values"], expected)
