"""Finite-width random networks: one seeded draw evaluated over a whole (sigma_w, sigma_b) grid.

A :class:`RandomNetwork` draws, once and from one seed, the random operators ``A_1..A_D``, the biases
``b_1..b_D``, the inputs and the probe vectors (SPEC sections 2-3). ``sigma_w`` and ``sigma_b`` only
rescale that draw, so every metric is a deterministic function of ``(sigma_w, sigma_b)``; its
order/chaos boundary is the fractal frontier of the seed paper.

Conventions
-----------
* ``sigma_w``, ``sigma_b`` are standard deviations. The network is an ``arch`` (:mod:`infoprop._src.arch`):
  pre-activation recursion (SPEC section 0)::

      h^0 = x,   h^1 = sigma_w * A_1 x + sigma_b * b_1,
      h^l = [h^{l-1} if residual] + sigma_w * A_l phi(h^{l-1}) + sigma_b * b_l   (l = 2..D),

  with ``E||A_l v||^2 = ||v||^2`` and ``b_l ~ N(0, I)``: layer 1 acts on ``x`` itself, not on ``phi(x)``, and is
  never residual. ``resnet`` is the residual ``mlp``; ``residual=True`` makes any other arch residual.
* Inputs have ``q^0 = ||x||^2 / N = 1``: a standard Gaussian vector rescaled to ``||x||^2 = N`` exactly.
  ``inputs="independent"`` uses two independent such vectors (``c^0 ~ N^{-1/2}``);
  ``inputs="perturbed"`` uses ``x2 = x1 + eps * g`` with ``g`` another such vector, so ``L^(0) = eps^2``.
  ``x1 + eps * g`` and ``A_1 x`` are formed in float64 before the cast to the working dtype.
* Metrics (:data:`infoprop._src.metrics.METRICS`; :meth:`RandomNetwork.landscape` dispatches on the name):
  ``forward``: ``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` (pre-activations, squared, per neuron);
  ``forward_normalised``: the seed authors' ``||phi(h^d(x1)) - phi(h^d(x2))||^2 / N`` (post-activations; the
  same forward pass, moments taken of ``phi(h^d)``);
  ``backward``: ``L' = ||J^T g1 - J^T g2||`` with ``J = d h^D / d h^d`` evaluated at input ``x1`` and
  ``g1``, ``g2`` independent unit cotangents at layer ``D``; ``layer = 0`` means the gradient with respect to
  the input ``x`` (through all ``D`` layers). ``quantity="gradient_ratio"`` gives ``||J^T g1|| / ||g1||``;
  ``lyapunov``: ``lambda = (1/D) ln(||J v|| / ||v||)`` with ``J = d h^D / d x`` at ``x1`` and a random
  unit tangent ``v``, pushed forward layer by layer (Jacobian-vector products) and rescaled every layer.
* Tangents and cotangents are carried in float64 whatever ``dtype`` (only the GEMM operand is cast).

The draw
--------
One ``torch.Generator`` seeded with ``seed`` draws, in float64 on the CPU and in this order: ``x1``, ``x2``,
``g``, cotangents ``g1``, ``g2``, tangent ``v`` (each a standard Gaussian vector of length N, rescaled as
above), then for ``l = 1..D`` the operator's randomness (:meth:`infoprop._src.arch.Operator.draw`) followed by
``b_l``. The draw is therefore the same on every device, dtype and thread count (it runs on one intra-op
thread), a network of depth ``D`` is the first ``D`` layers of any deeper one with the same seed, and a residual
network is the same draw as its feed-forward counterpart (``resnet`` and ``mlp`` share operators and biases).

Engine and determinism
----------------------
Grid points are processed in blocks; inside a block the layers are looped over with one layer step
(:meth:`RandomNetwork._step`: one matrix product, or one batched FFT chain, per layer for all states of the
block, forward states and tangents together). Backward passes use its transpose (:meth:`RandomNetwork._step_t`).
Blocks run concurrently on :func:`cpu_workers` worker threads with one intra-op thread each. The value
at a grid point does not depend on the block size, on which points share its block, on the early exit, or on
the number of threads:

* every matrix product has a row count that is a multiple of 16 (blocks hold a multiple of 16 points, padded
  with copies; compaction drops 16 points at a time): MKL's GEMM gives row results that depend on the row
  count when it is not a multiple of 4 (measured on the development machine; batched FFTs were row-invariant);
* no operation is split across threads, and elementwise operations are exact per element;
* denormals are flushed explicitly (operands of every matrix product below ``2^-60`` in float32, ``2^-500`` in
  float64, are set to 0; see ``_SLOPE_FLUSH``, ``_OUTPUT_FLOOR``) rather than with ``torch.set_flush_denormal``,
  whose effect is per thread (OpenMP workers keep the mode they were created with; new threads inherit the
  creator's), which would make results depend on the thread layout and on the caller's mode.

Exact early exit: once both inputs' states of a grid point are equal they stay equal (row results do not
depend on position; a residual step adds equal states to equal updates), so the divergence is exactly 0 from
there on; such points are dropped from the block (compaction).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch
import xarray as xr

from .activations import Activation, ActivationNaNError, get_activation
from .arch import ARCHS, Arch, Operator, get_arch
from .common import as_float_array, check_choice, check_int, check_memory, check_real, provenance_attrs, resolve_device
from .metrics import METRIC_INFO, METRICS

__all__ = ["ARCHS", "METRICS", "RandomNetwork", "memory_estimate"]

DTYPES: tuple[str, ...] = ("float32", "float64")
INPUTS: tuple[str, ...] = ("independent", "perturbed")
#: How a structured operator is applied: as its dense matrix, through its fast path ("fft"), or chosen by width.
APPLY_METHODS: tuple[str, ...] = ("auto", "dense", "fft")
BACKWARD_QUANTITIES: tuple[str, ...] = ("divergence", "gradient_ratio")

# Blocks hold a multiple of this many points, so every GEMM has a row count that is a multiple of 16 (module doc).
_POINT_QUANTUM = 16
# Structured operators are applied as their dense real matrix up to Operator.dense_up_to if the D matrices fit here.
_DENSE_MAX_BYTES = 1 << 30
# Default block: about this many state elements per block (rows x width). Larger blocks spend less of their time
# in Python dispatch; 2^17 float32 elements (512 kB of state) still keep a block's buffers in a 1 MB L2 cache.
_BLOCK_ELEMENTS = 1 << 17
# Backward passes store sigma_w * phi'(h^l) for every layer of a block; cap that memory (all workers together).
_BACKWARD_BYTES = 512 << 20
# Early-exit checks every this many layers (a check costs about a tenth of a layer).
_EXIT_CHECK = 4
_FLUSH = {"float32": 2.0**-60, "float64": 2.0**-500}
# float64 slopes sigma_w phi'(h) below this are 0: their products with (co)tangent entries (>= ~2^-560) stay normal.
_SLOPE_FLUSH = 2.0**-300
# Reported float64 values below this are 0, so that no result depends on how denormal sums were rounded.
_OUTPUT_FLOOR = 2.0**-960
_TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}
# Ask for the intra-op thread count once, in the importing thread. Until the main thread has asked, the first
# torch.set_num_threads(1) made by one of the engine's worker threads becomes the process-wide setting (torch
# 2.13, measured), torch.get_num_threads() then returns 1 and _run would use one worker on every machine.
# A thread started later (a web server's worker thread, a user's thread pool) sees 1 as well once the engine's
# workers have run (measured: the explorer computed at half speed on 2 cores), so outside the main thread the
# engine uses the count seen here.
_IMPORT_THREADS = torch.get_num_threads()


def cpu_workers() -> int:
    """Worker threads of the CPU engine: ``torch.get_num_threads()`` in the main thread (so that a user's
    ``torch.set_num_threads`` counts), the count seen at import in any other thread."""
    if threading.current_thread() is threading.main_thread():
        return max(1, torch.get_num_threads())
    return max(1, _IMPORT_THREADS)

ProgressFn = Callable[[int, int], None]
# Memory per grid point of one evaluation: point arrays, per-point moments (4 float64 per recorded layer), the
# result and its xarray copy; blocks themselves are bounded by _BLOCK_ELEMENTS.
_BYTES_PER_POINT = 96


def memory_estimate(
    arch: str | Arch,
    width: int,
    depth: int,
    dtype: str = "float32",
    points: int = 0,
    layers: int = 1,
    apply_method: str = "auto",
    **operator_options: Any,
) -> int:
    """Upper estimate (bytes) of one draw plus an evaluation over ``points`` grid points recording ``layers`` layers.

    A dense application holds depth x (width + 1) x width weights in ``dtype`` plus float64 temporaries of
    width^2 while drawing; a structured one (``apply_method="fft"``) O(depth x width) parameters and spectra.
    ``apply_method="auto"`` resolves as :class:`RandomNetwork` does.
    """
    operator = get_arch(arch).make_operator(width, **operator_options)
    item = 4 if dtype == "float32" else 8
    dense = depth * (width + 1) * width * item
    if apply_method == "auto":
        apply_method = _auto_apply_method(operator, depth, dtype)
    weights = dense + 3 * width * width * 8 if apply_method == "dense" else depth * width * 48
    return weights + depth * width * (8 + item) + points * (_BYTES_PER_POINT + 32 * max(layers - 1, 0))


def _auto_apply_method(operator: Operator, depth: int, dtype: str) -> str:
    """The dense matrix up to ``operator.dense_up_to`` (faster there, measured) if the D matrices fit, else the
    operator's fast path."""
    if operator.fast_path is None:
        return "dense"
    width = operator.width
    nbytes = depth * width * (width + 1) * (4 if dtype == "float32" else 8)
    return "dense" if width <= operator.dense_up_to and nbytes <= _DENSE_MAX_BYTES else operator.fast_path


