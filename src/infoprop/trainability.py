"""Trainability before training: reconstruction-entropy cascades, the training ground truth, and their comparison.

See ``docs/trainability.md``; conventions are stated in :mod:`infoprop._src.trainability`.
"""

from ._src.trainability import (
    DEFAULT_SIGMA_B,
    compare,
    cutoff,
    differential_entropy,
    layer_widths,
    peak_sigma_w2,
    predict,
    predicted_depth,
    relative_entropy,
    train,
)

__all__ = [
    "DEFAULT_SIGMA_B",
    "compare",
    "cutoff",
    "differential_entropy",
    "layer_widths",
    "peak_sigma_w2",
    "predict",
    "predicted_depth",
    "relative_entropy",
    "train",
]
