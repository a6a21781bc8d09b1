"""Mean-field engine against independent references: mpmath quadrature, closed forms, iterated maps."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from types import SimpleNamespace

import mpmath as mp
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from infoprop._src.activations import get_activation
from infoprop._src.meanfield import CRITICAL_TOLERANCE, MEAN_FIELD_ARCHS, PHASES, MeanField, phase_labels

ORDERED, CHAOTIC, CRITICAL, UNBOUNDED = range(4)

# --------------------------------------------------------------------------- mpmath references (20 digits)
MP_PHI = {  # name: (phi, phi', kinks)
    "tanh": (mp.tanh, lambda x: mp.sech(x) ** 2, ()),
    "erf": (mp.erf, lambda x: 2 / mp.sqrt(mp.pi) * mp.exp(-x * x), ()),
    "hard_tanh": (lambda x: max(-1, min(1, x)), lambda x: 1 if abs(x) < 1 else 0, (-1, 1)),
    "elu": (lambda x: x if x > 0 else mp.expm1(x), lambda x: 1 if x > 0 else mp.exp(x), (0,)),
    "gelu": (lambda x: x * mp.ncdf(x), lambda x: mp.ncdf(x) + x * mp.npdf(x), ()),
    "softplus": (lambda x: mp.log1p(mp.exp(x)), lambda x: 1 / (1 + mp.exp(-x)), ()),
}


def mp_gauss(f, q, kinks):
    """E[f(sqrt(q) z)] by tanh-sinh quadrature split at the kinks and around the steep region."""
    s = mp.sqrt(q)
    points = sorted({mp.mpf(-1), mp.mpf(0), mp.mpf(1), *(mp.mpf(k) / s for k in kinks)})
    return mp.quad(lambda z: f(s * z) * mp.npdf(z), [-mp.inf, *points, mp.inf])


def mp_second_moment(name: str, q) -> mp.mpf:
    phi, _, kinks = MP_PHI[name]
    return mp_gauss(lambda u: phi(u) ** 2, q, kinks)


def mp_q_star(name: str, sw: float, sb: float, guess: float) -> mp.mpf:
    sw2, sb2 = mp.mpf(sw) ** 2, mp.mpf(sb) ** 2
    return mp.findroot(lambda q: sw2 * mp_second_moment(name, q) + sb2 - q, mp.mpf(guess))


# --------------------------------------------------------------------------- q*, chi_1, chi_q vs mpmath
CASES = [  # (activation, sigma_w, sigma_b): q* from ~0.1 to ~100, smooth and kinked
    ("tanh", 1.5, 0.3),
    ("tanh", 10.0, 1.0),  # q* ~ 93
    ("tanh", 0.8, 0.5),
    ("hard_tanh", 2.0, 0.5),
    ("hard_tanh", 9.0, 2.0),
    ("elu", 1.2, 0.4),
    ("gelu", 1.3, 0.2),
    ("softplus", 0.9, 0.1),
]


@pytest.mark.parametrize(("name", "sw", "sb"), CASES)
def test_fixed_point_and_slopes_match_mpmath(name, sw, sb):
    _, dphi, kinks = MP_PHI[name]
    with mp.workdps(20):
        ref = mp_q_star(name, sw, sb, MeanField(name).q_star(sw, sb))
        chi_q = mp.diff(lambda x: mp.mpf(sw) ** 2 * mp_second_moment(name, x), ref)
        chi1 = mp.mpf(sw) ** 2 * mp_gauss(lambda u: dphi(u) ** 2, ref, kinks)
    for method in ("fast", "quadrature"):
        mf = MeanField(name, method=method)
        assert mf.q_star(sw, sb) == pytest.approx(float(ref), rel=1e-10)
        assert mf.chi_q(sw, sb) == pytest.approx(float(chi_q), rel=1e-9)
        assert mf.chi1(sw, sb) == pytest.approx(float(chi1), rel=1e-10)


def test_moments_match_mpmath_up_to_q_100():
    for name in ("tanh", "hard_tanh", "elu"):
        for method in ("fast", "quadrature"):
            mf = MeanField(name, method=method)
            q = np.array([1e-4, 0.37, 5.0, 100.0])
            f0, _, _ = mf.moments(q)
            with mp.workdps(20):
                ref = [float(mp_second_moment(name, mp.mpf(v))) for v in q]
            np.testing.assert_allclose(f0, ref, rtol=1e-11)


# --------------------------------------------------------------------------- c*, chi_c vs a second method
def _kernel_reference(q: float, c: float, f, kinks=()):
    """E[f(u1) f(u2)] for Var = q, correlation c: nested adaptive Gauss-Kronrod quadrature (scipy)."""
    s, sn = math.sqrt(q), math.sqrt(1 - c * c)
    pdf = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731

    def quad(g, points):
        points = [p for p in points if abs(p) < 12] or None
        return integrate.quad(g, -12, 12, points=points, epsabs=1e-14, epsrel=1e-13, limit=200)[0]

    def inner(z1):
        cuts = [(k / s - c * z1) / sn for k in kinks]
        return f(s * z1) * quad(lambda z2: f(s * (c * z1 + sn * z2)) * pdf(z2), cuts) * pdf(z1)

    return quad(inner, [k / s for k in kinks])


@pytest.mark.parametrize(("sw", "sb"), [(2.0, 0.5), (3.0, 0.05)])
def test_tanh_correlation_fixed_point_matches_direct_quadrature(sw, sb):
    """c* from C(c) = c solved with brentq on a nested scipy quadrature of E[tanh(u1) tanh(u2)]."""
    mf = MeanField("tanh")
    q = mf.q_star(sw, sb)
    c_ref = optimize.brentq(
        lambda c: (sw**2 * _kernel_reference(q, c, math.tanh) + sb**2) / q - c, 0.0, 0.999, xtol=1e-14
    )
    chi_c_ref = sw**2 * _kernel_reference(q, c_ref, lambda x: 1 / math.cosh(x) ** 2)
    assert mf.c_star(sw, sb) == pytest.approx(c_ref, rel=1e-9)
    assert mf.chi_c(sw, sb) == pytest.approx(chi_c_ref, rel=1e-9)


def test_kinked_correlation_fixed_point_matches_direct_quadrature():
    """hard_tanh (kinks at +-1) has no Mehler table: the 2-D Gauss-Legendre path against nested scipy quadrature."""
    sw, sb = 2.5, 0.3
    mf = MeanField("hard_tanh")
    q = mf.q_star(sw, sb)
    phi, dphi = (lambda x: max(-1.0, min(1.0, x))), (lambda x: float(abs(x) < 1))
    c_ref = optimize.brentq(
        lambda c: (sw**2 * _kernel_reference(q, c, phi, (-1, 1)) + sb**2) / q - c, 0.0, 0.999, xtol=1e-14
    )
    assert mf.c_star(sw, sb) == pytest.approx(c_ref, rel=1e-9)
    assert mf.chi_c(sw, sb) == pytest.approx(sw**2 * _kernel_reference(q, c_ref, dphi, (-1, 1)), rel=1e-9)


@pytest.mark.parametrize("method", ["fast", "quadrature"])
def test_elu_chaotic_correlation_fixed_point_matches_direct_quadrature(method):
    """elu (kink at 0) in the chaotic phase: c* < 1 against brentq on nested scipy quadrature (was an IndexError)."""
    sw, sb = 1.3, 0.05
    mf = MeanField("elu", method=method)
    q = mf.q_star(sw, sb)
    phi, dphi = (lambda x: x if x > 0 else math.expm1(x)), (lambda x: 1.0 if x > 0 else math.exp(x))
    c_ref = optimize.brentq(
        lambda c: (sw**2 * _kernel_reference(q, c, phi, (0,)) + sb**2) / q - c, 0.0, 0.999, xtol=1e-14
    )
    assert c_ref < 0.99  # the point is chaotic: a correlation fixed point below 1 exists
    assert mf.c_star(sw, sb) == pytest.approx(c_ref, rel=1e-9)
    assert mf.chi_c(sw, sb) == pytest.approx(sw**2 * _kernel_reference(q, c_ref, dphi, (0,)), rel=1e-9)


@pytest.mark.parametrize("eps", [1e-9, 1e-5, 1e-2, 0.5, 1.0])
def test_pair_quadrature_near_c_one_matches_arc_cosine_kernel(eps):
    """The numeric 2-D path (kernels removed) keeps relative precision of E[(phi(u1) - phi(u2))^2] as c -> 1."""
    for params in ({}, {"negative_slope": 0.2}):
        act = get_activation("leaky_relu", **params) if params else get_activation("relu")
        numeric = MeanField(dataclasses.replace(act, kernels=None), method="quadrature")
        q = np.array([0.7, 30.0])
        d, s, _ = numeric._pair(q, np.full(2, eps))
        np.testing.assert_allclose(d, act.kernels.half_square_difference(q, eps), rtol=1e-11)
        np.testing.assert_allclose(s, act.kernels.cross_slope_moment(q, q, q * (1 - eps)), rtol=1e-11)


def test_fast_path_equals_quadrature_on_a_grid():
    sw, sb = np.array([0.6, 1.05, 1.4, 2.2, 3.1, 3.9]), np.array([0.0, 0.004, 0.3, 1.1, 2.0])
    fast = MeanField("tanh").phase_diagram(sw, sb)
    slow = MeanField("tanh", method="quadrature").phase_diagram(sw, sb)
    assert (fast.phase.values == slow.phase.values).all()
    assert (fast.phase.values == CHAOTIC).sum() >= 10
    for name in ("q_star", "chi1", "chi_q", "c_star", "chi_c", "xi_q", "xi_c", "xi_grad"):
        a, b = fast[name].values, slow[name].values
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=0, err_msg=name)


# --------------------------------------------------------------------------- critical lines
def test_erf_critical_line_closed_form():
    sb = np.array([0.0, 0.05, 0.5, 1.0, 2.0])
    for act in (get_activation("erf"), dataclasses.replace(get_activation("erf"), kernels=None)):
        mf = MeanField(act)
        sw = mf.critical_sigma_w(sb)
        np.testing.assert_allclose(mf.q_star(sw, sb), 4 * sw**4 / math.pi**2 - 0.25, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(mf.chi1(sw, sb), 1.0, rtol=1e-11)
        assert sw[0] == pytest.approx(math.sqrt(math.pi) / 2, rel=1e-13)
        np.testing.assert_allclose(mf.critical_sigma_b(sw), sb, rtol=1e-9, atol=1e-9)


def test_tanh_critical_points_match_mpmath():
    mf = MeanField("tanh")
    assert mf.critical_sigma_w(0.0) == pytest.approx(1.0, rel=1e-14)
    sw2 = mf.critical_sigma_w(math.sqrt(0.05)) ** 2
    with mp.workdps(25):

        def slope(q):
            s = mp.sqrt(q)
            return mp.quad(lambda z: mp.sech(s * z) ** 4 * mp.npdf(z), [-mp.inf, -1, 0, 1, mp.inf])

        def equations(q, w2):
            return [w2 * mp_second_moment("tanh", q) + mp.mpf("0.05") - q, w2 * slope(q) - 1]

        q_ref, w2_ref = mp.findroot(equations, (mp.mpf(0.5), mp.mpf(1.7)))
    assert sw2 == pytest.approx(float(w2_ref), rel=1e-10)
    assert round(sw2, 2) == 1.76
    assert mf.q_star(math.sqrt(sw2), math.sqrt(0.05)) == pytest.approx(float(q_ref), rel=1e-9)
    assert np.isnan(mf.critical_sigma_b(0.9))  # sigma_w < 1: ordered at every sigma_b


def test_relu_slopes_and_single_critical_point():
    mf = MeanField("relu")
    sw = np.array([0.5, 1.0, 1.3, math.sqrt(2), 1.6, 3.0])
    for sb in (0.0, 0.7):
        np.testing.assert_allclose(mf.chi1(sw, sb), sw**2 / 2, rtol=1e-15)
        np.testing.assert_allclose(mf.chi_q(sw, sb), sw**2 / 2, rtol=1e-15)
    assert mf.critical_sigma_w(0.0) == pytest.approx(math.sqrt(2), rel=1e-15)
    assert np.isnan(mf.critical_sigma_w(0.5))
    assert mf.critical_sigma_b(math.sqrt(2)) == 0.0 and np.isnan(mf.critical_sigma_b(1.3))
    assert mf.q_star(1.0, 0.5) == pytest.approx(0.25 / 0.5)
    ds = mf.phase_diagram(sw, np.array([0.0, 0.7]))
    labels = phase_labels(ds.phase.values)
    assert labels[3, 0] == "critical" and labels[3, 1] == "unbounded"
    assert (labels[:3] == "ordered").all() and (labels[4:] == "unbounded").all()
    assert np.isinf(ds.q_star.values[4:]).all()
    np.testing.assert_allclose(ds.c_star.values, 1.0)


# --------------------------------------------------------------------------- iterated maps
@settings(max_examples=25, deadline=None)
@given(st.floats(0.05, 4.0), st.floats(0.0, 2.0))
def test_fixed_points_satisfy_the_maps_erf(sw, sb):
    mf = MeanField("erf")
    q, c = mf.q_star(sw, sb), mf.c_star(sw, sb)
    kern = mf.activation.kernels
    assert sw**2 * kern.second_moment(q) + sb**2 == pytest.approx(q, rel=1e-12, abs=1e-300)
    if mf.chi1(sw, sb) > 1 + CRITICAL_TOLERANCE:
        assert (sw**2 * kern.cross_moment(q, q, q * c) + sb**2) / q == pytest.approx(c, rel=1e-11, abs=1e-15)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.3, 4.0), st.floats(0.0, 2.0))
def test_fixed_points_satisfy_the_maps_tanh(sw, sb):
    mf = MeanField("tanh")
    q, c = mf.q_star(sw, sb), mf.c_star(sw, sb)
    s = math.sqrt(q)
    if q > 0:
        v = integrate.quad(
            lambda z: math.tanh(s * z) ** 2 * math.exp(-z * z / 2), -12, 12, epsabs=1e-14, epsrel=1e-13, limit=200
        )[0] / math.sqrt(2 * math.pi)
        assert sw**2 * v + sb**2 == pytest.approx(q, rel=1e-11)
    if mf.chi1(sw, sb) > 1 + CRITICAL_TOLERANCE and sb > 0 and c < 0.99:
        assert (sw**2 * _kernel_reference(q, c, math.tanh) + sb**2) / q == pytest.approx(c, rel=1e-9)


def _iterate_length(mf, sw, sb, q0, layers):
    out = [q0]
    for _ in range(layers):
        (f0,) = mf._moments(np.array(out[-1]), (0,))
        out.append(float(sw**2 * f0 + sb**2))
    return np.array(out)


@pytest.mark.parametrize(("name", "sw", "sb"), [("tanh", 1.7, 0.4), ("erf", 1.7, 0.4), ("elu", 1.2, 0.4)])
def test_iterating_the_length_map_converges_at_rate_chi_q(name, sw, sb):
    mf = MeanField(name, method="quadrature")
    q_star = mf.q_star(sw, sb)
    traj = _iterate_length(mf, sw, sb, 1.0, 200)
    assert traj[-1] == pytest.approx(q_star, rel=1e-13)
    near = _iterate_length(mf, sw, sb, q_star * (1 + 1e-4), 12)
    rates = np.diff(np.log(np.abs(near - q_star)[:10]))
    assert -1 / rates[-1] == pytest.approx(mf.xi_q(sw, sb), rel=1e-3)


@pytest.mark.parametrize(("name", "sw", "sb"), [("erf", 2.0, 0.5), ("erf", 0.7, 0.2), ("tanh", 3.0, 1.0)])
def test_correlations_converge_at_rate_chi_c(name, sw, sb):
    mf = MeanField(name)
    q, c_star = mf.q_star(sw, sb), mf.c_star(sw, sb)
    depth = 40 if name == "tanh" else 150
    # both inputs start at q*: layer 1 (acting on x) keeps q at sigma_w^2 q* + sigma_b^2; start from the fixed point of
    # that linear step instead, so that q^l = q* from layer 1 on
    q0 = (q - sb**2) / sw**2
    traj = mf.trajectory(sw, sb, q0=q0, c0=0.2, depth=depth)
    np.testing.assert_allclose(traj.q11.values[1:], q, rtol=1e-12)
    gap = np.abs(traj.c.values - c_star)
    chi_c = mf.chi_c(sw, sb)
    # geometric approach at the predicted rate: local rate and the whole tail from layer 10 on
    assert -1 / math.log(gap[11] / gap[10]) == pytest.approx(mf.xi_c(sw, sb), rel=2e-2)
    assert gap[-1] == pytest.approx(gap[10] * chi_c ** (depth - 10), rel=5e-2)
    if name == "erf":
        assert traj.c.values[-1] == pytest.approx(c_star, rel=1e-12)


# --------------------------------------------------------------------------- phases and edge cases
def test_phase_labels_and_documented_edge_values():
    tanh = MeanField("tanh")
    assert phase_labels(tanh.phase_diagram([0.5, 3.0], [0.5]).phase.values).ravel().tolist() == ["ordered", "chaotic"]
    # sigma_b = 0, odd phi, sigma_w <= 1: q* = 0, c* reported as 1
    assert tanh.q_star(0.8, 0.0) == 0.0 and tanh.c_star(0.8, 0.0) == 1.0
    assert tanh.xi_q(0.8, 0.0) == pytest.approx(-1 / math.log(0.64))
    ds = tanh.phase_diagram([1.0], [0.0])
    assert ds.phase.item() == CRITICAL and ds.xi_c.item() == math.inf and ds.xi_q.item() == math.inf
    # sigma_w = 0
    assert tanh.q_star(0.0, 0.7) == pytest.approx(0.49) and tanh.chi1(0.0, 0.7) == 0.0
    assert tanh.xi_c(0.0, 0.7) == 0.0 and tanh.xi_grad(0.0, 0.7) == 0.0
    # sigma_b = 0, sigma_w > 1: chaotic with c* = 0
    assert tanh.c_star(1.5, 0.0) == 0.0 and tanh.q_star(1.5, 0.0) > 0
    # unbounded activations
    relu = MeanField("relu")
    assert relu.q_star(2.0, 0.3) == math.inf and relu.chi1(2.0, 0.3) == pytest.approx(2.0)
    linear = MeanField("linear")
    assert linear.q_star(1.0, 0.0) == 1.0 and linear.phase_diagram([1.0], [0.0]).phase.item() == CRITICAL
    assert linear.q_star(1.2, 0.0) == math.inf
    gelu = MeanField("gelu")
    assert gelu.q_star(3.0, 0.1) == math.inf and np.isnan(gelu.chi1(3.0, 0.1))
    assert gelu.phase_diagram([3.0], [0.1]).phase.item() == UNBOUNDED


def _erf_chi1_reference(sw: float, sb: float) -> float:
    """erf in closed form: q* solves q = sigma_w^2 (2/pi) arcsin(2q / (1 + 2q)) + sigma_b^2 (brentq here), and
    chi_1 = sigma_w^2 E[phi'(u)^2] = sigma_w^2 4 / (pi sqrt(1 + 4 q*))."""
    def excess(q):
        return sw**2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + sb**2 - q

    q = optimize.brentq(excess, 1e-300 if sb == 0 else sb**2 / 2, 10 * (sw**2 + sb**2) + 1, xtol=1e-15, rtol=1e-15)
    return sw**2 * 4 / (math.pi * math.sqrt(1 + 4 * q))


def test_scalars_give_floats_and_arrays_broadcast():
    mf = MeanField("erf")
    assert isinstance(mf.q_star(1.0, 0.1), float)
    sw, sb = np.array([[1.5], [2.0]]), np.array([0.0, 0.5, 1.0])
    out = mf.chi1(sw, sb)
    assert out.shape == (2, 3)
    # each broadcast entry is the closed-form value at its own (sigma_w, sigma_b): no mixed-up axes
    for i in range(2):
        for j in range(3):
            assert out[i, j] == pytest.approx(_erf_chi1_reference(sw[i, 0], sb[j]), rel=1e-10), (i, j)


def test_phase_diagram_dataset_is_self_describing(tmp_path):
    ds = MeanField("leaky_relu", negative_slope=0.1).phase_diagram(np.linspace(0, 2, 5), np.linspace(0, 1, 4))
    assert ds.phase.dims == ("sigma_w", "sigma_b") and ds.sizes == {"sigma_w": 5, "sigma_b": 4}
    for name in ("q_star", "chi1", "chi_q", "c_star", "chi_c", "xi_q", "xi_c", "xi_grad"):
        assert ds[name].attrs["long_name"] and "units" in ds[name].attrs
    assert ds.phase.attrs["flag_meanings"].split() == list(PHASES)
    params = json.loads(ds.attrs["parameters"])
    assert params["activation"] == {"name": "leaky_relu", "negative_slope": 0.1}
    assert ds.attrs["sigma_convention"] == "std"
    ds.to_zarr(tmp_path / "pd.zarr", consolidated=False)
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "pd.zarr", consolidated=False).load(), ds)


