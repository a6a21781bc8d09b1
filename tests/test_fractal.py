"""Tests of infoprop.fractal and infoprop.fractal_sets against sets of known dimension and closed-form counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src.fractal import (
    SWEEP_THRESHOLDS,
    boundary,
    box_dimension,
    frontier_dimension,
    landscape_values,
)
from infoprop._src.fractal_sets import REFERENCE_SETS, filled_square, segment, sierpinski_carpet_boundary

SET_NAMES = tuple(REFERENCE_SETS)


@pytest.fixture(scope="module")
def reference_images():
    """Every reference set at 1024^2 and 4096^2, generated once per module (about 1 s in all)."""
    return {(name, n): REFERENCE_SETS[name][0](n) for name in SET_NAMES for n in (1024, 4096)}


# --------------------------------------------------------------------------- validation on known dimensions
@pytest.mark.parametrize("name", SET_NAMES)
def test_robust_estimator_within_0p03_at_4096_and_uncertainty_covers_error(reference_images, name):
    truth = REFERENCE_SETS[name][1]
    result = box_dimension(reference_images[name, 4096])
    error = result.dimension - truth
    assert abs(error) <= 0.03
    assert result.interval[0] <= truth <= result.interval[1]
    # The uncertainty must be informative, not merely large enough to cover anything.
    assert result.stderr < 0.06


@pytest.mark.parametrize("name", SET_NAMES)
def test_robust_uncertainty_covers_error_at_1024(reference_images, name):
    truth = REFERENCE_SETS[name][1]
    result = box_dimension(reference_images[name, 1024])
    assert result.interval[0] <= truth <= result.interval[1]
    assert result.stderr < 0.06


def test_dinverno_is_biased_on_self_similar_sets_where_robust_is_not(reference_images):
    """The authors' estimator misses the Sierpinski triangle and carpet by more than its own error bar."""
    for name in ("sierpinski_triangle", "sierpinski_carpet_boundary"):
        truth = REFERENCE_SETS[name][1]
        authors = box_dimension(reference_images[name, 4096], "dinverno")
        robust = box_dimension(reference_images[name, 4096])
        assert abs(authors.dimension - truth) > 2 * authors.stderr
        assert abs(robust.dimension - truth) < abs(authors.dimension - truth)


def test_reference_sets_have_expected_pixel_structure():
    n = 1024
    # Sierpinski triangle: 3^k cells of the finest level k = 9 (cells of 1.75 px) -> pixel count ~ 3^9 * 1.75^2.
    tri = REFERENCE_SETS["sierpinski_triangle"][0](n)
    assert tri.sum() == pytest.approx(3**9 * (896 / 512) ** 2, rel=0.05)
    # A segment is a thin connected chain: about one pixel per pixel of length along its longer axis.
    seg = segment(n)
    _, cols = np.nonzero(seg)
    assert len(np.unique(cols)) == cols.max() - cols.min() + 1
    assert seg.sum() < 2.1 * (cols.max() - cols.min() + 1)
    # The carpet boundary includes the outer square's edge (cells straddling pixel rows 63 and 64).
    carpet = sierpinski_carpet_boundary(n)
    assert carpet[63, 63:960].all() and not carpet[62].any()
    with pytest.raises(ValueError, match="n must be"):
        filled_square(8)


