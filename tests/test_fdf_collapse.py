"""Why FDF networks collapse two inputs exactly in the chaotic phase at small sigma_b (issue 11, docs/fractal.md).

The explanation under test: every FDF layer ``A = sqrt(2) Re(F D F)`` equals ``sqrt(2) F E F`` with
``E = diag((d_k + conj(d_{-k})) / 2)``, so all layers share the real Fourier pairs {k, -k} as invariant
subspaces (``A^T A`` is a circulant with eigenvalues ``2 cos^2((theta_k + theta_{-k}) / 2)``) and the constant
vector as a common eigenvector (``A 1 = sqrt(2) cos(theta_0) 1``), which the elementwise activation also keeps
(``phi(c 1) = phi(c) 1``). The state can therefore condense onto the constant mode; there erf saturates, the
Jacobian ``sigma_w A diag(phi'(h))`` is tiny in every direction, and both inputs end on the same state.

Independent references: the drawn phases (``RandomNetwork.parameters``) with NumPy, a NumPy float64 forward
pass from the operator matrices, and a control network whose layers' rows get random signs (same singular
values and normalisation, no common eigenvector).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from infoprop._src.meanfield import MeanField
from infoprop._src.networks import RandomNetwork

POINT = (1.711, 0.05)  # chi_1 = 1.36: chaotic in mean field


@pytest.mark.parametrize("width", [12, 13])
def test_fdf_layers_share_fourier_pairs_and_the_constant_eigenvector(width):
    net = RandomNetwork("fdf", width, 3, seed=4, dtype="float64")
    k = np.arange(width)
    ones = np.ones(width)
    for layer in (1, 2, 3):
        a = net.operator_matrix(layer)
        theta = net.parameters(layer)
        np.testing.assert_allclose(a @ ones, math.sqrt(2) * math.cos(theta[0]) * ones, atol=1e-13)
        gram = a.T @ a
        column = gram[:, 0]
        np.testing.assert_allclose(gram, column[(k[:, None] - k[None, :]) % width], atol=1e-13)  # circulant
        expected = 2 * np.cos((theta + theta[(-k) % width]) / 2) ** 2
        np.testing.assert_allclose(np.fft.fft(column).real, expected, atol=1e-12)
        if width % 2 == 0:  # the alternating vector is the other real common eigenvector
            alternating = (-1.0) ** k
            np.testing.assert_allclose(
                a @ alternating, math.sqrt(2) * math.cos(theta[width // 2]) * alternating, atol=1e-13
            )


@pytest.mark.parametrize("arch", ["fdfd", "mlp", "orthogonal"])
def test_other_operators_do_not_keep_the_constant_vector(arch):
    net = RandomNetwork(arch, 12, 2, seed=4, dtype="float64")
    for layer in (1, 2):
        image = net.operator_matrix(layer) @ np.ones(12)
        along = image.mean() * np.ones(12)
        assert np.linalg.norm(image - along) > 0.3 * np.linalg.norm(image)


def test_cnn_circulants_keep_the_constant_vector_too():
    # a circulant has every Fourier mode as eigenvector: the CNN shares the mechanism (rarer collapses, measured
    # by `infoprop figure collapse`); its eigenvalue for the constant mode is the kernel's sum
    net = RandomNetwork("cnn", 12, 2, seed=4, dtype="float64")
    for layer in (1, 2):
        image = net.operator_matrix(layer) @ np.ones(12)
        np.testing.assert_allclose(image, net.parameters(layer).sum() * np.ones(12), atol=1e-13)


def numpy_pass(net: RandomNetwork, sw: float, sb: float, flip_seed: int | None = None):
    """Float64 NumPy forward pass of both inputs; per layer L, constant-mode energy fraction, mean erf'(h)^2.

    With ``flip_seed`` every layer's rows get random signs (``S A``): same singular values and normalisation,
    but the constant vector is no longer a common eigenvector.
    """
    rng = None if flip_seed is None else np.random.default_rng(flip_seed)
    h = list(net.inputs())
    n = net.width
    trace = []
    for layer in range(1, net.depth + 1):
        a = net.operator_matrix(layer)
        if rng is not None:
            a = a * rng.choice([-1.0, 1.0], size=n)[:, None]
        h = [sw * a @ (v if layer == 1 else erf(v)) + sb * net.bias(layer) for v in h]
        d = h[0] - h[1]
        constant = h[0].mean() ** 2 * n / (h[0] @ h[0])
        slope2 = np.mean(4 / np.pi * np.exp(-2 * h[0] ** 2))
        trace.append((d @ d / n, constant, slope2))
    return np.array(trace)


def test_exact_collapse_in_the_chaotic_phase_is_condensation_on_the_constant_mode():
    assert MeanField("erf").chi1(*POINT) > 1.3
    net = RandomNetwork("fdf", 100, 100, seed=0, dtype="float64")
    assert float(net.forward(*POINT)) == 0.0  # the engine: the two inputs' states are bitwise equal
    trace = numpy_pass(net, *POINT)
    collapsed = int(np.argmax(trace[:, 0] < 1e-20))
    assert 0 < collapsed < 99 and trace[collapsed, 0] < 1e-20
    # at the collapse the state is (almost) a constant vector and erf is saturated there
    assert trace[collapsed, 1] > 0.99
    assert trace[collapsed, 2] < 0.05
    # before condensing, the state was spread over the modes (not a constant vector) and the inputs apart
    assert trace[:10, 1].max() < 0.5 and trace[:10, 0].min() > 0.5


def test_the_collapse_needs_the_constant_eigenvector():
    # same draw, every layer's rows with random signs: same singular values, no common eigenvector -> no collapse
    net = RandomNetwork("fdf", 100, 100, seed=0, dtype="float64")
    assert numpy_pass(net, *POINT, flip_seed=0)[-1, 0] > 0.1
    for arch in ("fdfd", "mlp"):
        other = RandomNetwork(arch, 100, 100, seed=0, dtype="float64")
        assert float(other.forward(*POINT)) > 0.1
    # permuting rows instead keeps the constant vector an eigenvector (P 1 = 1): that control still collapses
    # (`infoprop figure collapse`: 7 collapses against FDF's 11 in the same sample, 0 with flipped signs)
    rng = np.random.default_rng(0)
    a = net.operator_matrix(1)[rng.permutation(100)]
    np.testing.assert_allclose(
        a @ np.ones(100), math.sqrt(2) * math.cos(net.parameters(1)[0]) * np.ones(100), atol=1e-13
    )
