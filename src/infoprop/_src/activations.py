"""Activation functions, by name or user-supplied, for both engines.

One :class:`Activation` feeds the mean-field engine (NumPy float64 ``phi``, ``dphi``, ``d2phi`` and,
where they exist, closed-form Gaussian expectations) and the finite-width engine (``torch_fn``).

Conventions
-----------
* ``phi`` acts elementwise on pre-activations ``h``; ``dphi``/``d2phi`` are its first and second
  derivatives in the classical sense, i.e. away from the points listed in ``kinks`` where ``phi`` or
  ``phi'`` is not differentiable. Quadrature that integrates ``phi`` against a Gaussian must split the
  integration range at the kinks (scaled by ``sqrt(q)``).
* Second derivatives of kinked activations are Dirac masses at the kinks; formulas using ``phi''`` must
  use a derivative-free equivalent there (e.g. ``V'(q) = E[z phi(sqrt(q) z) phi'(sqrt(q) z)] / sqrt(q)``).
* User callables are taken as torch functions; NumPy versions and derivatives come from
  ``torch.autograd`` in float64 (the documented fallback), so they are exact but slower. A callable that is
  not a torch function (``numpy.tanh``) is refused when the activation is built; one that returns NaN for a
  finite input raises :class:`ActivationNaNError` (a ``ValueError``) when it does.
* One registry: each built-in activation is one decorated function (``_register``) that gives its NumPy
  ``phi``, ``phi'``, ``phi''`` and, next to them, its torch function, flags and closed forms. Adding an
  activation is adding one such function.
* ``Activation.asymptotic_beyond`` says where ``phi`` stops having features (quadrature needs fine panels only
  inside it); ``None`` for ``sin`` and user callables.
* Closed-form Gaussian expectations (:class:`GaussianKernels`) exist for ``erf`` (arcsine kernel),
  ``relu``/``leaky_relu`` (arc-cosine kernel), ``linear`` and ``sin``; ``Activation.kernels`` is ``None``
  for the others and the mean-field engine integrates numerically.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

ArrayFn = Callable[[np.ndarray], np.ndarray]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class GaussianKernels:
    """Closed-form Gaussian expectations of an activation.

    ``(u1, u2)`` is a centred Gaussian pair with variances ``q1``, ``q2`` (pre-activation second moments)
    and covariance ``q12``; ``z ~ N(0, 1)``. All functions broadcast over NumPy arrays.

    Attributes
    ----------
    second_moment : callable ``q -> E[phi(sqrt(q) z)^2]``
    second_moment_derivative : callable ``q -> d/dq E[phi(sqrt(q) z)^2]``
    slope_moment : callable ``q -> E[phi'(sqrt(q) z)^2]``
    cross_moment : callable ``(q1, q2, q12) -> E[phi(u1) phi(u2)]``
    cross_slope_moment : callable ``(q1, q2, q12) -> E[phi'(u1) phi'(u2)]``
    half_square_difference : callable ``(q, eps) -> E[(phi(u1) - phi(u2))^2] / 2``
        for ``q1 = q2 = q`` and correlation ``c = 1 - eps``, evaluated without cancellation as ``eps -> 0``.
    positively_homogeneous : bool
        ``phi(a x) = a phi(x)`` for ``a > 0`` (ReLU family, linear): then every ratio above is independent of ``q``.
    """

    second_moment: Callable[[np.ndarray], np.ndarray]
    second_moment_derivative: Callable[[np.ndarray], np.ndarray]
    slope_moment: Callable[[np.ndarray], np.ndarray]
    cross_moment: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    cross_slope_moment: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    half_square_difference: Callable[[np.ndarray, np.ndarray], np.ndarray]
    positively_homogeneous: bool = False


def _angle_from_gap(eps: np.ndarray) -> np.ndarray:
    """``arccos(1 - eps)`` without the loss of precision of ``arccos`` near 1."""
    return 2.0 * np.arcsin(np.sqrt(np.clip(eps, 0.0, 2.0) / 2.0))


def _erf_kernels() -> GaussianKernels:
    """Arcsine kernel: ``E[erf(u1) erf(u2)] = (2/pi) arcsin(2 q12 / sqrt((1 + 2 q1)(1 + 2 q2)))``."""

    def second_moment(q):
        return (2.0 / math.pi) * np.arcsin(2.0 * q / (1.0 + 2.0 * q))

    def half_square_difference(q, eps):
        # arcsin(x) - arcsin(x c) = atan2(x sqrt(1 - x^2 c^2) - x c sqrt(1 - x^2), ...), rewritten as a sum of
        # positive terms so that it keeps full relative precision as eps -> 0.
        x = 2.0 * q / (1.0 + 2.0 * q)
        y = x * (1.0 - eps)
        a = (1.0 + 4.0 * q) / (1.0 + 2.0 * q) ** 2  # 1 - x^2
        b = a + x * x * eps * (2.0 - eps)  # 1 - y^2
        sa, sb = np.sqrt(a), np.sqrt(b)
        numerator = x * (x * x * eps * (2.0 - eps)) / (sa + sb) + x * eps * sa
        return (2.0 / math.pi) * np.arctan2(numerator, sa * sb + x * y)

    return GaussianKernels(
        second_moment=second_moment,
        second_moment_derivative=lambda q: (4.0 / math.pi) / ((1.0 + 2.0 * q) * np.sqrt(1.0 + 4.0 * q)),
        slope_moment=lambda q: (4.0 / math.pi) / np.sqrt(1.0 + 4.0 * q),
        cross_moment=lambda q1, q2, q12: (
            (2.0 / math.pi) * np.arcsin(2.0 * q12 / np.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2)))
        ),
        cross_slope_moment=lambda q1, q2, q12: (
            (4.0 / math.pi) / np.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2) - 4.0 * q12 * q12)
        ),
        half_square_difference=half_square_difference,
    )


def _sin_kernels() -> GaussianKernels:
    """``E[sin(u1) sin(u2)] = exp(-(q1 + q2) / 2) sinh(q12)``; ``cosh`` instead of ``sinh`` for ``cos``."""

    def half_square_difference(q, eps):
        # exp(-q) (sinh(q) - sinh(q c)) = 2 exp(-q) cosh(q (1 - eps / 2)) sinh(q eps / 2): no cancellation at eps -> 0
        return 2.0 * np.exp(-q) * np.cosh(q * (1.0 - 0.5 * eps)) * np.sinh(0.5 * q * eps)

    return GaussianKernels(
        second_moment=lambda q: -0.5 * np.expm1(-2.0 * q),
        second_moment_derivative=lambda q: np.exp(-2.0 * q),
        slope_moment=lambda q: 0.5 * (1.0 + np.exp(-2.0 * q)),
        cross_moment=lambda q1, q2, q12: np.exp(-0.5 * (q1 + q2)) * np.sinh(q12),
        cross_slope_moment=lambda q1, q2, q12: np.exp(-0.5 * (q1 + q2)) * np.cosh(q12),
        half_square_difference=half_square_difference,
    )


def _arccos_excess(theta: np.ndarray) -> np.ndarray:
    """``sin(theta) - theta cos(theta)``, with its Taylor series where the difference cancels."""
    theta = np.asarray(theta, dtype=np.float64)
    t2 = theta * theta
    series = theta * t2 * (1.0 / 3.0 - t2 * (1.0 / 30.0 - t2 * (1.0 / 840.0 - t2 / 45360.0)))
    return np.where(theta < 1e-2, series, np.sin(theta) - theta * np.cos(theta))


def _leaky_kernels(slope: float) -> GaussianKernels:
    """Arc-cosine kernel of degree 1 (Cho & Saul) for ``phi(x) = slope x + (1 - slope) relu(x)``.

    ``E[relu(u1) relu(u2)] = sqrt(q1 q2) (sin t + (pi - t) cos t) / (2 pi)`` with ``cos t = c``, and
    ``E[u1 relu(u2)] = q12 / 2``.
    """
    a, r = slope, (1.0 - slope) ** 2
    k0 = (1.0 + a * a) / 2.0  # E[phi(u)^2] / q

    def cross_moment(q1, q2, q12):
        s = np.sqrt(q1 * q2)
        c = np.clip(np.divide(q12, s, out=np.ones_like(s * 1.0), where=s > 0), -1.0, 1.0)
        t = np.arccos(c)
        return a * q12 + r * s * (np.sin(t) + (math.pi - t) * c) / (2.0 * math.pi)

    def cross_slope_moment(q1, q2, q12):
        s = np.sqrt(q1 * q2)
        c = np.clip(np.divide(q12, s, out=np.ones_like(s * 1.0), where=s > 0), -1.0, 1.0)
        return a + r * (math.pi - np.arccos(c)) / (2.0 * math.pi)

    def half_square_difference(q, eps):
        t = _angle_from_gap(eps)
        return q * (a * eps + r * (math.pi * eps - _arccos_excess(t)) / (2.0 * math.pi))

    return GaussianKernels(
        second_moment=lambda q: k0 * np.asarray(q, dtype=np.float64),
        second_moment_derivative=lambda q: np.full_like(np.asarray(q, dtype=np.float64), k0),
        slope_moment=lambda q: np.full_like(np.asarray(q, dtype=np.float64), k0),
        cross_moment=cross_moment,
        cross_slope_moment=cross_slope_moment,
        half_square_difference=half_square_difference,
        positively_homogeneous=True,
    )


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity with everything both engines need.

    Attributes
    ----------
    name : str
        Registry name (or the callable's name for user activations).
    phi, dphi, d2phi : callable
        NumPy float64 functions: the activation and its first two (classical) derivatives.
    torch_fn : callable
        The same activation on ``torch.Tensor`` (any dtype/device), used by the finite-width engine.
    kinks : tuple of float
        Points where ``phi`` or ``phi'`` is not smooth (quadrature must split there).
    odd : bool
        ``phi(-x) == -phi(x)`` (for user callables: within ``np.allclose`` at 13 probe points in ``[-3, 3]``);
        with ``sigma_b = 0`` odd activations have the fixed point ``q* = 0``.
    params : dict
        Parameters of the family (e.g. ``negative_slope`` of ``leaky_relu``).
    smooth : bool
        True for activations analytic in a strip around the real axis (erf, sin, linear and gelu are entire;
        tanh, silu and softplus have complex poles), whose Gaussian integrals converge exponentially on a
        trapezoid rule; False for kinked ones or user callables of unknown regularity.
    kernels : GaussianKernels or None
        Closed-form Gaussian expectations where they exist (``erf``, ``relu``, ``leaky_relu``, ``linear``, ``sin``).
    asymptotic_beyond : float or None
        ``|u|`` beyond which ``phi`` has reached its asymptotic form (constant, linear or exponentially close to
        one of these, to about 1e-17 relative): quadrature needs fine panels only inside ``|u| <= asymptotic_beyond``.
        ``None`` when there is no such bound (``sin`` oscillates on every scale) or it is unknown (user callables).
    """

    name: str
    phi: ArrayFn
    dphi: ArrayFn
    d2phi: ArrayFn
    torch_fn: Callable[[Any], Any]
    kinks: tuple[float, ...] = ()
    odd: bool = False
    params: dict[str, float] = field(default_factory=dict)
    smooth: bool = True
    kernels: GaussianKernels | None = None
    asymptotic_beyond: float | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.phi(np.asarray(x, dtype=np.float64))

    def describe(self) -> dict[str, Any]:
        """JSON-able description used in provenance metadata."""
        return {"name": self.name, **self.params}


# --------------------------------------------------------------------------- NumPy pieces
def _gauss_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _tanh_d1(x):
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh_d2(x):
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_d1(x):
    return _TWO_OVER_SQRT_PI * np.exp(-x * x)


def _erf_d2(x):
    return -2.0 * x * _TWO_OVER_SQRT_PI * np.exp(-x * x)


def _leaky(slope: float) -> tuple[ArrayFn, ArrayFn, ArrayFn]:
    return (
        lambda x: np.where(x > 0, x, slope * x),
        lambda x: np.where(x > 0, 1.0, slope),
        lambda x: np.zeros_like(np.asarray(x, dtype=np.float64)),
    )


def _elu(alpha: float, scale: float = 1.0) -> tuple[ArrayFn, ArrayFn, ArrayFn]:
    return (
        lambda x: scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
        lambda x: scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))),
        lambda x: scale * np.where(x > 0, 0.0, alpha * np.exp(np.minimum(x, 0.0))),
    )


