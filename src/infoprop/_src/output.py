"""Output safety: the one place where infoprop decides whether a path may be written, and writes it.

Rules (docs/design.md, "Writes"):

* :func:`check_output` runs before any computation. It refuses a path that is the current folder or one of its
  parents, that lacks the suffix of its kind (``.zarr`` for stores, ``.png``/``.pdf``/``.svg`` for figures, ...),
  whose nearest existing folder cannot be written, that is a symbolic link, or that already exists -- unless
  ``overwrite=True`` and the existing path is infoprop's own output of the same kind.
* infoprop's own output is recognised by its own marker, never by its name: a zarr store by its root attributes
  ``infoprop_kind`` and ``infoprop_version`` *and* a tree holding nothing but zarr metadata and chunks; a figure
  by the text ``infoprop-output`` in its metadata (PNG ``Software``, PDF/SVG ``Creator``); a file inside an
  output folder by its name in that folder's manifest (:data:`MANIFEST`); an output folder by its manifest
  listing every entry of the folder. Anything else -- a folder that also holds other files, a parent folder,
  the current folder, a regular file of another kind -- is never replaced, with or without ``overwrite``.
* Writers go through a temporary sibling (``.NAME.tmp-XXXXXXXX``) and a rename. Replacing infoprop's own output
  renames the old one aside (``.NAME.old-XXXXXXXX``), renames the new one in, then deletes the old one: a crash
  leaves the old output, the new one, or both, never a half-written one.

This module imports nothing from the rest of infoprop but its version, so that every module can use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

from .._version import __version__

#: Written into every figure's metadata; its presence marks a figure as infoprop's own.
MARKER = "infoprop-output"
#: The manifest of an output folder: the names of the files and stores infoprop wrote into it.
MANIFEST = ".infoprop-manifest.json"
#: Allowed suffixes per kind of output (``None``: any name).
SUFFIXES: dict[str, tuple[str, ...] | None] = {
    "store": (".zarr",),
    "figure": (".png", ".pdf", ".svg"),
    "text": (".json", ".txt", ".csv", ".md", ".toml"),
    "directory": None,
}
KINDS: tuple[str, ...] = tuple(SUFFIXES)
_DESCRIPTION = {"store": "a zarr store", "figure": "a figure", "text": "a text file", "directory": "an output folder"}
_FIGURE_METADATA_KEY = {"png": "Software", "pdf": "Creator", "svg": "Creator"}
_CHUNK_NAME = re.compile(r"^\d+(\.[0-9a-f]{32}\.partial)?$")  # chunk keys, and zarr's temporaries while writing
_FIGURE_BYTES_SCANNED = 64 << 20


class OutputError(ValueError):
    """An output path that infoprop refuses to write (a ``ValueError``: the CLI prints one line, exit 2)."""


# --------------------------------------------------------------------------- the check
def check_output(
    path: Any,
    kind: str,
    *,
    overwrite: bool = False,
    name: str = "out",
    suffixes: tuple[str, ...] | None = None,
) -> Path:
    """Validate an output path before computing anything; return it as a ``Path``.

    Parameters
    ----------
    path : str or path-like
        Where the output will be written.
    kind : {"store", "figure", "text", "directory"}
        What will be written: a zarr store, a figure, a text file, or a folder of several outputs.
    overwrite : bool
        Allow replacing an existing path -- only if it is infoprop's own output of this kind (module docstring).
        An existing *empty* folder is accepted as a ``"directory"`` output without it (nothing can be lost).
    name : str
        The argument's name in error messages (``"--out"``, ``"--plot"``, ``"out"``).
    suffixes : tuple of str, optional
        Allowed suffixes instead of the kind's default (:data:`SUFFIXES`).

    Raises
    ------
    OutputError
        (a ``ValueError``) naming the argument, the path and the reason.
    """
    if kind not in SUFFIXES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path, got {path!r}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise OutputError(f"{name} must be a non-empty path, got {text!r}")
    absolute = Path(os.path.abspath(text))  # '..' and '.' removed, symbolic links not followed
    real, cwd = absolute.resolve(), Path.cwd().resolve()
    if real == cwd or cwd.is_relative_to(real):
        raise OutputError(f"{name} must not be the current folder or one of its parents, got {text!r}")
    allowed = SUFFIXES[kind] if suffixes is None else tuple(suffixes)
    if allowed and absolute.suffix.lower() not in allowed:
        raise OutputError(
            f"{name} must be {_DESCRIPTION[kind]} path ending in {' or '.join(allowed)}, got {text!r}"
            + (" (an existing folder)" if absolute.is_dir() and kind != "directory" else "")
        )
    _check_parent_writable(absolute, name, text)
    if os.path.lexists(absolute):
        if absolute.is_symlink():
            raise OutputError(f"{name} {text!r} is a symbolic link: infoprop never writes through links")
        if kind == "directory" and absolute.is_dir() and not any(os.scandir(absolute)):
            return Path(path)  # an empty folder: nothing in it can be lost
        own, what = _ownership(absolute, kind)
        if not own:
            raise OutputError(
                f"{name} {text!r} already exists and is {what}, not {_DESCRIPTION[kind]} infoprop wrote: "
                "it is never replaced; choose a new path"
            )
        if not overwrite:
            raise OutputError(
                f"{name} {text!r} already exists ({what}); give --overwrite (overwrite=True) to replace it"
            )
    return Path(path)


def _check_parent_writable(path: Path, name: str, text: str) -> None:
    """The nearest existing ancestor must be a folder in which a file can be created (probed, then removed)."""
    ancestor = path.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{name} must be a writable path, got {text!r} ({ancestor} is not a folder)")
    try:
        handle, probe = tempfile.mkstemp(prefix=".infoprop-probe-", dir=ancestor)
    except OSError as exc:
        raise OutputError(
            f"{name} must be a writable path, got {text!r} ({ancestor}: {exc.strerror or exc})"
        ) from None
    os.close(handle)
    os.unlink(probe)


# --------------------------------------------------------------------------- recognising infoprop's own output
def _ownership(path: Path, kind: str) -> tuple[bool, str]:
    """Whether the existing ``path`` is infoprop's own output of ``kind``, and what it is (for messages)."""
    if kind == "store":
        if not path.is_dir():
            return False, "a file"
        return _own_store(path)
    if kind == "directory":
        if not path.is_dir():
            return False, "a file"
        return _own_directory(path)
    if not path.is_file():
        return False, "a folder" if path.is_dir() else "not a regular file"
    if _listed_in_manifest(path):
        return True, f"{_DESCRIPTION[kind]} infoprop wrote"
    if kind == "figure" and _has_figure_marker(path):
        return True, "a figure infoprop wrote"
    return False, "a file"


