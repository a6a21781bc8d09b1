"""Tests of the figure recipes (tiny scale) and `infoprop figure`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src.figures import (
    ARCHS,
    COLLAPSE_ARCHS,
    FOLLOW_THRESHOLD,
    PAPER_WINDOWS,
    RECIPES,
    RULES,
    SIZES,
    list_recipes,
    make_figure,
)
from infoprop.cli import main

EXPECTED = {
    "universality": ["universality.zarr", "universality.png"],
    "finite-size": ["finite-size.zarr", "finite-size.png", "finite-size-disagreement.png"],
    "zoom": ["zoom.zarr", "zoom.png"],
    "dimension": [
        "dimension.zarr",
        "dimension-landscapes.zarr",
        "dimension-mlp.png",
        "dimension-cnn.png",
        "dimension-fdfd.png",
    ],
    "reproduction": ["reproduction.zarr", "reproduction.md", "reproduction.png", "reproduction-mlp.png"],
    "resolution": ["resolution.zarr", "resolution.md", "resolution.png"],
    "depth": ["depth.zarr", "depth.png"],
    "crossover": ["crossover.zarr", "crossover.png"],
    "width": ["width.zarr", "width.png"],
    "collapse": ["collapse.zarr", "collapse.png"],
    "tradeoff": ["tradeoff.zarr", "tradeoff.png"],
    "estimators": ["estimators.zarr", "estimators.png", "estimators-frontier.png"],
}


def test_registry_lists_every_recipe_with_its_docstring_line(capsys):
    assert sorted(RECIPES) == sorted(EXPECTED)
    listed = dict(list_recipes())
    for name, fn in RECIPES.items():
        assert listed[name] == fn.__doc__.strip().splitlines()[0]
    for argv in (["figure", "--list"], ["figure", "list"]):
        assert main(argv) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert [line.split()[0] for line in lines] == sorted(EXPECTED)


def test_paper_scale_sizes_of_the_new_studies():
    assert max(SIZES["depth"]["paper"]["depths"]) == 3000 and min(SIZES["depth"]["paper"]["depths"]) == 10
    assert SIZES["width"]["paper"]["widths"][0] == 25 and SIZES["width"]["paper"]["widths"][-1] == 800
    assert set(SIZES) == set(RECIPES)
    assert all(set(scales) == {"tiny", "small", "paper"} for scales in SIZES.values())


class _Stop(Exception):
    """Raised by the recording network at its first evaluation: nothing is computed."""


# What the seed paper computes (SPEC section 4): (width, depth, sigma_w points, sigma_b points) of the first
# landscape each recipe evaluates at --scale paper; finite-size starts at its smallest width, 20. The studies
# added by issue 11 start at their first depth / width / architecture (their own paper-scale sizes).
PAPER_FIRST_LANDSCAPE = {
    "universality": (100, 1000, 1000, 1000),
    "finite-size": (20, 1000, 1000, 1000),
    "zoom": (100, 1000, 1000, 1000),
    "dimension": (100, 1000, 1000, 1000),
    "reproduction": (100, 1000, 1000, 1000),
    "resolution": (100, 1000, 1025, 1025),
    "tradeoff": (100, 1000, 1000, 1),
    "depth": (100, 10, 1000, 1000),
    "crossover": (100, 50, 513, 513),
    "width": (25, 1000, 3000, 3000),
    "collapse": (100, 1000, 49, 15),
}


@pytest.mark.parametrize("name", sorted(PAPER_FIRST_LANDSCAPE))
def test_paper_scale_evaluates_the_seed_papers_sizes(name, monkeypatch, tmp_path):
    """The recipe itself is run at --scale paper with a recording network: the draw it asks for and the grid of
    its first landscape are the paper's (not merely a table of constants)."""
    import infoprop._src.figures as figures

    seen = {}

    class Recorder:
        def __init__(self, arch, width, depth, seed, dtype="float32"):
            seen["network"] = (width, depth)

        def __getattr__(self, method):
            def evaluate(*args, **kwargs):
                # RandomNetwork.landscape(metric, sigma_w, sigma_b, ...) or a metric method (sigma_w, sigma_b, ...)
                sigma_w, sigma_b = args[1:3] if method == "landscape" else args[:2]
                seen["grid"] = (np.size(sigma_w), np.size(sigma_b))
                raise _Stop

            return evaluate

    monkeypatch.setattr(figures, "_network", Recorder)
    with pytest.raises(_Stop):
        make_figure(name, "paper", tmp_path / "out")
    assert (*seen["network"], *seen["grid"]) == PAPER_FIRST_LANDSCAPE[name]
    assert not (tmp_path / "out").exists()  # nothing written before the data exists


