"""Tests of the frontier report (`infoprop report`, infoprop._src.report.frontier_report) at a small size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src.fractal import box_dimension
from infoprop._src.meanfield import MeanField
from infoprop._src.networks import RandomNetwork
from infoprop._src.report import frontier_report
from infoprop.cli import main

SMALL = {"width": 16, "depth": 12, "sigma_w": np.linspace(0.0, 4.0, 129), "sigma_b": np.linspace(0.0, 4.0, 129)}


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    calls = []
    summary = frontier_report(out, progress=lambda done, total: calls.append((done, total)), **SMALL)
    return out, summary, calls


def test_report_writes_every_file_and_a_consistent_summary(small_report):
    out, summary, calls = small_report
    for name in (
        "landscape.zarr",
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
    assert calls[-1] == (129 * 129, 129 * 129)
    p = summary["parameters"]
    assert (p["width"], p["depth"], p["activation"], p["arch"]) == (16, 12, "erf", "mlp")
    assert p["sigma_convention"] == "std"


def test_report_landscape_is_the_network_draw_and_the_numbers_follow_from_it(small_report):
    out, summary, _ = small_report
    landscape = xr.open_zarr(out / "landscape.zarr")["forward"].load()
    network = RandomNetwork("mlp", 16, 12, activation="erf", seed=0)
    expected = network.forward(SMALL["sigma_w"], SMALL["sigma_b"])
    np.testing.assert_array_equal(landscape.values, expected.values)
    # Disagreement: recomputed directly from the mean-field chi_1 on the grid.
    tau = summary["parameters"]["threshold"]
    chi1 = MeanField("erf").chi1(SMALL["sigma_w"][:, None], SMALL["sigma_b"][None, :])
    assert summary["mean_field_disagreement"] == pytest.approx(np.mean((landscape.values <= tau) != (chi1 < 1)))
    # Boundary cells by a second rule: min of the 4 corners <= tau < max of the 4 corners.
    v = landscape.values
    corners = np.stack([v[:-1, :-1], v[1:, :-1], v[:-1, 1:], v[1:, 1:]])
    assert summary["boundary_cells"] == int(((corners.min(0) <= tau) & (corners.max(0) > tau)).sum())
    # The stored sweep: the documented thresholds, each dimension the (separately validated) robust box count of
    # the boundary by the corner rule, and the summary the median over resolved thresholds.
    stored = xr.open_zarr(out / "frontier.zarr").load()
    np.testing.assert_allclose(stored.threshold.values, np.logspace(-5, 0, 21), rtol=1e-12)
    resolved = stored["resolved"].values
    assert resolved.sum() >= 3
    for k in np.flatnonzero(resolved)[[0, -1]]:
        t = float(stored.threshold[k])
        cells = (corners.min(0) <= t) & (corners.max(0) > t)
        assert float(stored["dimension"][k]) == pytest.approx(box_dimension(cells, "robust").dimension, rel=1e-12)
    expected = np.median(stored["dimension"].values[resolved])
    assert summary["dimension"]["recommended"] == pytest.approx(expected, rel=1e-12)


def test_cli_report_prints_a_table_and_writes_out(tmp_path, capsys):
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
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "frontier dimension" in printed and "disagreement with mean field" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parameters"]["sigma_b"] == [0.0, 4.0, 129]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--width", "0"], "width must be an integer >= 1, got 0"),
        (["--sigma-w", "0:4:10"], "sigma_w must be a 1-D grid of at least 129 values"),
        (["--threshold", "-1"], "threshold must be > 0"),
        (["--activation", "nope"], "activation must be one of"),
        (["--arch", "transformer"], "arch must be one of"),
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
def test_default_report_finds_a_fractal_frontier_near_mean_field(tmp_path):
    """The main job on its built-in defaults: a frontier of dimension between 1 and 2 close to chi_1 = 1."""
    assert main(["report", "--out", str(tmp_path), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    d = summary["dimension"]
    assert 1.0 < d["recommended"] < 2.0
    assert d["recommended_stderr"] < 0.2
    assert summary["mean_field_disagreement"] < 0.2


def test_report_of_a_resnet_has_no_mean_field_line(tmp_path, capsys):
    """A residual network has no critical line: the report runs, its disagreement is None and says so."""
    argv = ["report", "--arch", "resnet", "--width", "8", "--depth", "6", "--sigma-w", "0:4:129"]
    assert main([*argv, "--sigma-b", "0:4:129", "--out", str(tmp_path)]) == 0
    assert "no mean-field critical line" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parameters"]["arch"] == "resnet" and summary["mean_field_disagreement"] is None
    landscape = xr.open_zarr(tmp_path / "landscape.zarr")["forward"].load()
    expected = RandomNetwork("resnet", 8, 6, activation="erf", seed=0).forward(SMALL["sigma_w"], SMALL["sigma_b"])
    np.testing.assert_array_equal(landscape.values, expected.values)
