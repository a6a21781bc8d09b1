"""Phase flow: where a segment's (loss, gradient norm) trajectory ends up (SPEC section 6).

The seed plots, per segment, the gradient norm of the loss with respect to the segment against the loss, one point
per epoch, and reads "attractors" off the picture. infoprop states the reading as a rule, so that it can be tested
on trajectories whose end is known:

1. *Normalise.* Each coordinate of the trajectory ``(x_t, y_t)``, ``t = 0..T-1``, is rescaled to [0, 1] by its own
   range over the whole trajectory (a constant coordinate becomes 0). Raw values, not logarithms: a loss decaying
   exponentially to a floor settles in raw coordinates, while its logarithm would keep moving.
2. *Window.* The last ``window`` points (default: the last third of the trajectory, at least 4 points).
3. *Measure* in the window: the path length ``P`` (sum of step lengths) and the net displacement ``N`` (distance
   from the window's first point to its last).
4. *Classify:*

   * ``fixed_point`` -- ``P < settle`` (default 0.1): in its last stretch the trajectory moves less than a tenth of
     its own extent;
   * ``oscillating`` -- otherwise, if ``N < straightness * P`` (default 0.5): it keeps moving but mostly comes back
     on itself (a limit cycle, or a spiral still far from its centre);
   * ``moving`` -- otherwise: a directed drift that has not settled yet.

The rule can only see what was recorded: with one record per epoch an oscillation faster than two epochs is
invisible (record every few steps for a finer flow).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..common import as_float_array, check_int, check_real

__all__ = ["PHASES", "classify_phase_flow", "classify_trajectory", "phase_flow_measures"]

#: Phase-flow classes, in the order of their integer codes (0, 1, 2).
PHASES: tuple[str, ...] = ("fixed_point", "oscillating", "moving")

_MIN_POINTS = 4


def _window(n_points: int, window: int | None) -> int:
    if n_points < _MIN_POINTS:
        raise ValueError(f"trajectories must have at least {_MIN_POINTS} points, got {n_points}")
    if window is None:
        return max(_MIN_POINTS, n_points // 3)
    return check_int("window", window, minimum=2, maximum=n_points)


def phase_flow_measures(points: Any, window: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Path length and net displacement of the normalised trajectories over their last ``window`` points.

    Parameters
    ----------
    points : array_like, shape (..., T, 2)
        Trajectories: ``points[..., t, :]`` is (loss, gradient norm) at record ``t``.
    window : int, optional
        Points in the final window (>= 2); default ``max(4, T // 3)``.

    Returns
    -------
    path, net : numpy.ndarray, shape (...)
    """
    z = as_float_array("points", points)
    if z.ndim < 2 or z.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., T, 2), got {z.shape}")
    w = _window(z.shape[-2], window)
    low, high = z.min(axis=-2, keepdims=True), z.max(axis=-2, keepdims=True)
    span = high - low
    z = np.where(span > 0, (z - low) / np.where(span > 0, span, 1.0), 0.0)
    tail = z[..., -w:, :]
    path = np.linalg.norm(np.diff(tail, axis=-2), axis=-1).sum(axis=-1)
    net = np.linalg.norm(tail[..., -1, :] - tail[..., 0, :], axis=-1)
    return path, net


def classify_phase_flow(
    points: Any, *, window: int | None = None, settle: float = 0.1, straightness: float = 0.5
) -> np.ndarray:
    """Class code (index into :data:`PHASES`) of each trajectory's end; vectorised over leading axes.

    See the module docstring for the rule. ``points`` has shape ``(..., T, 2)``; returns ``int8`` of shape ``(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 30)
    >>> drift = np.stack([t, 2 * t], axis=-1)
    >>> PHASES[int(classify_phase_flow(drift))]
    'moving'
    """
    settle = check_real("settle", settle, minimum=0.0, strict_minimum=True)
    straightness = check_real("straightness", straightness, minimum=0.0, maximum=1.0)
    path, net = phase_flow_measures(points, window)
    codes = np.where(path < settle, 0, np.where(net < straightness * path, 1, 2))
    return codes.astype(np.int8)


def classify_trajectory(
    loss: Any, grad_norm: Any, *, window: int | None = None, settle: float = 0.1, straightness: float = 0.5
) -> str:
    """Phase-flow class (one of :data:`PHASES`) of one trajectory given as two 1-D sequences of equal length."""
    x, y = as_float_array("loss", loss), as_float_array("grad_norm", grad_norm)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"loss and grad_norm must be 1-D of equal length, got shapes {x.shape} and {y.shape}")
    code = classify_phase_flow(np.stack([x, y], axis=-1), window=window, settle=settle, straightness=straightness)
    return PHASES[int(code)]
