"""`infoprop landscape`: files written, values equal the library's, one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src.networks import RandomNetwork
from infoprop._src.plots.landscape import plot_landscape
from infoprop.cli import main


@pytest.mark.parametrize(
    ("metric", "extra"),
    [("forward", ["--inputs", "perturbed", "--eps", "1e-3"]), ("backward", []), ("lyapunov", [])],
)
def test_landscape_writes_store_and_figure(tmp_path, capsys, metric, extra):
    out, png = tmp_path / "land.zarr", tmp_path / "land.png"
    argv = [
        "landscape", "--arch", "cnn", "--width", "12", "--depth", "6", "--kernel-size", "5", "--seed", "3",
        "--sigma-w", "0:4:9", "--sigma-b2", "0:1:4", "--metric", metric, "--out", str(out), "--plot", str(png),
        *extra,
    ]  # fmt: skip
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "grid points" in stdout and f"wrote {out}" in stdout
    assert png.stat().st_size > 1000
    da = next(iter(xr.open_zarr(out).data_vars.values())).load()
    net = RandomNetwork("cnn", 12, 6, seed=3, kernel_size=5)
    sw, sb = np.linspace(0, 4, 9), np.sqrt(np.linspace(0, 1, 4))
    if metric == "forward":
        expected = net.forward(sw, sb, inputs="perturbed", eps=1e-3)
    elif metric == "backward":
        expected = net.backward(sw, sb)
    else:
        expected = net.lyapunov(sw, sb)
    xr.testing.assert_identical(da, expected)
    assert json.loads(da.attrs["parameters"])["kernel_size"] == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--width", "0"], "width must be an integer >= 1"),
        (["--depth", "0"], "depth must be an integer >= 1"),
        (["--arch", "rnn"], "arch must be one of"),
        (["--arch", "cnn", "--kernel-size", "20"], "kernel_size must be an integer <= 8"),
        (["--kernel-size", "3"], "--kernel-size applies to --arch cnn only"),
        (["--metric", "entropy"], "--metric must be one of"),
        (["--metric", "lyapunov", "--inputs", "perturbed"], "--inputs applies to the forward metrics only"),
        (["--device", "tpu"], "device must be"),
        (["--sigma-w", "0:4:x"], "--sigma-w must be 'start:stop:count'"),
        (["--sigma-b", "-1:1:3"], "--sigma-b must be >= 0"),
        (["--sigma-w", "0:1:3", "--sigma-w2", "0:1:3"], "give either --sigma-w or --sigma-w2"),
        (["--eps", "0"], "eps must be > 0"),
        (["--activation", "swish"], "activation must be one of"),
        (["--width", "many"], "Invalid value for '--width'"),
    ],
)
def test_landscape_bad_input_is_one_line(tmp_path, capsys, argv, message):
    base = ["landscape", "--width", "8", "--depth", "3", "--sigma-w", "0:1:3", "--sigma-b", "0:1:2"]
    code = main([*base, *argv, "--out", str(tmp_path / "x.zarr")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "x.zarr").exists()


def test_plot_landscape_layers_and_line():
    net = RandomNetwork("mlp", 10, 5, activation="tanh")
    da = net.forward(np.linspace(0, 3, 7), np.linspace(0, 1, 5), layers=[2, 5])
    fig = plot_landscape(da)
    ax = fig.axes[0]
    assert "sigma_w" in ax.get_xlabel() and "sigma_b" in ax.get_ylabel()
    line = ax.get_lines()[0]  # the mean-field critical line: tanh at sigma_b = 0 is critical at sigma_w = 1
    assert line.get_xdata()[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(TypeError, match="DataArray"):
        plot_landscape(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dims"):
        plot_landscape(net.lyapunov([0.5, 1.0], [0.1, 0.2], grid=False))


def test_plot_residual_landscape_draws_no_critical_line():
    """A residual network has no mean-field critical line: none is drawn, a note says so; the overlay helpers refuse
    to compute one."""
    from infoprop._src.fractal import mean_field_chi1
    from infoprop._src.plots.landscape import NO_LINE

    net = RandomNetwork("resnet", 10, 5, activation="tanh")
    fig = plot_landscape(net.forward(np.linspace(0, 3, 7), np.linspace(0, 1, 5)))
    ax = fig.axes[0]
    assert not ax.get_lines() and any(t.get_text() == NO_LINE for t in ax.texts)
    with pytest.raises(ValueError, match="no mean-field critical line"):
        mean_field_chi1([1.0], [0.5], "tanh", arch="resnet")


def test_lyapunov_plot_shows_the_zero_line():
    """The lambda = 0 contour is drawn, at the crossing of the data (here sigma_w = 1 at sigma_b = 0, tanh, linear
    interpolation between grid points), and zero sits at the centre (white) of an asymmetric colour scale."""
    net = RandomNetwork("mlp", 200, 30, activation="tanh", seed=1, dtype="float64")
    sw, sb = np.linspace(0.2, 3.0, 15), np.linspace(0.0, 0.2, 3)
    da = net.lyapunov(sw, sb)
    fig = plot_landscape(da)
    ax = fig.axes[0]
    contours = [c for c in ax.collections if type(c).__name__ in ("QuadContourSet", "ContourSet")]
    assert contours, "no lambda = 0 contour"
    paths = [p for p in contours[0].get_paths() if len(p.vertices)]
    crossing = np.concatenate([p.vertices for p in paths])
    at_zero_bias = crossing[np.argmin(crossing[:, 1])]
    values = da.isel(sigma_b=0).values
    i = int(np.flatnonzero(np.diff(np.sign(values)))[0])
    expected = sw[i] - values[i] * (sw[i + 1] - sw[i]) / (values[i + 1] - values[i])
    assert at_zero_bias[0] == pytest.approx(expected, abs=1e-9)
    norm = ax.collections[0].norm
    assert norm.vcenter == 0.0 and norm.vmin < 0 < norm.vmax and norm.vmin != -norm.vmax


def test_no_line_where_mean_field_has_no_map():
    """conv operators with a non-odd activation have no mean-field map: no line, a note; odd activations keep it."""
    from infoprop._src.fractal import has_critical_line
    from infoprop._src.plots.landscape import NO_MAP

    assert has_critical_line("cnn", "erf") and has_critical_line("mlp", "relu")
    assert not has_critical_line("cnn", "relu") and not has_critical_line("resnet", "erf")
    sw, sb = np.linspace(0, 3, 7), np.linspace(0, 1, 5)
    fig = plot_landscape(RandomNetwork("cnn", 10, 5, activation="relu").forward(sw, sb))
    assert not fig.axes[0].get_lines() and any(t.get_text() == NO_MAP for t in fig.axes[0].texts)
    assert plot_landscape(RandomNetwork("cnn", 10, 5, activation="tanh").forward(sw, sb)).axes[0].get_lines()
