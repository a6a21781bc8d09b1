"""Tests of the frontier report (`infoprop report`, infoprop._src.report.frontier_report) at a small size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src import fractal
from infoprop._src.fractal import box_dimension, dimension_summary, mixed_cells
from infoprop._src.meanfield import MeanField
from infoprop._src.networks import ARCHS, RandomNetwork
from infoprop._src.report import DEFAULTS, frontier_report
from infoprop.cli import main

GRID = np.linspace(0.0, 4.0, 129)
SMALL = {"width": 16, "depth": 12, "sigma_w": GRID, "sigma_b": GRID, "zoom_resolution": 129}


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    calls = []
    summary = frontier_report(out, progress=lambda done, total: calls.append((done, total)), **SMALL)
    return out, summary, calls


def test_defaults_are_the_papers_headline_setting():
    assert (DEFAULTS["arch"], DEFAULTS["activation"], DEFAULTS["width"], DEFAULTS["depth"]) == ("mlp", "erf", 100, 1000)
    assert DEFAULTS["metric"] == "forward_normalised"
    assert tuple(DEFAULTS["sides"]) == tuple(side for _, side in fractal.PAPER_WINDOWS[1:])


def test_report_writes_every_file_and_a_consistent_summary(small_report):
    out, summary, calls = small_report
    for name in (
        "landscape.zarr",
        "zoom.zarr",
        "frontier.zarr",
        "frontier_dinverno.zarr",
        "report.png",
        "report-dimension.png",
        "summary.json",
    ):
        assert (out / name).exists(), name
    assert json.loads((out / "summary.json").read_text()) == {k: v for k, v in summary.items() if k != "files"} | {
        "files": {k: v for k, v in summary["files"].items() if k != "summary"}
    }
    total = 129 * 129 * 4  # full view and three windows
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    p = summary["parameters"]
    assert (p["width"], p["depth"], p["activation"], p["arch"], p["metric"]) == (
        16,
        12,
        "erf",
        "mlp",
        "forward_normalised",
    )
    assert p["sigma_convention"] == "std"
    assert [level["label"] for level in summary["levels"]] == [
        "full view",
        "zoom 1 (side 0.4)",
        "zoom 2 (side 0.1)",
        "zoom 3 (side 0.025)",
    ]
    # not the paper's setting (N = 16, D = 12): no published value beside the numbers
    assert all(level["paper"] is None for level in summary["levels"])


def test_report_numbers_follow_from_the_network_draw(small_report):
    out, summary, _ = small_report
    network = RandomNetwork("mlp", 16, 12, activation="erf", seed=0)
    landscape = xr.open_zarr(out / "landscape.zarr")["forward_normalised"].load()
    np.testing.assert_array_equal(landscape.values, network.forward_normalised(GRID, GRID).values)
    zoom = xr.open_zarr(out / "zoom.zarr")["forward_normalised"].load()
    windows = [landscape]
    for k in range(zoom.sizes["zoom"]):
        level = zoom.isel(zoom=k).swap_dims(sigma_w_index="sigma_w", sigma_b_index="sigma_b")
        expected = network.forward_normalised(level["sigma_w"].values, level["sigma_b"].values)
        np.testing.assert_array_equal(level.values, expected.values)  # the same draw in every window
        windows.append(level)
    tau = summary["parameters"]["threshold"]
    for level, window in zip(summary["levels"], windows):
        direct, _, _ = dimension_summary(window, tau)
        for rule in ("robust_at_threshold", "robust_median", "authors"):
            assert level[rule] == json.loads(json.dumps(direct[rule])), rule
        if level["robust_at_threshold"]["dimension"] is not None:
            # recomputed from the boundary cells by box counting directly
            cells = mixed_cells(window.values <= tau)
            assert level["robust_at_threshold"]["dimension"] == pytest.approx(box_dimension(cells).dimension)
    # The stored sweep of the full view, recomputed by hand: quarter decades from 1e-5 to the first value at or
    # above the largest L; each resolved dimension the (separately validated) box count of the boundary by the
    # corner rule; the median and the authors' maximum taken here.
    v = landscape.values
    corners = np.stack([v[:-1, :-1], v[1:, :-1], v[:-1, 1:], v[1:, 1:]])
    for name, estimator in (("frontier.zarr", "robust"), ("frontier_dinverno.zarr", "dinverno")):
        stored = xr.open_zarr(out / name).load().isel(level=0)
        taus = stored.threshold.values[np.isfinite(stored.threshold.values)]
        np.testing.assert_allclose(np.diff(np.log10(taus)), 0.25, rtol=1e-9)
        assert taus[0] == pytest.approx(1e-5) and taus[-2] < v.max() <= taus[-1]
        resolved = stored["resolved"].values[: taus.size]
        dims = []
        for k in np.flatnonzero(resolved):
            cells = (corners.min(0) <= taus[k]) & (corners.max(0) > taus[k])
            dims.append(box_dimension(cells, estimator).dimension)
            assert float(stored["dimension"][k]) == pytest.approx(dims[-1], rel=1e-12)
        full = summary["levels"][0]
        if estimator == "robust":
            assert full["robust_median"]["dimension"] == pytest.approx(np.median(dims), rel=1e-12)
        else:
            assert full["authors"]["dimension"] == pytest.approx(max(dims), rel=1e-12)
    chi1 = MeanField("erf").chi1(GRID[:, None], GRID[None, :])
    assert summary["mean_field_disagreement"] == pytest.approx(np.mean((landscape.values <= tau) != (chi1 < 1)))
    stored = xr.open_zarr(out / "frontier_dinverno.zarr").load()
    assert list(stored["level"].values) == [level["label"] for level in summary["levels"]]
    np.testing.assert_allclose(
        stored["authors_dimension"].values,
        [np.nan if lv["authors"]["dimension"] is None else lv["authors"]["dimension"] for lv in summary["levels"]],
    )


def test_cli_report_prints_labelled_estimators_and_writes_out(tmp_path, capsys):
    code = main(
        [
            "report",
            "--out",
            str(tmp_path),
            "--width",
            "8",
            "--depth",
            "6",
            "--sigma-w",
            "0:4:129",
            "--sigma-b2",
            "0:16:129",
            "--sides",
            "0.4",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for label in ("robust @ tau = 0.001", "robust, median over tau", "authors' estimator, max over tau", "paper"):
        assert label in printed
    assert "disagreement with mean field" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parameters"]["sigma_b"] == [0.0, 4.0, 129]
    assert summary["parameters"]["sides"] == [0.4]
    assert len(summary["levels"]) == 2


def test_which_archs_have_a_mean_field_line():
    assert fractal.has_critical_line("mlp", "erf") and fractal.has_critical_line("fdfd", "relu")
    assert not fractal.has_critical_line("resnet", "erf")  # residual: no fixed point, no line
    assert not fractal.has_critical_line("cnn", "relu")  # no deterministic map for a non-odd activation
    landscape = xr.DataArray(
        np.zeros((3, 3)), dims=("sigma_w", "sigma_b"), coords={"sigma_w": [1, 2, 3], "sigma_b": [0, 1, 2]}
    )
    with pytest.raises(ValueError, match="no mean-field critical line"):
        fractal.mean_field_disagreement(landscape, 1e-3, "erf", arch="resnet")


def test_report_arch_choices_come_from_the_network_registry(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--no-progress", "--arch", "transformer"]) == 2
    err = capsys.readouterr().err
    assert "arch must be one of" in err and all(repr(name) in err for name in ARCHS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--width", "0"], "width must be an integer >= 1, got 0"),
        (["--sigma-w", "0:4:10"], "sigma_w must be a 1-D grid of at least 129 values"),
        (["--threshold", "-1"], "threshold must be > 0"),
        (["--activation", "nope"], "activation must be one of"),
        (["--arch", "transformer"], "arch must be one of"),
        (["--metric", "lyapunov"], "metric must be one of ('forward', 'forward_normalised')"),
        (["--sides", "0.1,0.4"], "sides must be decreasing numbers > 0"),
        (["--sides", "big"], "--sides must be comma-separated numbers or 'none'"),
        (["--zoom-resolution", "10"], "zoom_resolution must be an integer >= 129"),
        (["--sigma-w", "0:4:129", "--sigma-w2", "0:16:129"], "--sigma-w or --sigma-w2, not both"),
        (["--depth", "many"], "'--depth'"),
    ],
)
def test_cli_report_bad_input_gives_one_line_and_exit_code_2(argv, message, tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.slow
def test_report_at_the_papers_depth_and_width_sits_beside_the_papers_values(tmp_path):
    """The main job's setting (erf MLP, N = 100, D = 1000) on a coarse full view only, to stay short."""
    argv = ["report", "--out", str(tmp_path), "--no-progress", "--sigma-w", "0:4:129", "--sigma-b", "0:4:129"]
    assert main([*argv, "--sides", "none"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    (full,) = summary["levels"]
    assert full["paper"] == 1.72
    assert 1.0 < full["robust_at_threshold"]["dimension"] <= 2.0
    assert full["authors"]["interior"]  # the extended sweep brackets the authors' maximum
    # the authors' maximum of the full view is where the threshold cuts into the chaotic plateau (tau* ~ 1)
    assert full["authors"]["threshold"] >= 0.1
    assert full["authors"]["dimension"] > full["robust_at_threshold"]["dimension"]
    assert full["between_fraction"] > 0.1
    assert summary["mean_field_disagreement"] < 0.1


def test_report_of_a_resnet_has_no_mean_field_line(tmp_path, capsys):
    """A residual network has no critical line: the report runs, its disagreement is None and says so."""
    argv = ["report", "--arch", "resnet", "--width", "8", "--depth", "6", "--sigma-w", "0:4:129", "--sides", "none"]
    assert main([*argv, "--sigma-b", "0:4:129", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "no mean-field critical line" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parameters"]["arch"] == "resnet" and summary["mean_field_disagreement"] is None
    landscape = xr.open_zarr(tmp_path / "landscape.zarr")["forward_normalised"].load()
    expected = RandomNetwork("resnet", 8, 6, activation="erf", seed=0).forward_normalised(GRID, GRID)
    np.testing.assert_array_equal(landscape.values, expected.values)
