"""The landscape metrics: one tuple of names, used by the engine, the CLI, sweep specs and the fractal tools.

Torch-free, so that every module (and the CLI's option parsing) can import it cheaply. A landscape
``xarray.DataArray`` is named after its metric and carries it as its ``metric`` attribute; a sweep store
holds one data variable per metric, under the same name.

* ``forward``: forward divergence ``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` of two inputs (pre-activations).
* ``backward``: backward divergence ``L' = ||J^T g1 - J^T g2||`` with ``J = dh^D/dh^d`` (two unit cotangents).
* ``lyapunov``: finite-size Lyapunov exponent ``lambda = (1/D) ln(||J v|| / ||v||)`` with ``J = dh^D/dx``.

Adding a metric: one entry in :data:`METRIC_INFO` (name, long name, units, ordered side) and the engine method
it names (:meth:`infoprop.RandomNetwork.landscape` dispatches on it).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["METRICS", "METRIC_INFO", "MetricInfo"]


class MetricInfo(NamedTuple):
    """What a landscape of one metric is."""

    long_name: str
    units: str
    #: How the ordered phase shows: ``"small"`` (a divergence that decays towards 0, drawn on a log scale) or
    #: ``"negative"`` (an exponent below 0, drawn on a linear scale around 0).
    ordered: str


METRIC_INFO: dict[str, MetricInfo] = {
    "forward": MetricInfo("forward divergence L^(d) = ||h^d(x1) - h^d(x2)||^2 / N", "1", "small"),
    "backward": MetricInfo("backward divergence L' = ||J^T g1 - J^T g2||", "1", "small"),
    "lyapunov": MetricInfo("finite-size Lyapunov exponent (1/D) ln(||J v|| / ||v||)", "1/layer", "negative"),
}
#: The landscape metric names.
METRICS: tuple[str, ...] = tuple(METRIC_INFO)