def _gelu_d1(x):
    return special.ndtr(x) + x * _gauss_pdf(x)


def _gelu_d2(x):
    return _gauss_pdf(x) * (2.0 - x * x)


def _silu_d1(x):
    s = special.expit(x)
    return s * (1.0 + x * (1.0 - s))


def _silu_d2(x):
    s = special.expit(x)
    return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))


def _softplus_d2(x):
    s = special.expit(x)
    return s * (1.0 - s)


def _zeros(x):
    return np.zeros_like(np.asarray(x, dtype=np.float64))


def _ones(x):
    return np.ones_like(np.asarray(x, dtype=np.float64))


# --------------------------------------------------------------------------- registry
class _LazyTorch:
    """The torch version of a registry activation, built on first use (so that importing this module, and the
    mean-field engine, does not import torch). ``factory(torch, F, **params)`` returns the function."""

    def __init__(self, factory: Callable[..., Callable[[Any], Any]], params: dict[str, float]):
        self._factory, self._params, self._fn = factory, params, None

    def resolve(self) -> Callable[[Any], Any]:
        """The underlying torch function (imports torch)."""
        if self._fn is None:
            import torch
            import torch.nn.functional as F

            self._fn = self._factory(torch, F, **self._params)
        return self._fn

    def __call__(self, x):
        return self.resolve()(x)