def test_trajectory_conventions_and_precision():
    mf = MeanField("erf")
    ds = mf.trajectory([1.0, 2.0], 0.3, q0=(1.0, 2.0), c0=0.5, depth=4)
    assert ds.q11.dims == ("sigma_w", "layer") and ds.layer.values.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(ds.q11.values[:, 1], np.array([1.0, 4.0]) * 1.0 + 0.09)  # layer 1 acts on x itself
    np.testing.assert_allclose(ds.q22.values[:, 1], np.array([1.0, 4.0]) * 2.0 + 0.09)
    np.testing.assert_allclose(ds.divergence, ds.q11 + ds.q22 - 2 * ds.q12, rtol=1e-12)
    # nearly identical inputs: the divergence keeps full relative precision (closed form vs quadrature)
    numeric = MeanField(dataclasses.replace(get_activation("erf"), kernels=None))
    a = mf.trajectory(1.5, 0.2, q0=1.0, c0=1 - 1e-10, depth=3).divergence.values
    b = numeric.trajectory(1.5, 0.2, q0=1.0, c0=1 - 1e-10, depth=3).divergence.values
    np.testing.assert_allclose(a, b, rtol=1e-9)
    assert a[-1] > 0


def test_progress_callback_reports_rows():
    seen = []
    MeanField("erf").phase_diagram(
        np.linspace(0, 3, 7), np.linspace(0, 1, 3), progress=lambda d, t: seen.append((d, t))
    )
    # after each block of sigma_w rows: done increases to the total, which stays fixed
    assert seen[-1] == (7, 7) and all(total == 7 for _, total in seen)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))
    # trajectory: progress(done_layers, last_layer) after each layer
    layers = []
    MeanField("erf").trajectory([1.0, 2.0], 0.3, depth=5, progress=lambda d, t: layers.append((d, t)))
    assert layers == [(layer, 5) for layer in range(1, 6)]


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda mf: mf.q_star(-1.0, 0.0), ValueError, "sigma_w must be >= 0"),
        (lambda mf: mf.chi1(1.0, float("nan")), ValueError, "sigma_b must contain only finite"),
        (lambda mf: mf.c_star([], 0.0), ValueError, "sigma_w must not be empty"),
        (lambda mf: mf.q_star([1.0, 2.0], [0.1, 0.2, 0.3]), ValueError, "broadcast"),
        (lambda mf: mf.q_star("a", 0.1), TypeError, "sigma_w must be a real number"),
        (lambda mf: mf.phase_diagram([[1.0]], [0.1]), ValueError, "1-D"),
        (lambda mf: mf.phase_diagram([1.0], []), ValueError, "sigma_b must not be empty"),
        (lambda mf: mf.phase_diagram([1.0], [0.1], progress=3), TypeError, "progress must be a callable"),
        (lambda mf: mf.trajectory(1.0, 0.1, q0=(1.0, 2.0, 3.0)), ValueError, "q0 must be"),
        (lambda mf: mf.trajectory(1.0, 0.1, c0=1.5), ValueError, "c0 must be <= 1"),
        (lambda mf: mf.trajectory(1.0, 0.1, depth=-1), ValueError, "depth must be an integer >= 0"),
        (lambda mf: mf.critical_sigma_w(-0.1), ValueError, "sigma_b must be >= 0"),
        (lambda mf: mf.moments(-1.0), ValueError, "q must be >= 0"),
    ],
)
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(MeanField("tanh"))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        MeanField("swish")
    with pytest.raises(ValueError, match="method must be one of"):
        MeanField("tanh", method="magic")


