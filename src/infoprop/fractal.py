"""Fractal frontier tools: boundaries, box counting, frontier dimensions, zooms, reference sets of known dimension."""

from ._src.fractal import (
    ESTIMATORS,
    BoxDimension,
    boundary,
    box_dimension,
    frontier_dimension,
    has_critical_line,
    landscape_values,
    load_landscape,
    mean_field_chi1,
    mean_field_disagreement,
    zoom,
)
from ._src.fractal_sets import (
    REFERENCE_SETS,
    circle,
    filled_square,
    koch_curve,
    segment,
    sierpinski_carpet_boundary,
    sierpinski_triangle,
)

__all__ = [
    "ESTIMATORS",
    "REFERENCE_SETS",
    "BoxDimension",
    "boundary",
    "box_dimension",
    "circle",
    "filled_square",
    "frontier_dimension",
    "has_critical_line",
    "koch_curve",
    "landscape_values",
    "load_landscape",
    "mean_field_chi1",
    "mean_field_disagreement",
    "segment",
    "sierpinski_carpet_boundary",
    "sierpinski_triangle",
    "zoom",
]