#: Builders of the registry activations, by name: ``builder(**params) -> Activation``. A builder's keyword
#: arguments are the family's parameters and their defaults are the defaults (see :func:`_register`).
_REGISTRY: dict[str, Callable[..., Activation]] = {}
# Every registry activation except sin is featureless beyond |u| = 60 (checked in the tests).
_ASYMPTOTIC_BEYOND = 60.0


def _register(name: str, torch_factory: Callable[..., Callable[[Any], Any]], **flags: Any):
    """Register an activation: decorates ``numpy(**params) -> (phi, dphi, d2phi)``.

    ``torch_factory(torch, F, **params)`` returns the torch function; ``flags`` are :class:`Activation` fields
    (``kinks``, ``odd``, ``smooth``, ``asymptotic_beyond``) and ``kernels``, a function of the parameters
    returning the :class:`GaussianKernels`. Adding an activation is one decorated function here.
    """

    def decorate(numpy: Callable[..., tuple[ArrayFn, ArrayFn, ArrayFn]]) -> Callable[..., tuple]:
        kernels = flags.pop("kernels", None)
        flags.setdefault("asymptotic_beyond", _ASYMPTOTIC_BEYOND)

        def build(**params: float) -> Activation:
            phi, dphi, d2phi = numpy(**params)
            return Activation(
                name,
                phi,
                dphi,
                d2phi,
                _LazyTorch(torch_factory, params),
                params=params,
                kernels=None if kernels is None else kernels(**params),
                **flags,
            )

        build.defaults = {  # type: ignore[attr-defined]
            key: float(p.default) for key, p in inspect.signature(numpy).parameters.items()
        }
        _REGISTRY[name] = build
        return numpy

    return decorate