def test_trajectory_keeps_only_the_requested_layers_with_identical_values():
    mf = MeanField("tanh")
    # ordered and chaotic points, sigma_b = 0 and > 0 (tanh's numeric pair kernel costs ~1 s per point at depth 25)
    sw, sb = np.array([0.5, 1.75, 3.0]), np.array([0.0, 1.5])
    full = mf.trajectory(sw, sb, depth=25)
    kept = mf.trajectory(sw, sb, depth=25, layers=[25, 1, 0])
    assert list(kept["layer"].values) == [25, 1, 0]
    for name in ("q11", "q22", "q12", "c", "divergence"):
        np.testing.assert_array_equal(kept[name].values, full[name].sel(layer=[25, 1, 0]).values)
    with pytest.raises(ValueError, match="layers must be an integer <= 25, got 26"):
        mf.trajectory(sw, sb, depth=25, layers=[26])
    with pytest.raises(ValueError, match="layers must be distinct"):
        mf.trajectory(sw, sb, depth=25, layers=[3, 3])


# --------------------------------------------------------------------------- architectures
def test_every_finite_width_arch_has_a_mean_field_statement():
    from infoprop._src.networks import ARCHS

    assert set(ARCHS) <= set(MEAN_FIELD_ARCHS)
    for arch, kind in MEAN_FIELD_ARCHS.items():
        mf = MeanField("tanh", arch=arch)
        assert mf.arch == arch and mf.residual == (kind == "residual")


