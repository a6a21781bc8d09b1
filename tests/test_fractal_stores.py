"""Landscapes read from zarr stores (load_landscape) for the fractal tools and the frontier report.

References are independent of the store code: the finite-width engine evaluated directly on the whole grid, and
the frontier report computing its own network draw.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src.common import write_zarr
from infoprop._src.fractal import bracketing_thresholds, frontier_dimension, load_landscape, mean_field_disagreement
from infoprop._src.meanfield import MeanField
from infoprop._src.networks import RandomNetwork
from infoprop._src.report import frontier_report
from infoprop.cli import main
from infoprop.sweep import run_sweep

# float32: the working precision of the report's own network draw, so both report paths see the same L.
# 130 points per axis (the report needs >= 129) in tiles of 65: 4 tiles per landscape, 2 seeds.
SPEC = """\
arch = "mlp"
width = 16
depth = 12
seed = [0, 1]
sigma_w = { start = 0.0, stop = 4.0, count = 130 }
sigma_b = { start = 0.0, stop = 4.0, count = 130 }
tile = 65
dtype = "float32"
"""
GRID = np.linspace(0.0, 4.0, 130)


def direct(seed, **options):
    """The independent reference: one network draw evaluated on the whole grid in one call."""
    return RandomNetwork("mlp", 16, 12, activation="erf", seed=seed).forward(GRID, GRID, **options)


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    (root / "spec.toml").write_text(SPEC)
    return run_sweep(root / "spec.toml", root / "sweep.zarr").store


@pytest.mark.parametrize("seed", [0, 1])
def test_sweep_landscape_is_the_engine_output_bitwise(sweep_store, seed):
    landscape = load_landscape(sweep_store, seed=seed)
    expected = direct(seed).transpose("sigma_w", "sigma_b")
    assert landscape.dims == ("sigma_w", "sigma_b")
    assert np.array_equal(landscape.values, expected.values)
    assert landscape.attrs == expected.attrs
    assert json.loads(landscape.attrs["parameters"])["seed"] == seed
    np.testing.assert_array_equal(landscape["sigma_w"].values, GRID)


def test_report_from_a_sweep_matches_the_report_on_its_own_draw(sweep_store, tmp_path, capsys):
    own = frontier_report(
        tmp_path / "own", width=16, depth=12, seed=1, metric="forward", sigma_w=GRID, sigma_b=GRID, sides=[0.4]
    )
    argv = ["report", "--from", str(sweep_store), "--select", "seed=1", "--sides", "0.4"]
    assert main([*argv, "--out", str(tmp_path / "from"), "--no-progress"]) == 0
    assert "authors' estimator, max over tau" in capsys.readouterr().out
    stored = json.loads((tmp_path / "from" / "summary.json").read_text())
    # same numbers: the stored full view is the draw's, and the zoom window is computed by re-drawing the network
    assert stored["levels"] == json.loads(json.dumps(own["levels"]))
    assert stored["mean_field_disagreement"] == own["mean_field_disagreement"]
    p = stored["parameters"]
    assert (p["arch"], p["activation"], p["width"], p["depth"], p["seed"], p["metric"]) == (
        "mlp",
        "erf",
        16,
        12,
        1,
        "forward",
    )
    assert p["sigma_w"] == own["parameters"]["sigma_w"] == [0.0, 4.0, 130]
    assert p["landscape"]["source"] == str(sweep_store)
    assert p["landscape"]["selection"] == {"seed": 1}
    assert p["landscape"]["provenance"]["arch"] == "mlp"
    assert "landscape" not in own["parameters"]


def test_fractal_tools_on_a_stored_landscape(sweep_store):
    landscape = load_landscape(sweep_store, "forward", seed=0)
    expected = direct(0).transpose("sigma_w", "sigma_b").values
    robust = frontier_dimension(landscape)
    assert robust.attrs["recommended_dimension"] == frontier_dimension(expected).attrs["recommended_dimension"]
    assert json.loads(robust.attrs["parameters"])["landscape"]["seed"] == 0
    # The activation comes from the store's provenance; the reference is chi_1 of erf computed here.
    chi1 = MeanField("erf").chi1(GRID[:, None], GRID[None, :])
    assert mean_field_disagreement(landscape, 1e-3) == pytest.approx(np.mean((expected <= 1e-3) != (chi1 < 1)))


def test_report_on_an_in_memory_landscape_records_its_source(sweep_store, tmp_path):
    landscape = load_landscape(sweep_store, seed=0)
    summary = frontier_report(tmp_path, landscape=landscape, threshold=1e-2, sides=[])
    assert summary["parameters"]["landscape"]["source"] == "DataArray"
    assert summary["parameters"]["threshold"] == 1e-2
    expected = direct(0).transpose("sigma_w", "sigma_b").values
    robust = frontier_dimension(expected, bracketing_thresholds(expected))
    assert summary["levels"][0]["robust_median"]["dimension"] == robust.attrs["recommended_dimension"]
    with pytest.raises(ValueError, match="selection applies to a landscape store"):
        frontier_report(tmp_path, landscape=landscape, selection={"seed": 0})


def test_landscape_cli_store_round_trip(tmp_path):
    out = tmp_path / "landscape.zarr"
    argv = ["landscape", "--width", "16", "--depth", "12", "--seed", "3", "--out", str(out)]
    assert main([*argv, "--sigma-w", "0:4:130", "--sigma-b", "0:4:130"]) == 0
    landscape = load_landscape(out)
    expected = RandomNetwork("mlp", 16, 12, activation="erf", seed=3).forward(GRID, GRID)
    assert np.array_equal(landscape.values, expected.values)
    assert landscape.attrs == expected.attrs
    assert landscape.name == "forward"
    # ... and the report accepts it, with the network read from its provenance.
    summary = frontier_report(tmp_path / "report", landscape=out, sides=[])
    assert (summary["parameters"]["seed"], summary["parameters"]["width"]) == (3, 16)
    again = load_landscape(tmp_path / "report" / "landscape.zarr")
    assert np.array_equal(again.values, expected.values)


def test_layer_selection_of_a_multi_layer_store(tmp_path):
    sigma = np.linspace(0.5, 3.0, 6)
    layers = RandomNetwork("mlp", 8, 5, activation="erf", seed=0).forward(sigma, sigma, layers=[2, 5])
    write_zarr(layers, tmp_path / "layers.zarr")
    for layer in (2, 5):
        loaded = load_landscape(tmp_path / "layers.zarr", layer=layer)
        assert loaded.dims == ("sigma_w", "sigma_b")
        assert np.array_equal(loaded.values, layers.sel(layer=layer).transpose("sigma_w", "sigma_b").values)
        assert int(loaded["layer"]) == layer
    with pytest.raises(ValueError, match=r"layer must be selected .*\[2, 5\]"):
        load_landscape(tmp_path / "layers.zarr")
    with pytest.raises(ValueError, match="layer must be one of"):
        load_landscape(tmp_path / "layers.zarr", layer=3)
    with pytest.raises(ValueError, match="selection keys must be among"):
        load_landscape(tmp_path / "layers.zarr", layer=2, width=8)


def two_variable_store(path):
    network = RandomNetwork("mlp", 8, 5, activation="erf", seed=0)
    sigma = np.linspace(0.5, 3.0, 6)
    data = xr.Dataset({"forward": network.forward(sigma, sigma), "lyapunov": network.lyapunov(sigma, sigma)})
    write_zarr(data, path)
    return path


def test_multi_variable_store_needs_a_metric(tmp_path):
    store = two_variable_store(tmp_path / "two.zarr")
    with pytest.raises(ValueError, match=r"metric must be given, one of \['forward', 'lyapunov'\]"):
        load_landscape(store)
    assert load_landscape(store, "lyapunov").name == "lyapunov"
    with pytest.raises(ValueError, match="metric must be one of"):
        load_landscape(store, "backward")


def test_report_rejects_a_landscape_that_is_not_the_forward_divergence(tmp_path):
    store = two_variable_store(tmp_path / "two.zarr")
    with pytest.raises(ValueError, match=r"forward divergence \(forward or forward_normalised\) of independent"):
        frontier_report(tmp_path / "out", landscape=store, selection={"metric": "lyapunov"})
    assert not (tmp_path / "out" / "summary.json").exists()


def test_report_network_arguments_must_agree_with_the_landscape(sweep_store, tmp_path):
    with pytest.raises(ValueError, match="width must agree with the landscape's provenance"):
        frontier_report(tmp_path, landscape=sweep_store, selection={"seed": 0}, width=100 + 1)
    with pytest.raises(ValueError, match="sigma_w must not be given together with landscape"):
        frontier_report(tmp_path, landscape=sweep_store, selection={"seed": 0}, sigma_w=GRID)
    with pytest.raises(TypeError, match="landscape must be an xarray.DataArray or the path"):
        frontier_report(tmp_path, landscape=3)
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "{tmp}/missing.zarr"], "path must be a zarr store"),
        (["--from", "{tmp}"], "path must be a zarr store"),
        (["--from", "{sweep}"], "seed must be selected"),
        (["--from", "{sweep}", "--select", "seed=7"], "seed must be one of"),
        (["--from", "{sweep}", "--select", "seed"], "--select must be key=value"),
        (["--from", "{sweep}", "--select", "seed=0", "--select", "seed=1"], "--select must name each key once"),
        (["--from", "{sweep}", "--select", "seed=0", "--sigma-w", "0:4:130"], "--sigma-w cannot be combined"),
        (["--from", "{two}"], "metric must be given"),
        (["--select", "seed=0"], "--select applies only together with --from"),
    ],
)
def test_cli_bad_store_input_gives_one_line_and_exit_code_2(extra, message, sweep_store, tmp_path, capsys):
    names = {"tmp": tmp_path, "sweep": sweep_store, "two": tmp_path / "two.zarr"}
    two_variable_store(tmp_path / "two.zarr")
    argv = [arg.format(**names) for arg in extra]
    assert main(["report", "--out", str(tmp_path / "out"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not (tmp_path / "out" / "summary.json").exists()
