"""The one description of a network family (``arch``) that every engine reads, and the operator registry.

A network of depth ``D`` and width ``N`` is the list of its layers; every layer is a tuple
(operator, activation, residual or not, bias)::

    layer 1:       h^1 = sigma_w A_1 x + sigma_b b_1                                   (acts on the input itself)
    layer l >= 2:  h^l = [h^{l-1} if residual] + sigma_w A_l phi(h^{l-1}) + sigma_b b_l

with ``A_l`` a random linear operator of the registered family ``operator`` (``E||A v||^2 = ||v||^2``),
``phi`` the activation (a network parameter, see :mod:`infoprop._src.activations`) and ``b_l ~ N(0, I)``.
:class:`Arch` holds the family's two choices, ``operator`` and ``residual``; :meth:`Arch.layers` spells the
list out. ``arch`` names are presets of it (:data:`PRESETS`)::

    mlp = dense          cnn = conv           fdf = fdf          fdfd = fdfd       orthogonal = orthogonal
    resnet = dense + residual                 "<preset>+residual", e.g. "cnn+residual", for any other operator

Operators (:data:`OPERATORS`, one class each; adding an operator is adding one class here):

* ``dense``: ``A = G / sqrt(N)``, ``G`` standard Gaussian.
* ``orthogonal``: the Q of a QR of ``G`` with the signs of ``diag(R)`` (Haar).
* ``conv``: circular convolution (a circulant matrix) with kernel ``w ~ N(0, 1/k)`` of size ``k``
  (option ``kernel_size``, default ``N``): ``(A v)_i = sum_{j<k} w_j v_{(i-j) mod N}``.
* ``fdf``: ``A v = sqrt(2) Re(F D F v)``; ``fdfd``: ``A v = sqrt(2) Re(F D2 F D1 v)``, with the unitary DFT ``F``
  and diagonal phases uniform on ``[0, 2 pi)``.

Each operator class owns its draw (the exact calls on the network's ``torch.Generator``: they fix every seed's
network), its dense float64 matrix and its structured fast path (``apply``/``apply_t`` on rows, FFTs for the
structured ones). This module imports torch only inside those methods, so the mean-field engine and the CLI can
read descriptions without loading torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .common import check_int

__all__ = [
    "ARCHS",
    "OPERATORS",
    "PRESETS",
    "Arch",
    "Layer",
    "Operator",
    "get_arch",
    "register_operator",
]

RESIDUAL_SUFFIX = "+residual"


# --------------------------------------------------------------------------- operators
class Operator:
    """A family of random linear maps ``A: R^N -> R^N`` with ``E||A v||^2 = ||v||^2`` (one instance per network).

    Subclasses set :attr:`name` and implement :meth:`draw` and :meth:`matrix`; structured ones (parameters of
    size O(N) and a fast application) also set :attr:`fast_path` and implement :meth:`prepare`, :meth:`apply` and
    :meth:`apply_t`. ``params`` below are one layer's float64 CPU parameters as returned by :meth:`draw`;
    ``data`` is what :meth:`prepare` made of all layers' parameters, indexed by layer (0-based).
    """

    name: ClassVar[str]
    #: Name of the structured application (e.g. ``"fft"``), or None: apply as the dense matrix only.
    fast_path: ClassVar[str | None] = None
    #: ``apply_method="auto"`` uses the dense matrix up to this width (faster there, measured) and the fast path
    #: beyond it.
    dense_up_to: ClassVar[int] = 0
    #: Keyword options of the family with their defaults (``None``: depends on the width).
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, width: int, **options: Any) -> None:
        self.width = check_int("width", width, minimum=1)
        unknown = set(options) - set(self.defaults)
        if unknown:
            allowed = sorted(self.defaults) or "none"
            raise TypeError(f"operator {self.name!r} accepts options {allowed}, got {sorted(unknown)}")
        self.options = {key: options.get(key, default) for key, default in self.defaults.items()}

    def draw(self, generator: Any) -> Any:
        """One layer's float64 parameters, drawn from ``generator`` (the order of calls is part of every seed)."""
        raise NotImplementedError

    def matrix(self, params: Any) -> np.ndarray:
        """The exact float64 ``(N, N)`` matrix ``A`` of one layer."""
        raise NotImplementedError

    def prepare(self, params: Any) -> Any:
        """Fast-path data (complex128 diagonals) of stacked parameters ``(L, ...)``, float64/complex128 on the CPU."""
        raise NotImplementedError(f"operator {self.name!r} has no structured fast path")

    def apply(self, data: Any, rows: Any) -> Any:
        """``rows @ A^T`` (``A`` applied to every row) through the fast path, in ``rows``' precision."""
        raise NotImplementedError(f"operator {self.name!r} has no structured fast path")

    def apply_t(self, data: Any, rows: Any) -> Any:
        """``rows @ A`` (``A^T`` applied to every row) through the fast path."""
        raise NotImplementedError(f"operator {self.name!r} has no structured fast path")

    def __repr__(self) -> str:
        options = "".join(f", {k}={v}" for k, v in self.options.items())
        return f"{type(self).__name__}(width={self.width}{options})"


