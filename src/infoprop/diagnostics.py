"""Scale-invariant weight diagnostics (SPEC section 6): fractal statistics of weight matrices during training,
each against its null models, the segment graph with its graph-neural-network surrogate, and phase flow.

Start with :func:`diagnose` (the ``infoprop diagnose`` command); the pieces are plain functions over arrays.
Definitions and measured results: docs/diagnostics.md.
"""

from ._src.diagnostics.graph import PREDICTORS, SegmentGraph, compare_surrogates, fit_gnn, kernel_graph
from ._src.diagnostics.phase import PHASES, classify_phase_flow, classify_trajectory, phase_flow_measures
from ._src.diagnostics.pipeline import DEFAULT_SCALES, NODE_FEATURES, diagnose
from ._src.diagnostics.recorder import (
    MODELS,
    OPTIMIZERS,
    LayerSpec,
    model_layers,
    record_steps,
    record_training,
    segment_importance,
)
from ._src.diagnostics.statistics import (
    SURFACES,
    Roughness,
    default_box_sizes,
    default_lags,
    permuted,
    roughness,
    segment_grid,
    segment_statistics,
    segments,
    support,
    support_dimension,
    weight_entropy,
)
from ._src.diagnostics.surfaces import fbm_covariance, fbm_surface
from ._src.fractal import BoxDimension

__all__ = [
    "DEFAULT_SCALES",
    "MODELS",
    "NODE_FEATURES",
    "OPTIMIZERS",
    "PHASES",
    "PREDICTORS",
    "SURFACES",
    "BoxDimension",
    "LayerSpec",
    "Roughness",
    "SegmentGraph",
    "classify_phase_flow",
    "classify_trajectory",
    "compare_surrogates",
    "default_box_sizes",
    "default_lags",
    "diagnose",
    "fbm_covariance",
    "fbm_surface",
    "fit_gnn",
    "kernel_graph",
    "model_layers",
    "permuted",
    "phase_flow_measures",
    "record_steps",
    "record_training",
    "roughness",
    "segment_grid",
    "segment_importance",
    "segment_statistics",
    "segments",
    "support",
    "support_dimension",
    "weight_entropy",
]
