"""Activation registry: derivatives, torch/NumPy agreement, user callables, validation, closed-form kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from infoprop._src.activations import ACTIVATIONS, Activation, get_activation, is_builtin

X = np.linspace(-3.7, 3.9, 41)


def _away_from_kinks(act: Activation, x: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    keep = np.ones(x.shape, dtype=bool)
    for k in act.kinks:
        keep &= np.abs(x - k) > margin
    return x[keep]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivatives_match_finite_differences(name):
    act = get_activation(name)
    x = _away_from_kinks(act, X, margin=0.05)
    h = 1e-5
    fd1 = (act.phi(x + h) - act.phi(x - h)) / (2 * h)
    fd2 = (act.dphi(x + h) - act.dphi(x - h)) / (2 * h)
    np.testing.assert_allclose(act.dphi(x), fd1, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(act.d2phi(x), fd2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_torch_matches_numpy(name):
    act = get_activation(name)
    x = np.linspace(-50.0, 50.0, 1001)
    expected = act.phi(x)
    got = act.torch_fn(torch.as_tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)


def test_odd_flags_match_the_functions():
    odd = {name for name in ACTIVATIONS if get_activation(name).odd}
    assert odd == {"tanh", "erf", "linear", "sin", "hard_tanh"}
    for name in ACTIVATIONS:
        act = get_activation(name)
        if name in odd:
            np.testing.assert_allclose(act.phi(-X), -act.phi(X), atol=0, rtol=0)
        else:  # the flag is not merely absent: these functions are not odd
            assert np.max(np.abs(act.phi(-X) + act.phi(X))) > 1e-3, name


def test_parameters_reach_the_function():
    leaky = get_activation("leaky_relu", negative_slope=0.3)
    np.testing.assert_allclose(leaky.phi(np.array([-2.0, 2.0])), [-0.6, 2.0])
    elu = get_activation("elu", alpha=2.0)
    np.testing.assert_allclose(elu.phi(np.array([-1.0])), [2.0 * math.expm1(-1.0)])
    assert leaky.describe() == {"name": "leaky_relu", "negative_slope": 0.3}


def test_user_callable_uses_autograd():
    act = get_activation(lambda t: torch.tanh(2.0 * t))
    x = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(act.phi(x), np.tanh(2 * x), rtol=1e-15)
    np.testing.assert_allclose(act.dphi(x), 2 / np.cosh(2 * x) ** 2, rtol=1e-13)
    np.testing.assert_allclose(act.d2phi(x), -8 * np.tanh(2 * x) / np.cosh(2 * x) ** 2, rtol=1e-12, atol=1e-14)
    assert act.odd and not act.smooth and act.kernels is None and not is_builtin(act)
    piecewise = get_activation(lambda t: torch.clamp(t, min=0.0))
    np.testing.assert_allclose(piecewise.d2phi(x[x != 0]), 0.0)


def test_activation_instance_passes_through():
    act = get_activation("tanh")
    assert get_activation(act) is act
    assert is_builtin(act)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("nope",), {}, ValueError, "activation must be one of"),
        (("tanh",), {"alpha": 1.0}, TypeError, "accepts parameters"),
        (("elu",), {"alpha": -1.0}, ValueError, "alpha must be > 0"),
        (("leaky_relu",), {"negative_slope": float("nan")}, ValueError, "negative_slope must be finite"),
        ((42,), {}, TypeError, "activation must be one of"),
        ((lambda t: t.sum(),), {}, TypeError, "elementwise"),
        ((lambda t: undefined_name,), {}, TypeError, "requires grad failed: name 'undefined_name'"),  # noqa: F821
        ((lambda t: torch.zeros_like(t),), {}, TypeError, "differentiable by torch.autograd"),
    ],
)
def test_bad_activation_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        get_activation(*args, **kwargs)


def test_parameters_on_instance_rejected():
    with pytest.raises(TypeError, match="cannot be applied"):
        get_activation(get_activation("tanh"), alpha=1.0)


# --------------------------------------------------------------------------- closed forms vs quadrature
def _gauss(f, kinks=(), scale=1.0):
    """E[f(z)] for z ~ N(0, 1) by adaptive quadrature, split at kinks (given in units of z)."""
    points = sorted(k / scale for k in kinks)
    value, _ = integrate.quad(
        lambda z: f(z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
        -12.0,
        12.0,
        points=points or None,
        limit=400,
        epsabs=1e-14,
        epsrel=1e-12,
    )
    return value


def _gauss2(f, q1, q2, c, kinks):
    """E[f(u1, u2)] for a centred Gaussian pair (variances q1, q2, correlation c): nested adaptive quadrature."""
    s1, s2, sn = math.sqrt(q1), math.sqrt(q2), math.sqrt(1 - c * c)

    def inner(z1):
        cuts = [(k / s2 - c * z1) / sn for k in kinks]
        return _gauss(lambda z2: f(s1 * z1, s2 * (c * z1 + sn * z2)), [x for x in cuts if abs(x) < 12])

    return _gauss(inner, kinks, s1)


CLOSED = {
    "erf": ((), lambda x: math.erf(x), lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x)),
    "relu": ((0.0,), lambda x: max(x, 0.0), lambda x: float(x > 0)),
    "leaky_relu": ((0.0,), lambda x: x if x > 0 else 0.2 * x, lambda x: 1.0 if x > 0 else 0.2),
    "linear": ((), lambda x: x, lambda x: 1.0),
    "sin": ((), math.sin, math.cos),
}


@pytest.mark.parametrize("name", list(CLOSED))
@pytest.mark.parametrize("q", [0.3, 2.0, 25.0])
def test_single_input_closed_forms_match_quadrature(name, q):
    kinks, phi, dphi = CLOSED[name]
    params = {"negative_slope": 0.2} if name == "leaky_relu" else {}
    kern = get_activation(name, **params).kernels
    s = math.sqrt(q)
    second = _gauss(lambda z: phi(s * z) ** 2, kinks, s)
    slope = _gauss(lambda z: dphi(s * z) ** 2, kinks, s)
    derivative = _gauss(lambda z: z * phi(s * z) * dphi(s * z), kinks, s) / s  # derivative-free V'(q) / sigma_w^2
    np.testing.assert_allclose(kern.second_moment(np.array(q)), second, rtol=1e-11)
    np.testing.assert_allclose(kern.slope_moment(np.array(q)), slope, rtol=1e-11)
    # the derivative integrand is O(1) while the integral can be tiny (sin: exp(-2q)): absolute floor 1e-15
    np.testing.assert_allclose(kern.second_moment_derivative(np.array(q)), derivative, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", list(CLOSED))
def test_pair_closed_forms_match_quadrature(name):
    kinks, phi, dphi = CLOSED[name]
    params = {"negative_slope": 0.2} if name == "leaky_relu" else {}
    kern = get_activation(name, **params).kernels
    q1, q2, c = 1.7, 0.6, 0.35
    q12 = c * math.sqrt(q1 * q2)
    cross = _gauss2(lambda a, b: phi(a) * phi(b), q1, q2, c, kinks)
    slope = _gauss2(lambda a, b: dphi(a) * dphi(b), q1, q2, c, kinks)
    np.testing.assert_allclose(kern.cross_moment(q1, q2, q12), cross, rtol=1e-10)
    np.testing.assert_allclose(kern.cross_slope_moment(q1, q2, q12), slope, rtol=1e-10)
    half = 0.5 * _gauss2(lambda a, b: (phi(a) - phi(b)) ** 2, q1, q1, c, kinks)
    np.testing.assert_allclose(kern.half_square_difference(np.array(q1), np.array(1 - c)), half, rtol=1e-10)


@pytest.mark.parametrize("name", ["erf", "relu", "leaky_relu"])
def test_half_square_difference_keeps_precision_near_one(name):
    """At c = 1 - eps the difference form is exact to round-off; the naive form loses ~1/eps."""
    import mpmath as mp

    params = {"negative_slope": 0.2} if name == "leaky_relu" else {}
    kern = get_activation(name, **params).kernels
    q, eps = 2.5, 1e-9
    with mp.workdps(40):
        qm, em = mp.mpf(q), mp.mpf(eps)
        c = 1 - em
        if name == "erf":
            x = 2 * qm / (1 + 2 * qm)
            ref = 2 / mp.pi * (mp.asin(x) - mp.asin(x * c))
        else:
            a = mp.mpf("0.2") if name == "leaky_relu" else mp.mpf(0)
            t = mp.acos(c)
            relu = qm / (2 * mp.pi) * (mp.sin(t) + (mp.pi - t) * c)
            k = a * qm * c + (1 - a) ** 2 * relu
            ref = qm * (1 + a * a) / 2 - k
    np.testing.assert_allclose(kern.half_square_difference(np.array(q), np.array(eps)), float(ref), rtol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_asymptotic_beyond_marks_where_the_curvature_ends(name):
    """Beyond ``asymptotic_beyond`` the activation is linear or constant to ~1e-17 (second derivative times u^2
    against the value); sin, the one registry activation with structure at every scale, has no such bound."""
    act = get_activation(name)
    u = np.concatenate([-np.geomspace(60.0, 1e4, 50), np.geomspace(60.0, 1e4, 50)])
    curvature = np.abs(act.d2phi(u)) * u * u / np.maximum(np.abs(act.phi(u)), 1.0)
    if act.asymptotic_beyond is None:
        assert name == "sin" and curvature.max() > 0.1
    else:
        assert act.asymptotic_beyond == 60.0 and curvature.max() < 1e-17
    assert get_activation(lambda t: torch.tanh(t)).asymptotic_beyond is None


# --------------------------------------------------------------------------- issue 10, item 7
@pytest.mark.parametrize("fn", [np.tanh, lambda x: np.sin(x) * 2.0, math.tanh])
def test_numpy_callables_are_refused_when_built(fn):
    """A NumPy function cannot be differentiated by torch.autograd: refused at once, not at first use."""
    from infoprop._src.meanfield import MeanField
    from infoprop._src.networks import RandomNetwork

    for build in (get_activation, MeanField, lambda f: RandomNetwork("mlp", 4, 2, activation=f)):
        with pytest.raises(TypeError, match=r"torch.autograd \(e.g. torch.tanh, not numpy.tanh\)"):
            build(fn)


def test_nan_from_a_user_activation_is_an_error_naming_the_input():
    from infoprop._src.meanfield import MeanField

    def nan_above_five(t):
        return torch.where(t > 5.0, torch.full_like(t, float("nan")), torch.tanh(t))

    act = get_activation(nan_above_five)  # fine on the probe points in [-3, 3]
    np.testing.assert_allclose(act.phi(np.array([1.0])), [math.tanh(1.0)])
    with pytest.raises(ValueError, match=r"activation 'nan_above_five' returned NaN for the finite input 6.0"):
        act.phi(np.array([1.0, 6.0]))
    with pytest.raises(ValueError, match="activation 'nan_above_five' returned NaN for the finite input"):
        MeanField(nan_above_five, method="quadrature").q_star(3.0, 0.5)  # the Gaussian quadrature reaches |u| > 5
    assert torch.isnan(act.torch_fn(torch.tensor([float("nan")]))).all()  # NaN in, NaN out: not the activation's