#: The registered operator classes, by name.
OPERATORS: dict[str, type[Operator]] = {}


def register_operator(cls: type[Operator]) -> type[Operator]:
    """Class decorator: add ``cls`` to :data:`OPERATORS` under ``cls.name``."""
    if cls.name in OPERATORS:
        raise ValueError(f"operator {cls.name!r} is already registered")
    OPERATORS[cls.name] = cls
    return cls


@register_operator
class Dense(Operator):
    """``A = G / sqrt(N)`` with ``G`` standard Gaussian (entries of variance ``1/N``)."""

    name = "dense"

    def draw(self, generator):
        import torch

        n = self.width
        return torch.randn(n, n, dtype=torch.float64, generator=generator) / math.sqrt(n)

    def matrix(self, params):
        return params.numpy()


@register_operator
class Orthogonal(Operator):
    """Haar-random orthogonal ``A``: the Q of a QR of a Gaussian matrix with the signs of ``diag(R)``.

    Draw on one intra-op thread: LAPACK's QR rounds differently with other thread counts.
    """

    name = "orthogonal"

    def draw(self, generator):
        import torch

        n = self.width
        q, r = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=generator))
        return q * torch.sign(torch.diagonal(r))

    def matrix(self, params):
        return params.numpy()


@register_operator
class Conv(Operator):
    """Circular convolution (circulant ``A``) with kernel ``w ~ N(0, 1/k)`` of size ``kernel_size = k``.

    ``(A v)_i = sum_{j<k} w_j v_{(i-j) mod N}``; the fast path multiplies real FFTs by the kernel's spectrum.
    """

    name = "conv"
    fast_path = "fft"
    dense_up_to = 100  # one real FFT pair per layer: dense GEMM is faster up to N = 100 (dev machine, erf)
    defaults: ClassVar[dict[str, Any]] = {"kernel_size": None}

    def __init__(self, width: int, **options: Any) -> None:
        super().__init__(width, **options)
        k = self.options["kernel_size"]
        self.options["kernel_size"] = check_int("kernel_size", self.width if k is None else k, 1, self.width)

    def draw(self, generator):
        import torch

        k = self.options["kernel_size"]
        return torch.randn(k, dtype=torch.float64, generator=generator) / math.sqrt(k)

    def matrix(self, params):
        n = self.width
        w = np.zeros(n)
        w[: self.options["kernel_size"]] = params.numpy()
        return w[(np.arange(n)[:, None] - np.arange(n)[None, :]) % n]

    def prepare(self, params):
        import torch

        kernels = torch.zeros(params.shape[0], self.width, dtype=torch.float64)
        kernels[:, : self.options["kernel_size"]] = params
        return torch.fft.rfft(kernels, dim=1)

    def apply(self, data, rows):
        import torch

        return torch.fft.irfft(torch.fft.rfft(rows, dim=-1) * data, n=self.width)

    def apply_t(self, data, rows):
        import torch

        return torch.fft.irfft(torch.fft.rfft(rows, dim=-1) * data.conj(), n=self.width)


