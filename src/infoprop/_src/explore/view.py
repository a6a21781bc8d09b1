"""One explorer view: a network draw, a metric, a window of (sigma_w, sigma_b) and a resolution.

A view is parsed from a URL query (the page keeps its whole state there) and validated before anything is
computed: unknown or malformed parameters, non-finite or out-of-range sigmas, unknown arch/activation/metric,
resolutions and networks that would not fit in memory all raise ``ValueError`` with a one-line message.

The window's grid is ``numpy.linspace(sw0, sw1, res)`` x ``numpy.linspace(sb0, sb1, res)`` (standard
deviations, both ends included): exactly the grid of ``infoprop landscape --sigma-w sw0:sw1:res --sigma-b
sb0:sb1:res``. Deep networks are shown coarse-to-fine: level ``k`` of :meth:`View.strides` is the sub-lattice of
every ``strides[k]``-th grid point, and each level computes only the points the coarser ones lack, so the full
view costs no more than the grid itself (the engine's value at a point does not depend on the other points).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..._version import __version__
from ..common import check_choice, check_int, check_real
from ..metrics import FORWARD_METRICS

#: Largest sigma_w / sigma_b (standard deviations) a window may reach.
SIGMA_MAX = 100.0
#: Grid points per axis.
MIN_RESOLUTION, MAX_RESOLUTION = 16, 1024
MAX_WIDTH, MAX_DEPTH = 8192, 100_000
#: Share of the machine's available memory one view may plan to use.
MEMORY_SHARE = 0.5
#: Largest work (multiply-adds, ``points x depth x width^2 x 2 inputs``) of the coarsest level: ~25 ms of GEMM
#: on 2 cores, so that the first image of a new view is ready in well under a second.
COARSE_WORK = 2.5e9
MAX_LEVELS = 4
#: A level's sub-lattice keeps at least this many points per axis.
MIN_LEVEL_POINTS = 16

DEFAULTS: dict[str, Any] = {
    "arch": "mlp",
    "width": 100,
    "depth": 100,
    "activation": "erf",
    "metric": "forward",
    "seed": 0,
    "dtype": "float32",
    "inputs": "independent",
    "eps": 1e-5,
    "kernel_size": None,
    "sw0": 0.0,
    "sw1": 4.0,
    "sb0": 0.0,
    "sb1": 4.0,
    "res": 256,
    "threshold": None,  # metric default: 1e-3 for divergences (the report's), 0 for the Lyapunov exponent
    "estimator": "robust",
}
#: Query keys that are not part of the view (request bookkeeping).
REQUEST_KEYS = ("client", "seq", "level", "name")
_SIGNED_METRICS = ("lyapunov",)  # metrics that take negative values: threshold in their own units, linear colours


def registries() -> dict[str, tuple[str, ...]]:
    """The choices the engines offer today (arch, activation, metric, dtype, inputs, estimator)."""
    from ..activations import ACTIVATIONS
    from ..fractal import ESTIMATORS
    from ..landscape import landscape_metrics
    from ..networks import ARCHS, DTYPES, INPUTS

    return {
        "arch": tuple(ARCHS),
        "activation": tuple(ACTIVATIONS),
        "metric": landscape_metrics(),
        "dtype": tuple(DTYPES),
        "inputs": tuple(INPUTS),
        "estimator": tuple(ESTIMATORS),
    }


def is_signed(metric: str) -> bool:
    """Whether ``metric`` takes negative values (the Lyapunov exponent) rather than being a distance."""
    return metric in _SIGNED_METRICS


def _int(name: str, text: str | int) -> int:
    """An integer from a query string (or a typed default); ``"1.5"`` and ``"1e3"`` are refused."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def _float(name: str, text: str | float) -> float:
    """A finite float from a query string (or a typed default)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {text!r}")
    return value


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``; total physical memory as a fallback)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def _format_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


@dataclass(frozen=True)
class View:
    """A validated view. Sigmas are standard deviations; ``res`` is grid points per axis."""

    arch: str
    width: int
    depth: int
    activation: str
    metric: str
    seed: int
    dtype: str
    inputs: str
    eps: float
    kernel_size: int | None
    sw0: float
    sw1: float
    sb0: float
    sb1: float
    res: int
    threshold: float
    estimator: str

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_query(
        cls, query: Mapping[str, str], *, extra: tuple[str, ...] = REQUEST_KEYS, available: int | None = None
    ) -> View:
        """Parse and validate a URL query (missing keys take :data:`DEFAULTS`); ``ValueError`` on bad input.

        ``extra``: request keys to accept besides the view's; ``available``: bytes of memory for
        :meth:`check_memory` (default: what the machine has available now).
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(query) - known - set(extra))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
        choices = registries()
        raw = {**DEFAULTS, **{k: v for k, v in query.items() if k in known}}  # strings, or the typed defaults
        values: dict[str, Any] = {}
        for key in ("arch", "activation", "metric", "dtype", "inputs", "estimator"):
            values[key] = check_choice(key, str(raw[key]), choices[key])
        values["width"] = check_int("width", _int("width", raw["width"]), 1, MAX_WIDTH)
        values["depth"] = check_int("depth", _int("depth", raw["depth"]), 1, MAX_DEPTH)
        values["seed"] = check_int("seed", _int("seed", raw["seed"]), 0, 2**63 - 1)
        values["res"] = check_int("res (grid points per axis)", _int("res", raw["res"]), MIN_RESOLUTION, MAX_RESOLUTION)
        values["kernel_size"] = None
        if raw["kernel_size"] not in (None, ""):
            if values["arch"] != "cnn":
                raise ValueError(f"kernel_size applies to arch 'cnn' only, got arch {values['arch']!r}")
            kernel = _int("kernel_size", raw["kernel_size"])
            values["kernel_size"] = check_int("kernel_size", kernel, 1, values["width"])
        values["eps"] = check_real("eps", _float("eps", raw["eps"]), 0.0, None, strict_minimum=True)
        if values["inputs"] != "independent" and values["metric"] not in FORWARD_METRICS:
            raise ValueError(f"inputs applies to the forward metrics only, got metric {values['metric']!r}")
        for key in ("sw0", "sw1", "sb0", "sb1"):
            what = "sigma_w" if key.startswith("sw") else "sigma_b"
            values[key] = check_real(f"{key} ({what}, a standard deviation)", _float(key, raw[key]), 0.0, SIGMA_MAX)
        for lo, hi, what in (("sw0", "sw1", "sigma_w"), ("sb0", "sb1", "sigma_b")):
            if not values[lo] < values[hi]:
                raise ValueError(f"{lo} must be < {hi} (the {what} window), got {values[lo]} and {values[hi]}")
            if not np.all(np.diff(np.linspace(values[lo], values[hi], values["res"])) > 0):
                raise ValueError(
                    f"the {what} window [{values[lo]}, {values[hi]}] is too narrow for {values['res']} distinct "
                    "float64 grid points; zoom out"
                )
        signed = is_signed(values["metric"])
        if raw["threshold"] in (None, ""):
            values["threshold"] = 0.0 if signed else 1e-3
        else:
            name, value = "threshold (ordered: metric <= threshold)", _float("threshold", raw["threshold"])
            values["threshold"] = check_real(name, value) if signed else check_real(name, value, 0.0, None, True)
        view = cls(**values)
        view.check_memory(available)
        return view

    # ------------------------------------------------------------------ derived
    def sigma_w(self) -> np.ndarray:
        """Grid axis of sigma_w (standard deviations)."""
        return np.linspace(self.sw0, self.sw1, self.res)

    def sigma_b(self) -> np.ndarray:
        """Grid axis of sigma_b (standard deviations)."""
        return np.linspace(self.sb0, self.sb1, self.res)

    def network_parameters(self) -> dict[str, Any]:
        """What determines the draw (the keyword arguments of :func:`infoprop._src.landscape.make_network`)."""
        return {
            "arch": self.arch,
            "width": self.width,
            "depth": self.depth,
            "activation": self.activation,
            "seed": self.seed,
            "dtype": self.dtype,
            "kernel_size": self.kernel_size,
        }

    def metric_parameters(self) -> dict[str, Any]:
        """What selects the metric on a draw (``inputs``/``eps`` only where they matter)."""
        forward = self.metric in FORWARD_METRICS
        return {
            "metric": self.metric,
            "inputs": self.inputs if forward else None,
            "eps": self.eps if forward and self.inputs == "perturbed" else None,
        }

    def query(self) -> dict[str, str]:
        """The canonical URL query of this view (floats in shortest round-trip form)."""
        out = {}
        for key, value in asdict(self).items():
            if value is None:
                continue
            out[key] = repr(value) if isinstance(value, float) else str(value)
        return out

    def key(self) -> str:
        """SHA-256 of every parameter of the view and the infoprop version (the response-cache key)."""
        return digest({"infoprop_version": __version__, "view": asdict(self)})

    def strides(self) -> tuple[int, ...]:
        """Sub-lattice strides of the coarse-to-fine levels, e.g. ``(4, 2, 1)``; ``(1,)`` for cheap views."""
        work = float(self.res) ** 2 * self.depth * self.width**2 * 2
        stride = 1
        while (
            stride < 2 ** (MAX_LEVELS - 1)
            and work / (stride * stride) > COARSE_WORK
            and self.res // (2 * stride) >= MIN_LEVEL_POINTS
        ):
            stride *= 2
        return tuple(stride >> k for k in range(stride.bit_length()))

    def estimate_bytes(self) -> int:
        """Memory the engine needs for this view, in bytes (operators, states in flight, results)."""
        itemsize = 4 if self.dtype == "float32" else 8
        dense = self.depth * (self.width + 1) * self.width * itemsize
        if self.arch in ("cnn", "fdf", "fdfd"):
            # the engine applies a structured operator as its dense matrix only when all D of them fit in 1 GiB
            operators = min(dense, 1 << 30) + self.depth * self.width * 8 * 3
        else:
            operators = dense + self.width * self.width * 8 * 2  # plus the float64 draw of one layer
        blocks = 64 * (1 << 16) * 8  # a few blocks of ~2^16 state elements per worker
        backward = (512 << 20) if self.metric == "backward" else 0  # the engine caps stored slopes at 512 MiB
        grid = self.res * self.res * 8 * 8
        return operators + blocks + backward + grid

    def check_memory(self, available: int | None = None) -> None:
        """``ValueError`` when :meth:`estimate_bytes` exceeds :data:`MEMORY_SHARE` of the available memory."""
        available = available_memory() if available is None else available
        need, limit = self.estimate_bytes(), MEMORY_SHARE * available
        if need > limit:
            raise ValueError(
                f"width {self.width} x depth {self.depth} ({self.dtype}) at {self.res}^2 points needs about "
                f"{_format_bytes(need)}, more than the {_format_bytes(limit)} allowed (half of the available "
                "memory); reduce width, depth or res"
            )

    def landscape_argv(self) -> list[str]:
        """The ``infoprop landscape`` options (without ``--out``/``--plot``) that compute this view's grid."""
        argv = ["--arch", self.arch, "--width", str(self.width), "--depth", str(self.depth)]
        argv += ["--activation", self.activation, "--metric", self.metric, "--seed", str(self.seed)]
        argv += ["--dtype", self.dtype]
        argv += ["--sigma-w", f"{self.sw0!r}:{self.sw1!r}:{self.res}"]
        argv += ["--sigma-b", f"{self.sb0!r}:{self.sb1!r}:{self.res}"]
        if self.metric in FORWARD_METRICS and self.inputs != "independent":
            argv += ["--inputs", self.inputs, "--eps", repr(self.eps)]
        if self.kernel_size is not None:
            argv += ["--kernel-size", str(self.kernel_size)]
        return argv


def digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys), as the sweeps key their specs."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def level_slices(strides: tuple[int, ...], level: int) -> list[tuple[slice, slice]]:
    """Index slices ``(sigma_w, sigma_b)`` of the grid points that ``level`` adds to the coarser levels.

    Level 0 is the whole sub-lattice of stride ``strides[0]``; a finer level of stride ``s`` adds the three
    sub-lattices of points with an odd multiple of ``s`` in at least one index (the coarser stride is ``2 s``).
    """
    stride = strides[level]
    if level == 0:
        return [(slice(0, None, stride), slice(0, None, stride))]
    coarse = strides[level - 1]
    even, odd = slice(0, None, coarse), slice(stride, None, coarse)
    return [(odd, even), (even, odd), (odd, odd)]


def nearest_on_lattice(n: int, stride: int) -> np.ndarray:
    """For each index ``0..n-1``, the nearest index that is a multiple of ``stride`` (and < n); ties go down."""
    last = (n - 1) // stride * stride
    return np.minimum((2 * np.arange(n) + stride - 1) // (2 * stride) * stride, last)