@pytest.fixture(scope="module")
def tiny_outputs(tmp_path_factory):
    """Run every recipe once at the tiny scale through the CLI; keep the directory for the checks below."""
    out = tmp_path_factory.mktemp("figures")
    codes = {}
    for name in EXPECTED:  # into one folder: after the first recipe it exists, infoprop's own, so --overwrite
        argv = ["figure", name, "--scale", "tiny", "--out", str(out), "--no-progress"]
        codes[name] = main(argv if not codes else [*argv, "--overwrite"])
    return out, codes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_recipe_writes_its_data_and_figures(tiny_outputs, name):
    out, codes = tiny_outputs
    assert codes[name] == 0
    for filename in EXPECTED[name]:
        path = out / filename
        assert path.exists(), filename
        if filename.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        elif filename.endswith(".md"):
            assert path.read_text().startswith("# Re")
        else:
            ds = xr.open_zarr(path)
            parameters = json.loads(ds.attrs["parameters"])
            assert parameters["scale"] == "tiny"
            assert ds.attrs["sigma_convention"] == "std"
            assert ds.attrs["infoprop_kind"] == f"figure:{name}"
            for variable in ds.data_vars.values():
                assert "long_name" in variable.attrs, (filename, variable.name)


def test_universality_and_finite_size_data(tiny_outputs):
    out, _ = tiny_outputs
    universality = xr.open_zarr(out / "universality.zarr")["forward_normalised"]
    assert universality.dims == ("arch", "sigma_w", "sigma_b")
    assert list(universality.arch.values) == list(ARCHS)
    finite = xr.open_zarr(out / "finite-size.zarr").load()
    assert finite["forward"].dims == ("arch", "width", "sigma_w", "sigma_b")
    assert ((finite["disagreement"] >= 0) & (finite["disagreement"] <= 1)).all()
    assert (finite["forward"] >= 0).all()


def test_zoom_windows_are_nested_paper_sides_centred_on_the_frontier(tiny_outputs):
    out, _ = tiny_outputs
    zoomed = xr.open_zarr(out / "zoom.zarr").load()
    values = zoomed["forward_normalised"]
    assert values.dims == ("zoom", "sigma_w_index", "sigma_b_index")
    threshold = json.loads(zoomed.attrs["parameters"])["follow_threshold"]
    assert threshold == FOLLOW_THRESHOLD
    np.testing.assert_allclose(zoomed.window_side, [side for _, side in PAPER_WINDOWS])
    np.testing.assert_allclose(zoomed.sigma_w[0, [0, -1]], [0.0, 4.0])
    for k in range(1, len(PAPER_WINDOWS)):
        lo_w, hi_w = zoomed.sigma_w[k, [0, -1]].values
        lo_b, hi_b = zoomed.sigma_b[k, [0, -1]].values
        np.testing.assert_allclose([hi_w - lo_w, hi_b - lo_b], float(zoomed.window_side[k]), rtol=1e-12)
        prev_w, prev_b = zoomed.sigma_w[k - 1].values, zoomed.sigma_b[k - 1].values
        assert prev_w[0] - 1e-12 <= lo_w and hi_w <= prev_w[-1] + 1e-12
        assert prev_b[0] - 1e-12 <= lo_b and hi_b <= prev_b[-1] + 1e-12
        # The centre is a boundary cell of the previous window: its four neighbouring grid points straddle tau.
        i = np.searchsorted(prev_w, float(zoomed.center_sigma_w[k])) - 1
        j = np.searchsorted(prev_b, float(zoomed.center_sigma_b[k])) - 1
        corners = values[k - 1].values[i : i + 2, j : j + 2] <= threshold
        assert corners.any() and not corners.all()


def test_dimension_data_per_arch_window_and_rule(tiny_outputs):
    out, _ = tiny_outputs
    dimension = xr.open_zarr(out / "dimension.zarr").load()
    assert dimension["dimension"].dims == ("arch", "zoom", "rule")
    assert list(dimension.arch.values) == ["mlp", "cnn", "fdfd"]
    assert list(dimension.rule.values) == list(RULES)
    full = dimension["dimension"].isel(zoom=0)
    assert bool(np.isfinite(full).all())  # the full view always contains the frontier
    ok = dimension["dimension"].where(np.isfinite(dimension["dimension"]))
    assert bool(((ok > 0.5) & (ok <= 2.1) | ok.isnull()).all())
    # the authors' column is the authors' estimator: recomputed from the stored full view with it
    from infoprop._src.fractal import dimension_summary

    landscapes = xr.open_zarr(out / "dimension-landscapes.zarr").load()
    summary, _, authors = dimension_summary(landscapes["full_view"].sel(arch="mlp"), FOLLOW_THRESHOLD)
    assert authors.attrs["estimator"] == "dinverno"
    got = float(dimension["dimension"].sel(arch="mlp", rule="authors").isel(zoom=0))
    assert got == pytest.approx(summary["authors"]["dimension"])


