"""Tests for `infoprop trainability predict | train | compare`: files written, conventions, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


TINY = ["--data", "digits", "--depth", "4", "--sigma-w2", "0.5:4:3", "--sigma-b2", "0.05"]


def test_predict_train_compare_end_to_end(tmp_path, capsys):
    pred, truth = tmp_path / "pred.zarr", tmp_path / "truth.zarr"
    assert main(["trainability", "predict", *TINY, "--eval-images", "30", "--out", str(pred),
                 "--plot", str(tmp_path / "pred.png")]) == 0
    assert main(["trainability", "train", *TINY, "--depths", "2:4:2", "--steps", "10", "--lr", "0.01,0.05",
                 "--search", "grid", "--train-size", "300", "--doublings", "1", "--out", str(truth)]) == 0
    assert main(["trainability", "compare", str(pred), str(truth), "--plot", str(tmp_path / "cmp.png"),
                 "--out", str(tmp_path / "cmp.zarr")]) == 0
    out = capsys.readouterr().out
    assert "null rule (chosen): agreement" in out and "seed rule: agreement" in out and "critical sigma_w^2" in out
    for png in ("pred.png", "cmp.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = xr.open_zarr(pred)
    # --sigma-w2 / --sigma-b2 are variances; the stored coordinates and parameters are standard deviations.
    np.testing.assert_allclose(p.sigma_w.values, np.sqrt([0.5, 2.25, 4.0]), rtol=1e-14)
    np.testing.assert_allclose(p.sigma_w2.values, [0.5, 2.25, 4.0], rtol=1e-14)
    assert json.loads(p.attrs["parameters"])["sigma_b"] == pytest.approx(np.sqrt(0.05), rel=1e-14)
    t = xr.open_zarr(truth)
    params = json.loads(t.attrs["parameters"])
    assert params["train_size"] == 300 and params["lr"] == [0.01, 0.05] and params["search"] == "grid"
    assert t.depth.values.tolist() == [2, 4] and t.accuracy.shape == (3, 2, 2, 2)
    c = xr.open_zarr(tmp_path / "cmp.zarr")
    assert c.agreement.dims == ("rule",) and np.all((c.agreement >= 0) & (c.agreement <= 1))


def test_train_resume_equals_one_run(tmp_path, capsys):
    common = ["trainability", "train", *TINY, "--depths", "2:4:2", "--steps", "10", "--eval-every", "5", "--lr",
              "0.01,0.05", "--train-size", "300", "--threshold", "0.3"]
    once, resumed, direct = (tmp_path / f"{name}.zarr" for name in ("once", "resumed", "direct"))
    assert main([*common, "--doublings", "1", "--out", str(once)]) == 0
    assert main([*common, "--doublings", "3", "--resume", str(once), "--out", str(resumed)]) == 0
    assert main([*common, "--doublings", "3", "--out", str(direct)]) == 0
    out = capsys.readouterr().out
    assert "final budgets (steps x sigma_w)" in out and "still changed by the last doubling" in out
    a, b = xr.open_zarr(resumed), xr.open_zarr(direct)
    assert a.budget.values.tolist() == [10, 20, 40, 80]
    xr.testing.assert_identical(a.accuracy, b.accuracy)
    xr.testing.assert_identical(a.final_budget, b.final_budget)
    assert main([*common, "--resume", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "x.zarr")]) == 2
    assert "--resume" in capsys.readouterr().err


def test_cli_defaults_are_the_library_defaults():
    # The CLI spells its defaults out (so that --help shows them without importing torch); they must not drift.
    import inspect

    from infoprop._src import trainability as tp
    from infoprop.cli import trainability as cli

    def defaults(function):
        return {k: v.default for k, v in inspect.signature(function).parameters.items()}

    predict, train = defaults(cli.predict), defaults(cli.train)
    library_predict, library_train = defaults(tp.predict), defaults(tp.train)
    for key in ("decoder", "ridge", "null_z", "rule", "tolerance", "reference", "clip", "refine_steps", "fit_images"):
        assert predict[key] == library_predict[key], key
    assert [float(v) for v in train["lr"].split(",")] == list(tp.DEFAULT_LRS)
    for key in ("steps", "doublings", "search", "eval_every", "optimizer", "threshold"):
        assert train[key] == library_train[key], key


def test_predict_options_reach_the_library(tmp_path):
    out = tmp_path / "p.zarr"
    assert main(["trainability", "predict", "--data", "digits", "--depth", "3", "--sigma-w2", "1:2:2",
                 "--decoder", "adam", "--steps", "3", "--rule", "seed", "--activation", "erf", "--null-z", "2.5",
                 "--bootstrap", "50", "--eval-images", "20", "--strip-images", "1", "--out", str(out)]) == 0
    params = json.loads(xr.open_zarr(out).attrs["parameters"])
    assert (params["decoder"], params["rule"], params["activation"], params["null_z"], params["bootstrap"],
            params["steps"]) == ("adam", "seed", "erf", 2.5, 50, 3)


def test_sigma_w_std_flag_matches_variance_flag(tmp_path):
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    common = ["--data", "digits", "--depth", "3", "--eval-images", "20", "--strip-images", "1"]
    assert main(["trainability", "predict", *common, "--sigma-w2", "1:4:2", "--sigma-b", "0.2", "--out", str(a)]) == 0
    assert main(["trainability", "predict", *common, "--sigma-w", "1:2:2", "--sigma-b2", "0.04", "--out", str(b)]) == 0
    xr.testing.assert_allclose(xr.open_zarr(a).relative_entropy, xr.open_zarr(b).relative_entropy, rtol=1e-6)


@pytest.mark.parametrize(
    "argv",
    [
        ["trainability", "predict", "--data", "imagenet", "--out", "x.zarr"],
        ["trainability", "predict", "--depth", "1", "--out", "x.zarr"],
        ["trainability", "predict", "--sigma-w2", "-1:2:3", "--out", "x.zarr"],
        ["trainability", "predict", "--sigma-b2", "-0.05", "--out", "x.zarr"],
        ["trainability", "predict", "--sigma-b2", "0.01:0.05:2", "--out", "x.zarr"],
        ["trainability", "predict", "--sigma-w", "1", "--sigma-w2", "1", "--out", "x.zarr"],
        ["trainability", "predict", "--widths", "64,abc", "--out", "x.zarr"],
        ["trainability", "predict", "--data", "cifar10", "--out", "x.zarr"],
        ["trainability", "train", "--depth", "4", "--depths", "1:4:4", "--out", "x.zarr"],
        ["trainability", "train", "--optimizer", "lbfgs", "--out", "x.zarr"],
        ["trainability", "train", "--train-size", "0", "--out", "x.zarr"],
        ["trainability", "predict", "--pool", "3", "--out", "x.zarr"],
        ["trainability", "train", "--device", "tpu", "--out", "x.zarr"],
        ["trainability", "train", "--lr", "0.1,fast", "--out", "x.zarr"],
        ["trainability", "train", "--search", "random", "--out", "x.zarr"],
        ["trainability", "train", "--doublings", "-1", "--out", "x.zarr"],
        ["trainability", "train", "--resume", "missing-truth.zarr", "--out", "x.zarr"],
        ["trainability", "predict", "--decoder", "lbfgs", "--out", "x.zarr"],
        ["trainability", "predict", "--rule", "eyeball", "--out", "x.zarr"],
        ["trainability", "compare", "missing-pred.zarr", "missing-truth.zarr"],
        ["trainability", "predict", "--no-such-option"],
    ],
)
def test_bad_input_is_one_line_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("infoprop: error:")
    assert not (tmp_path / "x.zarr").exists()