@_register("tanh", lambda torch, F: torch.tanh, odd=True)
def _tanh():
    return np.tanh, _tanh_d1, _tanh_d2


@_register("erf", lambda torch, F: torch.erf, odd=True, kernels=_erf_kernels)
def _erf():
    return special.erf, _erf_d1, _erf_d2


@_register("relu", lambda torch, F: torch.relu, kinks=(0.0,), smooth=False, kernels=lambda: _leaky_kernels(0.0))
def _relu():
    return _leaky(0.0)


@_register(
    "leaky_relu",
    lambda torch, F, negative_slope: lambda x: F.leaky_relu(x, negative_slope),
    kinks=(0.0,),
    smooth=False,
    kernels=lambda negative_slope: _leaky_kernels(negative_slope),
)
def _leaky_relu(negative_slope=0.01):
    if not math.isfinite(negative_slope):
        raise ValueError(f"negative_slope must be finite, got {negative_slope}")
    return _leaky(negative_slope)


@_register("linear", lambda torch, F: lambda x: x, odd=True, kernels=lambda: _leaky_kernels(1.0))
def _linear():
    return lambda x: np.asarray(x, dtype=np.float64), _ones, _zeros


@_register("elu", lambda torch, F, alpha: lambda x: F.elu(x, alpha), kinks=(0.0,), smooth=False)
def _elu_family(alpha=1.0):
    if not alpha > 0 or not math.isfinite(alpha):
        raise ValueError(f"alpha must be > 0 and finite, got {alpha}")
    return _elu(alpha)