def test_reproduction_table_has_every_published_value(tiny_outputs):
    from infoprop._src.fractal import PAPER_DIMENSIONS

    out, _ = tiny_outputs
    table = (out / "reproduction.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| arch")]
    assert len(rows) == sum(len(v) for v in PAPER_DIMENSIONS.values())
    for arch, values in PAPER_DIMENSIONS.items():
        mine = [row for row in rows if row.startswith(f"| {arch} |")]
        assert [float(row.split("|")[4]) for row in mine] == list(values)
    assert "infoprop figure reproduction --scale tiny" in table


def test_depth_crossover_width_and_collapse_data(tiny_outputs):
    out, _ = tiny_outputs
    depth = xr.open_zarr(out / "depth.zarr").load()
    assert depth["dimension"].dims == ("depth", "view", "rule")
    assert list(depth.depth.values) == list(SIZES["depth"]["tiny"]["depths"])
    crossover = xr.open_zarr(out / "crossover.zarr").load()
    assert (crossover["scale"] > 0).all() and crossover.sizes["sample"] > 0
    assert "crossover_fits" in json.loads(crossover.attrs["parameters"])
    width = xr.open_zarr(out / "width.zarr").load()
    assert width["shift"].dims == ("width", "seed", "sigma_b")
    assert list(width.width.values) == list(SIZES["width"]["tiny"]["widths"])
    assert (np.abs(width["shift"]) <= 2 * SIZES["width"]["tiny"]["half_window"]).all()
    collapse = xr.open_zarr(out / "collapse.zarr").load()
    assert list(collapse.arch.values) == list(COLLAPSE_ARCHS)
    assert (collapse["collapsed"] <= collapse["chaotic_points"]).all()


def test_tradeoff_ordered_phase_forgets_and_chaotic_phase_amplifies(tiny_outputs):
    """Deep in the ordered phase both metrics shrink with depth; deep in the chaotic phase robustness grows."""
    out, _ = tiny_outputs
    data = xr.open_zarr(out / "tradeoff.zarr").load()
    shallow, deep = int(data.layer[0]), int(data.layer[-1])
    ordered = data.sel(sigma_w=data.sigma_w[0])  # sigma_w = 0.05: chi_1 << 1
    chaotic = data.sel(sigma_w=data.sigma_w[-1])  # sigma_w = 4: chi_1 ~ 2.8
    assert ordered["separation"].sel(layer=deep) < ordered["separation"].sel(layer=shallow)
    assert ordered["robustness"].sel(layer=deep) < ordered["robustness"].sel(layer=shallow)
    assert chaotic["robustness"].sel(layer=deep) > chaotic["robustness"].sel(layer=shallow)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["figure", "nonsense", "--scale", "tiny"], "name must be one of ('collapse'"),
        (["figure", "zoom", "--scale", "huge"], "scale must be one of ('tiny', 'small', 'paper'), got 'huge'"),
        (["figure"], "NAME is required"),
        (["figure", "zoom", "--seed", "-1"], "seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_figure_arguments_give_one_line_and_exit_code_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not any(tmp_path.iterdir())  # validated before anything is written


def test_make_figure_validates_first(tmp_path):
    with pytest.raises(ValueError, match="scale must be one of"):
        make_figure("zoom", "medium", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        make_figure("zooom", "tiny", tmp_path)


def test_resolution_check_uses_the_reports_grid_as_a_subsample(tiny_outputs):
    """The step-2 subsample of the doubled grid is exactly the report's grid: same values, same dimensions."""
    from infoprop._src.fractal import dimension_summary
    from infoprop._src.networks import RandomNetwork

    out, _ = tiny_outputs
    data = xr.open_zarr(out / "resolution.zarr").load()
    p = SIZES["resolution"]["tiny"]
    assert list(data.points.sel(view="full view").values) == [
        (2 * p["resolution"] - 1 + 3) // 4,
        p["resolution"],
        2 * p["resolution"] - 1,
    ]
    grid = np.linspace(0.0, 4.0, p["resolution"])
    landscape = RandomNetwork("mlp", p["width"], p["depth"], seed=0).forward_normalised(grid, grid)
    summary, _, _ = dimension_summary(landscape, FOLLOW_THRESHOLD)
    got = data["dimension"].sel(view="full view", step=2)
    assert float(got.sel(rule="robust_at_threshold")) == pytest.approx(summary["robust_at_threshold"]["dimension"])
    assert float(got.sel(rule="authors")) == pytest.approx(summary["authors"]["dimension"])
    assert (out / "resolution.md").read_text().count("| full view (") == len(RULES)
