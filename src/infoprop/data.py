"""Offline image data sets (digits, Fashion-MNIST, MNIST, CIFAR-10): nothing is ever downloaded."""

from ._src.data import DATASETS, SPLITS, image_shape, load, read_idx

__all__ = ["DATASETS", "SPLITS", "image_shape", "load", "read_idx"]