@_register("selu", lambda torch, F: F.selu, kinks=(0.0,), smooth=False)
def _selu():
    return _elu(SELU_ALPHA, SELU_SCALE)


# exact (erf) form of GELU, matching x * Phi(x)
@_register("gelu", lambda torch, F: F.gelu)
def _gelu():
    return lambda x: x * special.ndtr(x), _gelu_d1, _gelu_d2


@_register("silu", lambda torch, F: F.silu)
def _silu():
    return lambda x: x * special.expit(x), _silu_d1, _silu_d2


# sin oscillates on every scale: no asymptotic form
@_register("sin", lambda torch, F: torch.sin, odd=True, kernels=_sin_kernels, asymptotic_beyond=None)
def _sin():
    return np.sin, np.cos, lambda x: -np.sin(x)


@_register("hard_tanh", lambda torch, F: F.hardtanh, kinks=(-1.0, 1.0), odd=True, smooth=False)
def _hard_tanh():
    return lambda x: np.clip(x, -1.0, 1.0), lambda x: np.where(np.abs(x) < 1.0, 1.0, 0.0), _zeros


# threshold 40: above it log1p(exp(x)) == x to float64 precision, so NumPy and torch agree.
@_register("softplus", lambda torch, F: lambda x: F.softplus(x, beta=1.0, threshold=40.0))
def _softplus():
    return lambda x: np.logaddexp(0.0, x), special.expit, _softplus_d2


#: Names of the registry activations.
ACTIVATIONS: tuple[str, ...] = tuple(_REGISTRY)


class ActivationNaNError(ValueError):
    """A user activation returned NaN for a finite input (raised by its wrapped torch function)."""

    def __init__(self, name: str, value: float) -> None:
        super().__init__(f"activation {name!r} returned NaN for the finite input {value!r}")
        self.activation, self.value = name, value


