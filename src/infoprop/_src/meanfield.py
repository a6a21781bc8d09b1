"""Mean-field theory of signal propagation in infinitely wide random networks (SPEC section 1).

Conventions
-----------
* ``sigma_w`` and ``sigma_b`` are **standard deviations** (weights ``N(0, sigma_w^2 / fan_in)``, biases
  ``N(0, sigma_b^2)``); variance helpers are ``sigma_w ** 2``.
* Pre-activation recursion ``h^1 = sigma_w A_1 x + sigma_b b_1``, ``h^l = sigma_w A_l phi(h^{l-1}) + sigma_b b_l``
  for ``l >= 2``: layer 1 acts on the input ``x`` itself, not on ``phi(x)`` (SPEC section 0, as in the
  finite-width engine). A trajectory therefore starts from the input moments ``q^0 = ||x||^2 / N`` with
  ``q^1 = sigma_w^2 q^0 + sigma_b^2``; the maps below act from layer 2 on.
* ``q`` is the per-neuron second moment of pre-activations, ``c`` their correlation between two inputs.

Architectures (``arch``)
------------------------
The maps act on per-neuron moments, so they hold for an operator ``A`` when, at infinite width, ``||A v||^2 / N``
and ``<A v1, A v2> / N`` concentrate on ``||v||^2 / N`` and ``<v1, v2> / N`` and the entries of ``A v`` are
Gaussian across neurons. :data:`MEAN_FIELD_ARCHS` says which map each ``arch`` of the finite-width engine gets:

* ``mlp`` (dense Gaussian), ``orthogonal`` (Haar) and ``fdfd`` (``sqrt 2 Re(F D2 F D1 v)``): the feed-forward
  maps below, for every activation. ``D1`` randomises the phase of every entry before the first DFT, so ``fdfd``
  spreads any ``v`` over all frequencies, as a dense operator does.
* ``cnn`` (random circulant, kernel size ``k``) and ``fdf`` (``sqrt 2 Re(F D F v)``): both act on the Fourier
  modes of ``v`` one by one, the constant mode included. When ``E[phi(u)] != 0`` (ReLU family, gelu, elu, ...)
  the constant mode of ``phi(h)`` holds a finite fraction of ``||phi(h)||^2`` and is multiplied by ONE random
  number per layer (the kernel sum ``sum_j w_j`` for ``cnn``, ``sqrt 2 cos(theta_0)`` for ``fdf``), so ``q^l``
  stays random at any width and no deterministic map exists: :class:`MeanField` refuses these pairs. With
  ``E[phi(u)] = 0`` (odd activations) the feed-forward maps hold in the large-width limit; for ``cnn`` only as
  ``k -> infinity`` (``k = N`` by default): with a fixed kernel size ``||A v||^2 / ||v||^2`` has relative
  fluctuations ``~ sqrt(2 / k)`` per layer whatever ``N``, and even at ``k = N`` the random gain of every
  frequency roughens the spectrum of the state layer after layer, so ``cnn`` needs much larger widths than
  ``mlp`` for the same accuracy at a given depth (docs/meanfield.md gives the measured spreads).
* ``resnet`` (any of the operators above inside the residual branch, with the same caveats):
  ``h^1 = sigma_w A_1 x + sigma_b b_1``, ``h^l = h^{l-1} + sigma_w A_l phi(h^{l-1}) + sigma_b b_l`` for
  ``l >= 2``. ``A_l`` and ``b_l`` are independent of ``h^{l-1}``, so the cross terms vanish on average and::

      q^l    = q^{l-1}    + sigma_w^2 E[phi(u)^2]        + sigma_b^2
      q12^l  = q12^{l-1}  + sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2
      L^l    = L^{l-1}    + sigma_w^2 E[(phi(u1) - phi(u2))^2]      (L = q11 + q22 - 2 q12; the biases cancel)

  ``q^l`` never decreases and grows without bound (unless ``sigma_w = sigma_b = 0``, or ``sigma_b = 0`` with
  ``q = 0`` and ``phi(0) = 0``): there is no fixed point to expand around, and the fixed-point
  quantities (``q_star``, ``chi1``, ``phase_diagram``, ``critical_sigma_w``, ...) raise ``ValueError``.
  :meth:`MeanField.trajectory` iterates these maps exactly; :meth:`MeanField.residual_asymptotics` gives the
  large-depth laws.

Residual asymptotics
--------------------
Beyond ``|u| = Activation.asymptotic_beyond`` every registry activation except ``sin`` equals
``lambda_+- u + mu_+-`` (``+`` for ``u > 0``). Two classes follow. (Yang & Schoenholz 2017, "Mean field
residual networks: on the edge of chaos", study this "reduced" residual network and report sub-exponential,
often polynomial, dynamics, with tanh networks trainable according to ``sigma_w sqrt(depth)``, as ``q ~ a l``
implies. The laws below are derived here and checked numerically in the tests.)

* saturating (``lambda_+ = lambda_- = 0``: tanh, erf, hard_tanh): ``E[phi^2] -> m2 = (mu_+^2 + mu_-^2) / 2``,
  so ``q^l / l -> a = sigma_w^2 m2 + sigma_b^2`` (linear growth). With ``q -> inf`` the cross moment becomes that
  of the step function, ``E[phi(u1) phi(u2)] -> (mu_+ + mu_-)^2 / 4 + (mu_+ - mu_-)^2 arcsin(c) / (2 pi)``, and
  ``c^l`` follows ``c <- c + (G(c) - c) / l`` with ``G(c) = 1 - r arccos(c)``,
  ``r = sigma_w^2 (mu_+ - mu_-)^2 / (2 pi a)``. So ``c^l -> c_inf = cos(theta)`` with ``theta`` the root in
  ``(0, pi / 2]`` of ``(1 - cos theta) / theta = r`` (``c = 1`` repels: nearly identical inputs separate),
  approached as ``|c^l - c_inf| ~ l^-delta`` with ``delta = 1 - G'(c_inf) = 1 - tan(theta/2) / theta``, between
  ``1 - 2/pi`` (``sigma_b = 0``, odd ``phi``: ``c_inf = 0``) and ``1/2`` (``sigma_b / sigma_w -> inf``).
  Finite-``q`` corrections add a term ``~ l^-1/2``, subleading because ``delta < 1/2`` but of either sign,
  so the local exponent can approach ``delta`` slowly and from below.
* ReLU-like (``lambda_+ != lambda_-``: relu, leaky_relu, elu, selu, gelu, silu, softplus):
  ``q^l ~ rho^l`` with ``rho = 1 + sigma_w^2 (lambda_+^2 + lambda_-^2) / 2`` (geometric growth; the biases and the
  bounded parts of ``phi`` fade as ``rho^-l``). The correlation map of the limiting homogeneous activation is
  ``c <- c + gamma (sin theta - theta cos theta)``, ``theta = arccos c``,
  ``gamma = sigma_w^2 (lambda_+ - lambda_-)^2 / (2 pi rho)``: ``c^l -> 1`` from any ``c^0 > -1``, with
  ``1 - c^l ~ 9 / (2 gamma^2 l^2)`` (``delta = 2``).
* ``lambda_+ = lambda_- != 0`` (linear): ``c^l`` converges to a value set by the inputs (no universal limit, NaN).
  ``sigma_w = 0``: ``q`` and ``q12`` both grow by ``sigma_b^2`` per layer, ``1 - c ~ 1 / l`` (``delta = 1``).

Maps (``z ~ N(0, 1)``; ``u1, u2`` centred Gaussian, variances ``q``, correlation ``c``)::

    V(q)  = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2          length map, fixed point q*
    C(c)  = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*      correlation map at q = q*, fixed point c*
    chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]                      slope of C at c = 1
    chi_q = V'(q*) = sigma_w^2 E[z phi phi'] / sqrt(q*)          derivative-free form, valid for kinked phi
    chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at (q*, c*)
    xi_q = -1 / ln chi_q, xi_c = -1 / ln chi_c, xi_grad = -1 / ln chi_1   (negative: growth)

Which fixed point
-----------------
``q*`` is the limit of ``V^l(1)``: the fixed point reached from a unit-variance input. With ``V`` increasing,
that is the largest fixed point below 1 when ``V(1) < 1`` and the smallest above 1 otherwise. When no finite
fixed point exists (``q^l`` grows without bound, or ``q* > Q_MAX``) ``q* = inf`` and the phase is
``"unbounded"``. ``c*`` is the stable fixed point of ``C`` in ``[0, 1]``: ``c* = 1`` unless ``chi_1 > 1``.

Edge cases (documented values, never exceptions)
------------------------------------------------
* ``sigma_b = 0`` with ``phi(0) = 0`` (odd activations, the ReLU family) and ``sigma_w^2 E[phi'(0)^2] <= 1``:
  ``q* = 0``. ``c*`` is then undefined; it is reported as ``c* = 1`` (phase ``"ordered"``, or ``"critical"`` at
  ``chi_1 = 1``) with ``chi_c = chi_1``. At ``chi_q = 1`` the approach ``q^l -> 0`` is a power law and
  ``xi_q = inf``; below it is exponential with ``xi_q = -1 / ln chi_q``.
* ``sigma_w = 0``: ``q* = sigma_b^2``, ``chi_1 = chi_q = chi_c = 0``, all depth scales 0, ``c* = 1``.
* Unbounded (e.g. ReLU with ``sigma_w^2 >= 2`` and ``sigma_b > 0``, linear with ``sigma_w >= 1``):
  ``q* = inf``. For positively homogeneous activations (ReLU family, linear) the slopes do not depend on ``q``,
  so ``chi_1``, ``chi_q`` are their exact values and ``c* = 1``, ``chi_c = chi_1`` (correlations of ReLU
  networks still converge to 1); for other activations ``chi_1, chi_q, c*, chi_c`` and the depth scales are
  NaN, meaning "no fixed point exists".
* Neutral length map (``V(q) = q`` for all ``q``: ReLU family and linear exactly at ``sigma_w^2 E[phi'^2] = 1``,
  ``sigma_b = 0``): every ``q`` is a fixed point and ``q* = 1``, the value kept from a unit input.
* Critical line: a point is labelled ``"critical"`` when ``|chi_1 - 1| <= CRITICAL_TOLERANCE``; there
  ``c* = 1``, ``chi_c = chi_1`` and ``xi_c = xi_grad = inf``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .activations import Activation, get_activation, is_builtin
from .common import as_float_array, check_choice, check_int, check_memory, check_real, provenance_attrs

Q_MAX = 1e6
"""Fixed points above this second moment are reported as unbounded (``q* = inf``)."""

CRITICAL_TOLERANCE = 1e-9
"""``|chi_1 - 1|`` at or below this labels a point ``"critical"``."""

PHASES: tuple[str, ...] = ("ordered", "chaotic", "critical", "unbounded")
"""Phase labels; the ``phase`` variable stores their index (CF ``flag_values``/``flag_meanings``)."""

METHODS: tuple[str, ...] = ("fast", "quadrature")

MEAN_FIELD_ARCHS: dict[str, str] = {
    "mlp": "feedforward",
    "orthogonal": "feedforward",
    "fdfd": "feedforward",
    "cnn": "feedforward (odd activations, kernel size -> infinity)",
    "fdf": "feedforward (odd activations)",
    "resnet": "residual",
}
"""The map each ``arch`` of the finite-width engine gets (module docstring, "Architectures"); ``"<name>+residual"``
(e.g. ``"cnn+residual"``) is the residual map with that arch's operator and conditions."""

