"""Finite-width random networks: one seeded draw evaluated over a whole (sigma_w, sigma_b) grid.

A :class:`RandomNetwork` draws, once and from one seed, the random operators ``A_1..A_D``, the biases
``b_1..b_D``, the inputs and the probe vectors (SPEC sections 2-3). ``sigma_w`` and ``sigma_b`` only
rescale that draw, so every metric is a deterministic function of ``(sigma_w, sigma_b)``; its
order/chaos boundary is the fractal frontier of the seed paper.

Conventions
-----------
* ``sigma_w``, ``sigma_b`` are standard deviations. Pre-activation recursion (SPEC section 0)::

      h^0 = x,   h^1 = sigma_w * A_1 x + sigma_b * b_1,
      h^l = sigma_w * A_l phi(h^{l-1}) + sigma_b * b_l   (l = 2..D),

  with ``E||A_l v||^2 = ||v||^2`` and ``b_l ~ N(0, I)``: layer 1 acts on ``x`` itself, not on ``phi(x)``.
* Inputs have ``q^0 = ||x||^2 / N = 1``: a standard Gaussian vector rescaled to ``||x||^2 = N`` exactly.
  ``inputs="independent"`` uses two independent such vectors (``c^0 ~ N^{-1/2}``);
  ``inputs="perturbed"`` uses ``x2 = x1 + eps * g`` with ``g`` another such vector, so ``L^(0) = eps^2``.
  ``x1 + eps * g`` and ``A_1 x`` are formed in float64 before the cast to the working dtype.
* Forward divergence ``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` (pre-activations, squared, per neuron).
  :meth:`RandomNetwork.forward_normalised` is the seed authors' post-activation version
  ``||phi(h^d(x1)) - phi(h^d(x2))||^2 / N`` (metric ``"forward_normalised"``, added by issue 11).
* Backward metric ``L' = ||J^T g1 - J^T g2||`` with ``J = d h^D / d h^d`` evaluated at input ``x1`` and
  ``g1``, ``g2`` independent unit cotangents at layer ``D``; ``layer = 0`` means the gradient with respect to
  the input ``x`` (through all ``D`` layers). ``quantity="gradient_ratio"`` gives ``||J^T g1|| / ||g1||``.
* Lyapunov exponent ``lambda = (1/D) ln(||J v|| / ||v||)`` with ``J = d h^D / d x`` at ``x1`` and a random
  unit tangent ``v``, pushed forward layer by layer (Jacobian-vector products) and rescaled every layer.
* Tangents and cotangents are carried in float64 whatever ``dtype`` (only the GEMM operand is cast).

The draw
--------
One ``torch.Generator`` seeded with ``seed`` draws, in float64 on the CPU and in this order: ``x1``, ``x2``,
``g``, cotangents ``g1``, ``g2``, tangent ``v`` (each a standard Gaussian vector of length N, rescaled as
above), then for ``l = 1..D`` the operator's randomness followed by ``b_l``. The draw is therefore the
same on every device, dtype and thread count (it runs on one intra-op thread), and a network of depth ``D``
is the first ``D`` layers of any deeper one with the same seed. Per architecture (SPEC section 2): ``mlp``
``A = G / sqrt(N)``; ``orthogonal`` the Q of a QR of ``G`` with the signs of ``diag(R)`` (Haar); ``cnn`` a
circular convolution with kernel ``w ~ N(0, 1/k)`` of size ``k``, ``(A v)_i = sum_{j<k} w_j v_{(i-j) mod N}``;
``fdf`` ``A v = sqrt(2) Re(F D F v)`` and ``fdfd`` ``A v = sqrt(2) Re(F D2 F D1 v)`` with the unitary DFT ``F``
and phases uniform on [0, 2 pi).

Engine and determinism
----------------------
Grid points are processed in blocks; inside a block the layers are looped over with one matrix product
(or one batched FFT chain) per layer for all states of the block. Blocks run concurrently on
``torch.get_num_threads()`` worker threads with one intra-op thread each. The value at a grid point does not
depend on the block size, on which points share its block, on the early exit, or on the number of threads:

* every matrix product has a row count that is a multiple of 16 (blocks hold a multiple of 16 points, padded
  with copies; compaction drops 16 points at a time): MKL's GEMM gives row results that depend on the row
  count when it is not a multiple of 4 (measured on the development machine; batched FFTs were row-invariant);
* no operation is split across threads, and elementwise operations are exact per element;
* denormals are flushed explicitly (operands of every matrix product below ``2^-60`` in float32, ``2^-500`` in
  float64, are set to 0; see ``_SLOPE_FLUSH``, ``_OUTPUT_FLOOR``) rather than with ``torch.set_flush_denormal``,
  whose effect is per thread (OpenMP workers keep the mode they were created with; new threads inherit the
  creator's), which would make results depend on the thread layout and on the caller's mode.

Exact early exit: once both inputs' states of a grid point are bitwise identical they stay identical
(row results do not depend on position), so the divergence is exactly 0 from there on; such points are
dropped from the block (compaction).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch
import xarray as xr

from .activations import Activation, ActivationNaNError, get_activation
from .common import as_float_array, check_choice, check_int, check_memory, check_real, provenance_attrs, resolve_device

ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "fdf", "fdfd", "orthogonal")
DTYPES: tuple[str, ...] = ("float32", "float64")
INPUTS: tuple[str, ...] = ("independent", "perturbed")
#: Names of the landscape metrics, i.e. of the RandomNetwork methods that return one.
METRICS: tuple[str, ...] = ("divergence", "backward_divergence", "lyapunov", "forward_normalised")
OPERATORS: tuple[str, ...] = ("auto", "dense", "fft")
BACKWARD_QUANTITIES: tuple[str, ...] = ("divergence", "gradient_ratio")

_STRUCTURED = ("cnn", "fdf", "fdfd")
# Blocks hold a multiple of this many points, so every GEMM has a row count that is a multiple of 16 (module doc).
_POINT_QUANTUM = 16
# Structured operators are applied as their dense real matrix up to these widths (one GEMM beats the FFT chain
# there: crossovers measured on the dev machine, one thread, erf, chaotic points) if the D matrices fit in
# _DENSE_MAX_BYTES. cnn needs one real FFT pair per layer, fdf two and fdfd two complex FFTs plus phases.
_DENSE_MAX_WIDTH = {"cnn": 100, "fdf": 160, "fdfd": 192}
_DENSE_MAX_BYTES = 1 << 30
# Default block: about this many state elements per block (rows x width) keeps a block in L2 cache.
_BLOCK_ELEMENTS = 1 << 16
# Backward passes store sigma_w * phi'(h^l) for every layer of a block; cap that memory (all workers together).
_BACKWARD_BYTES = 512 << 20
# Early-exit checks every this many layers.
_EXIT_CHECK = 8
_FLUSH = {"float32": 2.0**-60, "float64": 2.0**-500}
# float64 slopes sigma_w phi'(h) below this are 0: their products with (co)tangent entries (>= ~2^-560) stay normal.
_SLOPE_FLUSH = 2.0**-300
# Reported float64 values below this are 0, so that no result depends on how denormal sums were rounded.
_OUTPUT_FLOOR = 2.0**-960
_TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}
# Ask for the intra-op thread count once, in the importing thread. Until the main thread has asked, the first
# torch.set_num_threads(1) made by one of the engine's worker threads becomes the process-wide setting (torch
# 2.13, measured), torch.get_num_threads() then returns 1 and _run would use one worker on every machine.
torch.get_num_threads()

ProgressFn = Callable[[int], None]
# Memory per grid point of one evaluation: point arrays, per-point moments (4 float64 per recorded layer), the
# result and its xarray copy; blocks themselves are bounded by _BLOCK_ELEMENTS.
_BYTES_PER_POINT = 96


def memory_estimate(
    arch: str, width: int, depth: int, dtype: str = "float32", points: int = 0, layers: int = 1, operator: str = "auto"
) -> int:
    """Upper estimate (bytes) of one draw plus an evaluation over ``points`` grid points recording ``layers`` layers.

    A dense operator holds depth x (width + 1) x width weights in ``dtype`` plus float64 temporaries of
    width^2 while drawing; a structured one (``operator="fft"``) O(depth x width) parameters and spectra.
    ``operator="auto"`` resolves as :class:`RandomNetwork` does.
    """
    item = 4 if dtype == "float32" else 8
    dense = depth * (width + 1) * width * item
    if operator == "auto":
        operator = _auto_operator(arch, width, depth, dtype)
    weights = dense + 3 * width * width * 8 if operator == "dense" else depth * width * 48
    return weights + depth * width * (8 + item) + points * (_BYTES_PER_POINT + 32 * max(layers - 1, 0))


def _auto_operator(arch: str, width: int, depth: int, dtype: str) -> str:
    if arch not in _STRUCTURED:
        return "dense"
    nbytes = depth * width * (width + 1) * (4 if dtype == "float32" else 8)
    return "dense" if width <= _DENSE_MAX_WIDTH[arch] and nbytes <= _DENSE_MAX_BYTES else "fft"


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
    arch : {"mlp", "cnn", "fdf", "fdfd", "orthogonal"}
        Architecture of the random operators (module docstring, SPEC section 2).
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
    **arch_options
        ``kernel_size`` (cnn only; 1 <= k <= width, default ``width``); ``operator``: ``"auto"`` (default),
        ``"dense"`` or ``"fft"`` (cnn/fdf/fdfd only): apply the operator as its dense real matrix or with FFTs;
        ``"auto"`` takes the dense matrix up to widths 100 (cnn), 160 (fdf), 192 (fdfd) when the D matrices fit
        in 1 GiB (faster there, measured).
    """

    def __init__(
        self,
        arch: str,
        width: int,
        depth: int,
        activation: str | Activation | Callable[[Any], Any] = "erf",
        seed: int = 0,
        dtype: str = "float32",
        device: str | torch.device = "cpu",
        **arch_options: Any,
    ) -> None:
        self.arch = check_choice("arch", arch, ARCHITECTURES)
        self.width = check_int("width", width, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.dtype = check_choice("dtype", dtype, DTYPES)
        self.device = resolve_device(device)
        self.activation = get_activation(activation)
        allowed = {"kernel_size", "operator"} if arch == "cnn" else {"operator"}
        unknown = set(arch_options) - allowed
        if unknown:
            raise TypeError(f"arch {arch!r} accepts options {sorted(allowed)}, got {sorted(unknown)}")
        self.kernel_size = None
        if arch == "cnn":
            self.kernel_size = check_int(
                "kernel_size", arch_options.get("kernel_size", self.width), minimum=1, maximum=self.width
            )
        requested = check_choice("operator", arch_options.get("operator", "auto"), OPERATORS)
        if arch not in _STRUCTURED and requested == "fft":
            raise ValueError(f"operator must be 'auto' or 'dense' for arch {arch!r}, got 'fft'")
        self.operator = self._choose_operator(requested)
        estimate = memory_estimate(arch, width, depth, dtype, operator=self.operator)
        check_memory(estimate, f"RandomNetwork({arch!r}, width={width}, depth={depth})")
        self._tdtype = _TORCH_DTYPE[self.dtype]
        self._flush = _FLUSH[self.dtype]
        # one intra-op thread: LAPACK's QR (orthogonal) rounds differently with other thread counts
        with ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            pool.submit(self._draw).result()

    # ------------------------------------------------------------------------------------ the draw
    def _choose_operator(self, requested: str) -> str:
        if self.arch not in _STRUCTURED:
            return "dense"
        if requested != "auto":
            return requested
        return _auto_operator(self.arch, self.width, self.depth, self.dtype)

    def _draw(self) -> None:
        n, depth = self.width, self.depth
        gen = torch.Generator().manual_seed(self.seed)

        def vector(norm2: float) -> torch.Tensor:
            x = torch.randn(n, dtype=torch.float64, generator=gen)
            return x * math.sqrt(norm2) / torch.linalg.vector_norm(x)

        self._x1, self._x2, self._g = vector(n), vector(n), vector(n)
        self._cot1, self._cot2, self._tangent = vector(1.0), vector(1.0), vector(1.0)

        dev, dt = self.device, self._tdtype
        dense = self.operator == "dense"
        if dense:
            # waug[l] = [A_{l+1}^T ; b_{l+1}^T]: one GEMM gives sigma_w A phi + sigma_b b (bias via an extra column).
            self._waug = torch.empty(depth, n + 1, n, dtype=dt, device=dev)
        params: list[torch.Tensor] = []  # float64 kernels/phases of the structured operators (O(N) per layer)
        biases = torch.empty(depth, n, dtype=torch.float64)
        for layer in range(depth):
            if self.arch == "mlp":
                param = torch.randn(n, n, dtype=torch.float64, generator=gen) / math.sqrt(n)
            elif self.arch == "orthogonal":
                q, r = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=gen))
                param = q * torch.sign(torch.diagonal(r))
            elif self.arch == "cnn":
                k = self.kernel_size
                param = torch.randn(k, dtype=torch.float64, generator=gen) / math.sqrt(k)
            elif self.arch == "fdf":
                param = torch.rand(n, dtype=torch.float64, generator=gen) * (2 * math.pi)
            else:  # fdfd: phases of D1 then D2
                param = torch.rand(2, n, dtype=torch.float64, generator=gen) * (2 * math.pi)
            biases[layer] = torch.randn(n, dtype=torch.float64, generator=gen)
            if self.arch in _STRUCTURED:
                params.append(param)
            if dense:
                mat = torch.as_tensor(self._dense64(param))
                self._waug[layer, :n] = mat.T.to(device=dev, dtype=dt)
            if layer == 0:
                # Layer 1 acts on the inputs only: A_1 x in float64, once (sigma-independent).
                vecs = torch.stack([self._x1, self._x2, self._g, self._tangent])
                if dense:
                    applied = vecs @ mat.T
                else:
                    applied = self._fft_rows(self._spectrum(param[None])[0], vecs, transpose=False)
                self._a1x1, self._a1x2, self._a1g, self._a1v = applied
        self._b1 = biases[0].clone()
        self._bias = biases.to(device=dev, dtype=dt)
        self._params = params or None
        if dense:
            self._waug[:, n] = self._bias
            return
        ctype = torch.complex64 if self.dtype == "float32" else torch.complex128
        self._spec = self._spectrum(torch.stack(params)).to(device=dev, dtype=ctype)

    def _spectrum(self, params: torch.Tensor) -> torch.Tensor:
        """complex128 diagonals for stacked structured parameters: the kernel's rfft (cnn) or the phases' D."""
        if self.arch == "cnn":
            kernels = torch.zeros(params.shape[0], self.width, dtype=torch.float64)
            kernels[:, : self.kernel_size] = params
            return torch.fft.rfft(kernels, dim=1)
        return torch.polar(torch.ones_like(params), params)  # (L, N) for fdf, (L, 2, N) for fdfd

    def _dense64(self, param: torch.Tensor) -> np.ndarray:
        """The exact float64 real matrix of one layer's operator, from its float64 parameters."""
        n = self.width
        if self.arch in ("mlp", "orthogonal"):
            return param.numpy()
        if self.arch == "cnn":
            w = np.zeros(n)
            w[: self.kernel_size] = param.numpy()
            idx = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
            return w[idx]
        # columns A e_j from unitary FFTs of the identity (O(N^2 log N), not a dense DFT product)
        if self.arch == "fdf":
            d, start = np.exp(1j * param.numpy()), np.eye(n)
        else:
            d1, d = np.exp(1j * param.numpy())
            start = np.diag(d1)
        inner = np.fft.fft(start, axis=0, norm="ortho")
        return math.sqrt(2.0) * np.fft.fft(d[:, None] * inner, axis=0, norm="ortho").real

    # ------------------------------------------------------------------------------------ operators
    def operator_matrix(self, layer: int) -> np.ndarray:
        """Dense real float64 matrix ``A_layer`` (1-based) as drawn.

        For ``mlp``/``orthogonal`` this is the stored working-precision matrix converted to float64 (the
        float64 draw rounded to ``dtype``); for the structured architectures it is built in float64 from
        the drawn kernel/phases.
        """
        layer = check_int("layer", layer, minimum=1, maximum=self.depth)
        if self._params is not None:
            return self._dense64(self._params[layer - 1])

        return self._waug[layer - 1, : self.width].T.to(device="cpu", dtype=torch.float64).numpy()

    def parameters(self, layer: int) -> np.ndarray:
        """The float64 random parameters of ``A_layer`` (1-based): the matrix (mlp, orthogonal; as stored,
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
        """The two float64 inputs ``(x1, x2)`` used by :meth:`divergence` (``||x1||^2 = N``)."""
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
        application follows the network's ``operator`` setting.
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
        if self.operator == "dense":
            return rows @ self._waug[layer - 1, : self.width]
        return self._fft_rows(self._spec[layer - 1], rows, transpose=False)

    def _apply_t(self, layer: int, rows: torch.Tensor) -> torch.Tensor:
        """``A_layer^T`` applied to every row."""
        if self.operator == "dense":
            return rows @ self._waug[layer - 1, : self.width].T
        return self._fft_rows(self._spec[layer - 1], rows, transpose=True)

    def _fft_rows(self, spec: torch.Tensor, rows: torch.Tensor, transpose: bool) -> torch.Tensor:
        """A structured operator with diagonal(s) ``spec`` (one layer) applied to every row with FFTs."""
        if self.arch == "cnn":
            return torch.fft.irfft(torch.fft.rfft(rows, dim=-1) * (spec.conj() if transpose else spec), n=self.width)
        root2 = math.sqrt(2.0)
        if self.arch == "fdf":  # sqrt(2) Re(F D F) is symmetric (F is), so transpose == itself
            z = torch.fft.fft(torch.fft.fft(rows, dim=-1, norm="ortho") * spec, dim=-1, norm="ortho")
            return z.real * root2
        d1, d2 = spec[0], spec[1]
        if transpose:  # (F D2 F D1)^T = D1 F D2 F
            z = torch.fft.fft(torch.fft.fft(rows, dim=-1, norm="ortho") * d2, dim=-1, norm="ortho") * d1
        else:
            z = torch.fft.fft(torch.fft.fft(rows * d1, dim=-1, norm="ortho") * d2, dim=-1, norm="ortho")
        return z.real * root2

    def _layer(self, layer: int, p: torch.Tensor) -> torch.Tensor:
        """``p[:, :N] @ A^T + p[:, N] b``: rows of p hold ``[sigma_w phi(h), sigma_b]`` (or ``[.., 0]``)."""
        if self.operator == "dense":
            return p @ self._waug[layer - 1]
        out = self._fft_rows(self._spec[layer - 1], p[:, : self.width], transpose=False)
        return out.add_(p[:, self.width :] * self._bias[layer - 1])

    def _slopes(self, h: torch.Tensor, sw64: torch.Tensor) -> torch.Tensor:
        """``flush(sigma_w phi'(h))`` in float64 (reverse mode on the elementwise map: any callable works).

        Tangent and cotangent arithmetic is float64 whatever the working dtype: along saturated trajectories
        ``phi'`` spans hundreds of binary orders, which float32 would flush or round to zero.
        """
        with torch.enable_grad():
            x = h.detach().to(torch.float64).requires_grad_(True)
            y = self.activation.torch_fn(x)
            (slope,) = torch.autograd.grad(y, x, torch.ones_like(y))
        return torch.ops.aten.hardshrink.out(slope.mul_(sw64), _SLOPE_FLUSH, out=slope)

    def _normalised(self, rows64: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Scale float64 rows to max ``|entry|`` 1, flush (relative to 1) and cast to the working dtype.

        Returns the GEMM operand and ``ln`` of the scales (``-inf`` for zero rows).
        """
        scale = rows64.abs().amax(dim=1, keepdim=True)
        rows = rows64 / torch.where(scale > 0, scale, 1.0)
        with np.errstate(divide="ignore"):
            logs = np.log(scale[:, 0].cpu().numpy())
        return self._flush_(rows.to(self._tdtype)), logs

    def _flush_(self, t: torch.Tensor) -> torch.Tensor:
        """Set entries with ``|t| <= 2^-60`` (float32; ``2^-500`` float64) to 0, in place."""
        return torch.ops.aten.hardshrink.out(t, self._flush, out=t)

    def _scaled(self, t: torch.Tensor, sw: torch.Tensor, out: torch.Tensor) -> None:
        """``out = flush(sigma_w * t)``: every GEMM operand goes through here."""
        torch.mul(t, sw, out=out)
        self._flush_(out)

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
                budget = _BACKWARD_BYTES // max(1, torch.get_num_threads())  # one block in flight per worker
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

        On the CPU, blocks run concurrently on ``torch.get_num_threads()`` worker threads, each with ONE
        intra-op thread: no operation is split across threads (so no value can depend on the thread count)
        and small per-layer operations do not pay OpenMP synchronisation.
        """
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be a callable taking the number of points done, got {progress!r}")
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

        workers = 1 if self.device.type == "cuda" else max(1, min(torch.get_num_threads(), len(starts)))
        out: list[np.ndarray] = []
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            futures = [pool.submit(one, start) for start in starts]
            try:
                for start, future in zip(starts, futures):
                    out.append(future.result())
                    if progress is not None:
                        progress(min(start + block, sw.size))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return np.concatenate(out, axis=0)

    def _attrs(self, metric: str, long_name: str, units: str, **extra: Any) -> dict[str, Any]:
        params = {
            "arch": self.arch,
            "width": self.width,
            "depth": self.depth,
            "activation": self.activation.describe(),
            "seed": self.seed,
            "dtype": self.dtype,
            "device": str(self.device),
            "operator": self.operator,
            "metric": metric,
            **({"kernel_size": self.kernel_size} if self.kernel_size is not None else {}),
            **extra,
        }
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
    def _first_layer(self, sw: np.ndarray, sb: np.ndarray, inputs: str, eps: float) -> torch.Tensor:
        """``h^1`` for both inputs, formed in float64: rows ``[x1 points; x2 points]``."""
        y2 = self._a1x2 if inputs == "independent" else self._a1x1 + eps * self._a1g
        w = torch.as_tensor(np.concatenate([sw, sw]))[:, None]
        b = torch.as_tensor(np.concatenate([sb, sb]))[:, None]
        y = torch.cat([self._a1x1.expand(sw.size, -1), y2.expand(sw.size, -1)])
        return (w * y + b * self._b1).to(device=self.device, dtype=self._tdtype)

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

        With ``early_exit`` (used by :meth:`divergence`) only ``L`` is computed; the q's stay 0. With
        ``post_activation`` (:meth:`forward_normalised`) the moments are those of ``phi(h^d)``, not ``h^d``.
        """
        n, npts = self.width, sw.size
        dev, dt = self.device, self._tdtype
        out = np.zeros((npts, len(layers), 4))
        if 0 in layers:
            x1, x2 = self.inputs(inputs, eps)
            if post_activation:
                x1, x2 = (self.activation.torch_fn(torch.as_tensor(x)).numpy() for x in (x1, x2))
            d = x1 - x2
            out[:, layers.index(0)] = [x1 @ x1 / n, x2 @ x2 / n, x1 @ x2 / n, d @ d / n]
        record = {layer: i for i, layer in enumerate(layers) if layer > 0}
        last = max(record, default=0)
        if last == 0:
            return out
        active = np.arange(npts)
        h = self._first_layer(sw, sb, inputs, eps)
        swt = torch.as_tensor(np.concatenate([sw, sw]), dtype=dt, device=dev)[:, None]
        p = torch.empty(2 * npts, n + 1, dtype=dt, device=dev)
        p[:, n] = torch.as_tensor(np.concatenate([sb, sb]), dtype=dt, device=dev)
        for layer in range(1, last + 1):
            if layer > 1:
                self._scaled(self.activation.torch_fn(h), swt, p[:, :n])
                h = self._layer(layer, p)
            if layer in record:
                state = self.activation.torch_fn(h) if post_activation else h
                out[active, record[layer]] = self._moments(state, full=not early_exit)
            if early_exit and layer % _EXIT_CHECK == 0 and layer < last:
                half = active.size
                same = torch.all(h[:half] == h[half:], dim=1)
                done = int(same.sum())
                if done:  # identical overflowed states are not finished: their divergence is NaN, not 0
                    same &= torch.all(torch.isfinite(h[:half]), dim=1)
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

    def divergence(
        self,
        sigma_w: Any,
        sigma_b: Any,
        inputs: str = "independent",
        eps: float = 1e-5,
        layers: int | Sequence[int] | None = None,
        *,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """Forward divergence ``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` over a (sigma_w, sigma_b) grid.

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
            Called after every block with the number of grid points done so far.

        Returns
        -------
        xarray.DataArray
            Float64 values, ``long_name``, provenance attributes. Overflow (unbounded activations) gives
            ``inf`` with a ``RuntimeWarning``.
        """
        inputs = check_choice("inputs", inputs, INPUTS)
        eps = check_real("eps", eps, minimum=0.0, strict_minimum=True)
        values, layout, layer_list, keep = self._forward(
            sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress, early_exit=True
        )
        values = self._check_finite(values[..., 3], "divergence")
        attrs = self._attrs(
            "forward",
            "forward divergence L^(d) = ||h^d(x1) - h^d(x2)||^2 / N",
            "1",
            inputs=inputs,
            eps=eps if inputs == "perturbed" else None,
        )
        return self._wrap(values, layout, layer_list, keep, "divergence", attrs)

    def forward_normalised(
        self,
        sigma_w: Any,
        sigma_b: Any,
        inputs: str = "independent",
        eps: float = 1e-5,
        layers: int | Sequence[int] | None = None,
        *,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """The seed authors' divergence: ``L_post^(d) = ||phi(h^d(x1)) - phi(h^d(x2))||^2 / N``.

        The squared distance of the two inputs' **post-activations** at layer ``d``, per neuron. This is the
        quantity the seed paper's code thresholds for the MLP (its ``mode="rand"`` state is
        ``phi(h) / sqrt(N)`` and its metric the squared distance of the final states; same inputs ``q^0 = 1``,
        same ``h`` recursion), so a threshold on it means what the paper's ``tau`` means. It is bounded
        (``<= 4`` for erf, ``phi`` in ``[-1, 1]``), whereas ``L`` grows with ``q*``. Relation to
        :meth:`divergence` ``L``: the next layer's ``L^(d+1) = sigma_w^2 ||A_{d+1} (phi(h1) - phi(h2))||^2 / N``
        (the bias cancels), so ``E_A L^(d+1) = sigma_w^2 L_post^(d)`` over the draw of ``A_{d+1}``, with
        equality for every draw when ``A`` is orthogonal; for small differences
        ``L_post^(d) ~ <phi'(h^d)^2> L^(d)``, and for erf ``L_post <= (4/pi) L`` always. ``d = 0`` gives
        ``||phi(x1) - phi(x2)||^2 / N``.

        The seed code's CNN and FDF/FDFD states are ``phi(h)`` and ``sqrt(2) phi(h)`` without the ``1/sqrt(N)``,
        so their published values for those architectures are ``N`` and ``2N`` times this (and their first layer
        acts on a unit-norm input, ``q^0 = 1/N``); this method uses one normalisation for every architecture.

        Arguments, early exit and return value as in :meth:`divergence`; ``name`` and the ``metric`` attribute
        are ``"forward_normalised"``.
        """
        inputs = check_choice("inputs", inputs, INPUTS)
        eps = check_real("eps", eps, minimum=0.0, strict_minimum=True)
        values, layout, layer_list, keep = self._forward(
            sigma_w, sigma_b, inputs, eps, layers, grid, block_size, progress, early_exit=True, post_activation=True
        )
        values = self._check_finite(values[..., 3], "forward_normalised")
        attrs = self._attrs(
            "forward_normalised",
            "normalised post-activation divergence ||phi(h^d(x1)) - phi(h^d(x2))||^2 / N",
            "1",
            inputs=inputs,
            eps=eps if inputs == "perturbed" else None,
        )
        return self._wrap(values, layout, layer_list, keep, "forward_normalised", attrs)

    def moments(
        self,
        sigma_w: Any,
        sigma_b: Any,
        inputs: str = "independent",
        eps: float = 1e-5,
        layers: int | Sequence[int] | None = None,
        *,
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.Dataset:
        """Empirical second moments ``q11, q22, q12``, correlation ``c`` and divergence ``L`` per layer.

        Same arguments as :meth:`divergence` (no early exit here: the q's keep evolving after ``L`` hits 0).
        The quantities are those of SPEC section 0 for the finite network, directly comparable with
        :meth:`infoprop.MeanField.trajectory`. ``c`` is NaN where ``q11 q22 = 0`` (e.g.
        ``sigma_w = sigma_b = 0``; the mean-field trajectory reports 1 there). Values that overflow (unbounded
        activations) are returned as computed (``inf`` or NaN) and a ``RuntimeWarning`` says how many.
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
        ds = xr.Dataset(data)
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
        h = (sw64.cpu() * self._a1x1 + torch.as_tensor(sb)[:, None] * self._b1).to(device=dev, dtype=dt)
        p = torch.empty(npts, n + 1, dtype=dt, device=dev)
        p[:, n] = torch.as_tensor(sb, dtype=dt, device=dev)
        slopes: dict[int, torch.Tensor] = {}
        for layer in range(1, depth):
            if layer >= first:
                slopes[layer] = self._slopes(h, sw64)
            if layer + 1 < depth:
                self._scaled(self.activation.torch_fn(h), swt, p[:, :n])
                h = self._layer(layer + 1, p)
        del h, p
        # one float64 cotangent row per point (g1 - g2, or g1 for the ratio); before every GEMM the row is
        # rescaled to max 1 and the log scale accumulated, so nothing overflows or underflows at any depth
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
            rows, logs = self._normalised(u)
            log_scale += logs
            u = self._apply_t(layer, rows).to(torch.float64)
            u = u * (slopes.pop(layer - 1) if layer > 1 else sw64)
            record_norm(layer - 1)
        return out

    def backward_divergence(
        self,
        sigma_w: Any,
        sigma_b: Any,
        layers: int | Sequence[int] | None = None,
        *,
        quantity: str = "divergence",
        grid: bool = True,
        block_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.DataArray:
        """Backward metric ``L' = ||J^T g1 - J^T g2||`` with ``J = dh^D/dh^d`` at input ``x1``.

        Parameters
        ----------
        sigma_w, sigma_b, grid, block_size, progress
            As in :meth:`divergence`.
        layers : int, sequence of int or None
            Layers ``d`` in ``0..D`` the cotangents are back-propagated to. ``None`` (default): ``d = 0``,
            the gradient with respect to the input ``x`` (through all ``D`` layers).
        quantity : {"divergence", "gradient_ratio"}
            ``L'`` (cotangents ``g1``, ``g2`` independent, unit norm) or the gradient norm ratio
            ``||J^T g1|| / ||g1||``.

        Returns
        -------
        xarray.DataArray
            Float64 values (norms are tracked with a float64 log scale: no overflow before float64's).
        """
        quantity = check_choice("quantity", quantity, BACKWARD_QUANTITIES)
        sw, sb, layout = self._points(sigma_w, sigma_b, grid)
        layer_list, keep = self._layers(layers, 0)
        per_point = (self.depth - min(layer_list)) * self.width * 8  # float64 slopes
        block = self._block_size(block_size, per_point_bytes=per_point)
        values = self._run(lambda w, b: self._backward_block(w, b, layer_list, quantity), sw, sb, block, progress)
        if quantity == "divergence":
            long_name = "backward divergence L' = ||J^T g1 - J^T g2||"
        else:
            long_name = "gradient norm ratio ||J^T g1|| / ||g1||"
        attrs = self._attrs("backward", long_name, "1", quantity=quantity, backprop_input="x1")
        values = self._check_finite(values, "backward metric")
        return self._wrap(values, layout, layer_list, keep, "backward_" + quantity, attrs)

    # ------------------------------------------------------------------------------------ Lyapunov
    def _lyapunov_block(self, sw: np.ndarray, sb: np.ndarray) -> np.ndarray:
        n, npts = self.width, sw.size
        dev, dt = self.device, self._tdtype
        w64, b64 = torch.as_tensor(sw)[:, None], torch.as_tensor(sb)[:, None]
        h = (w64 * self._a1x1 + b64 * self._b1).to(device=dev, dtype=dt)
        v = (w64 * self._a1v).to(device=dev)  # float64 tangent: J_1 v = sigma_w A_1 v, ||v|| = 1
        sw64 = w64.to(device=dev)
        swt = torch.as_tensor(sw, dtype=dt, device=dev)[:, None]
        p = torch.empty(2 * npts, n + 1, dtype=dt, device=dev)
        p[:npts, n] = torch.as_tensor(sb, dtype=dt, device=dev)
        p[npts:, n] = 0
        log_growth = np.zeros(npts)
        for layer in range(2, self.depth + 1):
            # tangent rows rescaled to max 1 before the GEMM (log of the scale accumulated): no overflow/underflow
            p[npts:, :n], logs = self._normalised(self._slopes(h, sw64) * v)
            log_growth += logs
            self._scaled(self.activation.torch_fn(h), swt, p[:npts, :n])
            hv = self._layer(layer, p)
            h, v = hv[:npts], hv[npts:].to(torch.float64)
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
        """Finite-size Lyapunov exponent ``lambda = (1/D) ln(||J v|| / ||v||)``, ``J = dh^D/dx`` at ``x1``.

        The tangent ``v`` (random, unit norm) is pushed forward layer by layer (Jacobian-vector products)
        in float64 and rescaled every layer; the logs of the scales are summed. ``lambda < 0`` ordered,
        ``> 0`` chaotic; its mean-field value is ``ln(chi_1) / 2`` (``chi_1`` is the growth of squared norms).
        ``sigma_w = 0`` (or a vanishing Jacobian) gives ``-inf``. Arguments as in :meth:`divergence`.
        """
        sw, sb, layout = self._points(sigma_w, sigma_b, grid)
        block = self._block_size(block_size)
        values = self._run(self._lyapunov_block, sw, sb, block, progress)
        values = self._check_finite(values, "Lyapunov exponent")
        attrs = self._attrs(
            "lyapunov",
            "finite-size Lyapunov exponent (1/D) ln(||J v|| / ||v||)",
            "1/layer",
            tangent_input="x1",
        )
        return self._wrap(values, layout, None, False, "lyapunov", attrs)

    def __repr__(self) -> str:
        extra = f", kernel_size={self.kernel_size}" if self.kernel_size is not None else ""
        return (
            f"RandomNetwork(arch={self.arch!r}, width={self.width}, depth={self.depth}, "
            f"activation={self.activation.name!r}, seed={self.seed}, dtype={self.dtype!r}, "
            f"device={str(self.device)!r}{extra}, operator={self.operator!r})"
        )