# --------------------------------------------------------------------------- box counts: closed forms, second method
def _brute_force_counts(image: np.ndarray, sizes) -> np.ndarray:
    """Boxes anchored at (0, 0), partial edge boxes counted whole, by padding and reshaping (second method)."""
    counts = []
    for s in sizes:
        n, m = -(-image.shape[0] // s) * s, -(-image.shape[1] // s) * s
        padded = np.zeros((n, m), dtype=bool)
        padded[: image.shape[0], : image.shape[1]] = image
        counts.append(padded.reshape(n // s, s, m // s, s).any(axis=(1, 3)).sum())
    return np.array(counts, dtype=float)


def test_dinverno_counts_match_brute_force_and_fit_matches_polyfit():
    rng = np.random.default_rng(3)
    image = rng.random((203, 190)) < 0.002
    result = box_dimension(image, "dinverno")
    np.testing.assert_array_equal(result.sizes, np.arange(1, 49))
    np.testing.assert_array_equal(result.counts, _brute_force_counts(image, range(1, 49)))
    slope, intercept = np.polyfit(np.log(result.sizes), np.log(result.counts), 1)
    assert result.dimension == pytest.approx(-slope, rel=1e-12)
    assert result.intercept == pytest.approx(intercept, rel=1e-12)


def test_robust_counts_closed_forms():
    # A set filling the image: area weighting of edge boxes gives (n/s)^2 exactly, dimension 2 exactly.
    full = np.ones((300, 300), dtype=bool)
    result = box_dimension(full)
    np.testing.assert_allclose(result.counts, (300 / result.sizes) ** 2, rtol=1e-12)
    assert result.dimension == pytest.approx(2.0, abs=1e-12)
    assert result.stderr == pytest.approx(0.0, abs=1e-12)
    # A single interior pixel is covered by one whole box at every size and offset: dimension 0.
    dot = np.zeros((256, 256), dtype=bool)
    dot[128, 77] = True
    result = box_dimension(dot)
    np.testing.assert_array_equal(result.counts, np.ones(len(result.sizes)))
    assert result.dimension == pytest.approx(0.0, abs=1e-12)


def test_robust_defaults_and_custom_sizes():
    image = np.zeros((1000, 1000), dtype=bool)
    image[500, :] = True
    result = box_dimension(image)
    assert result.sizes[0] == 4 and result.sizes[-1] == 125
    assert np.all(np.diff(result.sizes) > 0)
    assert result.estimator == "robust"
    custom = box_dimension(image, sizes=[4, 8, 16, 32, 64])
    np.testing.assert_array_equal(custom.sizes, [4, 8, 16, 32, 64])
    # An edge-to-edge line: 1000/s boxes of side s (area weighting makes it exact), so dimension 1, no spread.
    assert custom.dimension == pytest.approx(1.0, abs=1e-12)
    assert custom.stderr == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(custom.local_slopes, 1.0, atol=1e-12)


def test_box_dimension_accepts_numeric_and_dataarray_images():
    image = REFERENCE_SETS["circle"][0](256)
    expected = box_dimension(image).dimension
    assert box_dimension(image.astype(np.uint8)).dimension == expected
    assert box_dimension(xr.DataArray(image, dims=("sigma_w", "sigma_b"))).dimension == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"image": np.zeros((200, 200), bool)}, ValueError, "at least one set"),
        ({"image": np.ones(200, bool)}, ValueError, "2-D"),
        ({"image": np.ones((100, 100), bool)}, ValueError, "at least 128"),
        ({"image": np.ones((40, 40), bool), "estimator": "dinverno"}, ValueError, "48"),
        ({"image": np.ones((200, 200), bool), "estimator": "best"}, ValueError, "estimator must be one of"),
        ({"image": np.ones((200, 200), bool), "sizes": [4, 8]}, ValueError, "sizes must be"),
        ({"image": np.ones((200, 200), bool), "sizes": [4, 8, 400]}, ValueError, "sizes must be"),
        ({"image": np.ones((200, 200), bool), "sizes": [4, 5, 6]}, ValueError, "two octaves"),
        ({"image": np.ones((200, 200), bool), "offsets": 0}, ValueError, "offsets must be"),
        ({"image": np.full((200, 200), np.nan)}, ValueError, "finite"),
    ],
)
def test_box_dimension_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        box_dimension(**kwargs)


# --------------------------------------------------------------------------- boundary
def _grid_landscape(values: np.ndarray, sigma_w: np.ndarray, sigma_b: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims=("sigma_w", "sigma_b"), coords={"sigma_w": sigma_w, "sigma_b": sigma_b})