def _from_callable(fn: Callable[[Any], Any]) -> Activation:
    """Wrap a torch elementwise function; derivatives come from autograd in float64.

    The callable must take and return a ``torch.Tensor`` and be differentiable by ``torch.autograd``; anything
    else (e.g. ``numpy.tanh``, which converts to NumPy and breaks autograd) is refused here, when it is built,
    with a ``TypeError``. Both engines call the wrapped function, which raises :class:`ActivationNaNError` where
    the callable returns NaN for a finite input, so that a NaN is reported where it arises, never as overflow.
    """
    import torch

    name = getattr(fn, "__name__", "custom")

    def torch_fn(x):
        y = fn(x)
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"activation {name!r} must return a torch.Tensor, got {type(y).__name__}")
        bad = torch.isnan(y) & torch.isfinite(x)
        if bool(bad.any()):
            raise ActivationNaNError(name, float(x.detach()[bad][0]))
        return y

    def phi(x):
        with torch.no_grad():
            return torch_fn(torch.as_tensor(np.array(x, dtype=np.float64))).numpy()

    def derivatives(x, order: int):
        t = torch.as_tensor(np.array(x, dtype=np.float64)).requires_grad_(True)
        y = torch_fn(t)
        (g,) = torch.autograd.grad(y.sum(), t, create_graph=order > 1)
        if order == 1:
            return g.detach().numpy()
        if not g.requires_grad:  # piecewise-linear: phi'' vanishes almost everywhere
            return np.zeros_like(g.detach().numpy())
        (g2,) = torch.autograd.grad(g.sum(), t, allow_unused=True)
        return np.zeros_like(g.detach().numpy()) if g2 is None else g2.detach().numpy()

    probe = np.linspace(-3.0, 3.0, 13)
    try:
        with warnings.catch_warnings():  # a NumPy or math function warns about the tensor before it fails
            warnings.simplefilter("ignore")
            out = torch_fn(torch.as_tensor(probe).requires_grad_(True))
    except ActivationNaNError:
        raise
    except Exception as exc:  # any failure means the callable is unusable
        raise TypeError(
            "activation callable must map a torch.Tensor elementwise to a tensor differentiable by torch.autograd"
            f" (e.g. torch.tanh, not numpy.tanh); calling it on a float64 tensor that requires grad failed: {exc}"
        ) from exc
    if tuple(out.shape) != probe.shape:
        raise TypeError(
            f"activation callable must act elementwise, got output shape {tuple(out.shape)} for input (13,)"
        )
    if not out.requires_grad:
        raise TypeError(
            f"activation callable must be differentiable by torch.autograd, got {name!r} whose output does not "
            "depend on its input through torch operations"
        )
    out = out.detach().numpy()
    return Activation(
        name,
        phi,
        lambda x: derivatives(x, 1),
        lambda x: derivatives(x, 2),
        torch_fn,
        odd=bool(np.allclose(phi(-probe), -out)),
        smooth=False,
    )


def get_activation(activation: str | Activation | Callable[[Any], Any], **params: float) -> Activation:
    """Return the :class:`Activation` for a registry name, an existing ``Activation`` or a callable.

    Parameters
    ----------
    activation : str, Activation or callable
        One of :data:`ACTIVATIONS`, an ``Activation`` (returned unchanged) or a torch-compatible
        elementwise function (wrapped; derivatives from autograd).
    **params
        Family parameters: ``negative_slope`` for ``leaky_relu`` (default 0.01), ``alpha`` for ``elu``
        (default 1.0).
    """
    if isinstance(activation, Activation):
        if params:
            raise TypeError(f"activation parameters {sorted(params)} cannot be applied to an Activation instance")
        return activation
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} or a callable, got {activation!r}")
        build = _REGISTRY[activation]
        unknown = set(params) - set(build.defaults)
        if unknown:
            allowed = sorted(build.defaults) or "none"
            raise TypeError(f"activation {activation!r} accepts parameters {allowed}, got {sorted(unknown)}")
        merged = {**build.defaults, **{k: float(v) for k, v in params.items()}}
        return build(**merged)
    if callable(activation):
        return _from_callable(activation)
    raise TypeError(f"activation must be one of {ACTIVATIONS}, an Activation or a callable, got {activation!r}")


def is_builtin(activation: Activation) -> bool:
    """True if ``activation`` came from the registry (so its name and parameters identify it)."""
    return activation.name in ACTIVATIONS and isinstance(activation.torch_fn, _LazyTorch)
