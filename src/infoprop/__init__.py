"""infoprop: information propagation in deep random networks at initialisation.

This file is the whole public API: every name below is re-exported from the private implementation in
``infoprop._src``. Names are resolved on first use, so ``import infoprop`` (and the CLI's ``--help``) stay fast and
torch is loaded only when an engine is.

Namespaces with many functions of one family are public modules of their own: :mod:`infoprop.fractal`,
:mod:`infoprop.sweep`, :mod:`infoprop.trainability`, :mod:`infoprop.diagnostics`, :mod:`infoprop.data`,
:mod:`infoprop.plots`.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_EXPORTS: dict[str, str] = {
    # activations
    "Activation": "infoprop._src.activations",
    "get_activation": "infoprop._src.activations",
    "ACTIVATIONS": "infoprop._src.activations",
    # mean-field engine
    "MeanField": "infoprop._src.meanfield",
    # network families (arch) and the landscape metrics
    "Arch": "infoprop._src.arch",
    "get_arch": "infoprop._src.arch",
    "ARCHS": "infoprop._src.arch",
    "OPERATORS": "infoprop._src.arch",
    "METRICS": "infoprop._src.metrics",
    # finite-width engine
    "RandomNetwork": "infoprop._src.networks",
    # one landscape, as `infoprop landscape` computes and writes it
    "compute_landscape": "infoprop._src.landscape",
    "write_landscape": "infoprop._src.landscape",
    "landscape_metrics": "infoprop._src.landscape",
    # the explorer (`infoprop explore`): its ASGI application
    "explorer_app": "infoprop._src.explore.server",
    # fractal frontier
    "BoxDimension": "infoprop._src.fractal",
    "boundary": "infoprop._src.fractal",
    "box_dimension": "infoprop._src.fractal",
    "frontier_dimension": "infoprop._src.fractal",
    "mean_field_disagreement": "infoprop._src.fractal",
    "zoom": "infoprop._src.fractal",
    "follow_frontier": "infoprop._src.fractal",
    "dimension_summary": "infoprop._src.fractal",
    "load_landscape": "infoprop._src.fractal",
    "make_figure": "infoprop._src.figures",
    "list_recipes": "infoprop._src.figures",
    "frontier_report": "infoprop._src.report",
    # sweeps
    "run_sweep": "infoprop._src.sweep.run",
    "load_spec": "infoprop._src.sweep.spec",
    "open_landscape": "infoprop._src.sweep.store",
    "sweep_status": "infoprop._src.sweep.store",
}
#: Public namespaces (modules that only re-export).
_NAMESPACES = ("fractal", "sweep", "trainability", "diagnostics", "data", "plots")

__all__ = ["__version__", *_EXPORTS, *_NAMESPACES]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _NAMESPACES:
        return importlib.import_module(f"infoprop.{name}")
    raise AttributeError(f"module 'infoprop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