def test_arch_accepts_a_description_object_and_rejects_bad_values():
    described = MeanField("erf", arch=SimpleNamespace(residual=True, arch="resnet"))
    assert described.residual and described.arch == "resnet"
    assert MeanField("erf", arch=SimpleNamespace(residual=False)).arch == "mlp"
    xr.testing.assert_identical(
        described.trajectory(1.2, 0.3, depth=3), MeanField("erf", arch="resnet").trajectory(1.2, 0.3, depth=3)
    )
    # the engine's description: operator name + residual flag + arch name, e.g. a residual circulant network
    conv_res = SimpleNamespace(operator="conv", residual=True, name="cnn+residual")
    assert MeanField("tanh", arch=conv_res).residual and MeanField("tanh", arch=conv_res).arch == "cnn+residual"
    with pytest.raises(ValueError, match="arch 'cnn\\+residual' with activation 'gelu' has no mean-field map"):
        MeanField("gelu", arch=conv_res)
    assert MeanField("tanh", arch="fdfd+residual").residual and not MeanField("tanh", arch="fdfd").residual
    for bad in ("transformer", "resnet+residual"):
        with pytest.raises(ValueError, match="arch must be one of"):
            MeanField("erf", arch=bad)
    with pytest.raises(TypeError, match="boolean 'residual' attribute"):
        MeanField("erf", arch=SimpleNamespace(residual="yes"))
    # circulant and FDF operators: one random gain on the constant mode, so E[phi] != 0 has no map
    for arch in ("cnn", "fdf"):
        with pytest.raises(ValueError, match=f"arch '{arch}' with activation 'relu' has no mean-field map"):
            MeanField("relu", arch=arch)
        assert MeanField("tanh", arch=arch).q_star(1.5, 0.3) == MeanField("tanh").q_star(1.5, 0.3)


