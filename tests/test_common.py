"""Validation, provenance and atomic-write helpers shared by every module."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import xarray as xr

import infoprop
from infoprop._src.common import (
    as_float_array,
    check_choice,
    check_int,
    check_real,
    parse_range,
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


def test_write_zarr_replaces_an_existing_store_and_leaves_no_temporaries(tmp_path):
    first = xr.Dataset({"x": ("i", np.zeros(3))})
    second = xr.Dataset({"y": ("i", np.ones(4))})
    write_zarr(first, tmp_path / "s.zarr")
    write_zarr(second, tmp_path / "s.zarr")
    back = xr.open_zarr(tmp_path / "s.zarr")
    assert set(back.data_vars) == {"y"}
    assert sorted(os.listdir(tmp_path)) == ["s.zarr"]


def test_failed_write_leaves_previous_file_intact(tmp_path):
    target = tmp_path / "summary.json"
    write_text("old", target)

    class Unwritable:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_text(Unwritable(), target)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["summary.json"]


def test_save_figure_writes_png_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["f.png"]


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