def _columns_of(first: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    """``sqrt(2) Re(F diag(diagonal) F first)`` for the columns of ``first``: O(N^2 log N), no dense DFT product."""
    inner = np.fft.fft(first, axis=0, norm="ortho")
    return math.sqrt(2.0) * np.fft.fft(diagonal[:, None] * inner, axis=0, norm="ortho").real


@register_operator
class FDF(Operator):
    """``A v = sqrt(2) Re(F D F v)`` with the unitary DFT ``F`` and ``D`` of phases uniform on ``[0, 2 pi)``.

    ``sqrt(2) Re(F D F)`` is symmetric (``F`` is), so ``apply_t`` equals ``apply``.
    """

    name = "fdf"
    fast_path = "fft"
    dense_up_to = 160

    def draw(self, generator):
        import torch

        return torch.rand(self.width, dtype=torch.float64, generator=generator) * (2 * math.pi)

    def matrix(self, params):
        return _columns_of(np.eye(self.width), np.exp(1j * params.numpy()))

    def prepare(self, params):
        import torch

        return torch.polar(torch.ones_like(params), params)

    def apply(self, data, rows):
        import torch

        z = torch.fft.fft(torch.fft.fft(rows, dim=-1, norm="ortho") * data, dim=-1, norm="ortho")
        return z.real * math.sqrt(2.0)

    apply_t = apply


@register_operator
class FDFD(Operator):
    """``A v = sqrt(2) Re(F D2 F D1 v)``; parameters are the phases of ``D1`` then ``D2``, shape ``(2, N)``."""

    name = "fdfd"
    fast_path = "fft"
    dense_up_to = 192

    def draw(self, generator):
        import torch

        return torch.rand(2, self.width, dtype=torch.float64, generator=generator) * (2 * math.pi)

    def matrix(self, params):
        d1, d2 = np.exp(1j * params.numpy())
        return _columns_of(np.diag(d1), d2)

    def prepare(self, params):
        import torch

        return torch.polar(torch.ones_like(params), params)

    def apply(self, data, rows):
        import torch

        d1, d2 = data[0], data[1]
        z = torch.fft.fft(torch.fft.fft(rows * d1, dim=-1, norm="ortho") * d2, dim=-1, norm="ortho")
        return z.real * math.sqrt(2.0)

    def apply_t(self, data, rows):
        import torch

        d1, d2 = data[0], data[1]  # (F D2 F D1)^T = D1 F D2 F
        z = torch.fft.fft(torch.fft.fft(rows, dim=-1, norm="ortho") * d2, dim=-1, norm="ortho") * d1
        return z.real * math.sqrt(2.0)


# --------------------------------------------------------------------------- the description
class Layer(NamedTuple):
    """One layer of the network: ``h^l = [h^{l-1} if residual] + sigma_w A_l (phi(h^{l-1}) or x) + sigma_b b_l``."""

    index: int
    operator: str
    #: ``phi`` is applied to the layer's input (False for layer 1, which acts on the input ``x`` itself).
    activation: bool
    residual: bool
    #: The layer adds ``sigma_b b_l`` (every layer does).
    bias: bool


@dataclass(frozen=True)
class Arch:
    """A network family: the operator of every layer and whether layers ``l >= 2`` are residual.

    Parameters
    ----------
    operator : str
        A registered operator (:data:`OPERATORS`).
    residual : bool
        Layers ``l >= 2`` add their input: ``h^l = h^{l-1} + sigma_w A_l phi(h^{l-1}) + sigma_b b_l``.
        Layer 1 is never residual (its input ``x`` lives in input space).
    """

    operator: str
    residual: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.operator, str) or self.operator not in OPERATORS:
            raise ValueError(f"operator must be one of {tuple(OPERATORS)}, got {self.operator!r}")
        if not isinstance(self.residual, bool):
            raise TypeError(f"residual must be True or False, got {self.residual!r}")

    @property
    def name(self) -> str:
        """The ``arch`` name: a preset's name, or ``"<preset>+residual"`` for a residual variant without one."""
        for name, preset in PRESETS.items():
            if preset == self:
                return name
        # an operator without a preset of its own is named after itself
        base = next((name for name, preset in PRESETS.items() if preset == Arch(self.operator)), self.operator)
        return base + RESIDUAL_SUFFIX if self.residual else base

    @property
    def mean_field(self) -> str:
        """Which mean-field map describes the family at infinite width: ``"feedforward"`` (the q/c maps of
        SPEC section 0, with an order-to-chaos line ``chi_1 = 1``) or ``"residual"`` (no fixed point and no
        critical line)."""
        return "residual" if self.residual else "feedforward"

    def layers(self, depth: int) -> tuple[Layer, ...]:
        """The explicit list of the ``depth`` layers."""
        depth = check_int("depth", depth, minimum=1)
        return tuple(
            Layer(index=l, operator=self.operator, activation=l > 1, residual=self.residual and l > 1, bias=True)
            for l in range(1, depth + 1)
        )

    def make_operator(self, width: int, **options: Any) -> Operator:
        """The operator family at ``width`` with its ``options`` (e.g. ``kernel_size`` for ``conv``)."""
        return OPERATORS[self.operator](width, **options)


#: ``arch`` names and what they stand for.
PRESETS: dict[str, Arch] = {
    "mlp": Arch("dense"),
    "cnn": Arch("conv"),
    "fdf": Arch("fdf"),
    "fdfd": Arch("fdfd"),
    "orthogonal": Arch("orthogonal"),
    "resnet": Arch("dense", residual=True),
}
#: The preset ``arch`` names (any other operator is also available residual as ``"<name>+residual"``).
ARCHS: tuple[str, ...] = tuple(PRESETS)


def get_arch(arch: str | Arch, *, residual: bool | None = None) -> Arch:
    """The :class:`Arch` of an ``arch`` name (a preset or ``"<preset>+residual"``) or of an ``Arch``.

    ``residual`` (optional) overrides the family's flag, e.g. ``get_arch("cnn", residual=True)``.
    """
    if isinstance(arch, Arch):
        found = arch
    elif isinstance(arch, str):
        base, residual_name = arch, False
        if arch.endswith(RESIDUAL_SUFFIX):
            base, residual_name = arch[: -len(RESIDUAL_SUFFIX)], True
        if base not in PRESETS or (residual_name and PRESETS[base].residual):
            allowed = (*ARCHS, *(f"{n}{RESIDUAL_SUFFIX}" for n, p in PRESETS.items() if not p.residual))
            raise ValueError(f"arch must be one of {allowed} or an Arch, got {arch!r}")
        found = PRESETS[base]
        if residual_name:
            found = Arch(found.operator, residual=True)
    else:
        raise TypeError(f"arch must be an arch name such as 'mlp' or an Arch, got {arch!r}")
    if residual is not None:
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be True, False or None, got {residual!r}")
        found = Arch(found.operator, residual=residual)
    return found
