"""Labelled dimension summaries, zooms that follow the frontier, and the scale/width fits (issue 11).

References: direct counts on the landscape (fractions, boundary cells), synthetic data with a known crossover
and exponent, a straight line (local dimension 1) and a filled region counted as mass (2).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from infoprop._src.fractal import (
    SWEEP_THRESHOLDS,
    box_dimension,
    bracketing_thresholds,
    crossover_scale,
    dimension_summary,
    fit_power_law,
    follow_frontier,
    frontier_point,
    local_dimensions,
    mixed_cells,
    step_crossover,
)
from infoprop._src.networks import RandomNetwork


def wavy_landscape(n: int = 257, amplitude: float = 0.3) -> xr.DataArray:
    """A landscape whose level sets are wavy curves, with a noisy 'chaotic' side (values 0.2 .. 2)."""
    sw = np.linspace(0.0, 4.0, n)
    sb = np.linspace(0.0, 4.0, n)
    w, b = np.meshgrid(sw, sb, indexing="ij")
    distance = w - 2.0 - amplitude * np.sin(3 * b)
    rng = np.random.default_rng(0)
    chaotic = rng.uniform(0.2, 2.0, size=w.shape)
    values = np.where(distance < 0, 10.0 ** (8 * distance), chaotic)
    return xr.DataArray(values, dims=("sigma_w", "sigma_b"), coords={"sigma_w": sw, "sigma_b": sb})


def test_bracketing_thresholds_extend_the_authors_sweep_past_the_largest_value():
    taus = bracketing_thresholds(np.array([[0.0, 3.0], [0.5, 7.5]]))
    np.testing.assert_allclose(taus[:21], SWEEP_THRESHOLDS)  # the authors' 21 values come first
    np.testing.assert_allclose(np.diff(np.log10(taus)), 0.25)
    assert taus[-2] < 7.5 <= taus[-1]
    # never shorter than the authors' sweep
    np.testing.assert_allclose(bracketing_thresholds(np.array([[0.0, 1e-3], [0.0, 0.0]])), SWEEP_THRESHOLDS)


def test_dimension_summary_labels_rules_and_counts_points_between_thresholds():
    landscape = wavy_landscape()
    summary, robust, authors = dimension_summary(landscape, 1e-3)
    assert summary["robust_at_threshold"]["estimator"] == "robust"
    assert summary["robust_at_threshold"]["threshold"] == 1e-3
    assert summary["robust_median"]["rule"] == "median over resolved thresholds"
    assert summary["authors"]["estimator"] == "dinverno"
    assert summary["authors"]["rule"] == "maximum over thresholds"
    # the numbers are those of the underlying estimators, recomputed independently here
    direct = box_dimension(mixed_cells(landscape.values <= 1e-3), "robust")
    assert summary["robust_at_threshold"]["dimension"] == pytest.approx(direct.dimension)
    assert summary["robust_median"]["dimension"] == pytest.approx(robust.attrs["recommended_dimension"])
    best = int(np.nanargmax(authors["dimension"].values))
    assert summary["authors"]["dimension"] == pytest.approx(authors["dimension"].values[best])
    tau_star = summary["authors"]["threshold"]
    assert tau_star == pytest.approx(authors["threshold"].values[best])
    values = landscape.values
    assert summary["between_fraction"] == pytest.approx(np.mean((values > 1e-3) & (values <= tau_star)))
    # the noisy side makes the maximum sit where the threshold cuts the noise, inside the sweep
    assert 0.2 <= tau_star <= 2.0
    assert summary["authors"]["interior"]
    assert summary["authors"]["dimension"] > summary["robust_at_threshold"]["dimension"] + 0.2


def test_frontier_point_is_a_boundary_cell_inside_the_window():
    landscape = wavy_landscape(129)
    centre = frontier_point(landscape, 1e-3, (2.2, 2.0), 0.4)
    sw, sb = landscape["sigma_w"].values, landscape["sigma_b"].values
    i, j = np.searchsorted(sw, centre[0]) - 1, np.searchsorted(sb, centre[1]) - 1
    corners = landscape.values[i : i + 2, j : j + 2] <= 1e-3
    assert corners.any() and not corners.all()
    assert 0.2 <= centre[0] <= 3.8 and 0.2 <= centre[1] <= 3.8
    # a point of the level set L = 1e-3, i.e. the curve w = 2 + 0.3 sin(3 b) - 3/8: within a grid step of it
    assert abs(centre[0] - 2.0 - 0.3 * np.sin(3 * centre[1]) + 0.375) < 2 * (sw[1] - sw[0])
    with pytest.raises(ValueError, match="side must fit"):
        frontier_point(landscape, 1e-3, (2.0, 2.0), 5.0)


def test_follow_frontier_nests_windows_on_the_frontier_of_one_draw():
    net = RandomNetwork("mlp", 16, 12, seed=0)
    grid = np.linspace(0.0, 4.0, 33)
    full = net.forward_normalised(grid, grid)
    zoomed = follow_frontier(net, full, [0.4, 0.1], 17, threshold=1e-3, targets=[(2.2, 2.0), (2.2, 2.05)])
    assert zoomed.dims == ("zoom", "sigma_w_index", "sigma_b_index")
    np.testing.assert_allclose(zoomed.window_side, [0.4, 0.1])
    previous = full
    for k in range(2):
        level = zoomed.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")
        # the same draw: the window's values are the network's at the window's grid
        expected = net.forward_normalised(level["sigma_w"].values, level["sigma_b"].values)
        np.testing.assert_array_equal(level.values, expected.values)
        lo, hi = previous["sigma_w"].values[[0, -1]]
        assert lo - 1e-12 <= level["sigma_w"].values[0] and level["sigma_w"].values[-1] <= hi + 1e-12
        c_w, c_b = float(zoomed.center_sigma_w[k]), float(zoomed.center_sigma_b[k])
        pw, pb = previous["sigma_w"].values, previous["sigma_b"].values
        i, j = np.searchsorted(pw, c_w) - 1, np.searchsorted(pb, c_b) - 1
        corners = previous.values[i : i + 2, j : j + 2] <= 1e-3
        assert corners.any() and not corners.all()
        previous = level
    assert zoomed.attrs["follow_threshold"] == 1e-3
    with pytest.raises(ValueError, match="targets must have shape"):
        follow_frontier(net, full, [0.4, 0.1], 17, threshold=1e-3, targets=[(2.2, 2.0)])


def test_local_dimensions_of_a_line_and_a_filled_square():
    line = np.zeros((512, 512), dtype=bool)
    line[200, :] = True
    scales, slopes = local_dimensions(box_dimension(line))
    np.testing.assert_allclose(slopes, 1.0, atol=0.02)
    assert np.all(np.diff(scales) > 0) and scales[0] > 4
    square = np.ones((512, 512), dtype=bool)
    _, slopes = local_dimensions(box_dimension(square))
    np.testing.assert_allclose(slopes, 2.0, atol=0.02)


def test_step_crossover_recovers_a_known_depth():
    rng = np.random.default_rng(4)
    depths = np.array([10, 30, 100, 150, 200, 300, 1000, 3000], dtype=float)
    truth = 1 + 0.7 / (1 + (160.0 / depths) ** 4)
    err = np.full(depths.size, 0.03)
    result = step_crossover(depths, truth + rng.normal(0, 0.03, depths.size), err)
    assert abs(result["log10_crossover"] - np.log10(160.0)) < max(0.05, 3 * result["log10_crossover_stderr"])
    assert 0 < result["log10_crossover_stderr"] < 0.1
    with pytest.raises(ValueError, match="already above half height"):
        step_crossover(depths[4:], truth[4:], err[4:])


def test_fit_power_law_recovers_the_exponent():
    rng = np.random.default_rng(2)
    n = np.array([25, 50, 100, 200, 400, 800], dtype=float)
    y = 2.0 * n**-0.9 * np.exp(rng.normal(0, 0.05, n.size))
    fit = fit_power_law(n, y, 0.05 * y)
    assert abs(fit["exponent"] - 0.9) < 3 * fit["exponent_stderr"]
    assert fit["exponent_stderr"] < 0.05
    with pytest.raises(ValueError, match="> 0"):
        fit_power_law(n, -y)


def test_authors_maximum_on_a_real_frontier_is_bracketed():
    # normalised divergence of a small MLP: the extended sweep puts values above the largest L, so the
    # authors' maximum is never reported at the sweep's upper edge
    net = RandomNetwork("mlp", 16, 20, seed=0)
    grid = np.linspace(0.0, 4.0, 129)
    landscape = net.forward_normalised(grid, grid)
    summary, robust, _ = dimension_summary(landscape, 1e-3)
    assert robust["threshold"].values[-1] >= landscape.values.max()
    assert not robust["resolved"].values[-1]
    assert summary["authors"]["threshold"] < robust["threshold"].values[-1]


def test_crossover_scale_recovers_a_known_scale_and_bootstraps_over_windows():
    # eight windows, each with local dimensions along a known profile (1 below s* = 1e-3, 1.8 above) + noise
    rng = np.random.default_rng(3)
    scales, dims, groups = [], [], []
    for window in range(8):
        s = np.geomspace(1e-5, 1e-1, 25) * rng.uniform(0.8, 1.25)
        d = 1 + 0.8 / (1 + (1e-3 / s) ** 3) + rng.normal(0, 0.05, s.size)
        scales += list(s)
        dims += list(d)
        groups += [window] * s.size
    result = crossover_scale(scales, dims, groups)
    assert abs(result["log10_crossover"] + 3.0) < max(0.15, 3 * result["log10_crossover_stderr"])
    assert 0 < result["log10_crossover_stderr"] < 0.2
    assert result["peak"] == pytest.approx(1.8, abs=0.1)
    with pytest.raises(ValueError, match="no rough regime"):
        crossover_scale(scales, np.ones(len(scales)), groups)