def _own_store(path: Path) -> tuple[bool, str]:
    try:
        meta = json.loads((path / "zarr.json").read_text())
        attrs = meta.get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return False, "a folder" if not (path / "zarr.json").exists() else "a folder with an unreadable zarr.json"
    if not isinstance(attrs, dict) or "infoprop_kind" not in attrs or "infoprop_version" not in attrs:
        return False, "a zarr store without infoprop's attributes"
    foreign = _foreign_entries(path)
    if foreign:
        return False, f"an infoprop store that also holds other files ({', '.join(foreign[:3])})"
    return True, f"an infoprop store ({attrs['infoprop_kind']})"


def _foreign_entries(root: Path) -> list[str]:
    """Entries of a zarr v3 directory store that are neither node metadata nor chunks (at most a few)."""
    foreign: list[str] = []

    def node(folder: Path) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if len(foreign) >= 3:
                return
            rel = os.path.relpath(entry.path, root)
            if entry.is_symlink():
                foreign.append(rel)
            elif entry.is_file():
                if entry.name != "zarr.json" and not (entry.name == "c" and (folder / "zarr.json").exists()):
                    foreign.append(rel)  # "c" is the chunk of a 0-d array
            elif entry.name == "c" and (folder / "zarr.json").exists():
                chunks(Path(entry.path))
            elif (Path(entry.path) / "zarr.json").is_file():
                node(Path(entry.path))
            else:
                foreign.append(rel)

    def chunks(folder: Path) -> None:
        for directory, subdirs, files in os.walk(folder):
            for entry in (*subdirs, *files):
                if not _CHUNK_NAME.match(entry) and len(foreign) < 3:
                    foreign.append(os.path.relpath(os.path.join(directory, entry), root))
            if os.path.islink(directory):
                foreign.append(os.path.relpath(directory, root))

    node(root)
    return foreign


