"""`infoprop meanfield`: files written, summary printed, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from infoprop._src.meanfield import MeanField
from infoprop.cli import main


def test_meanfield_writes_store_figure_and_summary(tmp_path, capsys):
    out, plot = tmp_path / "mf.zarr", tmp_path / "fig" / "mf.png"
    rc = main(["meanfield", "--sigma-w", "0.5:4:12", "--sigma-b", "0:2:9", "--out", str(out), "--plot", str(plot)])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "phases: ordered" in stdout and "critical sigma_w" in stdout and "sigma_b=0 -> 1 " in stdout
    assert plot.stat().st_size > 10_000
    ds = xr.open_zarr(out).load()
    expected = MeanField("tanh").phase_diagram(np.linspace(0.5, 4, 12), np.linspace(0, 2, 9))
    xr.testing.assert_identical(ds, expected)


def test_variance_flags_and_activation_parameters(tmp_path, capsys):
    out = tmp_path / "leaky.zarr"
    args = ["meanfield", "--activation", "leaky_relu", "--activation-param", "negative_slope=0.2"]
    args += ["--sigma-w2", "0:4:5", "--sigma-b2", "0:1:3", "--out", str(out), "--plot", str(tmp_path / "p.png")]
    assert main([*args, "--variable", "phase"]) == 0
    ds = xr.open_zarr(out).load()
    np.testing.assert_allclose(ds.sigma_w.values, np.sqrt([0, 1, 2, 3, 4]))
    np.testing.assert_allclose(ds.sigma_b.values, np.sqrt([0, 0.5, 1]))
    assert json.loads(ds.attrs["parameters"])["activation"] == {"name": "leaky_relu", "negative_slope": 0.2}
    # chi_1 = sigma_w^2 (1 + a^2) / 2 for every q
    np.testing.assert_allclose(ds.chi1.values[:3, 0], np.array([0, 1, 2]) * 1.04 / 2)
    assert "unbounded" in capsys.readouterr().out


def test_plot_function_handles_every_variable(tmp_path):
    from infoprop._src.common import save_figure
    from infoprop._src.plots.meanfield import plot_phase_diagram

    sw = np.linspace(0.2, 3, 8)
    ds = MeanField("erf").phase_diagram(sw, np.linspace(0, 1.5, 6))
    # the chi_1 = 1 line at sigma_b = 0: linear interpolation of the plotted chi_1 between grid points, which is
    # within a grid step of the closed form sqrt(pi) / 2
    chi1 = ds.chi1.isel(sigma_b=0).values
    i = int(np.flatnonzero(np.diff(np.sign(chi1 - 1)))[0])
    crossing = sw[i] + (1 - chi1[i]) * (sw[i + 1] - sw[i]) / (chi1[i + 1] - chi1[i])
    assert abs(crossing - np.sqrt(np.pi) / 2) < sw[1] - sw[0]
    for name in ds.data_vars:
        fig = plot_phase_diagram(ds, name)
        ax = fig.axes[0]
        assert ax.get_xlabel() == "sigma_w (std)" and ax.get_ylabel() == "sigma_b (std)"
        # the colour mesh shows this variable (|xi_grad| for xi_grad, as documented), sigma_w along x
        shown = np.ma.getdata(ax.collections[0].get_array()).reshape(6, 8)
        expected = np.abs(ds[name].values) if name == "xi_grad" else ds[name].values
        np.testing.assert_array_equal(shown, expected.T)
        vertices = np.concatenate([path.vertices for path in ax.collections[1].get_paths() if len(path.vertices)])
        lowest = vertices[np.argmin(vertices[:, 1])]
        assert lowest[1] == 0.0 and lowest[0] == pytest.approx(crossing, abs=1e-9)
        save_figure(fig, tmp_path / f"{name}.png")
    with pytest.raises(ValueError, match="variable must be one of"):
        plot_phase_diagram(ds, "nope")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--sigma-w", "1:2"], "--sigma-w must be 'start:stop:count'"),
        (["--sigma-w", "0:1:zero"], "--sigma-w must be 'start:stop:count'"),
        (["--sigma-b", "-1:1:3"], "--sigma-b must be >= 0"),
        (["--sigma-w", "0:nan:3"], "0:nan:3"),
        (["--sigma-w", "0:1:0"], "count must be >= 1"),
        (["--sigma-w", "1:2:3", "--sigma-w2", "1:2:3"], "not both"),
        (["--activation", "swish"], "activation must be one of"),
        (["--activation-param", "slope"], "--activation-param must be key=value"),
        (["--activation", "tanh", "--activation-param", "alpha=1"], "accepts parameters"),
        (["--variable", "entropy"], "--variable must be one of"),
        (["--method", "magic"], "method must be one of"),
        (["--bogus"], "bogus"),
        (["--arch", "cnn", "--activation", "relu"], "has no mean-field map"),
        (["--arch", "transformer"], "arch must be one of"),
        (["--depth", "3"], "--depth applies to --arch resnet only"),
        (["--arch", "resnet", "--depth", "0"], "--depth must be an integer >= 1"),
        (["--arch", "resnet", "--activation", "sin"], "give --depth D"),
        (["--arch", "resnet", "--variable", "chi1"], "--variable must be one of"),
        (["--arch", "resnet", "--variable", "c"], "--variable must be one of"),  # c needs --depth
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, capsys, args, match):
    rc = main(["meanfield", *args, "--out", str(tmp_path / "x.zarr")])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and match in err
    assert not (tmp_path / "x.zarr").exists()


def test_summary_reports_critical_points(tmp_path, capsys):
    assert (
        main(
            [
                "meanfield",
                "--activation",
                "erf",
                "--sigma-w",
                "0:2:5",
                "--sigma-b",
                "0",
                "--out",
                str(tmp_path / "e.zarr"),
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    assert f"{math.sqrt(math.pi) / 2:.6g}" in stdout


def test_resnet_writes_asymptotics_and_depth_moments(tmp_path, capsys):
    out, plot = tmp_path / "res.zarr", tmp_path / "res.png"
    args = ["meanfield", "--arch", "resnet", "--activation", "erf", "--sigma-w", "0:3:7", "--sigma-b", "0:1:4"]
    assert main([*args, "--depth", "6", "--out", str(out), "--plot", str(plot), "--variable", "c"]) == 0
    stdout = capsys.readouterr().out
    assert "no fixed point" in stdout and "depth 6 (independent unit inputs)" in stdout
    assert plot.stat().st_size > 10_000
    ds = xr.open_zarr(out).load()
    sw, sb = np.linspace(0, 3, 7), np.linspace(0, 1, 4)
    mf = MeanField("erf", arch="resnet")
    asym = ds[["q_slope", "q_ratio", "c_limit", "c_exponent"]].drop_vars("layer")
    xr.testing.assert_allclose(asym, mf.residual_asymptotics(sw, sb))
    depth6 = mf.trajectory(sw, sb, q0=1.0, c0=0.0, depth=6, layers=[6]).isel(layer=0)
    xr.testing.assert_allclose(ds[["q11", "q22", "q12", "c", "divergence"]], depth6)
    assert json.loads(ds.attrs["parameters"])["arch"] == "resnet"
    # without --depth only the asymptotics; activations without an asymptotic form need --depth
    assert main([*args, "--out", str(tmp_path / "a.zarr")]) == 0
    assert "add --depth D" in capsys.readouterr().out
    assert set(xr.open_zarr(tmp_path / "a.zarr").data_vars) == {"q_slope", "q_ratio", "c_limit", "c_exponent"}
    sin = ["meanfield", "--arch", "resnet", "--activation", "sin", "--sigma-w", "0.5:1:2", "--sigma-b", "0.1"]
    assert main([*sin, "--depth", "3", "--out", str(tmp_path / "s.zarr")]) == 0
    assert set(xr.open_zarr(tmp_path / "s.zarr").data_vars) == {"q11", "q22", "q12", "c", "divergence"}
