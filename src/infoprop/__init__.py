"""infoprop: information propagation in deep random networks at initialisation.

The public API is re-exported here; submodules are imported on first use so that
``import infoprop`` (and the CLI) stay fast and torch is loaded only when needed.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_EXPORTS: dict[str, str] = {
    # activations
    "Activation": "infoprop.activations",
    "get_activation": "infoprop.activations",
    "ACTIVATIONS": "infoprop.activations",
    # mean-field engine
    "MeanField": "infoprop.meanfield",
    # finite-width engine
    "RandomNetwork": "infoprop.networks",
    # fractal frontier
    "boundary": "infoprop.fractal",
    "box_dimension": "infoprop.fractal",
    "frontier_dimension": "infoprop.fractal",
    "mean_field_disagreement": "infoprop.fractal",
    "zoom": "infoprop.fractal",
    "load_landscape": "infoprop.fractal",
    "make_figure": "infoprop.figures",
    "frontier_report": "infoprop.report",
    # sweeps
    "run_sweep": "infoprop.sweep",
    "load_spec": "infoprop.sweep",
    "open_landscape": "infoprop.sweep",
    "sweep_status": "infoprop.sweep",
}
_SUBMODULES = (
    "activations",
    "meanfield",
    "networks",
    "fractal",
    "fractal_sets",
    "figures",
    "report",
    "sweep",
    "data",
    "trainability",
    "plots",
)

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"infoprop.{name}")
    raise AttributeError(f"module 'infoprop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