def test_arch_accepts_the_engines_network_description():
    """Runs once the network-description module (issue 12, engine side) is present."""
    arch_module = pytest.importorskip("infoprop._src.arch")
    names = [*arch_module.PRESETS, *(f"{n}+residual" for n, a in arch_module.PRESETS.items() if not a.residual)]
    for name in names:
        arch = arch_module.get_arch(name)
        odd_only = arch.operator in ("conv", "fdf")
        mf = MeanField("tanh", arch=arch)
        assert mf.arch == arch.name and mf.residual == arch.residual == (arch.mean_field == "residual")
        if odd_only:
            with pytest.raises(ValueError, match="has no mean-field map"):
                MeanField("relu", arch=arch)
        else:
            assert MeanField("relu", arch=arch).residual == arch.residual


@pytest.mark.parametrize(
    "method",
    ["q_star", "chi1", "chi_q", "c_star", "chi_c", "xi_q", "xi_c", "xi_grad", "phase_diagram"],
)
def test_fixed_point_quantities_of_residual_networks_raise(method):
    mf = MeanField("tanh", arch="resnet")
    with pytest.raises(ValueError, match=f"{method} is a fixed-point quantity .* Use trajectory"):
        getattr(mf, method)([1.0], [0.5])
    for name in ("critical_sigma_w", "critical_sigma_b"):
        with pytest.raises(ValueError, match=f"{name} is a fixed-point quantity"):
            getattr(mf, name)(0.5)


