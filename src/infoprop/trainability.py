"""Trainability before training: reconstruction-entropy cascades, the training ground truth, and their comparison.

See ``docs/trainability.md``; conventions are stated in :mod:`infoprop._src.trainability`.
"""

from ._src.trainability import (
    DECODERS,
    DEFAULT_LRS,
    DEFAULT_RIDGE,
    DEFAULT_SIGMA_B,
    RULES,
    WIDTH_PROFILES,
    build_network,
    compare,
    cutoff,
    differential_entropy,
    fit_ridge,
    layer_widths,
    null_cutoff,
    null_predicted_depth,
    null_relative_entropy,
    peak_sigma_w2,
    predict,
    predicted_depth,
    relative_entropy,
    reproducible,
    side_of,
    train,
)

__all__ = [
    "DECODERS",
    "DEFAULT_LRS",
    "DEFAULT_RIDGE",
    "DEFAULT_SIGMA_B",
    "RULES",
    "WIDTH_PROFILES",
    "build_network",
    "compare",
    "cutoff",
    "differential_entropy",
    "fit_ridge",
    "layer_widths",
    "null_cutoff",
    "null_predicted_depth",
    "null_relative_entropy",
    "peak_sigma_w2",
    "predict",
    "predicted_depth",
    "relative_entropy",
    "reproducible",
    "side_of",
    "train",
]
