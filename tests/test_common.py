"""Validation, provenance and atomic-write helpers shared by every module."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import infoprop
from infoprop._src.common import (
    MANIFEST,
    MAX_MEMORY_ENV,
    OutputDir,
    as_float_array,
    check_choice,
    check_int,
    check_memory,
    check_real,
    parse_range,
    parse_size,
    provenance_attrs,
    save_figure,
    write_text,
    write_zarr,
)


def test_parse_range_is_linspace_with_stop_included():
    np.testing.assert_array_equal(parse_range("--sigma-w", "0.5:4:8"), np.linspace(0.5, 4.0, 8))
    np.testing.assert_array_equal(parse_range("--sigma-w", "1.5"), np.array([1.5]))


@pytest.mark.parametrize("text", ["", "1:2", "a:b:3", "0:1:x", "1:2:3:4", "0:nan:3", "0:inf:2"])
def test_parse_range_rejects_malformed_text_naming_the_option(text):
    with pytest.raises(ValueError, match="--sigma-b"):
        parse_range("--sigma-b", text)


def test_parse_range_rejects_nonpositive_count():
    with pytest.raises(ValueError, match="count must be >= 1"):
        parse_range("--sigma-w", "0:1:0")


def test_scalar_checks_name_argument_value_and_allowed_set():
    with pytest.raises(ValueError, match=r"arch must be one of \('mlp', 'cnn'\), got 'rnn'"):
        check_choice("arch", "rnn", ("mlp", "cnn"))
    with pytest.raises(ValueError, match="width must be an integer >= 1, got 0"):
        check_int("width", 0, minimum=1)
    with pytest.raises(TypeError, match="width must be an integer, got 2.5"):
        check_int("width", 2.5)
    with pytest.raises(TypeError, match="depth must be an integer"):
        check_int("depth", True)
    with pytest.raises(ValueError, match="eps must be > 0.0, got 0.0"):
        check_real("eps", 0.0, minimum=0.0, strict_minimum=True)
    with pytest.raises(ValueError, match="eps must be finite, got nan"):
        check_real("eps", float("nan"))
    assert check_int("width", np.int64(3), minimum=1) == 3


def test_as_float_array_rejects_nan_empty_and_negative():
    with pytest.raises(ValueError, match="sigma_w must contain only finite values, got nan"):
        as_float_array("sigma_w", [1.0, np.nan])
    with pytest.raises(ValueError, match="sigma_w must not be empty"):
        as_float_array("sigma_w", [])
    with pytest.raises(ValueError, match=r"sigma_b must be >= 0.0 everywhere, got -0.5"):
        as_float_array("sigma_b", [0.1, -0.5], minimum=0.0)
    with pytest.raises(TypeError, match="sigma_b must be a real number"):
        as_float_array("sigma_b", ["x"])


def test_provenance_round_trips_through_zarr(tmp_path):
    params = {"arch": "mlp", "width": np.int64(100), "grid": np.linspace(0, 1, 3), "seed": 0}
    ds = xr.Dataset(
        {"divergence": (("sigma_w", "sigma_b"), np.arange(6.0).reshape(2, 3), {"long_name": "forward divergence"})},
        coords={"sigma_w": [0.5, 1.0], "sigma_b": [0.0, 0.1, 0.2]},
        attrs=provenance_attrs("landscape", params),
    )
    path = write_zarr(ds, tmp_path / "sub" / "land.zarr")
    back = xr.open_zarr(path).load()
    xr.testing.assert_identical(back, ds)
    assert back.attrs["infoprop_version"] == infoprop.__version__
    assert back.attrs["sigma_convention"] == "std"
    assert json.loads(back.attrs["parameters"]) == {"arch": "mlp", "grid": [0.0, 0.5, 1.0], "seed": 0, "width": 100}


def test_write_zarr_replaces_its_own_store_only_with_overwrite_and_leaves_no_temporaries(tmp_path):
    first = xr.Dataset({"x": ("i", np.zeros(3))})
    second = xr.Dataset({"y": ("i", np.ones(4))})
    write_zarr(first, tmp_path / "s.zarr")
    with pytest.raises(ValueError, match="already exists"):
        write_zarr(second, tmp_path / "s.zarr")
    write_zarr(second, tmp_path / "s.zarr", overwrite=True)
    back = xr.open_zarr(tmp_path / "s.zarr")
    assert set(back.data_vars) == {"y"}
    assert sorted(os.listdir(tmp_path)) == ["s.zarr"]


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    folder = OutputDir(tmp_path / "out")
    target = write_text("old", folder.file("summary.json"))

    def half_written(self, text, *args, **kwargs):
        with open(self, "w") as handle:
            handle.write(text[:2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_written)
    with pytest.raises(ValueError, match="No space left on device"):
        write_text("new text", target, overwrite=True)
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path / "out")) == [MANIFEST, "summary.json"]  # the temporary is gone


def test_save_figure_writes_png_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["f.png"]
    assert not plt.fignum_exists(fig.number)  # closed


def test_unwritable_destination_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="out must be a writable path"):
        write_text("y", blocker / "inside.txt")


def test_lazy_public_api_resolves_and_rejects_unknown_names():
    assert infoprop.get_activation("tanh").name == "tanh"
    assert "MeanField" in dir(infoprop)
    with pytest.raises(AttributeError, match="no_such_name"):
        infoprop.no_such_name  # noqa: B018


# --------------------------------------------------------------------------- sizes are checked up front (issue 10, 4)
def test_parse_size_and_the_budget(monkeypatch):
    assert parse_size("x", "1.5G") == 3 << 29
    assert parse_size("x", "512MiB") == 512 << 20
    assert parse_size("x", "2kb") == 2048
    assert parse_size("x", 1000) == 1000
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(ValueError, match="x must be"):
            parse_size("x", bad)
    monkeypatch.setenv(MAX_MEMORY_ENV, "1M")
    with pytest.raises(ValueError, match=r"big thing needs about 2 MiB of memory, more than 1 MiB \(the limit "):
        check_memory(2 << 20, "big thing")
    check_memory(1 << 20, "just fits")
    monkeypatch.delenv(MAX_MEMORY_ENV)
    monkeypatch.setattr("infoprop._src.common.available_memory", lambda: 3 << 30)
    with pytest.raises(ValueError, match=r"more than 3 GiB \(memory available on this machine\)"):
        check_memory(4 << 30, "big thing")


def test_library_entry_points_refuse_before_allocating(monkeypatch):
    """Each entry point estimates its memory; the computation itself must never start (it is made to fail)."""
    import infoprop._src.trainability as trainability
    from infoprop._src.meanfield import MeanField
    from infoprop._src.networks import RandomNetwork
    from infoprop._src.report import frontier_report
    from infoprop._src.sweep.spec import parse_spec

    def started(*args, **kwargs):
        raise AssertionError("the computation started")

    monkeypatch.setenv(MAX_MEMORY_ENV, "64M")
    monkeypatch.setattr(MeanField, "_solve", started)
    monkeypatch.setattr(RandomNetwork, "_draw", started)
    monkeypatch.setattr(trainability, "_load_splits", started)
    with pytest.raises(ValueError, match="phase diagram of 1000 x 1000 points needs about"):
        MeanField("tanh").phase_diagram(np.linspace(0, 4, 1000), np.linspace(0, 2, 1000))
    with pytest.raises(ValueError, match=r"RandomNetwork\('mlp', width=3000, depth=10\) needs about"):
        RandomNetwork("mlp", 3000, 10)
    with pytest.raises(ValueError, match="RandomNetwork.*needs about"):
        frontier_report("unused", width=3000, depth=10)
    with pytest.raises(ValueError, match="report's grid needs about"):
        frontier_report("unused", sigma_w=np.linspace(0, 4, 1000), sigma_b=np.linspace(0, 4, 1000))
    with pytest.raises(ValueError, match="trainability.predict needs about"):
        trainability.predict(depth=100_000, sigma_w=[1.0])
    with pytest.raises(ValueError, match="trainability.train needs about"):
        trainability.train(depth=100_000, sigma_w=[1.0])
    spec = "arch = 'mlp'\nwidth = 4\ndepth = 2\nsigma_w = {start = 0, stop = 4}\nsigma_b = {start = 0, stop = 4}\n"
    with pytest.raises(ValueError, match=r"line 6: sigma_w grid \(100000000 values\) needs about"):
        parse_spec(spec + "resolution = 100000000\n")
    with pytest.raises(ValueError, match=r"line 7: the list of the sweep's 100000000 tiles needs about"):
        parse_spec(spec + "resolution = 10000\ntile = 1\n")
    assert not os.path.exists("unused")


# The commands of issue 10, item 4, on a machine with 24 GiB (the dev VM): each is refused, in one line.
ISSUE_SIZE_COMMANDS = [
    ["meanfield", "--sigma-w", "0:4:1000000000", "--sigma-b", "0:2:4"],
    ["landscape", "--width", "30000", "--depth", "10", "--sigma-w", "0:4:4", "--sigma-b", "0:4:4"],
    ["report", "--sigma-w", "0:4:100000", "--sigma-b", "0:4:100000", "--no-progress"],
    ["trainability", "predict", "--depth", "100000000", "--no-progress"],
    ["sweep", "run", "SPEC", "--no-progress"],
]


@pytest.mark.parametrize("argv", ISSUE_SIZE_COMMANDS, ids=lambda argv: " ".join(argv[:2]))
@pytest.mark.parametrize("budget", ["env", "option"])
def test_the_issues_oversized_commands_are_refused_in_one_line(tmp_path, monkeypatch, capsys, argv, budget):
    from infoprop.cli import main

    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "big.toml"
    spec.write_text("arch = 'mlp'\nwidth = 4\ndepth = 2\nsigma_w = {start = 0, stop = 4}\n"
                    "sigma_b = {start = 0, stop = 4}\nresolution = 1000000000\n")  # fmt: skip
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    out = "big" if argv[0] == "report" else "big.zarr"
    if budget == "env":
        monkeypatch.setenv(MAX_MEMORY_ENV, "24G")
        extra = []
    else:
        monkeypatch.delenv(MAX_MEMORY_ENV, raising=False)
        extra = ["--max-memory", "24G"]
    assert main([*argv, "--out", out, *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "needs about" in err
    assert "more than 24 GiB" in err
    assert os.listdir(tmp_path) == ["big.toml"]
