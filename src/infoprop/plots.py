"""Figures: every function returns a matplotlib Figure (matplotlib is imported when a function is called)."""

from ._src.plots.diagnostics import (
    plot_fractal_statistics,
    plot_local_slopes,
    plot_phase_flow,
    plot_surrogates,
    plot_weights,
)
from ._src.plots.fractal import (
    plot_box_counts,
    plot_estimator_comparison,
    plot_frontier_dimensions,
    plot_landscape_grid,
)
from ._src.plots.landscape import draw_landscape, plot_landscape
from ._src.plots.meanfield import plot_phase_diagram
from ._src.plots.trainability import plot_comparison, plot_prediction

__all__ = [
    "draw_landscape",
    "plot_box_counts",
    "plot_comparison",
    "plot_estimator_comparison",
    "plot_fractal_statistics",
    "plot_frontier_dimensions",
    "plot_landscape",
    "plot_landscape_grid",
    "plot_local_slopes",
    "plot_phase_diagram",
    "plot_phase_flow",
    "plot_prediction",
    "plot_surrogates",
    "plot_weights",
]
