"""Sweep specs: parsing, validation with key and line, tiling arithmetic, and the CLI's handling of bad specs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infoprop._src.sweep.spec import _key_lines
from infoprop.cli import main
from infoprop.sweep import AXES, load_spec, parse_spec

SPEC = """\
# a small study
arch = ["mlp", "fdf"]
width = 16
depth = [3, 5]
seed = [0, 1, 2]
metric = ["forward", "lyapunov"]
sigma_w = { start = 0.5, stop = 4.0 }
sigma_b2 = { start = 0.0, stop = 1.0, count = 7 }
resolution = 9
tile = 4
"""


def test_axes_dims_and_grid_follow_the_file():
    spec = parse_spec(SPEC)
    assert spec.axes == {
        "arch": ("mlp", "fdf"),
        "activation": ("erf",),
        "width": (16,),
        "depth": (3, 5),
        "seed": (0, 1, 2),
    }
    assert spec.dims == ("arch", "depth", "seed")  # arrays are dimensions, scalars are not
    assert spec.metrics == ("forward", "lyapunov")
    np.testing.assert_array_equal(spec.sigma_w, np.linspace(0.5, 4.0, 9))
    np.testing.assert_array_equal(spec.sigma_b, np.sqrt(np.linspace(0.0, 1.0, 7)))  # variance range -> std
    assert spec.tile_grid == (3, 2)
    assert spec.experiment_shape == (2, 2, 3)
    assert spec.options == {"dtype": "float32", "device": "cpu", "inputs": "independent", "eps": 1e-5}


def test_experiments_are_the_cartesian_product_in_axis_order():
    spec = parse_spec(SPEC)
    expected = [
        dict(zip(AXES, values)) for values in itertools.product(["mlp", "fdf"], ["erf"], [16], [3, 5], [0, 1, 2])
    ]
    assert spec.experiments() == expected
    for number, experiment in enumerate(expected):
        assert spec.experiment(number) == experiment
        index = spec.experiment_index(number)
        assert index == (
            ["mlp", "fdf"].index(experiment["arch"]),
            [3, 5].index(experiment["depth"]),
            experiment["seed"],
        )


@given(size_w=st.integers(1, 40), size_b=st.integers(1, 40), tile=st.integers(1, 50))
def test_tiles_cover_the_grid_exactly_once(size_w, size_b, tile):
    text = (
        f'arch = "mlp"\nwidth = 4\ndepth = 1\ntile = {tile}\n'
        f"sigma_w = {{ start = 0, stop = 1, count = {size_w} }}\n"
        f"sigma_b = {{ start = 0, stop = 1, count = {size_b} }}\n"
    )
    spec = parse_spec(text)
    cover = np.zeros((size_w, size_b), dtype=int)
    for tile_ in spec.tiles():
        rows, cols = spec.tile_slices(tile_)
        cover[rows, cols] += 1
    np.testing.assert_array_equal(cover, 1)
    assert len(spec.tiles()) == -(-size_w // tile) * -(-size_b // tile)


def test_hash_ignores_comments_and_layout_but_not_values():
    spec = parse_spec(SPEC)
    relaid = "\n".join(reversed(SPEC.replace("# a small study", "").splitlines())) + "\n# trailing comment\n"
    assert parse_spec(relaid).hash == spec.hash
    assert parse_spec(SPEC.replace("tile = 4", "tile = 3")).hash != spec.hash
    assert parse_spec(SPEC.replace("width = 16", "width = [16]")).hash != spec.hash  # a dimension changes the store


def test_tile_keys_are_deterministic_and_distinct():
    spec = parse_spec(SPEC)
    keys = [spec.tile_key(t) for t in spec.tiles()]
    assert keys == [parse_spec(SPEC).tile_key(t) for t in parse_spec(SPEC).tiles()]
    assert len(set(keys)) == len(keys)
    assert keys[0] == f"tile-{spec.hash[:16]}-0-0-0"


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        ("tile = 4", "tile = 4\ncolour = 1", 11, "unknown key 'colour'"),
        ("width = 16", 'width = "16"', 3, "width must be an integer"),
        ("width = 16", "width = [16, 0]", 3, "width must be an integer >= 1"),
        ("width = 16", "width = []", 3, "width must not be an empty array"),
        ("seed = [0, 1, 2]", "seed = [0, 1, 1]", 5, "seed must not repeat"),
        ("seed = [0, 1, 2]", "seed = -1", 5, "seed must be an integer >= 0"),
        ('arch = ["mlp", "fdf"]', 'arch = ["mlp", "transformer"]', 2, "arch must be one of"),
        ("width = 16", 'width = 16\nactivation = "tanhh"', 4, "activation must be one of"),
        ('metric = ["forward", "lyapunov"]', 'metric = ["entropy"]', 6, "metric must be one of"),
        ("stop = 4.0 }", "stop = 4.0, cnt = 3 }", 7, "unknown key sigma_w.cnt"),
        ("start = 0.5, stop = 4.0", "start = 2.0, stop = 1.0", 7, "sigma_w.stop must be >= sigma_w.start"),
        ("start = 0.5, stop = 4.0", "start = -1.0, stop = 4.0", 7, "sigma_w.start must be >= 0"),
        ("count = 7", "count = 0", 8, "sigma_b2.count must be an integer >= 1"),
        ("resolution = 9", "resolution = 9.5", 9, "resolution must be an integer"),
        ("tile = 4", "tile = 0", 10, "tile must be an integer >= 1"),
        ("tile = 4", 'tile = 4\ndtype = "float16"', 11, "dtype must be one of"),
        ("tile = 4", 'tile = 4\ndevice = "gpu"', 11, "device must be"),
        ("tile = 4", "tile = 4\neps = 0.0", 11, "eps must be > 0"),
        ("tile = 4", "tile = 4\nkernel_size = 3", 11, "kernel_size applies to arch 'cnn' only"),
        ("tile = 4", "tile = 4\nsigma_w2 = { start = 0, stop = 1 }", 11, "not both"),
        ("tile = 4", "tile = 4\n[extra]\nkey = 1", 11, "unknown key 'extra'"),
    ],
)
def test_bad_values_are_reported_with_key_and_line(old, new, line, fragment):
    assert old in SPEC
    with pytest.raises(ValueError, match=f"^spec.toml, line {line}: ") as info:
        parse_spec(SPEC.replace(old, new, 1), source="spec.toml")
    assert fragment in str(info.value)


def test_line_of_a_key_in_a_table_section():
    text = SPEC.replace("sigma_b2 = { start = 0.0, stop = 1.0, count = 7 }\n", "") + (
        "[sigma_b]\nstart = 0.0\nstop = -1.0\n"
    )
    with pytest.raises(ValueError, match=r"^s, line 12: sigma_b.stop must be >= 0"):
        parse_spec(text, source="s")


def test_missing_keys_and_invalid_toml():
    with pytest.raises(ValueError, match="missing required key 'depth'"):
        parse_spec(SPEC.replace("depth = [3, 5]\n", ""))
    with pytest.raises(ValueError, match="give sigma_w.count or a top-level resolution"):
        parse_spec(SPEC.replace("resolution = 9\n", ""))
    with pytest.raises(ValueError, match=r"^s: not valid TOML: .*line 2"):
        parse_spec("arch = 1\nwidth = = 3\n", source="s")


def test_key_lines_scanner():
    text = 'a = 1\n  "b" = { x = 1, y = 2 }\n\n[t]\nc.d = 3\n[[arr]]\ne = [\n  "f = 1",\n]\n'
    assert _key_lines(text) == {"a": 1, "b": 2, "b.x": 2, "b.y": 2, "t": 4, "t.c.d": 5, "arr": 6, "arr.e": 7}


def test_cli_rejects_a_bad_spec_with_one_line_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.replace("width = 16", "width = -4"))
    out = tmp_path / "study.zarr"
    assert main(["sweep", "run", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{spec}, line 3: width must be an integer >= 1, got -4" in err
    assert not out.exists()
    assert main(["sweep", "run", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    assert "spec must be a readable TOML file" in capsys.readouterr().err


def test_example_specs_are_valid():
    examples = sorted((Path(__file__).parents[1] / "examples").glob("sweep-*.toml"))
    assert examples
    for path in examples:
        spec = load_spec(path)
        assert spec.tiles()