def test_trajectory_speaks_the_vocabulary_of_the_finite_width_moments():
    """Same variable names and dims as RandomNetwork.moments, so the two subtract without broadcasting."""
    from infoprop._src.networks import RandomNetwork

    sw, sb = np.array([0.8, 1.6]), np.array([0.0, 0.3, 0.9])
    emp = RandomNetwork("mlp", 64, 3, "tanh", seed=1, dtype="float64").moments(sw, sb, layers=[0, 1, 2, 3])
    mf = MeanField("tanh").trajectory(sw, sb, q0=1.0, c0=0.0, depth=3)
    assert set(emp.data_vars) == set(mf.data_vars) == {"q11", "q22", "q12", "c", "divergence"}
    for name in mf.data_vars:
        assert emp[name].dims == mf[name].dims == ("sigma_w", "sigma_b", "layer")
        assert (emp[name] - mf[name]).shape == (2, 3, 4)
    # scalar sigma_w: a scalar coordinate in both
    one = MeanField("tanh").trajectory(0.8, sb, depth=3)
    assert one.q11.dims == RandomNetwork("mlp", 64, 3, "tanh", seed=1).moments(0.8, sb, layers=[0, 1, 2, 3]).q11.dims
    # c = 0/0 (sigma_w = sigma_b = 0) is NaN in both engines
    assert np.isnan(MeanField("tanh").trajectory(0.0, 0.0, depth=2).c.values[1:]).all()


# --------------------------------------------------------------------------- residual networks: exact recursion
MP_PHI["relu"] = (lambda x: max(0, x), lambda x: 1 if x > 0 else 0, (0,))


def _cross_reference(name: str, q1, q2, q12) -> float:
    """E[phi(u1) phi(u2)] for Var u_i = q_i, Cov = q12, independently of the engine.

    ``u1 = sqrt(q1) z1``, ``u2 = m + b z2`` with ``m = (q12 / sqrt(q1)) z1``, ``b^2 = q2 - q12^2 / q1``. erf and relu:
    the inner expectation in closed form (``E[erf(m + b z)] = erf(m / sqrt(1 + 2 b^2))``,
    ``E[relu(m + b z)] = m Phi(m / b) + b pdf(m / b)``) and the outer one by mpmath tanh-sinh quadrature;
    tanh: nested adaptive scipy quadrature.
    """
    if name == "tanh":
        q1, q2, q12 = float(q1), float(q2), float(q12)
        s1 = math.sqrt(q1)
        a, b = q12 / s1, math.sqrt(q2 - q12 * q12 / q1)
        pdf = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731

        def quad(g):
            return integrate.quad(g, -12, 12, epsabs=1e-14, epsrel=1e-13, limit=400)[0]

        return quad(lambda z1: math.tanh(s1 * z1) * quad(lambda z2: math.tanh(a * z1 + b * z2) * pdf(z2)) * pdf(z1))
    s1 = mp.sqrt(q1)
    a, b = q12 / s1, mp.sqrt(q2 - q12 * q12 / q1)
    if name == "erf":
        outer = lambda z: mp.erf(s1 * z) * mp.erf(a * z / mp.sqrt(1 + 2 * b * b))  # noqa: E731
    else:
        outer = lambda z: max(0, s1 * z) * (a * z * mp.ncdf(a * z / b) + b * mp.npdf(a * z / b))  # noqa: E731
    return mp.quad(lambda z: outer(z) * mp.npdf(z), [-mp.inf, -1, 0, 1, mp.inf])


RESIDUAL_CASES = [
    ("erf", 1.0, 0.3),
    ("erf", 2.5, 1.0),
    ("erf", 0.6, 0.0),
    ("tanh", 1.2, 0.2),
    ("tanh", 2.0, 0.8),
    ("relu", 1.0, 0.0),
    ("relu", 1.5, 0.5),
    ("relu", 0.7, 1.0),
]