def test_boundary_small_example_and_threshold_units():
    landscape = np.array([[0.0, 1e-4, 0.5], [1e-4, 0.5, 0.5], [0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(boundary(landscape, 1e-3), [[True, True], [True, False]])
    # The threshold is on L itself: tau = 1 makes everything ordered, so there is no boundary.
    assert not boundary(landscape, 1.0).any()
    np.testing.assert_array_equal(boundary(landscape, 1e-5), [[True, False], [False, False]])


def test_boundary_dataarray_cell_centres_and_orientation():
    sigma_w = np.linspace(0.0, 4.0, 5)
    sigma_b = np.linspace(0.0, 2.0, 3)
    values = np.where(sigma_w[:, None] >= 2.0, 1.0, 0.0) + 0 * sigma_b[None, :]
    landscape = _grid_landscape(values, sigma_w, sigma_b)
    cells = boundary(landscape.transpose("sigma_b", "sigma_w"), 0.5)
    assert cells.dims == ("sigma_w", "sigma_b")
    np.testing.assert_allclose(cells.sigma_w, [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(cells.sigma_b, [0.5, 1.5])
    np.testing.assert_array_equal(cells.values[:, 0], [False, True, False, False])


@pytest.mark.parametrize(
    ("landscape", "threshold", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), 0.5, "NaN"),
        (np.array([[0.0, -1.0], [1.0, 1.0]]), 0.5, ">= 0"),
        (np.ones(4), 0.5, "2-D"),
        (np.ones((3, 3)), 0.0, "threshold must be > 0"),
        (xr.DataArray(np.ones((2, 2, 2)), dims=("sigma_w", "sigma_b", "layer")), 0.5, "dims"),
    ],
)
def test_boundary_rejects_bad_input(landscape, threshold, match):
    with pytest.raises(ValueError, match=match):
        boundary(landscape, threshold)


def test_landscape_values_accepts_infinity_as_chaotic():
    values = landscape_values(np.array([[0.0, np.inf], [1.0, 2.0]]))
    assert boundary(values, 1.5).all()


# --------------------------------------------------------------------------- frontier dimension
def test_frontier_dimension_of_nested_circles_is_one():
    """L = r^2: every level set {L <= tau} is a disk, every frontier a circle (dimension 1)."""
    x = np.linspace(-1.0, 1.0, 512)
    landscape = _grid_landscape(x[:, None] ** 2 + x[None, :] ** 2, x + 2, x + 2)
    landscape.attrs["parameters"] = json.dumps({"activation": "erf", "width": 10})
    result = frontier_dimension(landscape, thresholds=[0.2, 0.4, 0.6, 0.9])
    assert result.sizes == {"threshold": 4, "box_size": len(result.box_size)}
    assert bool(result.resolved.all())
    # Within twice the uncertainty, and that uncertainty itself small: a digitised circle of 512 px has local
    # slopes within a few percent of 1 (measured spread 0.023-0.044), so an inflated stderr cannot pass.
    assert np.all(np.abs(result.dimension - 1.0) <= 2 * result.stderr)
    assert np.all(result.stderr <= 0.05)
    assert abs(result.attrs["recommended_dimension"] - 1.0) <= 2 * result.attrs["recommended_stderr"] <= 0.1
    best = int(np.argmax(result.dimension.values))
    assert result.attrs["authors_threshold"] == pytest.approx(float(result.threshold[best]))
    assert result.attrs["authors_dimension"] == pytest.approx(float(result.dimension.max()))
    assert json.loads(result.attrs["parameters"])["landscape"] == {"activation": "erf", "width": 10}
    assert result.attrs["sigma_convention"] == "std"
    for name in ("dimension", "stderr", "count", "resolved", "boundary_pixels"):
        assert "long_name" in result[name].attrs


def test_frontier_dimension_sweep_marks_unresolved_thresholds():
    """L = 0 on a Sierpinski carpet, 1 elsewhere: the same frontier below tau = 1, none from tau = 1 on."""
    n = 1024
    carpet = np.zeros((n, n), dtype=bool)
    inside = np.ones((n, n), dtype=bool)
    levels = 6
    idx = (np.arange(n) * 3**levels) // n
    rows, cols = idx[:, None], idx[None, :]
    for _ in range(levels):
        inside &= ~((rows % 3 == 1) & (cols % 3 == 1))
        rows, cols = rows // 3, cols // 3
    carpet[inside] = True
    landscape = np.where(carpet, 0.0, 1.0)
    result = frontier_dimension(landscape)
    np.testing.assert_allclose(result.threshold, SWEEP_THRESHOLDS)
    below = result.threshold < 1.0
    assert bool(result.resolved[below].all()) and not bool(result.resolved[~below].any())
    assert np.isnan(result.dimension[~below]).all()
    truth = np.log(8) / np.log(3)
    assert abs(result.attrs["recommended_dimension"] - truth) <= 2 * result.attrs["recommended_stderr"]
    assert result.attrs["resolved_thresholds"] == int(below.sum())


def test_frontier_dimension_dinverno_and_single_threshold():
    x = np.linspace(-1.0, 1.0, 256)
    landscape = x[:, None] ** 2 + x[None, :] ** 2
    result = frontier_dimension(landscape, thresholds=0.3, estimator="dinverno")
    np.testing.assert_array_equal(result.box_size, np.arange(1, 49))
    assert result.attrs["estimator"] == "dinverno"
    assert result.attrs["authors_threshold"] == pytest.approx(0.3)


def test_frontier_dimension_round_trips_through_zarr(tmp_path):
    from infoprop._src.common import write_zarr

    x = np.linspace(-1.0, 1.0, 256)
    result = frontier_dimension(x[:, None] ** 2 + x[None, :] ** 2)
    path = write_zarr(result, tmp_path / "frontier.zarr")
    xr.testing.assert_identical(xr.open_zarr(path).load(), result)


@pytest.mark.parametrize(
    ("thresholds", "match"),
    [("all", "thresholds must be one of"), ([0.1, -1.0], "thresholds must be"), (np.ones((2, 2)), "1-D")],
)
def test_frontier_dimension_rejects_bad_thresholds(thresholds, match):
    x = np.linspace(-1.0, 1.0, 256)
    with pytest.raises(ValueError, match=match):
        frontier_dimension(x[:, None] ** 2 + x[None, :] ** 2, thresholds=thresholds)


def test_frontier_dimension_names_a_landscape_too_small_for_the_estimator():
    x = np.linspace(-1.0, 1.0, 100)
    with pytest.raises(ValueError, match=r"landscape of shape \(100, 100\) .* at least 128 x 128"):
        frontier_dimension(x[:, None] ** 2 + x[None, :] ** 2)


def test_frontier_dimension_checks_box_dimension_options_even_without_a_boundary():
    flat = np.full((256, 256), 0.5)
    with pytest.raises(TypeError, match=r"options must be among \('sizes', 'offsets'\).*\['size'\]"):
        frontier_dimension(flat, strict=False, size=[4, 8, 16])
    with pytest.raises(ValueError, match="offsets must be an integer >= 1"):
        frontier_dimension(flat, strict=False, offsets=0)


def test_frontier_dimension_without_boundary_raises():
    with pytest.raises(ValueError, match="no boundary"):
        frontier_dimension(np.full((256, 256), 0.5), thresholds=[1e-3, 1e-2])


# --------------------------------------------------------------------------- mean-field disagreement
def _mean_field_landscape(n: int = 64) -> tuple[xr.DataArray, np.ndarray]:
    """L = 0 on the mean-field ordered side (chi_1 < 1), 1 on the chaotic side; chi_1 from MeanField."""
    from infoprop._src.meanfield import MeanField

    axis = np.linspace(0.0, 4.0, n)
    chi1 = MeanField("erf").chi1(axis[:, None], axis[None, :])
    landscape = _grid_landscape(np.where(chi1 < 1.0, 0.0, 1.0), axis, axis)
    landscape.attrs["parameters"] = json.dumps({"activation": {"name": "erf"}})
    return landscape, chi1


def test_mean_field_disagreement_counts_flipped_cells():
    from infoprop._src.fractal import mean_field_disagreement

    landscape, _ = _mean_field_landscape()
    assert mean_field_disagreement(landscape, 0.5) == 0.0
    flipped = landscape.copy()
    flipped.values[:5, :7] = 1.0 - flipped.values[:5, :7]
    assert mean_field_disagreement(flipped, 0.5) == pytest.approx(35 / 64**2)
    # The activation comes from the provenance attrs; an explicit one overrides it.
    assert mean_field_disagreement(flipped, 0.5, activation="erf") == pytest.approx(35 / 64**2)
    relu = mean_field_disagreement(flipped, 0.5, activation="relu")
    assert relu != pytest.approx(35 / 64**2)


def test_mean_field_disagreement_rejects_bad_input():
    from infoprop._src.fractal import mean_field_disagreement

    landscape, _ = _mean_field_landscape(8)
    with pytest.raises(ValueError, match="activation must be given"):
        mean_field_disagreement(landscape.drop_attrs(), 0.5)
    with pytest.raises(TypeError, match="DataArray"):
        mean_field_disagreement(landscape.values, 0.5, activation="erf")
    with pytest.raises(ValueError, match="threshold"):
        mean_field_disagreement(landscape, -1.0)
    # Without coordinates the grid's sigma values are unknown (not the integer positions).
    with pytest.raises(ValueError, match="sigma_w and sigma_b coordinates"):
        mean_field_disagreement(landscape.drop_vars(["sigma_w", "sigma_b"]), 0.5)


@pytest.mark.slow
def test_disagreement_with_mean_field_shrinks_with_width_for_every_architecture():
    """Finite-size effect (seed paper figure 3): the frontier converges to mean field as the width grows."""
    from infoprop._src.fractal import mean_field_disagreement
    from infoprop._src.networks import RandomNetwork

    axis = np.linspace(0.0, 4.0, 40)
    for arch in ("mlp", "cnn", "fdf", "fdfd"):
        narrow, wide = (RandomNetwork(arch, width, 40, seed=1).forward(axis, axis) for width in (20, 400))
        # Against the mean-field class at the same depth only the finite-width effect remains: a clear drop.
        at_depth = [mean_field_disagreement(L, 1e-3, reference="depth") for L in (narrow, wide)]
        assert at_depth[1] < 0.5 * at_depth[0], (arch, at_depth)
        # Against chi_1 < 1 the finite-depth floor remains, but the drop is still there.
        chi1 = [mean_field_disagreement(L, 1e-3) for L in (narrow, wide)]
        assert chi1[1] < chi1[0], (arch, chi1)


def test_mean_field_disagreement_at_depth_uses_the_mean_field_trajectory():
    from infoprop._src.fractal import mean_field_disagreement
    from infoprop._src.meanfield import MeanField

    axis = np.linspace(0.0, 4.0, 24)
    mf = MeanField("erf").trajectory(axis, axis, q0=1.0, c0=0.0, depth=7)["divergence"].isel(layer=-1)
    landscape = _grid_landscape(mf.transpose("sigma_w", "sigma_b").values, axis, axis)
    landscape.attrs["parameters"] = json.dumps({"activation": "erf", "depth": 7})
    assert mean_field_disagreement(landscape, 1e-3, reference="depth") == 0.0
    assert mean_field_disagreement(landscape, 1e-3, reference="depth", depth=30) > 0.0
    with pytest.raises(ValueError, match="reference must be one of"):
        mean_field_disagreement(landscape, 1e-3, reference="width")


def test_mean_field_disagreement_at_depth_counts_overflowed_mean_field_as_chaotic():
    """ReLU with sigma_w^2 / 2 >= 4.5: q^D >= 4.5^999 overflows float64 (its divergence is NaN), a chaotic point."""
    import warnings

    from infoprop._src.fractal import mean_field_disagreement

    ordered = _grid_landscape(np.zeros((4, 3)), np.linspace(3.0, 4.0, 4), np.linspace(0.0, 1.0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflow is expected and handled, not reported
        assert mean_field_disagreement(ordered, 1e-3, "relu", reference="depth", depth=1000) == 1.0


# --------------------------------------------------------------------------- zoom
@pytest.fixture(scope="module")
def small_network():
    from infoprop._src.networks import RandomNetwork

    return RandomNetwork("mlp", 8, 6, seed=3)


def test_zoom_levels_equal_direct_evaluation_of_the_same_draw(small_network):
    from infoprop import zoom

    calls = []
    zoomed = zoom(small_network, (2.0, 2.0), [4.0, 1.0, 0.25], 17, progress=lambda k, n: calls.append((k, n)))
    assert zoomed.dims == ("zoom", "sigma_w_index", "sigma_b_index")
    assert zoomed.shape == (3, 17, 17)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    for k, width in enumerate([4.0, 1.0, 0.25]):
        axis = np.linspace(2.0 - width / 2, 2.0 + width / 2, 17)
        np.testing.assert_allclose(zoomed.sigma_w[k], axis, rtol=0, atol=1e-15)
        np.testing.assert_allclose(zoomed.sigma_b[k], axis, rtol=0, atol=1e-15)
        direct = small_network.forward(axis, axis)
        np.testing.assert_array_equal(zoomed.values[k], direct.values)
        level = zoomed.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")
        np.testing.assert_array_equal(boundary(level, 1e-3).values, boundary(direct, 1e-3).values)
    parameters = json.loads(zoomed.attrs["parameters"])
    assert parameters["zoom_widths"] == [4.0, 1.0, 0.25]
    assert parameters["width"] == 8 and parameters["seed"] == 3


def test_zoom_accepts_one_centre_per_window_and_other_metrics(small_network):
    from infoprop._src.fractal import zoom

    centers = [(2.0, 2.0), (2.2, 2.05)]
    zoomed = zoom(small_network, centers, [4.0, 0.1], 5, metric="forward", inputs="perturbed", eps=1e-3)
    np.testing.assert_allclose(zoomed.center_sigma_w, [2.0, 2.2])
    np.testing.assert_allclose(zoomed.sigma_b[1, [0, -1]], [2.0, 2.1])
    assert json.loads(zoomed.attrs["parameters"])["inputs"] == "perturbed"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"center": (0.1, 2.0), "widths": [1.0]}, ValueError, "negative sigma"),
        ({"center": (2.0, 2.0, 1.0), "widths": [1.0]}, ValueError, "center must have shape"),
        ({"center": (2.0, 2.0), "widths": [0.0]}, ValueError, "widths must be"),
        ({"center": (2.0, 2.0), "widths": [1.0], "resolution": 1}, ValueError, "resolution must be"),
        ({"center": (2.0, 2.0), "widths": [1.0], "metric": "entropy"}, ValueError, "metric must be one of"),
    ],
)
def test_zoom_rejects_bad_input(small_network, kwargs, error, match):
    from infoprop._src.fractal import zoom

    kwargs.setdefault("resolution", 5)
    with pytest.raises(error, match=match):
        zoom(small_network, **kwargs)


def test_zoom_rejects_an_object_that_is_not_a_network():
    from infoprop._src.fractal import zoom

    with pytest.raises(TypeError, match="network must be an infoprop.RandomNetwork"):
        zoom(object(), (2.0, 2.0), [1.0], 5)


def test_plot_box_counts_draws_the_counts_and_the_fitted_power_law():
    import matplotlib

    matplotlib.use("Agg")
    from infoprop._src.plots.fractal import plot_box_counts

    image = np.zeros((256, 256), dtype=bool)
    image[:, 100] = True  # a straight line: N(s) = 256 / s exactly, dimension 1
    result = box_dimension(image, "dinverno", sizes=[1, 2, 4, 8, 16, 32])
    fig = plot_box_counts({"line": result})
    points, fitted = fig.axes[0].get_lines()
    np.testing.assert_array_equal(points.get_xdata(), result.sizes)
    np.testing.assert_array_equal(points.get_ydata(), 256 / result.sizes)
    np.testing.assert_allclose(fitted.get_ydata(), 256 / result.sizes, rtol=1e-9)
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "line: D = 1.000 ± 0.000"