def _has_figure_marker(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return MARKER.encode() in handle.read(_FIGURE_BYTES_SCANNED)
    except OSError:
        return False


def _read_manifest(folder: Path) -> list[str] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return files


def _listed_in_manifest(path: Path) -> bool:
    files = _read_manifest(path.parent)
    return files is not None and path.name in files


def _is_temporary_of(entry: str, names: set[str]) -> bool:
    match = re.fullmatch(r"\.(.+)\.(tmp|old)-[0-9a-f]{8}", entry)
    return bool(match) and match.group(1) in names


def _own_directory(path: Path) -> tuple[bool, str]:
    entries = sorted(os.listdir(path))
    files = _read_manifest(path)
    if files is None:
        return False, (
            f"a folder holding files infoprop did not write ({', '.join(entries[:3])}; no {MANIFEST}, the mark "
            "infoprop leaves in its output folders: one written before infoprop had that mark is not recognised "
            "either, move or delete it yourself)"
        )
    listed = set(files)
    foreign = [e for e in entries if e != MANIFEST and e not in listed and not _is_temporary_of(e, listed)]
    if foreign:
        return False, f"an output folder that also holds files infoprop did not write ({', '.join(foreign[:3])})"
    return True, "infoprop's output folder"


# --------------------------------------------------------------------------- writers
def temporary_sibling(path: Any) -> Path:
    """``.NAME.tmp-XXXXXXXX`` beside ``path``: where a writer builds an output before renaming it into place."""
    return _sibling(Path(path), "tmp")


def _sibling(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.{what}-{uuid.uuid4().hex[:8]}")


def is_temporary_of(candidate: Any, path: Any) -> bool:
    """Whether ``candidate`` is named like a temporary (or swapped-out old copy) of ``path`` made by this module."""
    return Path(candidate).parent == Path(path).parent and _is_temporary_of(Path(candidate).name, {Path(path).name})


def move_into_place(tmp: Any, path: Any, kind: str) -> None:
    """Rename the finished ``tmp`` onto ``path``.

    An existing ``path`` is checked once more to be infoprop's own output of ``kind`` (it was checked before the
    computation with :func:`check_output`), renamed aside, replaced, and only then deleted.
    """
    tmp, path = Path(tmp), Path(path)
    if not os.path.lexists(path):
        os.replace(tmp, path)
        return
    own, what = _ownership(path, kind)
    if not own or path.is_symlink():
        raise OutputError(f"{str(path)!r} appeared while infoprop was computing and is {what}: not replaced")
    old = _sibling(path, "old")
    os.replace(path, old)
    os.replace(tmp, path)
    _remove(old)


def remove_output(path: Any, kind: str) -> None:
    """Delete ``path`` if, and only if, it is infoprop's own output of ``kind`` (e.g. a store this run created)."""
    path = Path(path)
    if os.path.lexists(path) and not path.is_symlink() and _ownership(path, kind)[0]:
        _remove(path)


def discard_temporary(tmp: Any) -> None:
    """Delete a temporary made by :func:`temporary_sibling` (its name is checked; nothing else is touched)."""
    tmp = Path(tmp)
    if re.fullmatch(r"\.(.+)\.tmp-[0-9a-f]{8}", tmp.name) and os.path.lexists(tmp):
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _prepare(path: Any, kind: str, overwrite: bool, name: str) -> Path:
    """Check ``path`` and create its folder. A folder infoprop creates, or one with a manifest, records the name
    in its manifest first, so that it stays recognisably infoprop's own output folder."""
    path = check_output(path, kind, overwrite=overwrite, name=name)
    parent = Path(os.path.abspath(path)).parent
    created = not parent.exists()
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if created or (parent / MANIFEST).exists():
            _record(parent, Path(path).name)
    except OSError as exc:
        raise OutputError(f"{name} must be a writable path, got {str(path)!r} ({exc.strerror or exc})") from None
    return path


def _record(folder: Path, filename: str) -> None:
    """Add ``filename`` to the manifest of ``folder`` (created if missing), atomically."""
    files = _read_manifest(folder) or []
    if filename in files:
        return
    files = sorted({*files, filename})
    manifest = {"infoprop_kind": "output_directory", "infoprop_version": __version__, "files": files}
    target = folder / MANIFEST
    tmp = _sibling(target, "tmp")
    try:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_zarr(obj: Any, path: Any, name: str = "out", *, overwrite: bool = False) -> Path:
    """Write an ``xarray`` Dataset/DataArray to a new zarr store at ``path`` (temporary store, then a rename).

    The store's root attributes get ``infoprop_kind`` (the object's own, else ``"result"``) and
    ``infoprop_version`` if the object does not carry them: they mark the store as infoprop's own. Every chunk is
    written, even one equal to the fill value, so that a missing chunk always means damage.
    With ``overwrite=True`` an existing infoprop store at ``path`` is replaced; anything else is refused.
    """
    import xarray as xr

    path = _prepare(path, "store", overwrite, name)
    ds = obj.to_dataset(name=obj.name or "value") if isinstance(obj, xr.DataArray) else obj
    if "infoprop_kind" not in ds.attrs or "infoprop_version" not in ds.attrs:
        kind = getattr(obj, "attrs", {}).get("infoprop_kind", "result")
        ds = ds.assign_attrs(infoprop_kind=ds.attrs.get("infoprop_kind", kind), infoprop_version=__version__)
    tmp = _sibling(path, "tmp")
    try:
        with warnings.catch_warnings():
            # Consolidated metadata is not yet in the zarr v3 spec; xarray reads it and it saves a listing per open.
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            ds.to_zarr(tmp, mode="w-", consolidated=True, write_empty_chunks=True)
        move_into_place(tmp, path, "store")
    except OSError as exc:
        raise OutputError(f"{name} could not be written to {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def save_figure(fig: Any, path: Any, name: str = "plot", dpi: int = 150, *, overwrite: bool = False) -> Path:
    """Save a matplotlib figure (PNG, PDF or SVG by suffix) via a temporary file and a rename; closes the figure.

    The file's metadata carries :data:`MARKER` (PNG ``Software``, PDF/SVG ``Creator``), which marks it as
    infoprop's own. With ``overwrite=True`` an existing figure infoprop wrote is replaced; anything else is refused.
    """
    import matplotlib.pyplot as plt

    tmp = None
    try:
        path = _prepare(path, "figure", overwrite, name)
        fmt = Path(path).suffix.lower().lstrip(".")
        tmp = _sibling(Path(path), "tmp")
        metadata = {_FIGURE_METADATA_KEY[fmt]: f"{MARKER} {__version__}"} if fmt in _FIGURE_METADATA_KEY else None
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt, metadata=metadata)
        move_into_place(tmp, path, "figure")
    except OSError as exc:
        raise OutputError(f"{name} could not be written to {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
        if tmp is not None and tmp.exists():
            tmp.unlink()
    return path


def write_text(text: str, path: Any, name: str = "out", *, overwrite: bool = False) -> Path:
    """Write a text file via a temporary file and a rename.

    A text file carries no marker of its own: with ``overwrite=True`` only a file listed in its folder's
    manifest (written through :class:`OutputDir`) is replaced.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    path = _prepare(path, "text", overwrite, name)
    tmp = _sibling(Path(path), "tmp")
    try:
        tmp.write_text(text)
        move_into_place(tmp, path, "text")
    except OSError as exc:
        raise OutputError(f"{name} could not be written to {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class OutputDir:
    """A folder of several outputs (``infoprop report --out DIR``, ``infoprop figure --out DIR``).

    Creating it checks the folder (:func:`check_output` with kind ``"directory"``): it must not exist, be empty,
    or -- with ``overwrite=True`` -- be infoprop's own output folder, i.e. hold a manifest listing every entry.
    :meth:`file` records a name in the manifest *before* the file is written (so a run killed part-way leaves a
    folder that is still recognised as infoprop's own) and returns its path; write it with the writers of this
    module and ``overwrite=True``. Files of earlier runs that this run does not write again stay.
    """

    def __init__(self, path: Any, *, overwrite: bool = False, name: str = "out") -> None:
        self.path = check_output(path, "directory", overwrite=overwrite, name=name)
        self.name = name

    def file(self, filename: str) -> Path:
        """Claim ``filename`` in the folder (recorded in the manifest); return ``folder / filename``."""
        if not isinstance(filename, str) or Path(filename).name != filename or filename in ("", ".", "..", MANIFEST):
            raise ValueError(f"filename must be a plain file name, got {filename!r}")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{self.name} must be a writable folder, got {str(self.path)!r} ({exc.strerror or exc})"
            ) from None
        _record(Path(self.path), filename)
        return self.path / filename


# --------------------------------------------------------------------------- reading back
class StoreError(ValueError):
    """A store whose data is missing or cannot be decoded (a ``ValueError``: the CLI prints one line, exit 2)."""


def load_checked(obj: Any, path: Any, name: str = "store") -> Any:
    """``obj.load()`` for a lazily opened xarray object, with decode and I/O failures turned into one ``StoreError``.

    A damaged chunk otherwise surfaces as a codec's ``RuntimeError`` deep inside zarr.
    """
    try:
        return obj.load()
    except MemoryError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise StoreError(
            f"{name} {os.fspath(path)!r} has missing or unreadable data ({reason[:200]}); "
            "rewrite it (or, for a sweep, resume it with `infoprop sweep run`)"
        ) from None


def read_zarr(path: Any, name: str = "store") -> Any:
    """Open a zarr store with ``xarray`` and load it into memory; a clear ``ValueError`` for anything unreadable."""
    import xarray as xr

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be the path of a zarr store, got {path!r}")
    if not Path(path).is_dir():
        raise ValueError(f"{name} must be an existing zarr store, got {os.fspath(path)!r}")
    try:
        ds = xr.open_zarr(path)
    except MemoryError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise ValueError(
            f"{name} must be a zarr store written from xarray, got {os.fspath(path)!r} ({reason[:200]})"
        ) from None
    return load_checked(ds, path, name)
