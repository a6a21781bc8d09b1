"""The network description (arch presets, operator registry) and the vocabulary built on it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from infoprop._src.arch import ARCHS, OPERATORS, PRESETS, Arch, Operator, get_arch
from infoprop._src.metrics import METRICS
from infoprop._src.networks import RandomNetwork


def test_presets_and_names():
    assert ARCHS == ("mlp", "cnn", "fdf", "fdfd", "orthogonal", "resnet")
    assert get_arch("resnet") == Arch("dense", residual=True) and get_arch("resnet").mean_field == "residual"
    assert get_arch("mlp+residual").name == "resnet"
    assert get_arch("cnn", residual=True) == get_arch("cnn+residual") == Arch("conv", residual=True)
    assert get_arch("cnn+residual").name == "cnn+residual"
    assert get_arch("resnet", residual=False).name == "mlp"
    assert all(PRESETS[name].name == name for name in ARCHS)
    assert set(OPERATORS) == {"dense", "orthogonal", "conv", "fdf", "fdfd"}


@pytest.mark.parametrize(
    ("arch", "error", "match"),
    [
        ("rnn", ValueError, "arch must be one of"),
        ("resnet+residual", ValueError, "arch must be one of"),
        (3, TypeError, "arch must be an arch name"),
    ],
)
def test_bad_arch(arch, error, match):
    with pytest.raises(error, match=match):
        get_arch(arch)
    with pytest.raises(error, match=match):
        RandomNetwork(arch, 4, 2)


def test_bad_description():
    with pytest.raises(ValueError, match="operator must be one of"):
        Arch("lstm")
    with pytest.raises(TypeError, match="residual must be True or False"):
        Arch("dense", residual=1)
    with pytest.raises(TypeError, match="apply_method"):
        RandomNetwork("cnn", 4, 2, operator="fft")


def test_layers_spell_out_the_recursion():
    layers = get_arch("resnet").layers(3)
    assert [(l.index, l.operator, l.activation, l.residual, l.bias) for l in layers] == [
        (1, "dense", False, False, True),
        (2, "dense", True, True, True),
        (3, "dense", True, True, True),
    ]
    assert not any(l.residual for l in get_arch("fdf").layers(4))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_each_operator_fast_path_equals_its_matrix(name):
    """apply/apply_t of every structured operator equal its dense float64 matrix (an independent construction:
    the circulant by indexing, the FDF products by explicit DFT matrices below)."""
    width = 12
    op = OPERATORS[name](width)
    gen = torch.Generator().manual_seed(4)
    params = op.draw(gen)
    mat = op.matrix(params)
    assert mat.shape == (width, width) and mat.dtype == np.float64
    if name in ("fdf", "fdfd"):
        f = np.fft.fft(np.eye(width), norm="ortho")  # unitary DFT matrix
        phases = np.exp(1j * params.numpy())
        inner = f if name == "fdf" else f @ np.diag(phases[0])
        np.testing.assert_allclose(mat, np.sqrt(2) * (f @ np.diag(phases if name == "fdf" else phases[1]) @ inner).real)
    if op.fast_path is None:
        return
    data = op.prepare(params[None])[0]
    rows = torch.as_tensor(np.random.default_rng(0).normal(size=(3, width)))
    np.testing.assert_allclose(op.apply(data, rows).numpy(), rows.numpy() @ mat.T, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(op.apply_t(data, rows).numpy(), rows.numpy() @ mat, rtol=1e-12, atol=1e-13)


def test_operator_options_are_validated():
    assert OPERATORS["conv"](8).options == {"kernel_size": 8}
    with pytest.raises(ValueError, match="kernel_size"):
        OPERATORS["conv"](8, kernel_size=9)
    with pytest.raises(TypeError, match="accepts options"):
        OPERATORS["dense"](8, kernel_size=3)


def test_resnet_is_the_mlp_draw():
    """resnet and mlp with one seed share operators and biases bitwise (the draw does not know residual)."""
    mlp, resnet = RandomNetwork("mlp", 10, 4, seed=5), RandomNetwork("resnet", 10, 4, seed=5)
    for layer in range(1, 5):
        np.testing.assert_array_equal(mlp.operator_matrix(layer), resnet.operator_matrix(layer))
        np.testing.assert_array_equal(mlp.bias(layer), resnet.bias(layer))
    # and they differ from layer 2 on: the skip connection acts
    sw, sb = [1.0, 2.0], [0.5]
    np.testing.assert_array_equal(mlp.forward(sw, sb, layers=1).values, resnet.forward(sw, sb, layers=1).values)
    assert not np.array_equal(mlp.forward(sw, sb, layers=2).values, resnet.forward(sw, sb, layers=2).values)


def _numpy_metrics(net, sw, sb):
    """forward, forward_normalised, backward (at layer 0) and lyapunov of ``net`` at one point: a NumPy float64
    loop over ``net.operator_matrix`` with explicit layer Jacobians ``J_l = sigma_w A_l diag(phi'(h^{l-1})) [+ I]``."""
    from scipy import special

    phi = special.erf
    dphi = lambda h: 2 / np.sqrt(np.pi) * np.exp(-h * h)  # noqa: E731
    vec = net.vectors()
    states, jac = {}, np.eye(net.width)
    for key in ("x1", "x2"):
        h = vec[key]
        for layer in range(1, net.depth + 1):
            a = net.operator_matrix(layer)
            step = sw * a if layer == 1 else sw * a @ np.diag(dphi(h)) + (np.eye(net.width) if net.residual else 0)
            h = (h if net.residual and layer > 1 else 0) + sw * a @ (h if layer == 1 else phi(h)) + sb * net.bias(layer)
            if key == "x1":
                jac = step @ jac
        states[key] = h
    forward = np.sum((states["x1"] - states["x2"]) ** 2) / net.width
    forward_normalised = np.sum((phi(states["x1"]) - phi(states["x2"])) ** 2) / net.width  # post-activations
    backward = np.linalg.norm(jac.T @ (vec["g1"] - vec["g2"]))
    lyapunov = np.log(np.linalg.norm(jac @ vec["v"]) / np.linalg.norm(vec["v"])) / net.depth
    return {"forward": forward, "forward_normalised": forward_normalised, "backward": backward, "lyapunov": lyapunov}


def test_adding_an_operator_is_one_class():
    """A new operator registered in one place runs in every metric, residual or not, and each metric equals a
    NumPy loop over the operator's matrix (a random multiple of the identity per layer)."""
    from infoprop._src import arch as arch_module

    class Scaled(Operator):
        name = "test_identity_scaled"

        def draw(self, generator):
            return torch.randn(1, dtype=torch.float64, generator=generator)

        def matrix(self, params):
            return float(params[0]) * np.eye(self.width)

    arch_module.register_operator(Scaled)
    try:
        for residual in (False, True):
            net = RandomNetwork(Arch("test_identity_scaled", residual), 6, 3, "erf", dtype="float64")
            assert net.arch == "test_identity_scaled" + ("+residual" if residual else "")
            scales = [net.operator_matrix(layer)[0, 0] for layer in (1, 2, 3)]
            assert len(set(scales)) == 3  # the operator really is drawn per layer
            sw, sb = [0.5, 1.5], [0.2]
            for metric in METRICS:
                values = net.landscape(metric, sw, sb).values
                for i, w in enumerate(sw):
                    expected = _numpy_metrics(net, w, sb[0])[metric]
                    assert values[i, 0] == pytest.approx(expected, rel=1e-10), (metric, residual, w)
        with pytest.raises(ValueError, match="already registered"):
            arch_module.register_operator(Scaled)
    finally:
        del arch_module.OPERATORS["test_identity_scaled"]


def test_metric_names_are_one_vocabulary():
    net = RandomNetwork("cnn+residual", 8, 3, kernel_size=3)
    for metric in METRICS:
        da = net.landscape(metric, [0.5, 1.0], [0.1])
        assert da.name == metric and da.attrs["metric"] == metric
        assert da.attrs["arch"] == "cnn+residual" and da.attrs["residual"] is True
    with pytest.raises(ValueError, match="metric must be one of"):
        net.landscape("divergence", [0.5], [0.1])


def test_vocabulary_modules_do_not_import_torch():
    code = "import sys, infoprop._src.arch, infoprop._src.metrics, infoprop._src.fractal; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
