"""Shared plumbing: argument validation, provenance metadata, memory budgets; the writers of output.py.

Every public function validates its arguments with the helpers here so that error messages
have one shape: ``"<argument> must be <what is allowed>, got <value>"``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__

# The writers live in output.py, the one output-safety module; re-exported here for every caller.
from .output import MANIFEST as MANIFEST
from .output import OutputDir as OutputDir
from .output import OutputError as OutputError
from .output import StoreError as StoreError
from .output import check_output as check_output
from .output import discard_temporary as discard_temporary
from .output import is_temporary_of as is_temporary_of
from .output import load_checked as load_checked
from .output import move_into_place as move_into_place
from .output import read_zarr as read_zarr
from .output import remove_output as remove_output
from .output import save_figure as save_figure
from .output import temporary_sibling as temporary_sibling
from .output import write_text as write_text
from .output import write_zarr as write_zarr

SIGMA_CONVENTION = "std"


# --------------------------------------------------------------------------- validation
def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``; raise ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {allowed}, got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict_minimum and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict_minimum and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def as_float_array(name: str, value: Any, minimum: float | None = None, allow_empty: bool = False) -> np.ndarray:
    """Convert ``value`` to a float64 array; reject NaN/inf, values below ``minimum`` and (by default) empties."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or an array of real numbers, got {value!r}") from exc
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f"{name} must contain only finite values, got {bad}")
    if minimum is not None and arr.size and arr.min() < minimum:
        raise ValueError(f"{name} must be >= {minimum} everywhere, got {arr.min()}")
    return arr


def range_count(name: str, text: str) -> tuple[float, float, int]:
    """Validate ``"start:stop:count"`` (or ``"x"``) and return ``(start, stop, count)`` without allocating."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string 'start:stop:count', got {text!r}")
    parts = text.split(":")
    try:
        if len(parts) == 1:
            start, stop, count = float(parts[0]), float(parts[0]), 1
        elif len(parts) == 3:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        else:
            raise ValueError("wrong number of fields")
    except ValueError:
        raise ValueError(f"{name} must be 'start:stop:count' (e.g. '0:4:256') or a number, got {text!r}") from None
    if not (np.isfinite(start) and np.isfinite(stop)):
        raise ValueError(f"{name} must have finite start and stop, got {text!r}")
    if count < 1:
        raise ValueError(f"{name} count must be >= 1, got {count} in {text!r}")
    return start, stop, count


def parse_range(name: str, text: str) -> np.ndarray:
    """Parse ``"start:stop:count"`` into ``numpy.linspace(start, stop, count)`` (stop included).

    A single number ``"x"`` gives a one-point range. ``name`` is used in error messages (e.g. ``"--sigma-w"``).
    A range too large for the memory budget is refused before it is allocated (:func:`check_memory`).
    """
    start, stop, count = range_count(name, text)
    check_memory(8 * count, f"{name} ({count} values)")
    values = np.linspace(start, stop, count)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must have finite start and stop, got {text!r}")
    return values


# --------------------------------------------------------------------------- provenance
def jsonable(value: Any) -> Any:
    """``value`` with arrays, NumPy scalars and paths turned into JSON types (anything else: its repr), as stored in
    the ``parameters`` attribute."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def provenance_attrs(kind: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes every stored result carries: what it is, its full parameters (one JSON string), the version.

    No host names or timestamps: results must be bitwise reproducible.
    """
    return {
        "infoprop_kind": kind,
        "infoprop_version": __version__,
        "sigma_convention": SIGMA_CONVENTION,
        "parameters": json.dumps(jsonable(parameters), sort_keys=True),
    }


# --------------------------------------------------------------------------- writes
def ensure_parent_writable(path: str | os.PathLike[str], name: str = "out") -> Path:
    """Create the parent folder of ``path`` if needed; raise ``ValueError`` if it cannot be written.

    This checks the parent only, not ``path`` itself: an output is validated with :func:`check_output` (which
    also refuses existing paths that are not infoprop's own) and written with :func:`write_zarr`,
    :func:`save_figure`, :func:`write_text` or :class:`OutputDir`.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name} must be a writable path, got {str(path)!r} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{name} must be a writable path, got {str(path)!r} (directory not writable)")
    return path


# --------------------------------------------------------------------------- sizes
#: Environment variable with the memory budget (e.g. ``8G``); ``--max-memory`` sets it for a CLI run.
MAX_MEMORY_ENV = "INFOPROP_MAX_MEMORY"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(name: str, value: Any) -> int:
    """Bytes from ``"8G"``, ``"512M"``, ``"1.5GiB"``, ``"2GB"`` (binary units: K = 1024) or a plain integer."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        size = int(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", value.upper())
        if not match:
            raise ValueError(f"{name} must be a size such as 8G, 512M or 1000000 (bytes), got {value!r}")
        size = int(float(match.group(1)) * _UNITS[match.group(2)])
    else:
        raise TypeError(f"{name} must be a size such as '8G' or a number of bytes, got {value!r}")
    if size <= 0:
        raise ValueError(f"{name} must be a positive size, got {value!r}")
    return size


def format_bytes(size: float) -> str:
    """``1.5 GiB``-style text for a byte count."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def available_memory() -> int:
    """Memory available to new allocations now, in bytes (psutil, else /proc/meminfo, else total RAM)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        pass
    try:  # pragma: no cover
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))  # pragma: no cover


def memory_budget() -> tuple[int, str]:
    """The memory budget in bytes and where it comes from: ``INFOPROP_MAX_MEMORY`` if set, else available memory."""
    text = os.environ.get(MAX_MEMORY_ENV)
    if text:
        return parse_size(MAX_MEMORY_ENV, text), f"the limit {MAX_MEMORY_ENV}={text}"
    return available_memory(), "memory available on this machine"


def check_memory(estimate: float, what: str) -> None:
    """Refuse, before allocating, work whose memory ``estimate`` (bytes) exceeds the budget (:func:`memory_budget`).

    Each entry point supplies its own estimate (kept next to the code it estimates); this compares it with one
    budget and raises one ``ValueError`` naming both numbers.
    """
    budget, source = memory_budget()
    if estimate > budget:
        raise ValueError(
            f"{what} needs about {format_bytes(estimate)} of memory, more than {format_bytes(budget)} "
            f"({source}); make the problem smaller, or set --max-memory / {MAX_MEMORY_ENV} if you know better"
        )


def resolve_device(device: Any):
    """``torch.device`` for ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``; a clear ``ValueError`` otherwise."""
    import torch  # lazily: this module is imported by torch-free parts of the package

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<index>', got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<index>', got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available (torch.cuda.is_available() is False)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device must name an existing CUDA device, got {device!r}")
    return dev