@pytest.mark.parametrize(("name", "sw", "sb"), RESIDUAL_CASES)
def test_residual_trajectory_matches_independent_quadrature(name, sw, sb):
    """q11, q22, q12 (the cross term), c and L of h^l = h^(l-1) + sigma_w A phi(h^(l-1)) + sigma_b b, to 1e-8."""
    depth, q0, c0 = (4 if name == "tanh" else 6), (1.0, 1.7), 0.35
    with mp.workdps(20):
        sw2, sb2 = mp.mpf(sw) ** 2, mp.mpf(sb) ** 2
        q1, q2 = mp.mpf(q0[0]), mp.mpf(q0[1])
        q12 = mp.mpf(c0) * mp.sqrt(q1 * q2)
        rows = [(q1, q2, q12)]
        for layer in range(1, depth + 1):
            if layer == 1:  # layer 1 acts on x itself
                q1, q2, q12 = sw2 * q1 + sb2, sw2 * q2 + sb2, sw2 * q12 + sb2
            else:
                e1, e2 = mp_second_moment(name, q1), mp_second_moment(name, q2)
                k = _cross_reference(name, q1, q2, q12)
                q1, q2, q12 = q1 + sw2 * e1 + sb2, q2 + sw2 * e2 + sb2, q12 + sw2 * k + sb2
            rows.append((q1, q2, q12))
        ref = {
            "q11": [float(r[0]) for r in rows],
            "q22": [float(r[1]) for r in rows],
            "q12": [float(r[2]) for r in rows],
            "c": [float(r[2] / mp.sqrt(r[0] * r[1])) for r in rows],
            "divergence": [float(r[0] + r[1] - 2 * r[2]) for r in rows],
        }
    assert ref["q11"][-1] > 1.5 * ref["q11"][1]  # the skip connection accumulates
    for method in ("fast", "quadrature"):
        ds = MeanField(name, arch="resnet", method=method).trajectory(sw, sb, q0=q0, c0=c0, depth=depth)
        for var, values in ref.items():
            assert ds[var].dims == ("layer",)
            np.testing.assert_allclose(ds[var].values, values, rtol=1e-8, err_msg=f"{method} {var}")


# --------------------------------------------------------------------------- residual networks: asymptotic laws
def test_residual_saturating_laws_over_long_trajectories():
    """erf (closed-form kernel, depth 20000): the predicted linear growth of q with its sqrt(l) correction, the
    limit c_inf of c and the exponent delta of the approach, from the trajectory itself.

    Expected: ``q = a l - (2 beta / sqrt a) sqrt(l) - (beta / a)^2 ln l + O(1)`` with ``a = sigma_w^2 + sigma_b^2``
    and ``beta = sigma_w^2 / sqrt(2 pi) * int (1 - erf(u)^2) du`` (mpmath here); ``c_inf`` solves
    ``a c = sigma_w^2 (2/pi) arcsin(c) + sigma_b^2``; ``|c - c_inf| ~ l^-delta`` with ``delta = 1 - 2/pi`` at
    ``sigma_b = 0``.
    """
    mf = MeanField("erf", arch="resnet")
    sw, sb = np.array([1.0, 2.0]), np.array([0.0, 0.5])
    depth = 20000
    layers = np.unique(np.geomspace(200, depth, 40).astype(int))
    ds = mf.trajectory(sw, sb, q0=1.0, c0=0.3, depth=depth, layers=layers)
    asym = mf.residual_asymptotics(sw, sb)
    with mp.workdps(20):
        tail = float(mp.quad(lambda u: 1 - mp.erf(u) ** 2, [-mp.inf, 0, mp.inf]) / mp.sqrt(2 * mp.pi))
    ell = layers.astype(float)
    for i, w in enumerate(sw):
        for j, b in enumerate(sb):
            a, beta = w * w + b * b, w * w * tail
            q, c = ds.q11.values[i, j], ds.c.values[i, j]
            assert asym.q_slope.values[i, j] == pytest.approx(a, rel=1e-15) and asym.q_ratio.values[i, j] == 1.0
            basis = np.stack([np.sqrt(ell), np.log(ell), np.ones_like(ell)], axis=1)
            (root_coef, log_coef, _), *_ = np.linalg.lstsq(basis, q - a * ell, rcond=None)
            assert root_coef == pytest.approx(-2 * beta / math.sqrt(a), rel=5e-3)
            assert log_coef == pytest.approx(-((beta / a) ** 2), rel=0.2)
            c_inf, delta = asym.c_limit.values[i, j], asym.c_exponent.values[i, j]
            with mp.workdps(30):  # c_inf solves its defining equation (independent of the engine's root finder)
                assert float(w * w * 2 / mp.pi * mp.asin(c_inf) + b * b - a * c_inf) == pytest.approx(0, abs=1e-13)
            if b == 0:
                assert c_inf == 0 and delta == pytest.approx(1 - 2 / math.pi, rel=1e-14)
                local = -math.log(c[-1] / c[-2]) / math.log(ell[-1] / ell[-2])
                assert local == pytest.approx(1 - 2 / math.pi, abs=3e-3)
            else:
                # extrapolate c^l = c_inf' + A l^-delta + B l^-1/2 + C l^-2delta (finite-q corrections): the fitted
                # limit must match c_inf to a small fraction of the remaining gap
                basis = np.stack([np.ones_like(ell), ell**-delta, ell**-0.5, ell ** (-2 * delta)], axis=1)
                (fitted, *_), *_ = np.linalg.lstsq(basis, c, rcond=None)
                assert abs(fitted - c_inf) < 0.05 * abs(c[-1] - c_inf)
                assert abs(c[-1] - c_inf) > 1e-3