# Operators that act on Fourier modes one by one: the constant mode of phi(h) gets one random gain per layer,
# so the feed-forward map needs E[phi(u)] = 0 (odd activations). Arch names and operator names ("conv").
_MODEWISE_ARCHS = ("cnn", "conv", "fdf")
# "<arch>+residual": the residual variant of a feed-forward arch (same operator, residual map)
_RESIDUAL_SUFFIX = "+residual"

_Z_MAX = 10.0  # Gaussian tails beyond 10 standard deviations weigh < 1e-22
_MAX_PANELS = 20000  # per integral; more would mean an activation that varies on every scale at huge q
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Moments = Callable[..., tuple[np.ndarray, ...]]
Pair = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- quadrature
def _composite_gauss_legendre(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of 16-point Gauss-Legendre on each panel ``[edges[i], edges[i+1]]`` (last axis)."""
    left, right = edges[..., :-1], edges[..., 1:]
    half = 0.5 * (right - left)
    nodes = (0.5 * (left + right))[..., None] + half[..., None] * _GL_X
    weights = half[..., None] * _GL_W
    shape = (*edges.shape[:-1], -1)
    return nodes.reshape(shape), weights.reshape(shape)


def _panel_edges(width: float, breaks: list[float], fine: float = math.inf) -> np.ndarray:
    """Edges of panels covering ``[-_Z_MAX, _Z_MAX]`` with ``breaks`` among them.

    Panels are at most ``width`` wide inside ``|z| <= fine`` and at most 1 wide (the Gaussian's scale) outside.
    """
    if fine < _Z_MAX:
        breaks = [*breaks, -fine, fine]
    points = [-_Z_MAX, *sorted(b for b in breaks if -_Z_MAX < b < _Z_MAX), _Z_MAX]
    edges = []
    for a, b in itertools.pairwise(points):
        w = width if max(abs(a), abs(b)) <= fine * (1 + 1e-12) else max(width, 1.0)
        edges.append(np.linspace(a, b, max(1, math.ceil((b - a) / w)) + 1)[:-1])
    return np.concatenate([*edges, [_Z_MAX]])


def _graded_breaks(centres: tuple[float, ...], scale: float, smoothing: float) -> list[float]:
    """Breakpoints graded geometrically around ``centres`` from ``smoothing`` up to ``scale`` (units of z).

    After the inner Gaussian integral a kink is smoothed over ``smoothing``: panels graded towards it keep
    composite Gauss-Legendre accurate when that width is far below the panel width.
    """
    breaks = []
    for centre in centres:
        breaks.append(centre)
        offset = smoothing
        while 0.0 < offset < scale:
            breaks += [centre - offset, centre + offset]
            offset *= 2.0
    return breaks


class _Quadrature:
    """Accurate Gaussian expectations of one activation by composite Gauss-Legendre quadrature.

    Integrals run over ``z`` in ``[-10, 10]`` in panels no wider than one unit of ``z`` nor, where the activation
    has features, of the pre-activation ``u`` (``1 / sqrt(q)`` in ``z``), split at the kinks of ``phi`` (graded
    towards kinks that the inner integral of a pair smooths). The registered activations vary on the scale of one
    unit of ``u`` (tanh has poles at ``u = i pi / 2``), so 16 nodes per panel reach machine precision. Beyond
    ``|u| = Activation.asymptotic_beyond`` (60 for the registry except ``sin``) the activation has no features
    and the panels there may be one unit of ``z`` wide; without that bound (``sin``, user callables) the
    activation is assumed to vary on the scale of one unit of ``u`` everywhere.
    """

    def __init__(self, activation: Activation):
        self.act = activation
        # activations whose features all lie in |u| <= asymptotic_beyond need the fine panels only there, whatever q
        self.beyond = activation.asymptotic_beyond
        self.tame = self.beyond is not None
        self.phi0 = float(activation.phi(np.array([0.0]))[0])
        tiny = np.array([-1e-300, 1e-300])
        self.slope0 = float(np.mean(activation.dphi(tiny) ** 2))
        self.curvature0 = float(activation.d2phi(np.array([0.0]))[0]) if activation.smooth else 0.0

    def _moments_one(self, q: float) -> tuple[float, float, float]:
        if q == 0.0:
            return self.phi0**2, self.slope0 + self.phi0 * self.curvature0, self.slope0
        s = math.sqrt(q)
        z, w = _composite_gauss_legendre(self._edges(s, [k / s for k in self.act.kinks]))
        w = w * np.exp(-0.5 * z * z) * _INV_SQRT_2PI
        u = s * z
        f, df = self.act.phi(u), self.act.dphi(u)
        return float(w @ (f * f)), float(w @ (z * f * df)) / s, float(w @ (df * df))

    def _edges(self, s: float, breaks: list[float]) -> np.ndarray:
        """Panel edges in ``z`` for integrands of ``u = s z``: one unit of ``u`` per panel where it matters."""
        fine = self.beyond / s if self.tame else math.inf
        if 2.0 * min(fine, _Z_MAX) * s > _MAX_PANELS:
            raise ValueError(
                f"q must be <= {(_MAX_PANELS / (2 * _Z_MAX)) ** 2:g} for quadrature of {self.act.name!r}, got {s * s:g}"
            )
        return _panel_edges(min(1.0, 1.0 / s), breaks, fine)

    def moments(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``E[phi^2]``, ``d/dq E[phi^2]`` and ``E[phi'^2]`` at ``sqrt(q) z`` for each element of ``q``."""
        q = np.asarray(q, dtype=np.float64)
        out = np.array([self._moments_one(float(v)) for v in q.ravel()]).reshape(*q.shape, 3)
        return out[..., 0], out[..., 1], out[..., 2]

    def pair_one(
        self,
        q1: float,
        q2: float,
        eps: float,
        integrands: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
        c: float | None = None,
    ) -> np.ndarray:
        """``E[f(u1, u2)]`` for each array ``f`` returned by ``integrands(u1, u2)``.

        ``u1 = sqrt(q1) z1``, ``u2 = sqrt(q2) (c z1 + s z2)`` with ``c = 1 - eps`` (or given, to keep the relative
        precision of a small ``c``) and ``s = sqrt(1 - c^2)`` computed from ``eps`` directly, so that differences
        ``phi(u1) - phi(u2)`` keep their precision.
        """
        act = self.act
        s1, s2 = math.sqrt(q1), math.sqrt(q2)
        c, sn = (1.0 - eps if c is None else c), math.sqrt(max(eps * (2.0 - eps), 0.0))
        if s1 == 0.0 or s2 == 0.0 or sn == 0.0:
            # degenerate pair (c = +-1 or a vanishing variance): u1 and u2 are multiples of one normal w
            a1, a2 = s1, (s2 if s1 == 0.0 else s2 * c)
            breaks = [k / a for a in (a1, a2) if a != 0.0 for k in act.kinks]
            z, w = _composite_gauss_legendre(self._edges(max(s1, s2, 1e-300), breaks))
            w = w * np.exp(-0.5 * z * z) * _INV_SQRT_2PI
            return np.array([w @ f for f in integrands(a1 * z, a2 * z)])
        spread = sn * s2  # standard deviation of u2 given z1
        outer_breaks = [k / s1 for k in act.kinks]
        if abs(c) > 0.0:
            # after the inner integral, the kinks of phi(u2) sit at z1 = k / (c s2), smoothed over sn / |c|
            outer_breaks += _graded_breaks(tuple(k / (c * s2) for k in act.kinks), min(1.0, 1.0 / s1), sn / abs(c))
        z1, w1 = _composite_gauss_legendre(self._edges(s1, outer_breaks))
        w1 = w1 * np.exp(-0.5 * z1 * z1) * _INV_SQRT_2PI
        # inner panels in z2: each segment between consecutive cuts (kinks of u2 and, for tame activations, the
        # ends of |u2| <= beyond) gets `panels` panels, one unit of u2 wide inside |u2| <= beyond and of z2 outside
        tame = self.tame and spread * 2.0 * _Z_MAX > 2.0 * self.beyond
        cut_points = sorted((*act.kinks, -self.beyond, self.beyond) if tame else act.kinks)
        panels = math.ceil(2.0 * self.beyond + 2.0 * _Z_MAX) if tame else math.ceil(2.0 * _Z_MAX * max(1.0, spread))
        if panels > _MAX_PANELS:
            raise ValueError(
                f"q2 (1 - c^2) must be <= {(_MAX_PANELS / (2 * _Z_MAX)) ** 2:g} for quadrature of {act.name!r}, "
                f"got q1={q1:g}, q2={q2:g}, c={c:g}"
            )
        total = None
        for start in range(0, z1.size, 128):
            zb, wb = z1[start : start + 128, None], w1[start : start + 128]
            cuts = [np.clip((k / s2 - c * zb) / sn, -_Z_MAX, _Z_MAX) for k in cut_points]  # increasing in k
            seg = np.concatenate([np.full_like(zb, -_Z_MAX), *cuts, np.full_like(zb, _Z_MAX)], axis=1)
            frac = np.linspace(0.0, 1.0, panels + 1)[:-1]
            edges = (seg[:, :-1, None] + (seg[:, 1:, None] - seg[:, :-1, None]) * frac).reshape(zb.shape[0], -1)
            edges = np.concatenate([edges, np.full_like(zb, _Z_MAX)], axis=1)
            z2, w2 = _composite_gauss_legendre(edges)
            w2 = w2 * np.exp(-0.5 * z2 * z2) * _INV_SQRT_2PI
            u1 = np.broadcast_to(s1 * zb, z2.shape)
            u2 = s2 * (c * zb + sn * z2)
            part = np.array([wb @ np.sum(w2 * f, axis=1) for f in integrands(u1, u2)])
            total = part if total is None else total + part
        return total

    def pair(
        self, q: np.ndarray, eps: np.ndarray, c: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``D = E[(phi(u1) - phi(u2))^2] / 2``, ``S = E[phi'(u1) phi'(u2)]``, ``K = E[phi(u1) phi(u2)]``.

        Equal variances ``q``, correlation ``c = 1 - eps`` (``c`` may be given as well, see :meth:`pair_one`).
        """
        act = self.act

        def integrands(u1, u2):
            f1, f2 = act.phi(u1), act.phi(u2)
            return 0.5 * (f1 - f2) ** 2, act.dphi(u1) * act.dphi(u2), f1 * f2

        q, eps = np.broadcast_arrays(np.asarray(q, dtype=np.float64), np.asarray(eps, dtype=np.float64))
        c = 1.0 - eps if c is None else np.broadcast_to(c, q.shape)
        out = np.array([self.pair_one(a, a, b, integrands, d) for a, b, d in zip(q.ravel(), eps.ravel(), c.ravel())])
        out = out.reshape(-1, 3)  # no points gives a 1-D empty array
        return tuple(out[:, i].reshape(q.shape) for i in range(3))


# --------------------------------------------------------------------------- fast interpolation tables
_TABLE_DEGREE = 24
_TABLE_OCTAVES = (-30, 10)  # tables cover q in [2^-30, 2^10]; outside, the quadrature is used directly


class _MomentTable:
    """Piecewise Chebyshev interpolants of the three single-input moments over octaves ``[2^j, 2^(j+1)]``.

    The moments are analytic in ``q > 0`` (their only singularity is at ``q = 0``), so on an octave the
    Chebyshev coefficients decay like ``(3 + sqrt 8)^-n``: degree 24 is at round-off. Octaves whose last
    coefficients are not below ``1e-13`` of the values (e.g. an unusual user callable) are marked invalid and
    evaluated by quadrature instead.
    """

    def __init__(self, quad: _Quadrature):
        self.quad = quad
        lo, hi = _TABLE_OCTAVES
        n = _TABLE_DEGREE + 1
        starts = 2.0 ** np.arange(lo, hi)
        q = starts[:, None] * (1.5 + 0.5 * _chebyshev_nodes(n))  # octave [a, 2a] -> centre 1.5 a, half-width 0.5 a
        values = np.stack(quad.moments(q), axis=0)  # (3, octaves, n)
        coef = values @ _chebyshev_transform(n).T
        scale = np.max(np.abs(values), axis=-1) + 1e-300
        self.valid = np.all(np.max(np.abs(coef[..., -3:]), axis=-1) <= 1e-13 * scale, axis=0)
        self.coef = coef
        self.lo, self.hi = lo, hi

    def __call__(self, q: np.ndarray, which: tuple[int, ...] = (0, 1, 2)) -> tuple[np.ndarray, ...]:
        """The moments numbered ``which`` (0: ``E[phi^2]``, 1: its derivative, 2: ``E[phi'^2]``) at ``q``."""
        shape = np.shape(q)
        q = np.asarray(q, dtype=np.float64).ravel()
        mant, expo = np.frexp(q)  # q = mant 2^expo with mant in [0.5, 1): octave index expo - 1
        octave = expo - 1 - self.lo
        inside = (q > 0) & (octave >= 0) & (octave < self.hi - self.lo)
        octave = np.where(inside, octave, 0)
        inside &= self.valid[octave]
        x2 = np.where(inside, 8.0 * mant - 6.0, 0.0)  # 2x, x = q / 2^(expo-1) in [1, 2) mapped to [-1, 1)
        out = []
        for f in which:
            coef = self.coef[f].T  # (degree + 1, octaves): one gather of length q.size per degree
            b1 = np.zeros(q.shape)
            b2 = np.zeros(q.shape)
            for k in range(coef.shape[0] - 1, 0, -1):  # Clenshaw recurrence
                b1, b2 = x2 * b1 - b2 + coef[k][octave], b1
            out.append(0.5 * x2 * b1 - b2 + coef[0][octave])
        if not np.all(inside):
            rest = self.quad.moments(q[~inside])
            for value, f in zip(out, which):
                value[~inside] = rest[f]
        return tuple(value.reshape(shape) for value in out)


_TABLES: dict[tuple[str, tuple[tuple[str, float], ...]], _MomentTable] = {}


def _shared(cache: dict[Any, Any], act: Activation, make: Callable[[], Any]) -> Any:
    """``make()``, built once and shared between instances for registry activations (fresh for user callables)."""
    if not is_builtin(act):
        return make()
    key = (act.name, tuple(sorted(act.params.items())))
    if key not in cache:
        cache[key] = make()
    return cache[key]


_CORR_OCTAVES = (-8, 6)  # Mehler tables for c* cover q* in [2^-8, 2^6); outside, quadrature point by point
_CORR_Q_NODES = 16  # Chebyshev nodes per octave of q; in tau 48 below q = 16 and 80 above (steeper at large q)


def _chebyshev_nodes(n: int) -> np.ndarray:
    """Chebyshev points of the first kind on ``[-1, 1]``."""
    return np.cos(np.pi * (np.arange(n) + 0.5) / n)


def _chebyshev_transform(n: int) -> np.ndarray:
    """Matrix mapping values at :func:`_chebyshev_nodes` to Chebyshev coefficients."""
    x = _chebyshev_nodes(n)
    m = np.cos(np.outer(np.arange(n), np.arccos(x))) * (2.0 / n)
    m[0] *= 0.5
    return m


def _chebyshev_basis(x: np.ndarray, n: int) -> np.ndarray:
    """``T_k(x)`` for ``k < n``, shape ``(*x.shape, n)``, by the three-term recurrence."""
    out = np.empty((*x.shape, n))
    out[..., 0] = 1.0
    out[..., 1] = x
    for k in range(2, n):
        out[..., k] = 2.0 * x * out[..., k - 1] - out[..., k - 2]
    return out


def _powers(c: np.ndarray, n: int) -> np.ndarray:
    """``c[:, None] ** arange(n)`` by cumulative products."""
    out = np.empty((c.size, n))
    out[:, 0] = 1.0
    out[:, 1:] = c[:, None]
    return np.cumprod(out, axis=1, out=out)


class _CorrelationTable:
    """Chaotic-phase ``c*`` and ``chi_c / chi_1`` as smooth functions of ``(q*, tau)``, for smooth activations.

    At fixed ``q = q*`` the chaotic side is ``0 <= sigma_b^2 < sigma_bc^2(q)``, where
    ``sigma_bc^2(q) = q - E[phi^2] / E[phi'^2]`` is the critical bias variance with that fixed point; with
    ``tau = sigma_b^2 / sigma_bc^2(q)`` in ``[0, 1]`` (and ``sigma_w^2 = (q - sigma_b^2) / E[phi^2]`` fixed by
    ``q``), both quantities are analytic on ``[2^j, 2^(j+1)] x [0, 1]``. They are tabulated on a tensor
    Chebyshev grid per octave of ``q``, together with ``sigma_bc^2(q)``, and built on first use.

    At each node the correlation map is evaluated exactly through Mehler's expansion
    ``E[phi(u1) phi(u2)] = sum_k b_k c^k``, ``b_k = a_k(q)^2`` with Hermite coefficients ``a_k`` computed by the
    trapezoid rule (exponentially accurate for phi analytic in a strip around the real axis). Subtracting the two
    fixed-point equations and dividing by ``1 - c`` gives ``sigma_w^2 sum_{j>=1} B_j c^j = sigma_b^2 + sigma_w^2 b_0``
    with tail sums ``B_j = sum_{k>j} b_k >= 0``: positive coefficients (no cancellation, even where the chaotic
    window is tiny at small ``q``) and a convex left side, so Newton converges monotonically. An octave is used only if
    the Mehler sums reproduce ``E[phi^2]`` and ``q E[phi'^2]`` to 1e-10, the chaotic window exists at all its
    nodes and the trailing Chebyshev coefficients are below 1e-11; otherwise its points fall back to quadrature.
    """

    def __init__(self, activation: Activation, moments: Moments):
        self.act = activation
        self.moments = moments
        self.octaves: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}

    def _hermite_squares(self, q: np.ndarray, top: float) -> np.ndarray:
        """``a_k(q)^2`` for ``k = 0..K`` (rows: ``q``), trapezoid rule on ``z`` in ``[-13, 13]``.

        ``K = 100 q + 200`` terms leave a tail below 1e-11 of ``q E[phi'^2]`` for tanh; the node spacing
        resolves both the Hermite functions up to ``K`` and the complex poles of ``phi(sqrt(q) z)``.
        """
        kmax = int(100 * top + 200)
        h = min(1.5 / math.sqrt(kmax + 1), 0.3 / math.sqrt(top))
        z = np.linspace(-13.0, 13.0, 2 * math.ceil(13.0 / h) + 1)
        h = z[1] - z[0]
        psi = (2.0 * math.pi) ** -0.25 * np.exp(-0.25 * z * z)  # orthonormal Hermite function psi_0
        weighted = h * self.act.phi(np.sqrt(q)[:, None] * z) * psi
        roots = np.sqrt(np.arange(kmax + 2))
        table = np.empty((kmax + 1, z.size))
        prev = np.zeros_like(z)
        for k in range(kmax + 1):
            table[k] = psi
            psi, prev = (z * psi - roots[k] * prev) / roots[k + 1], psi
        coef = weighted @ table.T
        return coef * coef

    def _build(self, octave: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        nq, nt = _CORR_Q_NODES, (48 if octave < 4 else 80)
        q = 2.0**octave * (1.5 + 0.5 * _chebyshev_nodes(nq))
        tau = 0.5 * (1.0 + _chebyshev_nodes(nt))
        b = self._hermite_squares(q, 2.0 ** (octave + 1))
        f0, _, f1 = self.moments(q)
        k = np.arange(b.shape[1])
        if np.any(np.abs(b.sum(axis=1) - f0) > 1e-10 * f0) or np.any(np.abs(b @ k - q * f1) > 1e-10 * q * f1):
            return None
        f0, qf1 = b.sum(axis=1), b @ k  # Mehler-consistent moments
        window = q * ((b @ (k - 1.0)) / qf1)  # sigma_bc^2 = (q E[phi'^2] - E[phi^2]) / E[phi'^2], no cancellation
        if np.any(window <= 0):
            return None
        tails = np.cumsum(b[:, ::-1], axis=1)[:, ::-1][:, 1:]  # B_j = sum_{k > j} b_k, j = 0..K-1
        corr = np.empty((nq, nt))
        ratio = np.empty((nq, nt))
        c = np.ones(nt)
        for i in range(nq):  # neighbouring q nodes start Newton from the previous solution
            sb2 = tau * window[i]
            sw2 = (q[i] - sb2) / f0[i]
            rhs = sb2 + sw2 * b[i, 0]
            for _ in range(50):
                powers = _powers(c, tails.shape[1])
                value = sw2 * (powers[:, 1:] @ tails[i, 1:]) - rhs
                slope = sw2 * (powers[:, :-1] @ (tails[i, 1:] * k[1:-1]))
                new = np.clip(c - value / slope, 0.0, 1.0)
                done = np.all(np.abs(new - c) <= 1e-14)  # Newton is quadratic: the step after this is round-off
                c = new
                if done:
                    break
            powers = _powers(c, b.shape[1] - 1)
            corr[i] = c / tau if self.act.odd else c
            ratio[i] = (powers @ (b[i, 1:] * k[1:])) / qf1[i]
        tq, tt = _chebyshev_transform(nq), _chebyshev_transform(nt)
        coef_corr, coef_ratio = tq @ corr @ tt.T, tq @ ratio @ tt.T
        coef_window = tq @ window
        for coef in (coef_corr, coef_ratio):
            if max(np.abs(coef[-2:]).max(), np.abs(coef[:, -3:]).max()) > 1e-11 * np.abs(coef[0, 0]):
                return None
        if np.abs(coef_window[-2:]).max() > 1e-13 * np.abs(coef_window[0]):
            return None
        return coef_window, coef_corr, coef_ratio

    def __call__(self, q: np.ndarray, sb2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``c*``, ``chi_c / chi_1`` and a mask of the points the table covers."""
        mant, expo = np.frexp(q)
        octave = expo - 1
        ok = (octave >= _CORR_OCTAVES[0]) & (octave < _CORR_OCTAVES[1])
        corr, ratio = np.full(q.shape, np.nan), np.full(q.shape, np.nan)
        for j in np.unique(octave[ok]):
            if j not in self.octaves:
                self.octaves[j] = self._build(int(j))
            sel = ok & (octave == j)
            if self.octaves[j] is None:
                ok &= ~sel
                continue
            coef_window, coef_corr, coef_ratio = self.octaves[j]
            basis_q = _chebyshev_basis(4.0 * mant[sel] - 3.0, _CORR_Q_NODES)
            tau = np.clip(sb2[sel] / (basis_q @ coef_window), 0.0, 1.0)
            basis_t = _chebyshev_basis(2.0 * tau - 1.0, coef_corr.shape[1])
            corr[sel] = np.sum((basis_q @ coef_corr) * basis_t, axis=1)
            if self.act.odd:  # odd phi: c* vanishes linearly at sigma_b = 0, so c* / tau is tabulated
                corr[sel] *= tau
            ratio[sel] = np.sum((basis_q @ coef_ratio) * basis_t, axis=1)
        return corr, ratio, ok


_CORRELATION_TABLES: dict[tuple[str, tuple[tuple[str, float], ...]], _CorrelationTable] = {}


# --------------------------------------------------------------------------- solvers
def _solve_q_star(sw2: np.ndarray, sb2: np.ndarray, moments: Moments, phi0: float, slope0: float) -> np.ndarray:
    """``q* = lim V^l(1)`` for each (``sigma_w^2``, ``sigma_b^2``): bracketed, safeguarded Newton on ``V(q) - q``."""
    q = np.full(sw2.shape, np.nan)
    zero_w = sw2 == 0.0
    q[zero_w] = sb2[zero_w]
    todo = ~zero_w
    # the origin attracts when V(0) = 0 and V'(0) <= 1 (odd activations and the ReLU family, sigma_b = 0)
    origin = todo & (sb2 == 0.0) & (phi0 == 0.0) & (sw2 * slope0 <= 1.0)
    q[origin] = 0.0
    todo &= ~origin
    idx = np.flatnonzero(todo)
    if idx.size == 0:
        return q
    a, b = sw2[idx], sb2[idx]
    g1 = a * moments(np.ones(idx.size), (0,))[0] + b - 1.0
    # bracket [lo, hi] with V(lo) > lo and V(hi) < hi around the fixed point reached from q = 1
    lo = np.where(g1 > 0, 1.0, 0.0)
    hi = np.where(g1 > 0, np.inf, 1.0)
    # V(0) = 0 but V'(0) > 1: the origin repels, the bracket starts just right of it
    lo = np.where((g1 < 0) & (b == 0.0) & (phi0 == 0.0), 1e-300, lo)
    x = np.ones(idx.size)
    active = g1 != 0
    unbounded = np.zeros(idx.size, dtype=bool)
    for _ in range(1100):  # Newton halves at a double root (sigma_w on the line, sigma_b -> 0): q* >= 1e-154
        if not np.any(active):
            break
        sub = np.flatnonzero(active)
        xs = x[sub]
        f0, df0 = moments(xs, (0, 1))
        g = a[sub] * f0 + b[sub] - xs
        lo[sub] = np.where(g > 0, xs, lo[sub])
        hi[sub] = np.where(g < 0, xs, hi[sub])
        with np.errstate(divide="ignore", invalid="ignore"):
            # Newton step x - g / g' rearranged so that it keeps its relative precision when q* << x
            new = (b[sub] + a[sub] * (f0 - xs * df0)) / (1.0 - a[sub] * df0)
        ok = (new >= lo[sub]) & (new < hi[sub])
        # outside the bracket: bisect, or double while no upper bound is known
        new = np.where(ok, new, np.where(np.isfinite(hi[sub]), 0.5 * (lo[sub] + hi[sub]), 2.0 * xs))
        # without an upper bound, grow at most eightfold per step (a near-flat V - q sends Newton far away)
        new = np.minimum(np.where(np.isfinite(hi[sub]), new, np.minimum(new, 8.0 * xs)), Q_MAX)
        gone = (g > 0) & (xs >= Q_MAX)
        unbounded[sub[gone]] = True
        narrow = np.isfinite(hi[sub]) & (hi[sub] - lo[sub] <= 2e-16 * hi[sub])
        done = gone | (g == 0) | (np.abs(new - xs) <= 2e-16 * xs) | narrow
        x[sub] = np.where(g == 0, xs, new)
        active[sub[done]] = False
    x[unbounded] = np.inf
    q[idx] = x
    return q


def _solve_correlation(sw2: np.ndarray, sb2: np.ndarray, q: np.ndarray, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """``c*`` and ``E[phi'(u1) phi'(u2)]`` at ``c*`` for chaotic points (``chi_1 > 1``).

    Solves ``r(eps) = sigma_w^2 D(q*, eps) - q* eps = 0`` on ``(0, 1]`` with ``D = E[(phi(u1) - phi(u2))^2] / 2``
    and ``eps = 1 - c``, precise as ``c -> 1``. ``r`` is concave (``C`` is convex in ``c``) with ``r(0) = 0``,
    ``r'(0) = q* (chi_1 - 1) > 0`` and ``r(1) <= 0``, so Newton from ``eps = 1`` converges monotonically;
    bisection guards it anyway. Where ``c* < 1/2`` two Newton steps on ``C(c) = c`` in ``c`` itself follow, so that
    a small ``c*`` keeps its relative precision.
    """
    n = q.size
    x = np.ones(n)
    lo, hi = np.zeros(n), np.ones(n)
    slope = np.zeros(n)
    active = np.ones(n, dtype=bool)
    for _ in range(200):
        if not np.any(active):
            break
        sub = np.flatnonzero(active)
        d, s, _ = pair(q[sub], x[sub])
        r = sw2[sub] * d - q[sub] * x[sub]
        dr = q[sub] * (sw2[sub] * s - 1.0)
        slope[sub] = s
        lo[sub] = np.where(r > 0, x[sub], lo[sub])
        hi[sub] = np.where(r < 0, x[sub], hi[sub])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = x[sub] - np.where(dr != 0, r / dr, np.inf)
        bad = ~((new > lo[sub]) & (new < hi[sub]))
        new = np.where(bad, 0.5 * (lo[sub] + hi[sub]), new)
        converged = (r == 0) | (np.abs(new - x[sub]) <= 1e-15 * x[sub]) | (hi[sub] - lo[sub] <= 1e-15 * hi[sub])
        x[sub] = np.where(r == 0, x[sub], new)
        active[sub[converged]] = False
    c = 1.0 - x
    low = np.flatnonzero(c < 0.5)
    for _ in range(2):
        _, s, k = pair(q[low], 1.0 - c[low], c[low])
        c[low] -= (sw2[low] * k + sb2[low] - q[low] * c[low]) / (q[low] * (sw2[low] * s - 1.0))
    # the last evaluation precedes the last (tiny) step; refresh the slope at the final c
    _, slope, _ = pair(q, 1.0 - c, c)
    return c, slope


def _depth_scale(chi: np.ndarray) -> np.ndarray:
    """``-1 / ln chi``: 0 at chi = 0, inf at chi = 1, negative (growth) above 1, NaN stays NaN."""
    with np.errstate(divide="ignore"):
        return np.where(chi == 1.0, np.inf, -1.0 / np.log(chi))


# --------------------------------------------------------------------------- public API
_VARIABLES: dict[str, tuple[str, str]] = {
    "q_star": ("fixed point q* of the length map (pre-activation second moment)", "1"),
    "chi1": ("chi_1 = sigma_w^2 E[phi'(u)^2] at q* (slope of the correlation map at c = 1)", "1"),
    "chi_q": ("chi_q = V'(q*) (slope of the length map at its fixed point)", "1"),
    "c_star": ("fixed point c* of the correlation map", "1"),
    "chi_c": ("chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at (q*, c*)", "1"),
    "xi_q": ("depth scale of the length map, -1/ln chi_q", "layers"),
    "xi_c": ("depth scale of correlations, -1/ln chi_c", "layers"),
    "xi_grad": ("depth scale of gradients, -1/ln chi_1 (negative: growth)", "layers"),
}


@dataclass(frozen=True)
class _Solution:
    q_star: np.ndarray
    chi1: np.ndarray
    chi_q: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray
    phase: np.ndarray

    @property
    def xi_q(self) -> np.ndarray:
        return _depth_scale(self.chi_q)

    @property
    def xi_c(self) -> np.ndarray:
        return np.where(self.phase == PHASES.index("critical"), np.inf, _depth_scale(self.chi_c))

    @property
    def xi_grad(self) -> np.ndarray:
        return np.where(self.phase == PHASES.index("critical"), np.inf, _depth_scale(self.chi1))


def _grid_coords(sw: np.ndarray, sb: np.ndarray) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """Coordinates of a ``sigma_w x sigma_b`` outer-product grid and the index that drops scalar axes.

    1-D arrays become dims, scalars scalar coordinates (as :meth:`infoprop.RandomNetwork.moments` does).
    """
    coords: dict[str, Any] = {}
    index: list[Any] = []
    for name, arr in (("sigma_w", sw), ("sigma_b", sb)):
        attrs = {"long_name": f"{name} (std)", "units": "1"}
        if arr.ndim == 1:
            coords[name] = (name, arr, attrs)
            index.append(slice(None))
        else:
            coords[name] = ((), float(arr), attrs)
            index.append(0)
    return coords, (*index, Ellipsis)


@dataclass(frozen=True)
class _Asymptote:
    """``phi(u) = slope_minus u + offset_minus`` below ``-asymptotic_beyond``, ``slope_plus u + offset_plus`` above."""

    slope_minus: float
    slope_plus: float
    offset_minus: float
    offset_plus: float


def _asymptote(act: Activation) -> _Asymptote | None:
    """The linear (or constant) tails of ``phi`` beyond ``act.asymptotic_beyond``; None if unknown or not linear."""
    beyond = act.asymptotic_beyond
    if beyond is None:
        return None
    u = beyond * np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    with np.errstate(all="ignore"):
        f = np.asarray(act.phi(u), dtype=np.float64)
    if not np.all(np.isfinite(f)):
        return None
    slope_minus, slope_plus = (f[2] - f[1]) / beyond, (f[4] - f[3]) / beyond
    offset_minus, offset_plus = f[2] + slope_minus * beyond, f[3] - slope_plus * beyond
    # the third point on each side must lie on the same line (to rounding), or the tail is not linear
    predicted = np.array([offset_minus - 3.0 * beyond * slope_minus, offset_plus + 3.0 * beyond * slope_plus])
    if np.any(np.abs(predicted - f[[0, 5]]) > 1e-12 * np.maximum(1.0, np.abs(f[[0, 5]]))):
        return None
    return _Asymptote(float(slope_minus), float(slope_plus), float(offset_minus), float(offset_plus))


def _saturation_angle(r: np.ndarray) -> np.ndarray:
    """Root ``theta`` in ``(0, pi/2]`` of ``(1 - cos theta) / theta = r`` for ``0 < r <= 2/pi``; 0 where ``r = 0``.

    ``f(theta) = 2 sin^2(theta/2) / theta`` is increasing and concave there and ``f(theta) <= theta / 2``, so
    Newton from ``theta = 2 r`` (left of the root) climbs to it monotonically.
    """
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros(r.shape)
    pos = r > 0
    target = r[pos]
    theta = np.minimum(2.0 * target, 0.5 * math.pi)
    for _ in range(100):
        half = np.sin(0.5 * theta)
        f = 2.0 * half * half / theta
        df = (theta * np.sin(theta) - 2.0 * half * half) / (theta * theta)
        new = np.minimum(theta + (target - f) / df, 0.5 * math.pi)
        done = np.all(np.abs(new - theta) <= 4e-16 * theta)
        theta = new
        if done:
            break
    out[pos] = theta
    return out


def _resolve_arch(arch: Any, activation: Activation) -> tuple[str, bool]:
    """``(name, residual)`` of an ``arch``: a name of :data:`MEAN_FIELD_ARCHS`, ``"<name>+residual"``, or a network
    description (any object with a boolean ``residual``, and optionally its ``name`` and ``operator``)."""
    operator = None
    if isinstance(arch, str):
        base = arch[: -len(_RESIDUAL_SUFFIX)] if arch.endswith(_RESIDUAL_SUFFIX) else arch
        if base not in MEAN_FIELD_ARCHS or (base != arch and MEAN_FIELD_ARCHS[base] == "residual"):
            allowed = (
                *MEAN_FIELD_ARCHS,
                *(f"{n}{_RESIDUAL_SUFFIX}" for n, k in MEAN_FIELD_ARCHS.items() if k != "residual"),
            )
            raise ValueError(f"arch must be one of {allowed} or a network description, got {arch!r}")
        name, residual = arch, base != arch or MEAN_FIELD_ARCHS[base] == "residual"
    elif isinstance(getattr(arch, "residual", None), bool):
        residual = arch.residual
        label = next(
            (v for v in (getattr(arch, "name", None), getattr(arch, "arch", None)) if isinstance(v, str)), None
        )
        name = label or ("resnet" if residual else "mlp")
        base = name[: -len(_RESIDUAL_SUFFIX)] if name.endswith(_RESIDUAL_SUFFIX) else name
        operator = getattr(arch, "operator", None)
    else:
        raise TypeError(
            f"arch must be one of {tuple(MEAN_FIELD_ARCHS)} or a network description with a boolean 'residual' "
            f"attribute, got {arch!r}"
        )
    if (base in _MODEWISE_ARCHS or operator in _MODEWISE_ARCHS) and not activation.odd:
        raise ValueError(
            f"arch {name!r} with activation {activation.name!r} has no mean-field map: the operator multiplies the "
            "constant Fourier mode of phi(h), which carries a finite share of ||phi(h)||^2 when E[phi(u)] != 0, by "
            "one random number per layer, so q^l stays random at any width. Use an odd activation, arch 'mlp', "
            "'orthogonal' or 'fdfd', or RandomNetwork(...).moments() over several seeds"
        )
    return name, residual


class MeanField:
    """Mean-field (infinite-width) signal propagation for one activation.

    Parameters
    ----------
    activation : str, Activation or callable
        A registry name (see :data:`infoprop.ACTIVATIONS`), an :class:`Activation` or a
        torch-compatible elementwise function.
    arch : str or network description, keyword-only
        One of :data:`MEAN_FIELD_ARCHS` (default ``"mlp"``), ``"<name>+residual"``, or any object with a boolean
        ``residual`` attribute (and optionally its ``name`` and ``operator``), such as the finite-width engine's
        network description.
        Feed-forward archs get the maps of the module docstring; ``cnn`` and ``fdf`` only with odd activations
        (otherwise ``ValueError``: no deterministic map exists). Residual archs (``"resnet"``) have no fixed
        point: use :meth:`trajectory` and :meth:`residual_asymptotics`; the fixed-point methods raise
        ``ValueError``.
    method : {"fast", "quadrature"}, keyword-only
        ``"fast"`` (default) evaluates single-input moments from piecewise Chebyshev tables built once per
        activation (validated against the quadrature to 1e-12 relative) and uses closed forms where they exist;
        ``"quadrature"`` evaluates every Gaussian expectation directly by composite Gauss-Legendre quadrature.
        Both agree to better than 1e-9 relative.
    **activation_params
        Parameters of the activation family, e.g. ``negative_slope=0.1`` for ``leaky_relu``.

    Notes
    -----
    All methods take ``sigma_w`` and ``sigma_b`` as **standard deviations** (scalars or arrays, broadcast
    against each other, finite and >= 0) and return NumPy arrays of the broadcast shape (a float for scalar
    input). See the module docstring for the fixed-point conventions and edge-case values.

    Examples
    --------
    >>> mf = MeanField("erf")
    >>> round(float(mf.critical_sigma_w(0.0)), 12) == round(math.sqrt(math.pi) / 2, 12)
    True
    """

    def __init__(
        self,
        activation: str | Activation | Callable[[Any], Any],
        *,
        arch: Any = "mlp",
        method: str = "fast",
        **activation_params: float,
    ):
        self.activation = get_activation(activation, **activation_params)
        self.arch, self.residual = _resolve_arch(arch, self.activation)
        self.method = check_choice("method", method, METHODS)
        self._quad = _Quadrature(self.activation)
        self._kernels = self.activation.kernels
        self._table: _MomentTable | None = None
        self._correlation_table = None
        if method == "fast" and self.activation.smooth and self._kernels is None:
            self._correlation_table = _shared(
                _CORRELATION_TABLES, self.activation, lambda: _CorrelationTable(self.activation, self._moments)
            )

    def __repr__(self) -> str:
        return f"MeanField({self.activation.describe()!r}, arch={self.arch!r}, method={self.method!r})"

    def _require_fixed_point(self, what: str) -> None:
        """Fixed-point quantities exist only for feed-forward maps: a clear error for residual networks."""
        if self.residual:
            raise ValueError(
                f"{what} is a fixed-point quantity and a residual network (arch={self.arch!r}) has no fixed point: "
                "q^l = q^(l-1) + sigma_w^2 E[phi^2] + sigma_b^2 grows with depth. Use trajectory(sigma_w, sigma_b, "
                "depth=D) for the moments at depth D, or residual_asymptotics(sigma_w, sigma_b) for the growth of q "
                "and the limit of c"
            )

    # ------------------------------------------------------------------ building blocks
    def moments(self, q: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Single-input Gaussian moments at pre-activation second moment ``q`` (>= 0).

        Returns
        -------
        second_moment, derivative, slope_moment : ndarray
            ``E[phi(sqrt(q) z)^2]``, its derivative in ``q`` and ``E[phi'(sqrt(q) z)^2]``.
        """
        return self._moments(as_float_array("q", q, minimum=0.0))

    def _moments(self, q: np.ndarray, which: tuple[int, ...] = (0, 1, 2)) -> tuple[np.ndarray, ...]:
        kern = self._kernels
        if kern is not None:
            funcs = (kern.second_moment, kern.second_moment_derivative, kern.slope_moment)
            return tuple(funcs[f](q) * np.ones_like(q) for f in which)
        if self.method == "quadrature":
            values = self._quad.moments(q)
            return tuple(values[f] for f in which)
        if self._table is None:
            self._table = _shared(_TABLES, self.activation, lambda: _MomentTable(self._quad))
        return self._table(q, which)

    def _pair(
        self, q: np.ndarray, eps: np.ndarray, c: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kern = self._kernels
        if kern is None:
            return self._quad.pair(q, eps, c)
        q12 = q * (1.0 - eps if c is None else c)
        return kern.half_square_difference(q, eps), kern.cross_slope_moment(q, q, q12), kern.cross_moment(q, q, q12)

    def _sigmas(self, sigma_w: Any, sigma_b: Any) -> tuple[np.ndarray, np.ndarray]:
        sw = as_float_array("sigma_w", sigma_w, minimum=0.0)
        sb = as_float_array("sigma_b", sigma_b, minimum=0.0)
        try:
            return np.broadcast_arrays(sw, sb)
        except ValueError:
            raise ValueError(
                f"sigma_w and sigma_b must broadcast against each other, got shapes {sw.shape} and {sb.shape}"
            ) from None

    def _solve(self, sigma_w: Any, sigma_b: Any, with_c: bool = True) -> _Solution:
        sw, sb = self._sigmas(sigma_w, sigma_b)
        shape = sw.shape
        sw2, sb2 = (sw * sw).ravel(), (sb * sb).ravel()
        q = self._q_star(sw2, sb2)
        finite = np.isfinite(q)
        chi1 = np.full(q.shape, np.nan)
        chi_q = np.full(q.shape, np.nan)
        if np.any(finite):
            _, df0, f1 = self._moments(q[finite])
            chi1[finite], chi_q[finite] = sw2[finite] * f1, sw2[finite] * df0
        homogeneous = self._kernels is not None and self._kernels.positively_homogeneous
        if homogeneous and not np.all(finite):
            _, df0, f1 = self.moments(np.ones(1))
            chi1[~finite], chi_q[~finite] = sw2[~finite] * f1[0], sw2[~finite] * df0[0]
        phase = np.where(chi1 > 1.0, PHASES.index("chaotic"), PHASES.index("ordered"))
        phase = np.where(np.abs(chi1 - 1.0) <= CRITICAL_TOLERANCE, PHASES.index("critical"), phase)
        phase = np.where(finite, phase, PHASES.index("unbounded")).astype(np.int8)
        c = np.where(finite | homogeneous, 1.0, np.nan)
        chi_c = np.where(finite | homogeneous, chi1, np.nan)
        chaotic = phase == PHASES.index("chaotic")
        if with_c and np.any(chaotic):
            direct = chaotic.copy()
            if self._correlation_table is not None:
                sub = np.flatnonzero(chaotic)
                corr, ratio, ok = self._correlation_table(q[sub], sb2[sub])
                c[sub[ok]] = corr[ok]
                chi_c[sub[ok]] = chi1[sub[ok]] * ratio[ok]
                direct[sub[ok]] = False
            if np.any(direct):
                c[direct], slope = _solve_correlation(sw2[direct], sb2[direct], q[direct], self._pair)
                chi_c[direct] = sw2[direct] * slope
            if self.activation.odd:  # C(0) = 0 exactly: c* = 0 without rounding residue
                c[chaotic & (sb2 == 0.0)] = 0.0
        return _Solution(*(v.reshape(shape) for v in (q, chi1, chi_q, c, chi_c, phase)))

    def _q_star(self, sw2: np.ndarray, sb2: np.ndarray) -> np.ndarray:
        kern = self._kernels
        if kern is not None and kern.positively_homogeneous:
            k0 = float(kern.second_moment(np.array(1.0)))
            gain = sw2 * k0
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.where(gain < 1.0, sb2 / (1.0 - gain), np.inf)
            # neutral map V(q) = q (within the critical tolerance): every q is fixed, keep the unit input's
            return np.where((np.abs(gain - 1.0) <= CRITICAL_TOLERANCE) & (sb2 == 0.0), 1.0, q)
        return _solve_q_star(sw2, sb2, self._moments, self._quad.phi0, self._quad.slope0)

    @staticmethod
    def _out(value: np.ndarray) -> np.ndarray | float:
        return float(value) if value.ndim == 0 else value

    # ------------------------------------------------------------------ fixed points and slopes
    def q_star(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """Fixed point ``q*`` of the length map (pre-activation second moment); ``inf`` when unbounded."""
        self._require_fixed_point("q_star")
        sw, sb = self._sigmas(sigma_w, sigma_b)
        return self._out(self._q_star((sw * sw).ravel(), (sb * sb).ravel()).reshape(sw.shape))

    def chi1(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """``chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]``: < 1 ordered, > 1 chaotic, = 1 critical."""
        self._require_fixed_point("chi1")
        return self._out(self._solve(sigma_w, sigma_b, with_c=False).chi1)

    def chi_q(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """``chi_q = V'(q*)``, the slope of the length map at its fixed point."""
        self._require_fixed_point("chi_q")
        return self._out(self._solve(sigma_w, sigma_b, with_c=False).chi_q)

    def c_star(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """Stable fixed point ``c*`` of the correlation map (1 unless chaotic)."""
        self._require_fixed_point("c_star")
        return self._out(self._solve(sigma_w, sigma_b).c_star)

    def chi_c(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """``chi_c = sigma_w^2 E[phi'(u1) phi'(u2)]`` at ``(q*, c*)`` (equals ``chi_1`` unless chaotic)."""
        self._require_fixed_point("chi_c")
        return self._out(self._solve(sigma_w, sigma_b).chi_c)

    def xi_q(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """Depth scale ``-1 / ln chi_q`` of the approach ``q^l -> q*`` (layers)."""
        self._require_fixed_point("xi_q")
        return self._out(self._solve(sigma_w, sigma_b, with_c=False).xi_q)

    def xi_c(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """Depth scale ``-1 / ln chi_c`` of the approach ``c^l -> c*`` (layers); ``inf`` on the critical line."""
        self._require_fixed_point("xi_c")
        return self._out(self._solve(sigma_w, sigma_b).xi_c)

    def xi_grad(self, sigma_w: Any, sigma_b: Any) -> np.ndarray | float:
        """Gradient depth scale ``-1 / ln chi_1`` (layers; negative means exploding gradients)."""
        self._require_fixed_point("xi_grad")
        return self._out(self._solve(sigma_w, sigma_b, with_c=False).xi_grad)

    # ------------------------------------------------------------------ critical line
    def critical_sigma_w(self, sigma_b: Any) -> np.ndarray | float:
        """``sigma_w`` (std) on the critical line ``chi_1 = 1`` for each ``sigma_b`` (std).

        On the line ``sigma_w^2 = 1 / E[phi'^2](q)`` and ``sigma_b^2 = q - E[phi^2](q) / E[phi'^2](q)``, with ``q``
        the critical fixed point; ``q`` is the first root of the second relation found from ``q = 0`` upwards
        (below ``Q_MAX``). NaN means no critical point exists at that ``sigma_b`` (e.g. ReLU for
        ``sigma_b > 0``: its only critical point is ``(sqrt 2, 0)``).
        """
        self._require_fixed_point("critical_sigma_w")
        sb = as_float_array("sigma_b", sigma_b, minimum=0.0)
        kern = self._kernels
        if kern is not None and kern.positively_homogeneous:
            f1 = float(kern.slope_moment(np.array(1.0)))
            return self._out(np.where(sb == 0.0, 1.0 / math.sqrt(f1), np.nan))

        def excess(q: np.ndarray) -> np.ndarray:
            f0, _, f1 = self.moments(q)
            return q - f0 / f1

        q = self._first_root(excess, sb * sb)
        _, _, f1 = self.moments(np.where(np.isfinite(q), q, 1.0))
        return self._out(np.where(np.isfinite(q), 1.0 / np.sqrt(f1), np.nan))

    def critical_sigma_b(self, sigma_w: Any) -> np.ndarray | float:
        """``sigma_b`` (std) on the critical line ``chi_1 = 1`` for each ``sigma_w`` (std).

        Solves ``sigma_w^2 E[phi'^2](q) = 1`` for the first ``q`` from 0 upwards and returns
        ``sqrt(q - sigma_w^2 E[phi^2](q))``. NaN means no critical point exists at that ``sigma_w`` (for tanh:
        ``sigma_w < 1``, ordered at every ``sigma_b``).
        """
        self._require_fixed_point("critical_sigma_b")
        sw = as_float_array("sigma_w", sigma_w, minimum=0.0)
        kern = self._kernels
        if kern is not None and kern.positively_homogeneous:
            f1 = float(kern.slope_moment(np.array(1.0)))
            return self._out(np.where(np.abs(sw * sw * f1 - 1.0) <= CRITICAL_TOLERANCE, 0.0, np.nan))
        with np.errstate(divide="ignore"):
            target = np.where(sw > 0, -1.0 / (sw * sw), -np.inf)
        q = self._first_root(lambda q: -self.moments(q)[2], target)
        safe = np.where(np.isfinite(q), q, 1.0)
        b2 = safe - sw * sw * self.moments(safe)[0]
        ok = np.isfinite(q) & (b2 >= -1e-14 * safe)
        return self._out(np.where(ok, np.sqrt(np.maximum(b2, 0.0)), np.nan))

    def _first_root(self, fn: Callable[[np.ndarray], np.ndarray], target: np.ndarray) -> np.ndarray:
        """Smallest ``q`` in ``[0, Q_MAX]`` with ``fn(q) = target`` (first upward crossing), else NaN."""
        from scipy.optimize import brentq

        grid = np.concatenate([[0.0], 2.0 ** np.arange(-30.0, math.log2(Q_MAX)), [Q_MAX]])
        values = fn(grid)
        out = np.full(target.shape, np.nan)
        for i in np.ndindex(target.shape):
            t = target[i]
            if values[0] >= t:
                out[i] = 0.0 if values[0] == t else np.nan
                continue
            up = np.flatnonzero(values >= t)
            if up.size:
                k = up[0]
                out[i] = brentq(
                    lambda q, t=t: float(fn(np.array([q]))[0]) - t,
                    grid[k - 1],
                    grid[k],
                    xtol=1e-300,
                    rtol=1e-15,
                    maxiter=200,
                )
        return out

    # ------------------------------------------------------------------ trajectories
    def trajectory(
        self,
        sigma_w: Any,
        sigma_b: Any,
        q0: Any = 1.0,
        c0: float = 0.0,
        depth: int = 10,
        layers: int | Sequence[int] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Iterate the length and correlation maps of ``arch`` for two inputs, layer 0 to ``depth``.

        Parameters
        ----------
        sigma_w, sigma_b : float or 1-D array
            Standard deviations; 1-D arrays become dims ``sigma_w``/``sigma_b`` (outer product), scalars scalar
            coordinates, as in :meth:`infoprop.RandomNetwork.moments`.
        q0 : float or pair of floats
            Second moments of the two inputs, ``||x_i||^2 / N``; one value is used for both.
        c0 : float
            Input correlation in ``[-1, 1]``.
        depth : int
            Number of layers (>= 0).
        layers : int or sequence of int, optional
            Which layers (0..depth) to keep; default all. Memory is then O(grid points x kept layers), so a
            1000 x 1000 grid at depth 1000 needs only the layers asked for.
        progress : callable, optional
            Called as ``progress(done_layers, last_layer)`` after each layer.

        Returns
        -------
        xarray.Dataset
            Variables ``q11``, ``q22``, ``q12``, ``c`` and ``divergence`` (``L^l = q11 + q22 - 2 q12``, SPEC
            section 3) on dims ``(sigma_w, sigma_b, layer)`` with ``layer = 0..depth`` (or the kept ``layers``):
            the names and dimension order of :meth:`infoprop.RandomNetwork.moments`, so the two subtract
            directly. Layer 0 holds the input moments (``q^0 = ||x||^2 / N``). Layer 1 acts on ``x`` itself, not
            on ``phi(x)`` (SPEC section 0, as the finite-width engine): ``q^1 = sigma_w^2 q^0 + sigma_b^2``,
            ``q^1_12 = sigma_w^2 q^0_12 + sigma_b^2``. From layer 2 on the feed-forward maps give
            ``q^l = sigma_w^2 E[phi(sqrt(q^{l-1}) z)^2] + sigma_b^2`` and the residual ones
            ``q^l = q^{l-1} + sigma_w^2 E[phi(sqrt(q^{l-1}) z)^2] + sigma_b^2`` (module docstring), with the
            layer-``l-1`` pre-activations taken Gaussian (exact at infinite width). ``c`` is NaN where
            ``q11 q22 = 0`` (0/0, as in the finite-width engine). With unbounded activations (ReLU family, linear)
            in the unbounded phase, and in residual networks, the moments grow geometrically; once they overflow
            float64 they become ``inf`` and ``q12``, ``c``, ``divergence`` NaN (NumPy emits its overflow
            ``RuntimeWarning``).
        """
        import xarray as xr

        sw = as_float_array("sigma_w", sigma_w, minimum=0.0)
        sb = as_float_array("sigma_b", sigma_b, minimum=0.0)
        for name, arr in (("sigma_w", sw), ("sigma_b", sb)):
            if arr.ndim > 1:
                raise ValueError(f"{name} must be a number or a 1-D array, got shape {arr.shape}")
        q0a = as_float_array("q0", q0, minimum=0.0)
        if q0a.shape not in ((), (1,), (2,)):
            raise ValueError(f"q0 must be a number or a pair of numbers, got shape {q0a.shape}")
        q01, q02 = (float(q0a.ravel()[0]), float(q0a.ravel()[-1]))
        c0 = check_real("c0", c0, minimum=-1.0, maximum=1.0)
        depth = check_int("depth", depth, minimum=0)
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be a callable progress(done, total), got {progress!r}")
        if layers is None:
            kept = list(range(depth + 1))
        else:
            kept = [check_int("layers", layer, minimum=0, maximum=depth) for layer in np.atleast_1d(layers).tolist()]
            if not kept or len(set(kept)) != len(kept):
                raise ValueError(f"layers must be distinct layer numbers in 0..{depth}, got {layers!r}")
        position = {layer: i for i, layer in enumerate(kept)}
        last = max(kept)
        grid_w, grid_b = np.meshgrid(np.atleast_1d(sw), np.atleast_1d(sb), indexing="ij")
        shape = grid_w.shape
        q1 = np.empty((*shape, len(kept)))
        q2 = np.empty((*shape, len(kept)))
        div = np.empty((*shape, len(kept)))
        sw2, sb2 = grid_w**2, grid_b**2
        # Only the current layer's state is carried; kept layers are copied out as they are reached.
        q1_l = np.full(shape, q01)
        q2_l = np.full(shape, q02)
        div_l = np.full(shape, q01 + q02 - 2.0 * c0 * math.sqrt(q01 * q02))
        for layer in range(depth + 1):
            if layer == 1:  # layer 1 acts on x itself: x plays the role of a post-activation
                q1_l, q2_l, div_l = sw2 * q1_l + sb2, sw2 * q2_l + sb2, sw2 * div_l
            elif layer > 1:
                (f1,), (f2,) = self._moments(q1_l, (0,)), self._moments(q2_l, (0,))
                sq = self._square_difference(q1_l, q2_l, div_l)
                if self.residual:  # the skip connection keeps h^{l-1}; its cross terms with A_l, b_l vanish
                    q1_l, q2_l, div_l = q1_l + sw2 * f1 + sb2, q2_l + sw2 * f2 + sb2, div_l + sw2 * sq
                else:
                    q1_l, q2_l, div_l = sw2 * f1 + sb2, sw2 * f2 + sb2, sw2 * sq
            if layer in position:
                i = position[layer]
                q1[..., i], q2[..., i], div[..., i] = q1_l, q2_l, div_l
            if progress is not None and layer > 0:
                progress(layer, last)
            if layer == last:
                break
        q12 = 0.5 * (q1 + q2 - div)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = q12 / (np.sqrt(q1) * np.sqrt(q2))  # 0/0 = NaN where a second moment vanishes
        coords, index = _grid_coords(sw, sb)
        dims = [d for d in ("sigma_w", "sigma_b") if d in coords and coords[d][0] == d]
        coords["layer"] = ("layer", np.asarray(kept, dtype=np.int64), {"long_name": "layer index d (0 = input)"})
        data = {
            "q11": (q1, "second moment q^l_11 of input 1 (pre-activation)"),
            "q22": (q2, "second moment q^l_22 of input 2 (pre-activation)"),
            "q12": (q12, "cross moment q^l_12 (pre-activation)"),
            "c": (c, "correlation c^l = q12 / sqrt(q11 q22)"),
            "divergence": (div, "mean-field divergence L^l = q11 + q22 - 2 q12"),
        }
        ds = xr.Dataset(
            {k: ([*dims, "layer"], v[index], {"long_name": text, "units": "1"}) for k, (v, text) in data.items()},
            coords=coords,
        )
        ds.attrs.update(
            provenance_attrs(
                "meanfield.trajectory",
                {
                    "activation": self.activation.describe(),
                    "arch": self.arch,
                    "method": self.method,
                    "sigma_w": sw,
                    "sigma_b": sb,
                    "q0": [q01, q02],
                    "c0": c0,
                    "depth": depth,
                    "layers": kept,
                    "layer_convention": "layer 0 = input moments; layer 1 acts on x itself, not on phi(x)",
                },
            )
        )
        return ds

    # ------------------------------------------------------------------ residual networks
    @property
    def has_residual_asymptotics(self) -> bool:
        """Whether :meth:`residual_asymptotics` applies: a residual arch and linear or distinct constant tails."""
        form = _asymptote(self.activation)
        if not self.residual or form is None:
            return False
        return not (form.slope_minus == form.slope_plus == 0.0 and form.offset_minus == form.offset_plus)

    def residual_asymptotics(self, sigma_w: Any, sigma_b: Any) -> Any:
        """Large-depth laws of the residual maps (``arch="resnet"``), module docstring "Residual asymptotics".

        Parameters
        ----------
        sigma_w, sigma_b : float or 1-D array
            Standard deviations; 1-D arrays become dims ``sigma_w``/``sigma_b`` (outer product).

        Returns
        -------
        xarray.Dataset
            ``q_slope`` (``lim q^l / l``; ``inf`` under geometric growth), ``q_ratio`` (``lim q^{l+1} / q^l``; 1
            under linear growth), ``c_limit`` (``lim c^l``) and ``c_exponent`` (``delta`` in
            ``|c^l - c_limit| ~ l^-delta``) on dims ``(sigma_w, sigma_b)``. NaN in ``c_limit``/``c_exponent``
            means the limit depends on the inputs (linear activation; nothing grows at
            ``sigma_w = sigma_b = 0``). The attribute ``asymptotic_form`` records ``lambda_+-, mu_+-``.

        Raises
        ------
        ValueError
            For a feed-forward ``arch`` (use :meth:`phase_diagram`), or an activation without a known
            asymptotic form (``sin``, user callables: use :meth:`trajectory`).
        """
        import xarray as xr

        if not self.residual:
            raise ValueError(
                f"residual_asymptotics describes residual networks, got arch={self.arch!r}: "
                "use phase_diagram() for the fixed points of a feed-forward network"
            )
        form = _asymptote(self.activation)
        name = self.activation.name
        if form is None:
            raise ValueError(
                f"activation {name!r} has no known asymptotic form (Activation.asymptotic_beyond is None or phi is "
                "not linear beyond it), so no residual asymptotics are implemented: use trajectory(..., depth=D)"
            )
        saturating = form.slope_minus == 0.0 and form.slope_plus == 0.0
        if saturating and form.offset_minus == form.offset_plus:
            raise ValueError(
                f"activation {name!r} tends to the same constant on both sides; residual asymptotics are implemented "
                "for activations with distinct limits or a linear tail: use trajectory(..., depth=D)"
            )
        sw = as_float_array("sigma_w", sigma_w, minimum=0.0)
        sb = as_float_array("sigma_b", sigma_b, minimum=0.0)
        for label, arr in (("sigma_w", sw), ("sigma_b", sb)):
            if arr.ndim > 1:
                raise ValueError(f"{label} must be a number or a 1-D array, got shape {arr.shape}")
        grid_w, grid_b = np.meshgrid(np.atleast_1d(sw), np.atleast_1d(sb), indexing="ij")
        sw2, sb2 = grid_w**2, grid_b**2
        if saturating:
            a = sw2 * 0.5 * (form.offset_plus**2 + form.offset_minus**2) + sb2
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(a > 0, sw2 * (form.offset_plus - form.offset_minus) ** 2 / (2.0 * math.pi * a), 0.0)
            theta = _saturation_angle(np.clip(r, 0.0, 2.0 / math.pi))
            q_slope, q_ratio = a, np.ones_like(a)
            c_limit = np.where(a > 0, np.sin(0.5 * math.pi - theta), np.nan)  # exactly 0 at theta = pi/2
            with np.errstate(divide="ignore", invalid="ignore"):
                delta = np.where(theta > 0, 1.0 - np.tan(0.5 * theta) / theta, 1.0)
            c_exponent = np.where(a > 0, delta, np.nan)
        else:
            growth = sw2 * 0.5 * (form.slope_plus**2 + form.slope_minus**2)
            q_ratio = 1.0 + growth
            q_slope = np.where(growth > 0, np.inf, sb2)
            kinked = form.slope_plus != form.slope_minus
            c_limit = np.where(growth > 0, 1.0 if kinked else np.nan, np.where(sb2 > 0, 1.0, np.nan))
            c_exponent = np.where(growth > 0, 2.0 if kinked else np.nan, np.where(sb2 > 0, 1.0, np.nan))
        coords, index = _grid_coords(sw, sb)
        dims = [d for d in ("sigma_w", "sigma_b") if d in coords and coords[d][0] == d]
        data = {
            "q_slope": (q_slope, "lim q^l / l (inf: geometric growth)", "1/layer"),
            "q_ratio": (q_ratio, "lim q^(l+1) / q^l (1: at most linear growth)", "1"),
            "c_limit": (c_limit, "lim c^l (NaN: set by the inputs)", "1"),
            "c_exponent": (c_exponent, "delta in |c^l - c_limit| ~ l^-delta", "1"),
        }
        ds = xr.Dataset(
            {k: (dims, v[index], {"long_name": text, "units": u}) for k, (v, text, u) in data.items()},
            coords=coords,
        )
        ds.attrs.update(
            provenance_attrs(
                "meanfield.residual_asymptotics",
                {
                    "activation": self.activation.describe(),
                    "arch": self.arch,
                    "sigma_w": sw,
                    "sigma_b": sb,
                    "asymptotic_form": dataclasses.asdict(form),
                    "asymptotic_class": "saturating" if saturating else ("relu_like" if kinked else "linear_like"),
                },
            )
        )
        return ds

    def _square_difference(self, q1: np.ndarray, q2: np.ndarray, div: np.ndarray) -> np.ndarray:
        """``E[(phi(u1) - phi(u2))^2]`` given the variances and the divergence ``L = q1 + q2 - 2 q12``."""
        s1, s2 = np.sqrt(q1), np.sqrt(q2)
        root = s1 * s2  # not sqrt(q1 q2): residual ReLU networks reach q ~ 1e300, whose square overflows
        with np.errstate(divide="ignore", invalid="ignore"):
            # 1 - c = (L - (sqrt q1 - sqrt q2)^2) / (2 sqrt(q1 q2)): no cancellation for close inputs
            eps = np.where(root > 0, (div - (s1 - s2) ** 2) / (2.0 * root), 0.0)
        eps = np.clip(eps, 0.0, 2.0)
        kern = self._kernels
        if kern is not None:
            scale = np.ones_like(q1)
            if kern.positively_homogeneous:  # E[(phi1 - phi2)^2] scales with q: evaluate at q ~ 1, no overflow
                scale = np.maximum(q1, q2)
                scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
                q1, q2, root = q1 / scale, q2 / scale, (s1 / np.sqrt(scale)) * (s2 / np.sqrt(scale))
            same = q1 == q2
            general = (
                kern.second_moment(q1) + kern.second_moment(q2) - 2.0 * kern.cross_moment(q1, q2, root * (1 - eps))
            )
            return scale * np.where(same, 2.0 * kern.half_square_difference(q1, eps), general)
        act = self.activation

        def integrand(u1, u2):
            diff = act.phi(u1) - act.phi(u2)
            return (diff * diff,)

        out = [self._quad.pair_one(a, b, e, integrand)[0] for a, b, e in zip(q1.ravel(), q2.ravel(), eps.ravel())]
        return np.array(out).reshape(q1.shape)

    # ------------------------------------------------------------------ phase diagram
    def phase_diagram(self, sigma_w: Any, sigma_b: Any, progress: Callable[[int, int], None] | None = None) -> Any:
        """All mean-field quantities on the grid ``sigma_w x sigma_b`` (1-D arrays of standard deviations).

        Parameters
        ----------
        sigma_w, sigma_b : 1-D array
            Grid axes (std), each non-empty, finite and >= 0.
        progress : callable, optional
            Called as ``progress(done_rows, total_rows)`` after each block of ``sigma_w`` rows.

        Returns
        -------
        xarray.Dataset
            Variables ``q_star, chi1, chi_q, c_star, chi_c, xi_q, xi_c, xi_grad`` (float64) and ``phase`` (int8
            index into :data:`PHASES`, with CF ``flag_values``/``flag_meanings``) on dims ``(sigma_w, sigma_b)``.
        """
        self._require_fixed_point("phase_diagram")
        import xarray as xr

        sw = as_float_array("sigma_w", sigma_w, minimum=0.0)
        sb = as_float_array("sigma_b", sigma_b, minimum=0.0)
        for name, arr in (("sigma_w", sw), ("sigma_b", sb)):
            if arr.ndim != 1:
                raise ValueError(f"{name} must be a 1-D array of grid values, got shape {arr.shape}")
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be a callable progress(done_rows, total_rows), got {progress!r}")
        # nine float64 results per point, held per block and again once concatenated (blocks: <= 65536 points)
        check_memory(sw.size * sb.size * 2 * 9 * 8, f"a phase diagram of {sw.size} x {sb.size} points")
        rows = max(1, 65536 // sb.size)
        blocks = []
        for start in range(0, sw.size, rows):
            blocks.append(self._solve(sw[start : start + rows, None], sb[None, :]))
            if progress is not None:
                progress(min(start + rows, sw.size), sw.size)
        variables = {}
        for name, (text, units) in _VARIABLES.items():
            data = np.concatenate([getattr(b, name) for b in blocks], axis=0)
            variables[name] = (("sigma_w", "sigma_b"), data, {"long_name": text, "units": units})
        phase = np.concatenate([b.phase for b in blocks], axis=0)
        variables["phase"] = (
            ("sigma_w", "sigma_b"),
            phase,
            {
                "long_name": "phase (" + ", ".join(f"{i}={p}" for i, p in enumerate(PHASES)) + ")",
                "flag_values": np.arange(len(PHASES), dtype=np.int8),
                "flag_meanings": " ".join(PHASES),
                "critical_tolerance": CRITICAL_TOLERANCE,
            },
        )
        coords = {
            "sigma_w": ("sigma_w", sw, {"long_name": "sigma_w (std)", "units": "1"}),
            "sigma_b": ("sigma_b", sb, {"long_name": "sigma_b (std)", "units": "1"}),
        }
        ds = xr.Dataset(variables, coords=coords)
        ds.attrs.update(
            provenance_attrs(
                "meanfield.phase_diagram",
                {
                    "activation": self.activation.describe(),
                    "method": self.method,
                    "sigma_w": sw,
                    "sigma_b": sb,
                    "critical_tolerance": CRITICAL_TOLERANCE,
                    "q_max": Q_MAX,
                },
            )
        )
        return ds


def phase_labels(phase: np.ndarray) -> np.ndarray:
    """Map the integer ``phase`` variable to its string labels (see :data:`PHASES`)."""
    return np.asarray(PHASES, dtype=object)[np.asarray(phase, dtype=np.int64)]