class _Layout(NamedTuple):
    """How flat per-point results map back onto the caller's grid."""

    dims: tuple[str, ...]
    coords: dict[str, Any]
    shape: tuple[int, ...]
    squeeze: tuple[str, ...]  # dims given as scalars: dropped, kept as scalar coordinates


class RandomNetwork:
    """One seeded draw of a deep random network, evaluated for many (sigma_w, sigma_b) at once.

    Parameters
    ----------
    arch : str or Arch
        Network family: ``"mlp"``, ``"cnn"``, ``"fdf"``, ``"fdfd"``, ``"orthogonal"``, ``"resnet"``,
        ``"<name>+residual"`` or an :class:`infoprop.Arch` (module docstring, SPEC section 2).
    width : int
        Width ``N`` (neurons per layer), >= 1.
    depth : int
        Depth ``D`` (number of layers), >= 1.
    activation : str, Activation or callable
        Nonlinearity ``phi`` (see :func:`infoprop.get_activation`).
    seed : int
        Seed of the single ``torch.Generator`` the whole draw comes from.
    dtype : {"float32", "float64"}
        Working precision of the forward/backward passes (the draw itself is float64).
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.
    residual : bool, optional
        Override the arch's residual flag (``RandomNetwork("cnn", ..., residual=True)`` is ``"cnn+residual"``).
    apply_method : {"auto", "dense", "fft"}
        How structured operators (cnn, fdf, fdfd) are applied: as their dense real matrix (one GEMM per layer)
        or with FFTs. ``"auto"`` (default) takes the dense matrix up to widths 100 (cnn), 160 (fdf), 192 (fdfd)
        when the D matrices fit in 1 GiB (faster there, measured). Never changes a value beyond rounding.
    **operator_options
        Options of the operator family: ``kernel_size`` (cnn; 1 <= k <= width, default ``width``).
    """

    def __init__(
        self,
        arch: str | Arch,
        width: int,
        depth: int,
        activation: str | Activation | Callable[[Any], Any] = "erf",
        seed: int = 0,
        dtype: str = "float32",
        device: str | torch.device = "cpu",
        *,
        residual: bool | None = None,
        apply_method: str = "auto",
        **operator_options: Any,
    ) -> None:
        self.description = get_arch(arch, residual=residual)
        self.arch = self.description.name
        self.residual = self.description.residual
        self.width = check_int("width", width, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.dtype = check_choice("dtype", dtype, DTYPES)
        self.device = resolve_device(device)
        self.activation = get_activation(activation)
        if "operator" in operator_options:
            raise TypeError("operator= is now apply_method= ('auto', 'dense' or 'fft'); the operator is the arch's")
        self.operator = self.description.make_operator(self.width, **operator_options)
        self.kernel_size = self.operator.options.get("kernel_size")
        self.apply_method = self._choose_apply_method(check_choice("apply_method", apply_method, APPLY_METHODS))
        estimate = memory_estimate(
            self.description, width, depth, dtype, apply_method=self.apply_method, **operator_options
        )
        check_memory(estimate, f"RandomNetwork({self.arch!r}, width={width}, depth={depth})")
        self._tdtype = _TORCH_DTYPE[self.dtype]
        self._flush = _FLUSH[self.dtype]
        # the activation's torch function, resolved once (registry activations build it lazily)
        fn = self.activation.torch_fn
        self._phi = fn.resolve() if hasattr(fn, "resolve") else fn
        # one intra-op thread: LAPACK's QR (orthogonal) rounds differently with other thread counts
        with ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            pool.submit(self._draw).result()

    # ------------------------------------------------------------------------------------ the draw
    def _choose_apply_method(self, requested: str) -> str:
        fast = self.operator.fast_path
        if fast is None:
            if requested == "fft":
                raise ValueError(
                    f"apply_method must be 'auto' or 'dense' for arch {self.arch!r} "
                    f"(operator {self.operator.name!r} has no fast path), got 'fft'"
                )
            return "dense"
        if requested != "auto":
            return requested
        return _auto_apply_method(self.operator, self.depth, self.dtype)

    def _draw(self) -> None:
        n, depth, op = self.width, self.depth, self.operator
        gen = torch.Generator().manual_seed(self.seed)

        def vector(norm2: float) -> torch.Tensor:
            x = torch.randn(n, dtype=torch.float64, generator=gen)
            return x * math.sqrt(norm2) / torch.linalg.vector_norm(x)

        self._x1, self._x2, self._g = vector(n), vector(n), vector(n)
        self._cot1, self._cot2, self._tangent = vector(1.0), vector(1.0), vector(1.0)

        dev, dt = self.device, self._tdtype
        dense = self.apply_method == "dense"
        if dense:
            # waug[l] = [A_{l+1}^T ; b_{l+1}^T]: one GEMM gives sigma_w A phi + sigma_b b (bias via an extra column).
            self._waug = torch.empty(depth, n + 1, n, dtype=dt, device=dev)
        params: list[torch.Tensor] = []  # float64 parameters of structured operators (O(N) per layer)
        biases = torch.empty(depth, n, dtype=torch.float64)
        for layer in range(depth):
            param = op.draw(gen)
            biases[layer] = torch.randn(n, dtype=torch.float64, generator=gen)
            if op.fast_path is not None:
                params.append(param)
            if dense:
                mat = torch.as_tensor(op.matrix(param))
                self._waug[layer, :n] = mat.T.to(device=dev, dtype=dt)
            if layer == 0:
                # Layer 1 acts on the inputs only: A_1 x in float64, once (sigma-independent).
                vecs = torch.stack([self._x1, self._x2, self._g, self._tangent])
                applied = vecs @ mat.T if dense else op.apply(op.prepare(param[None])[0], vecs)
                self._a1x1, self._a1x2, self._a1g, self._a1v = applied
        self._b1 = biases[0].clone()
        self._bias = biases.to(device=dev, dtype=dt)
        self._params = params or None
        if dense:
            self._waug[:, n] = self._bias
            return
        ctype = torch.complex64 if self.dtype == "float32" else torch.complex128
        self._data = op.prepare(torch.stack(params)).to(device=dev, dtype=ctype)

    # ------------------------------------------------------------------------------------ operators
    def operator_matrix(self, layer: int) -> np.ndarray:
        """Dense real float64 matrix ``A_layer`` (1-based) as drawn.

        For ``dense``/``orthogonal`` operators this is the stored working-precision matrix converted to float64
        (the float64 draw rounded to ``dtype``); for the structured ones it is built in float64 from the drawn
        kernel/phases.
        """
        layer = check_int("layer", layer, minimum=1, maximum=self.depth)
        if self._params is not None:
            return self.operator.matrix(self._params[layer - 1])
        return self._waug[layer - 1, : self.width].T.to(device="cpu", dtype=torch.float64).numpy()

    def parameters(self, layer: int) -> np.ndarray:
        """The float64 random parameters of ``A_layer`` (1-based): the matrix (dense, orthogonal; as stored,
        i.e. rounded to ``dtype``), the kernel of length ``kernel_size`` (cnn), the phases of ``D`` (fdf,
        shape ``(N,)``) or of ``D1``, ``D2`` (fdfd, shape ``(2, N)``)."""
        layer = check_int("layer", layer, minimum=1, maximum=self.depth)
        if self._params is not None:
            return self._params[layer - 1].numpy().copy()
        return self.operator_matrix(layer)

    def bias(self, layer: int) -> np.ndarray:
        """Bias vector ``b_layer`` (1-based, float64, unit variance: the network adds ``sigma_b * b``)."""
        layer = check_int("layer", layer, minimum=1, maximum=self.depth)
        return self._bias[layer - 1].to(device="cpu", dtype=torch.float64).numpy() if layer > 1 else self._b1.numpy()

    def inputs(self, kind: str = "independent", eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
        """The two float64 inputs ``(x1, x2)`` used by :meth:`forward` (``||x1||^2 = N``)."""
        kind = check_choice("inputs", kind, INPUTS)
        eps = check_real("eps", eps, minimum=0.0, strict_minimum=True)
        x2 = self._x2 if kind == "independent" else self._x1 + eps * self._g
        return self._x1.numpy().copy(), x2.numpy().copy()

    def vectors(self) -> dict[str, np.ndarray]:
        """The drawn float64 probe vectors: inputs ``x1``, ``x2`` (``||x||^2 = N``), perturbation direction
        ``g`` (``||g||^2 = N``), unit cotangents ``g1``, ``g2`` and unit tangent ``v``."""
        named = {"x1": self._x1, "x2": self._x2, "g": self._g, "g1": self._cot1, "g2": self._cot2, "v": self._tangent}
        return {k: t.numpy().copy() for k, t in named.items()}

    def apply_operator(self, layer: int, x: Any, transpose: bool = False) -> torch.Tensor:
        """Apply ``A_layer`` (or its transpose) to the rows of ``x`` the way the engine does.

        ``x`` has shape ``(..., N)``; the result has the network's dtype and device. Dense or FFT
        application follows the network's ``apply_method``.
        """
        layer = check_int("layer", layer, minimum=1, maximum=self.depth)
        rows = torch.as_tensor(x, dtype=self._tdtype, device=self.device)
        if rows.shape[-1] != self.width:
            raise ValueError(f"x must have last dimension width={self.width}, got shape {tuple(rows.shape)}")
        flat = rows.reshape(-1, self.width)
        out = self._apply_t(layer, flat) if transpose else self._apply(layer, flat)
        return out.reshape(rows.shape)

    def _apply(self, layer: int, rows: torch.Tensor) -> torch.Tensor:
        """``A_layer`` applied to every row (no scaling, no bias)."""
        if self.apply_method == "dense":
            return rows @ self._waug[layer - 1, : self.width]
        return self.operator.apply(self._data[layer - 1], rows)

    def _apply_t(self, layer: int, rows: torch.Tensor) -> torch.Tensor:
        """``A_layer^T`` applied to every row."""
        if self.apply_method == "dense":
            return rows @ self._waug[layer - 1, : self.width].T
        return self.operator.apply_t(self._data[layer - 1], rows)

    # ------------------------------------------------------------------------------------ the layer step
    def _propagate(self, layer: int, p: torch.Tensor) -> torch.Tensor:
        """``p[:, :N] @ A^T + p[:, N] b``: rows of p hold ``[sigma_w phi(h), sigma_b]`` (or ``[.., 0]``)."""
        if self.apply_method == "dense":
            return p @ self._waug[layer - 1]
        out = self.operator.apply(self._data[layer - 1], p[:, : self.width])
        return out.add_(p[:, self.width :] * self._bias[layer - 1])

    def _step(
        self,
        layer: int,
        h: torch.Tensor,
        swt: torch.Tensor,
        p: torch.Tensor,
        tangent: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One layer ``l >= 2`` for every row of ``h``, and its Jacobian-vector product: the only forward recursion.

        ``h`` holds states ``h^{l-1}`` (working dtype), ``swt`` their ``sigma_w`` (a column), ``p`` the GEMM operand
        buffer (``rows(h) + rows(tangent)`` rows, ``N + 1`` columns) whose last column holds ``sigma_b`` for the
        state rows and 0 for the tangent rows. ``tangent = (operand, carry)`` from :meth:`_tangent_operand`.
        Returns ``h^l`` and, with a tangent, ``J_l`` applied to it (float64): ``A (sigma_w phi'(h) v)`` plus, in
        a residual network, the carried ``v`` itself.
        """
        rows = h.shape[0]
        n = self.width
        torch.mul(self._phi(h), swt, out=p[:rows, :n])
        self._flush_(p[:rows, :n])
        if tangent is not None:
            p[rows:, :n] = tangent[0]
        out = self._propagate(layer, p)
        h_next = out[:rows]
        if self.residual:
            # flushed like every operand: entries below the threshold are 0 whatever the denormal mode, so equal
            # flushed states (the early exit) stay equal
            self._flush_(h_next.add_(h))
        if tangent is None:
            return h_next, None
        v_next = out[rows:].to(torch.float64)
        if tangent[1] is not None:
            v_next += tangent[1]
        return h_next, v_next

    def _tangent_operand(
        self, v: torch.Tensor, slopes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray]:
        """Rescale float64 tangents ``v`` (rows) for one :meth:`_step`; returns ``(operand, carry, ln scale)``.

        Feed-forward: the operand ``slopes * v`` is scaled to max ``|entry|`` 1 (so nothing under- or overflows at
        any depth). Residual: ``v`` is scaled to max 1 and carried (``v + A (slopes * v)``), the operand is
        ``slopes * v`` at that scale (updates below ``2^-60`` of ``v`` are below float64 resolution anyway).
        """
        if not self.residual:
            operand, logs = self._normalised(slopes * v)
            return operand, None, logs
        carry, logs = self._rescaled(v)
        return self._flush_((slopes * carry).to(self._tdtype)), carry, logs

    def _step_t(self, layer: int, u: torch.Tensor, slopes: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """The vector-Jacobian product of layer ``layer`` on float64 cotangent rows ``u`` at ``h^layer``.

        ``slopes`` is ``sigma_w phi'(h^{layer-1})`` (float64; ``sigma_w`` for layer 1, which acts on ``x``).
        Returns ``(u^{layer-1} / s, ln s)``: ``u`` is rescaled to max 1 before the product (log of the scale
        returned), so nothing overflows or underflows at any depth.
        """
        carry, logs = self._rescaled(u)
        back = self._apply_t(layer, self._flush_(carry.to(self._tdtype))).to(torch.float64) * slopes
        if self.residual and layer > 1:
            back += carry
        return back, logs

    def _first_states(self, sw: np.ndarray, sb: np.ndarray, y: torch.Tensor) -> torch.Tensor:
        """``h^1 = sigma_w A_1 x + sigma_b b_1`` per point (rows) for ``y = A_1 x``, formed in float64, cast."""
        w = torch.as_tensor(sw)[:, None]
        b = torch.as_tensor(sb)[:, None]
        return (w * y + b * self._b1).to(device=self.device, dtype=self._tdtype)

    def _slopes(self, h: torch.Tensor, sw64: torch.Tensor) -> torch.Tensor:
        """``flush(sigma_w phi'(h))`` in float64 (reverse mode on the elementwise map: any callable works).

        Tangent and cotangent arithmetic is float64 whatever the working dtype: along saturated trajectories
        ``phi'`` spans hundreds of binary orders, which float32 would flush or round to zero.
        """
        with torch.enable_grad():
            x = h.detach().to(torch.float64).requires_grad_(True)
            y = self._phi(x)
            (slope,) = torch.autograd.grad(y, x, torch.ones_like(y))
        return torch.ops.aten.hardshrink.out(slope.mul_(sw64), _SLOPE_FLUSH, out=slope)

    @staticmethod
    def _rescaled(rows64: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Float64 rows scaled to max ``|entry|`` 1, and ``ln`` of the scales (``-inf`` for zero rows)."""
        scale = rows64.abs().amax(dim=1, keepdim=True)
        rows = rows64 / torch.where(scale > 0, scale, 1.0)
        with np.errstate(divide="ignore"):
            logs = np.log(scale[:, 0].cpu().numpy())
        return rows, logs

    def _normalised(self, rows64: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """:meth:`_rescaled`, flushed (relative to 1) and cast to the working dtype: a GEMM operand."""
        rows, logs = self._rescaled(rows64)
        return self._flush_(rows.to(self._tdtype)), logs

    def _flush_(self, t: torch.Tensor) -> torch.Tensor:
        """Set entries with ``|t| <= 2^-60`` (float32; ``2^-500`` float64) to 0, in place."""
        return torch.ops.aten.hardshrink.out(t, self._flush, out=t)

    # ------------------------------------------------------------------------------------ grids
    def _points(self, sigma_w: Any, sigma_b: Any, grid: bool) -> tuple[np.ndarray, np.ndarray, _Layout]:
        """Flatten the grid (or point lists) into point arrays, and how to shape results back."""
        sw = as_float_array("sigma_w", sigma_w, minimum=0.0)
        sb = as_float_array("sigma_b", sigma_b, minimum=0.0)
        if not isinstance(grid, bool):
            raise TypeError(f"grid must be True or False, got {grid!r}")
        if sw.ndim > 1 or sb.ndim > 1:
            raise ValueError(f"sigma_w and sigma_b must be scalars or 1-D arrays, got shapes {sw.shape} and {sb.shape}")
        scalar = {"sigma_w": sw.ndim == 0, "sigma_b": sb.ndim == 0}
        sw, sb = np.atleast_1d(sw), np.atleast_1d(sb)
        points = sw.size * sb.size if grid else sw.size
        check_memory(points * _BYTES_PER_POINT, f"an evaluation over {points} grid points")
        coord_attrs = {
            "sigma_w": {"long_name": "weight standard deviation sigma_w", "units": "1"},
            "sigma_b": {"long_name": "bias standard deviation sigma_b", "units": "1"},
        }
        if grid:
            pw, pb = np.meshgrid(sw, sb, indexing="ij")
            coords = {
                "sigma_w": ("sigma_w", sw, coord_attrs["sigma_w"]),
                "sigma_b": ("sigma_b", sb, coord_attrs["sigma_b"]),
            }
            squeeze = tuple(name for name, flag in scalar.items() if flag)
            return pw.ravel(), pb.ravel(), _Layout(("sigma_w", "sigma_b"), coords, (sw.size, sb.size), squeeze)
        if sw.size != sb.size:
            raise ValueError(
                f"with grid=False sigma_w and sigma_b must be point lists of equal length, got {sw.size} and {sb.size}"
            )
        coords = {
            "sigma_w": ("point", sw, coord_attrs["sigma_w"]),
            "sigma_b": ("point", sb, coord_attrs["sigma_b"]),
        }
        squeeze = ("point",) if all(scalar.values()) else ()
        return sw, sb, _Layout(("point",), coords, (sw.size,), squeeze)

    def _layers(self, layers: Any, default: int) -> tuple[list[int], bool]:
        if layers is None:
            return [default], False
        if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
            return [check_int("layers", layers, minimum=0, maximum=self.depth)], False
        try:
            values = [check_int("layers", v, minimum=0, maximum=self.depth) for v in layers]
        except TypeError:
            raise TypeError(f"layers must be None, an integer or a sequence of integers, got {layers!r}") from None
        if not values:
            raise ValueError("layers must not be empty")
        if len(set(values)) != len(values):
            raise ValueError(f"layers must not contain duplicates, got {values}")
        return values, True

    def _block_size(self, block_size: int | None, per_point_bytes: int = 0) -> int:
        if block_size is None:
            block_size = max(_POINT_QUANTUM, _BLOCK_ELEMENTS // (2 * self.width))
            if per_point_bytes:
                budget = _BACKWARD_BYTES // cpu_workers()  # one block in flight per worker
                block_size = min(block_size, max(_POINT_QUANTUM, budget // per_point_bytes))
        block_size = check_int("block_size", block_size, minimum=1)
        return -(-block_size // _POINT_QUANTUM) * _POINT_QUANTUM

    def _run(
        self,
        block_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        sw: np.ndarray,
        sb: np.ndarray,
        block: int,
        progress: ProgressFn | None,
    ) -> np.ndarray:
        """Evaluate ``block_fn`` on padded blocks of points; returns an array ``(points, ...)``.

        On the CPU, blocks run concurrently on :func:`cpu_workers` worker threads, each with ONE
        intra-op thread: no operation is split across threads (so no value can depend on the thread count)
        and small per-layer operations do not pay OpenMP synchronisation.
        """
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be a callable progress(done, total), got {progress!r}")
        starts = range(0, sw.size, block)

        def evaluate(start: int, stop: int) -> np.ndarray:
            padded = -(-(stop - start) // _POINT_QUANTUM) * _POINT_QUANTUM
            idx = np.arange(start, start + padded).clip(max=stop - 1)  # pad with copies of the last point
            with torch.no_grad():
                return block_fn(sw[idx], sb[idx])[: stop - start]

        def one(start: int) -> np.ndarray:
            stop = min(start + block, sw.size)
            try:
                return evaluate(start, stop)
            except ActivationNaNError as exc:  # name the first grid point where it happens (bisection)
                lo, hi = start, stop
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    try:
                        evaluate(lo, mid)
                        lo = mid
                    except ActivationNaNError:
                        hi = mid
                raise ValueError(f"{exc} at sigma_w = {sw[lo]:.6g}, sigma_b = {sb[lo]:.6g}") from None

        workers = 1 if self.device.type == "cuda" else min(cpu_workers(), len(starts))
        out: list[np.ndarray] = []
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            futures = [pool.submit(one, start) for start in starts]
            try:
                for start, future in zip(starts, futures):
                    out.append(future.result())
                    if progress is not None:
                        progress(min(start + block, sw.size), sw.size)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return np.concatenate(out, axis=0)

    def _parameters(self) -> dict[str, Any]:
        """The network's parameters as recorded in every result (provenance)."""
        return {
            "arch": self.arch,
            "operator": self.operator.name,
            "residual": self.residual,
            "width": self.width,
            "depth": self.depth,
            "activation": self.activation.describe(),
            "seed": self.seed,
            "dtype": self.dtype,
            "device": str(self.device),
            "apply_method": self.apply_method,
            **{k: v for k, v in self.operator.options.items() if v is not None},
        }

    def _attrs(self, metric: str, long_name: str, units: str, **extra: Any) -> dict[str, Any]:
        params = {**self._parameters(), "metric": metric, **extra}
        flat = {k: (v if not isinstance(v, dict) else self.activation.name) for k, v in params.items()}
        return {"long_name": long_name, "units": units, **flat, **provenance_attrs(f"finite_width_{metric}", params)}

    def _wrap(
        self,
        values: np.ndarray,
        layout: _Layout,
        layers: list[int] | None,
        keep_layer_dim: bool,
        name: str,
        attrs: dict[str, Any],
    ) -> xr.DataArray:
        coords, dims, shape = dict(layout.coords), layout.dims, layout.shape
        layer_attrs = {"long_name": "layer index d (0 = input)"}
        if layers is not None and keep_layer_dim:
            shape, dims = (*shape, len(layers)), (*dims, "layer")
            coords["layer"] = ("layer", np.asarray(layers, dtype=np.int64), layer_attrs)
        elif layers is not None:
            coords["layer"] = ((), np.int64(layers[0]), layer_attrs)
        da = xr.DataArray(values.reshape(shape), dims=dims, coords=coords, name=name, attrs=attrs)
        return da.squeeze(layout.squeeze) if layout.squeeze else da

    @staticmethod
    def _check_finite(values: np.ndarray, what: str) -> np.ndarray:
        bad = ~np.isfinite(values) & ~np.isneginf(values)
        if bad.any():
            warnings.warn(
                f"{what}: the network overflowed at {int(bad.sum())} value(s) (inf or NaN); reported as inf",
                RuntimeWarning,
                stacklevel=3,
            )
            values = np.where(bad, np.inf, values)
        return values

    # ------------------------------------------------------------------------------------ forward
    def _forward_block(
        self,
        sw: np.ndarray,
        sb: np.ndarray,
        inputs: str,
        eps: float,
        layers: list[int],
        early_exit: bool,
        post_activation: bool = False,
    ) -> np.ndarray:
        """Moments ``(q11, q22, q12, L)`` at ``layers`` for one block; shape ``(points, len(layers), 4)``.

        With ``early_exit`` (used by :meth:`forward`) only ``L`` is computed; the q's stay 0. With
        ``post_activation`` (:meth:`forward_normalised`) the moments are those of ``phi(h^d)``, not ``h^d``.
        """
        n, npts = self.width, sw.size
        dev, dt = self.device, self._tdtype
        out = np.zeros((npts, len(layers), 4))
        if 0 in layers:
            x1, x2 = self.inputs(inputs, eps)
            if post_activation:
                x1, x2 = (self._phi(torch.as_tensor(x)).numpy() for x in (x1, x2))
            d = x1 - x2
            out[:, layers.index(0)] = [x1 @ x1 / n, x2 @ x2 / n, x1 @ x2 / n, d @ d / n]
        record = {layer: i for i, layer in enumerate(layers) if layer > 0}
        last = max(record, default=0)
        if last == 0:
            return out
        active = np.arange(npts)
        # rows [x1 points; x2 points]
        y2 = self._a1x2 if inputs == "independent" else self._a1x1 + eps * self._a1g
        y = torch.cat([self._a1x1.expand(npts, -1), y2.expand(npts, -1)])
        h = self._first_states(np.concatenate([sw, sw]), np.concatenate([sb, sb]), y)
        swt = torch.as_tensor(np.concatenate([sw, sw]), dtype=dt, device=dev)[:, None]
        p = torch.empty(2 * npts, n + 1, dtype=dt, device=dev)
        p[:, n] = torch.as_tensor(np.concatenate([sb, sb]), dtype=dt, device=dev)
        for layer in range(1, last + 1):
            if layer > 1:
                h, _ = self._step(layer, h, swt, p)
            if layer in record:
                state = self._phi(h) if post_activation else h
                out[active, record[layer]] = self._moments(state, full=not early_exit)
            if early_exit and layer % _EXIT_CHECK == 0 and layer < last:
                half = active.size
                # equal states (a - b == 0 exactly; NaN and inf - inf are not 0) stay equal: L is 0 from here on
                same = torch.sub(h[:half], h[half:]).abs_().amax(dim=1) == 0
                done = int(same.sum())
                if done == half:
                    break
                drop = done // _POINT_QUANTUM * _POINT_QUANTUM
                if drop:
                    # keep every unfinished point plus enough finished ones to stay a multiple of the quantum
                    same_np = same.cpu().numpy()
                    keep = np.concatenate([np.flatnonzero(~same_np), np.flatnonzero(same_np)[: done - drop]])
                    keep.sort()
                    rows = torch.as_tensor(np.concatenate([keep, keep + half]), device=dev)
                    h, swt = h[rows], swt[rows]
                    p = p[rows].contiguous()
                    active = active[keep]
        return out

    def _moments(self, h: torch.Tensor, full: bool) -> np.ndarray:
        """Per point ``(q11, q22, q12, L)`` (``full``) or ``(0, 0, 0, L)`` from the stacked states, in float64."""
        half, n = h.shape[0] // 2, self.width
        # flush as the engine does, so denormal leftovers cannot make L depend on the thread layout
        h = torch.nn.functional.hardshrink(h, self._flush).to(torch.float64)
        h1, h2 = h[:half], h[half:]
        d = h1 - h2
        moments = torch.zeros(half, 4, dtype=torch.float64, device=h.device)
        moments[:, 3] = (d * d).sum(1)
        if full:
            moments[:, 0], moments[:, 1], moments[:, 2] = (h1 * h1).sum(1), (h2 * h2).sum(1), (h1 * h2).sum(1)
        moments /= n
        return torch.where(moments.abs() < _OUTPUT_FLOOR, 0.0, moments).cpu().numpy()

    def _forward(
        self,
        sigma_w: Any,
        sigma_b: Any,
        inputs: str,
        eps: float,
        layers: int | Sequence[int] | None,
        grid: bool,
        block_size: int | None,
        progress: ProgressFn | None,
        early_exit: bool,
        post_activation: bool = False,
    ) -> tuple[np.ndarray, _Layout, list[int], bool]:
        """Run :meth:`_forward_block` over the grid: per point ``(q11, q22, q12, L)`` at each requested layer."""
        sw, sb, layout = self._points(sigma_w, sigma_b, grid)
        layer_list, keep = self._layers(layers, self.depth)
        block = self._block_size(block_size)
        values = self._run(
            lambda w, b: self._forward_block(w, b, inputs, eps, layer_list, early_exit, post_activation),
            sw,
            sb,
            block,
            progress,
        )
        return values, layout, layer_list, keep

    def forward(
        self,
        sigma_w: Any,
        sigma_b: Any,
        *,
        inputs: str = "independent",
        eps: float = 1e-5,
        layers: int | Sequence[int] | None = None,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """Metric ``forward``: the divergence ``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` over a (sigma_w, sigma_b) grid.

        Parameters
        ----------
        sigma_w, sigma_b : float or 1-D array_like
            Standard deviations (>= 0, finite). With ``grid=True`` (default) the result is on their outer
            product, dims ``(sigma_w, sigma_b)``; with ``grid=False`` they are matching point lists, dim ``point``.
        inputs : {"independent", "perturbed"}
            Two independent inputs (``q^0 = 1``) or ``x1`` and ``x1 + eps * g`` (``L^(0) = eps^2``).
        eps : float
            Perturbation size for ``inputs="perturbed"`` (> 0). In float32 the first-layer difference is
            resolved to about ``6e-8 / eps`` relative; use ``dtype="float64"`` for very small ``eps``.
        layers : int, sequence of int or None
            Depths ``d`` in ``0..D`` to return. ``None`` (default): ``d = D``, no ``layer`` dimension (a scalar
            ``layer`` coordinate); an int: that depth, no dimension; a sequence: a ``layer`` dimension.
        grid : bool
            Outer-product grid (True) or point lists (False).
        block_size : int, optional
            Grid points per block (rounded up to a multiple of 16). Never changes a value.
        progress : callable, optional
            Called as ``progress(done, total)`` after every block, with the numbers of grid points.

        Returns
        -------
        xarray.DataArray
            Named ``"forward"``; float64 values, ``long_name``, provenance attributes. Overflow (unbounded
            activations) gives ``inf`` with a ``RuntimeWarning``.
        """
        return self._forward_metric("forward", sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress)

    def forward_normalised(
        self,
        sigma_w: Any,
        sigma_b: Any,
        *,
        inputs: str = "independent",
        eps: float = 1e-5,
        layers: int | Sequence[int] | None = None,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """Metric ``forward_normalised``: ``L_post^(d) = ||phi(h^d(x1)) - phi(h^d(x2))||^2 / N`` (seed authors').

        The squared distance of the two inputs' **post-activations** at layer ``d``, per neuron. This is the
        quantity the seed paper's code thresholds for the MLP (its ``mode="rand"`` state is
        ``phi(h) / sqrt(N)`` and its metric the squared distance of the final states; same inputs ``q^0 = 1``,
        same ``h`` recursion), so a threshold on it means what the paper's ``tau`` means. It is bounded
        (``<= 4`` for erf, ``phi`` in ``[-1, 1]``), whereas ``L`` grows with ``q*``. Relation to
        :meth:`forward` ``L``: the next layer's ``L^(d+1) = sigma_w^2 ||A_{d+1} (phi(h1) - phi(h2))||^2 / N``
        (the bias cancels), so ``E_A L^(d+1) = sigma_w^2 L_post^(d)`` over the draw of ``A_{d+1}``, with
        equality for every draw when ``A`` is orthogonal; for small differences
        ``L_post^(d) ~ <phi'(h^d)^2> L^(d)``, and for erf ``L_post <= (4/pi) L`` always. ``d = 0`` gives
        ``||phi(x1) - phi(x2)||^2 / N``.

        The seed code's CNN and FDF/FDFD states are ``phi(h)`` and ``sqrt(2) phi(h)`` without the ``1/sqrt(N)``,
        so their published values for those arches are ``N`` and ``2N`` times this (and their first layer
        acts on a unit-norm input, ``q^0 = 1/N``); this method uses one normalisation for every architecture.

        The same forward pass as :meth:`forward` (one :meth:`_step` per layer, the same early exit: equal states
        have equal post-activations); only the recorded moments are taken of ``phi(h^d)``. Arguments and return
        value as in :meth:`forward`; ``name`` and the ``metric`` attribute are ``"forward_normalised"``.
        """
        return self._forward_metric(
            "forward_normalised", sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress
        )

    def _forward_metric(self, metric, sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress):
        """``forward`` (pre-activation states) or ``forward_normalised`` (post-activations) from one forward pass."""
        inputs = check_choice("inputs", inputs, INPUTS)
        eps = check_real("eps", eps, minimum=0.0, strict_minimum=True)
        post_activation = metric == "forward_normalised"
        values, layout, layer_list, keep = self._forward(
            sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress,
            early_exit=True, post_activation=post_activation,
        )
        what = "normalised forward divergence" if post_activation else "forward divergence"
        values = self._check_finite(values[..., 3], what)
        info = METRIC_INFO[metric]
        perturbed_eps = eps if inputs == "perturbed" else None
        attrs = self._attrs(metric, info.long_name, info.units, inputs=inputs, eps=perturbed_eps)
        return self._wrap(values, layout, layer_list, keep, metric, attrs)

    def moments(
        self,
        sigma_w: Any,
        sigma_b: Any,
        *,
        inputs: str = "independent",
        eps: float = 1e-5,
        layers: int | Sequence[int] | None = None,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.Dataset:
        """Empirical second moments ``q11, q22, q12``, correlation ``c`` and divergence ``L`` per layer.

        Same arguments as :meth:`forward` (no early exit here: the q's keep evolving after ``L`` hits 0).
        Variables ``q11``, ``q22``, ``q12``, ``c``, ``divergence`` on dims ``(sigma_w, sigma_b, layer)`` (or
        ``(point, layer)``): the quantities of SPEC section 0 for the finite network, with the names and
        dimension order of :meth:`infoprop.MeanField.trajectory`, so the two subtract directly. ``c`` is NaN where
        ``q11 q22 = 0`` (e.g. ``sigma_w = sigma_b = 0``; the mean-field trajectory reports 1 there). Values that
        overflow (unbounded activations) are returned as computed (``inf`` or NaN) with a ``RuntimeWarning``.
        """
        inputs = check_choice("inputs", inputs, INPUTS)
        eps = check_real("eps", eps, minimum=0.0, strict_minimum=True)
        values, layout, layer_list, keep = self._forward(
            sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress, early_exit=False
        )
        overflowed = int((~np.isfinite(values)).sum())
        if overflowed:
            warnings.warn(
                f"moments: the network overflowed at {overflowed} value(s); they are returned as inf or NaN",
                RuntimeWarning,
                stacklevel=2,
            )
        names = {
            "q11": "second moment q^l_11 = ||h^l(x1)||^2 / N",
            "q22": "second moment q^l_22 = ||h^l(x2)||^2 / N",
            "q12": "cross moment q^l_12 = <h^l(x1), h^l(x2)> / N",
            "divergence": "forward divergence L^(d) = ||h^d(x1) - h^d(x2)||^2 / N",
        }
        data = {}
        for i, (name, long_name) in enumerate(names.items()):
            attrs = {"long_name": long_name, "units": "1"}
            data[name] = self._wrap(values[..., i], layout, layer_list, keep, name, attrs)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = data["q12"] / np.sqrt(data["q11"] * data["q22"])
        data["c"] = c.assign_attrs(long_name="correlation c^l = q12 / sqrt(q11 q22)", units="1")
        ds = xr.Dataset({k: data[k] for k in ("q11", "q22", "q12", "c", "divergence")})
        ds.attrs = self._attrs("moments", "finite-width second moments", "1", inputs=inputs, eps=eps)
        del ds.attrs["long_name"], ds.attrs["units"]
        return ds

    # ------------------------------------------------------------------------------------ backward
    def _backward_block(self, sw: np.ndarray, sb: np.ndarray, layers: list[int], quantity: str) -> np.ndarray:
        n, npts, depth = self.width, sw.size, self.depth
        dev, dt = self.device, self._tdtype
        out = np.zeros((npts, len(layers)))
        record = {layer: i for i, layer in enumerate(layers)}
        first = min(layers)
        swt = torch.as_tensor(sw, dtype=dt, device=dev)[:, None]
        sw64 = torch.as_tensor(sw, device=dev)[:, None]
        # forward pass at x1, storing sigma_w phi'(h^l) (float64) for l = first..D-1
        h = self._first_states(sw, sb, self._a1x1.expand(npts, -1))
        p = torch.empty(npts, n + 1, dtype=dt, device=dev)
        p[:, n] = torch.as_tensor(sb, dtype=dt, device=dev)
        slopes: dict[int, torch.Tensor] = {}
        for layer in range(1, depth):
            if layer >= first:
                slopes[layer] = self._slopes(h, sw64)
            if layer + 1 < depth:
                h, _ = self._step(layer + 1, h, swt, p)
        del h, p
        # one float64 cotangent row per point (g1 - g2, or g1 for the ratio), rescaled before every product
        g1, g2 = self._cot1.to(device=dev), self._cot2.to(device=dev)
        u = (g1 - g2 if quantity == "divergence" else g1).expand(npts, -1)
        log_scale = np.zeros(npts)

        def record_norm(layer: int) -> None:
            if layer in record:
                with np.errstate(divide="ignore"):
                    logs = log_scale + np.log(torch.linalg.vector_norm(u, dim=1).cpu().numpy())
                out[:, record[layer]] = np.where(logs < math.log(_OUTPUT_FLOOR), 0.0, np.exp(logs))

        record_norm(depth)
        for layer in range(depth, first, -1):
            u, logs = self._step_t(layer, u, slopes.pop(layer - 1) if layer > 1 else sw64)
            log_scale += logs
            record_norm(layer - 1)
        return out

    def backward(
        self,
        sigma_w: Any,
        sigma_b: Any,
        *,
        layers: int | Sequence[int] | None = None,
        quantity: str = "divergence",
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """Metric ``backward``: ``L' = ||J^T g1 - J^T g2||`` with ``J = dh^D/dh^d`` at input ``x1``.

        Parameters
        ----------
        sigma_w, sigma_b, grid, block_size, progress
            As in :meth:`forward`.
        layers : int, sequence of int or None
            Layers ``d`` in ``0..D`` the cotangents are back-propagated to. ``None`` (default): ``d = 0``,
            the gradient with respect to the input ``x`` (through all ``D`` layers).
        quantity : {"divergence", "gradient_ratio"}
            ``L'`` (cotangents ``g1``, ``g2`` independent, unit norm) or the gradient norm ratio
            ``||J^T g1|| / ||g1||`` (attribute ``quantity`` and ``long_name`` say which).

        Returns
        -------
        xarray.DataArray
            Named ``"backward"``; float64 values (norms are tracked with a float64 log scale: no overflow before
            float64's).
        """
        quantity = check_choice("quantity", quantity, BACKWARD_QUANTITIES)
        sw, sb, layout = self._points(sigma_w, sigma_b, grid)
        layer_list, keep = self._layers(layers, 0)
        per_point = (self.depth - min(layer_list)) * self.width * 8  # float64 slopes
        block = self._block_size(block_size, per_point_bytes=per_point)
        values = self._run(lambda w, b: self._backward_block(w, b, layer_list, quantity), sw, sb, block, progress)
        info = METRIC_INFO["backward"]
        long_name = info.long_name if quantity == "divergence" else "gradient norm ratio ||J^T g1|| / ||g1||"
        attrs = self._attrs("backward", long_name, info.units, quantity=quantity, backprop_input="x1")
        values = self._check_finite(values, "backward metric")
        return self._wrap(values, layout, layer_list, keep, "backward", attrs)

    # ------------------------------------------------------------------------------------ Lyapunov
    def _lyapunov_block(self, sw: np.ndarray, sb: np.ndarray) -> np.ndarray:
        n, npts = self.width, sw.size
        dev, dt = self.device, self._tdtype
        h = self._first_states(sw, sb, self._a1x1.expand(npts, -1))
        v = (torch.as_tensor(sw)[:, None] * self._a1v).to(device=dev)  # float64: J_1 v = sigma_w A_1 v, ||v|| = 1
        sw64 = torch.as_tensor(sw, device=dev)[:, None]
        swt = torch.as_tensor(sw, dtype=dt, device=dev)[:, None]
        # state rows (bias column sigma_b) and tangent rows (bias column 0) share one product per layer
        p = torch.empty(2 * npts, n + 1, dtype=dt, device=dev)
        p[:npts, n] = torch.as_tensor(sb, dtype=dt, device=dev)
        p[npts:, n] = 0
        log_growth = np.zeros(npts)
        for layer in range(2, self.depth + 1):
            operand, carry, logs = self._tangent_operand(v, self._slopes(h, sw64))
            log_growth += logs
            h, v = self._step(layer, h, swt, p, tangent=(operand, carry))
        with np.errstate(divide="ignore"):
            log_growth += np.log(torch.linalg.vector_norm(v, dim=1).cpu().numpy())
        return log_growth / self.depth

    def lyapunov(
        self,
        sigma_w: Any,
        sigma_b: Any,
        *,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """Metric ``lyapunov``: ``lambda = (1/D) ln(||J v|| / ||v||)``, ``J = dh^D/dx`` at ``x1``.

        The tangent ``v`` (random, unit norm) is pushed forward layer by layer (Jacobian-vector products)
        in float64 and rescaled every layer; the logs of the scales are summed. ``lambda < 0`` ordered,
        ``> 0`` chaotic; for a feed-forward arch its mean-field value is ``ln(chi_1) / 2`` (``chi_1`` is the
        growth of squared norms). A residual network has no ordered phase: its ``lambda`` contains
        ``ln(sigma_w) / D`` from layer 1 and is otherwise positive, decaying like ``D^(-1/2)`` (docs/finite_width.md).
        ``sigma_w = 0`` (or a vanishing Jacobian) gives ``-inf``. Arguments as in :meth:`forward`.
        """
        sw, sb, layout = self._points(sigma_w, sigma_b, grid)
        block = self._block_size(block_size)
        values = self._run(self._lyapunov_block, sw, sb, block, progress)
        values = self._check_finite(values, "Lyapunov exponent")
        info = METRIC_INFO["lyapunov"]
        attrs = self._attrs("lyapunov", info.long_name, info.units, tangent_input="x1")
        return self._wrap(values, layout, None, False, "lyapunov", attrs)

    # ------------------------------------------------------------------------------------ dispatch
    def landscape(
        self,
        metric: str,
        sigma_w: Any,
        sigma_b: Any,
        *,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
        **options: Any,
    ) -> xr.DataArray:
        """The landscape of ``metric`` (one of :data:`infoprop._src.metrics.METRICS`) over the grid.

        ``options`` are the metric's own keyword options (e.g. ``inputs``, ``eps``, ``layers`` for ``forward``);
        the result is named ``metric`` and carries it as its ``metric`` attribute.
        """
        metric = check_choice("metric", metric, METRICS)
        method = getattr(self, metric)
        return method(sigma_w, sigma_b, grid=grid, block_size=block_size, progress=progress, **options)

    def __repr__(self) -> str:
        extra = f", kernel_size={self.kernel_size}" if self.kernel_size is not None else ""
        return (
            f"RandomNetwork(arch={self.arch!r}, width={self.width}, depth={self.depth}, "
            f"activation={self.activation.name!r}, seed={self.seed}, dtype={self.dtype!r}, "
            f"device={str(self.device)!r}{extra}, apply_method={self.apply_method!r})"
        )

