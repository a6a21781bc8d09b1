"""Shared plumbing: argument validation, provenance metadata and atomic file writes.

Every public function validates its arguments with the helpers here so that error messages
have one shape: ``"<argument> must be <what is allowed>, got <value>"``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__

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


def parse_range(name: str, text: str) -> np.ndarray:
    """Parse ``"start:stop:count"`` into ``numpy.linspace(start, stop, count)`` (stop included).

    A single number ``"x"`` gives a one-point range. ``name`` is used in error messages (e.g. ``"--sigma-w"``).
    """
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string 'start:stop:count', got {text!r}")
    parts = text.split(":")
    try:
        if len(parts) == 1:
            values = np.array([float(parts[0])])
        elif len(parts) == 3:
            start, stop = float(parts[0]), float(parts[1])
            count = int(parts[2])
            if not (np.isfinite(start) and np.isfinite(stop)):
                raise ValueError("non-finite bounds")
            if count < 1:
                raise ValueError(f"{name} count must be >= 1, got {count} in {text!r}")
            values = np.linspace(start, stop, count)
        else:
            raise ValueError("wrong number of fields")
    except ValueError as exc:
        if "count must be" in str(exc):
            raise
        raise ValueError(f"{name} must be 'start:stop:count' (e.g. '0:4:256') or a number, got {text!r}") from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must have finite start and stop, got {text!r}")
    return values


# --------------------------------------------------------------------------- provenance
def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
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
        "parameters": json.dumps(_jsonable(parameters), sort_keys=True),
    }


# --------------------------------------------------------------------------- atomic writes
def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def ensure_parent_writable(path: str | os.PathLike[str], name: str = "out") -> Path:
    """Create the parent directory of ``path`` if needed; raise ``ValueError`` if it cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name} must be a writable path, got {str(path)!r} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{name} must be a writable path, got {str(path)!r} (directory not writable)")
    return path


def replace_path(tmp: Path, path: Path) -> None:
    """Move ``tmp`` onto ``path`` atomically for files; for directories swap via a rename of the old one."""
    if tmp.is_dir() and path.exists():
        old = _temporary_sibling(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def write_zarr(obj: Any, path: str | os.PathLike[str], name: str = "out") -> Path:
    """Write an ``xarray`` Dataset/DataArray to a zarr store at ``path`` via a temporary store and a rename."""
    import xarray as xr

    path = ensure_parent_writable(path, name)
    ds = obj.to_dataset(name=obj.name or "value") if isinstance(obj, xr.DataArray) else obj
    tmp = _temporary_sibling(path)
    try:
        with warnings.catch_warnings():
            # Consolidated metadata is not yet in the zarr v3 spec; xarray reads it and it saves a listing per open.
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            ds.to_zarr(tmp, mode="w", consolidated=True)
        replace_path(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def save_figure(fig: Any, path: str | os.PathLike[str], name: str = "plot", dpi: int = 150) -> Path:
    """Save a matplotlib figure to ``path`` via a temporary file and ``os.replace``; closes the figure."""
    import matplotlib.pyplot as plt

    path = ensure_parent_writable(path, name)
    tmp = path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(text: str, path: str | os.PathLike[str], name: str = "out") -> Path:
    """Write a text file atomically."""
    path = ensure_parent_writable(path, name)
    tmp = _temporary_sibling(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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