def test_residual_saturating_exponent_from_a_free_fit():
    """sigma_w = 2, sigma_b = 0.5 (delta = 0.394, well below the 1/2 of the finite-q correction): the exponent
    that best fits |c^l - c_inf| (with the l^-1/2 and l^-2delta corrections free) is the predicted delta."""
    mf = MeanField("erf", arch="resnet")
    layers = np.unique(np.geomspace(200, 20000, 40).astype(int))
    c = mf.trajectory(2.0, 0.5, q0=1.0, c0=0.3, depth=20000, layers=layers).c.values
    asym = mf.residual_asymptotics(2.0, 0.5)
    c_inf, delta = float(asym.c_limit), float(asym.c_exponent)
    ell = layers.astype(float)

    def misfit(d):
        basis = np.stack([ell**-d, ell**-0.5, ell ** (-2 * d)], axis=1)
        coef, *_ = np.linalg.lstsq(basis, c - c_inf, rcond=None)
        return float(np.sum((basis @ coef - (c - c_inf)) ** 2))

    best = optimize.minimize_scalar(misfit, bounds=(0.2, 0.499), method="bounded").x
    assert delta == pytest.approx(0.3942, abs=1e-4)
    assert best == pytest.approx(delta, abs=0.01)


@pytest.mark.parametrize(("name", "slope"), [("relu", 0.0), ("leaky_relu", 0.2)])
def test_residual_relu_laws(name, slope):
    """q^l = rho^(l-1) (q^1 + s) - s exactly (s = sigma_b^2 / (rho - 1), rho = 1 + sigma_w^2 (1 + a^2) / 2); 1 - c
    decays as l^-2 with eps^(-1/2) growing by sqrt(2) gamma / 3 per layer, gamma = sigma_w^2 (1 - a)^2 / (2 pi rho)."""
    params = {"negative_slope": slope} if slope else {}
    mf = MeanField(name, arch="resnet", **params)
    for sw, sb in [(0.5, 0.0), (1.0, 0.3), (1.5, 1.0)]:
        rho = 1 + sw * sw * (1 + slope * slope) / 2
        depth = int(600 / math.log(rho))  # q reaches ~1e260, below the float64 overflow
        ds = mf.trajectory(sw, sb, q0=1.0, c0=-0.5, depth=depth)
        q, eps = ds.q11.values, ds.divergence.values / (2 * ds.q11.values)
        ell = np.arange(1, depth + 1)
        s = sb * sb / (rho - 1)
        np.testing.assert_allclose(q[1:], rho ** (ell - 1.0) * (sw * sw + sb * sb + s) - s, rtol=1e-12)
        gamma = sw * sw * (1 - slope) ** 2 / (2 * math.pi * rho)
        # eps^(-1/2) becomes affine in l (i.e. eps ~ l^-2) with the predicted slope; corrections are O(eps^1/2)
        steps = np.diff(eps**-0.5)
        assert steps[depth // 2] == pytest.approx(math.sqrt(2) * gamma / 3, rel=1e-2)
        assert steps[-1] == pytest.approx(math.sqrt(2) * gamma / 3, rel=5e-3)
        asym = mf.residual_asymptotics(sw, sb)
        assert float(asym.q_ratio) == pytest.approx(rho, rel=1e-15) and float(asym.q_slope) == math.inf
        assert float(asym.c_limit) == 1.0 and float(asym.c_exponent) == 2.0


def test_residual_asymptotics_edge_values_and_errors():
    erf = MeanField("erf", arch="resnet").residual_asymptotics([0.0, 1.0], [0.0, 0.7])
    # sigma_w = 0: q and q12 grow by sigma_b^2 per layer, 1 - c ~ 1/l; nothing grows at sigma_w = sigma_b = 0
    assert np.isnan(erf.c_limit.values[0, 0]) and np.isnan(erf.c_exponent.values[0, 0])
    assert erf.q_slope.values[0, 1] == pytest.approx(0.49) and erf.c_limit.values[0, 1] == 1.0
    assert erf.c_exponent.values[0, 1] == 1.0
    assert erf.c_limit.values[1, 0] == pytest.approx(0.0, abs=1e-15)
    linear = MeanField("linear", arch="resnet").residual_asymptotics(1.0, 0.5)
    assert float(linear.q_ratio) == 2.0 and np.isnan(float(linear.c_limit))
    assert json.loads(linear.attrs["parameters"])["asymptotic_class"] == "linear_like"
    selu = MeanField("selu", arch="resnet").residual_asymptotics(1.0, 0.5)
    assert float(selu.q_ratio) == pytest.approx(1 + 1.0507009873554805**2 / 2, rel=1e-12)
    hard = MeanField("hard_tanh", arch="resnet").residual_asymptotics(1.0, 0.5)
    xr.testing.assert_allclose(
        hard[["c_limit", "c_exponent"]],
        MeanField("tanh", arch="resnet").residual_asymptotics(1.0, 0.5)[["c_limit", "c_exponent"]],
    )
    with pytest.raises(ValueError, match="'sin' has no known asymptotic form"):
        MeanField("sin", arch="resnet").residual_asymptotics(1.0, 0.5)
    with pytest.raises(ValueError, match="use phase_diagram"):
        MeanField("tanh").residual_asymptotics(1.0, 0.5)
    with pytest.raises(ValueError, match="sigma_w must be a number or a 1-D array"):
        MeanField("tanh", arch="resnet").residual_asymptotics([[1.0]], 0.5)
