"""The landscape metrics: one tuple of names, used by the engine, the CLI, sweep specs and the fractal tools.

Torch-free, so that every module (and the CLI's option parsing) can import it cheaply. A landscape
``xarray.DataArray`` is named after its metric and carries it as its ``metric`` attribute; a sweep store
holds one data variable per metric, under the same name.

* ``forward``: forward divergence ``L^(d) = ||h^d(x1) - h^d(x2)||^2 / N`` of two inputs (pre-activations).
* ``forward_normalised``: the seed authors' normalised post-activation divergence
  ``L_post^(d) = ||phi(h^d(x1)) - phi(h^d(x2))||^2 / N`` (the same forward pass as ``forward``; bounded, so a
  threshold on it means what the seed paper's ``tau`` means; ``E_A L^(d+1) = sigma_w^2 L_post^(d)``).
* ``backward``: backward divergence ``L' = ||J^T g1 - J^T g2||`` with ``J = dh^D/dh^d`` (two unit cotangents).
* ``lyapunov``: finite-size Lyapunov exponent ``lambda = (1/D) ln(||J v|| / ||v||)`` with ``J = dh^D/dx``.

Adding a metric: one entry in :data:`METRIC_INFO` (name, long name, units, ordered side) and the engine method
it names (:meth:`infoprop.RandomNetwork.landscape` dispatches on it).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["FORWARD_METRICS", "METRICS", "METRIC_INFO", "MetricInfo"]


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
    # added after the first three so that their order (and the explorer's menus) stay as they were
    "forward_normalised": MetricInfo(
        "normalised post-activation divergence L_post^(d) = ||phi(h^d(x1)) - phi(h^d(x2))||^2 / N", "1", "small"
    ),
}
#: The landscape metric names.
METRICS: tuple[str, ...] = tuple(METRIC_INFO)
#: The metrics of the two inputs' forward pass: they take the options ``inputs``, ``eps`` and ``layers``.
FORWARD_METRICS: tuple[str, ...] = ("forward", "forward_normalised")
