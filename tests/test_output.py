"""Output safety (infoprop._src.output): nothing infoprop did not write is ever deleted or replaced.

Every command that writes is run against a user's folder, a parent folder, the current folder, a regular file
of another kind, an unwritable path and bad figure paths; each must refuse with one line and exit code 2 before
computing anything, and leave every pre-existing file byte-identical. infoprop's own outputs (recognised by
their marker, never by name) are replaced only with --overwrite.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from infoprop._src.output import (
    MANIFEST,
    OutputDir,
    OutputError,
    check_output,
    save_figure,
    write_text,
    write_zarr,
)
from infoprop.cli import main

# Small, fast arguments for every command that writes a store (`--out` appended by the tests).
COMMANDS = {
    "landscape": ["landscape", "--width", "8", "--depth", "3", "--sigma-w", "0:4:3", "--sigma-b", "0:4:3"],
    "meanfield": ["meanfield", "--sigma-w", "0.5:4:3", "--sigma-b", "0:2:3"],
    "trainability predict": [
        "trainability", "predict", "--depth", "3", "--steps", "2", "--sigma-w2", "1:2:2", "--eval-images", "8",
        "--strip-images", "1", "--no-progress",
    ],
    "trainability train": [
        "trainability", "train", "--depth", "3", "--depths", "2:3:2", "--steps", "2", "--sigma-w2", "1:2:2",
        "--no-progress",
    ],
}  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: SHA-256 of each file's bytes, "dir" for folders."""
    return {
        str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def thesis(tmp_path, monkeypatch):
    """The issue's user folder ``P`` (thesis.tex, data/raw.csv), made the current folder."""
    folder = tmp_path / "P"
    (folder / "data").mkdir(parents=True)
    (folder / "thesis.tex").write_text("t\n")
    (folder / "data" / "raw.csv").write_text("1\n")
    monkeypatch.chdir(folder)
    return folder


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def forbid_computing(monkeypatch):
    """Make every computation fail loudly: a refusal must come before any of them starts."""

    def computed(*args, **kwargs):
        raise AssertionError("computed before the output was checked")

    import infoprop._src.networks as networks
    import infoprop._src.trainability as trainability
    from infoprop._src.meanfield import MeanField

    monkeypatch.setattr(networks.RandomNetwork, "__init__", computed)
    monkeypatch.setattr(MeanField, "phase_diagram", computed)
    monkeypatch.setattr(trainability, "predict", computed)
    monkeypatch.setattr(trainability, "train", computed)


# --------------------------------------------------------------------------- item 1: folders are never replaced
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize("where", ["cwd", "parent", "user folder"])
def test_out_naming_a_users_folder_is_refused_and_the_folder_survives(
    thesis, capsys, forbid_computing, command, overwrite, where
):
    target = {"cwd": str(thesis), "parent": "..", "user folder": str(thesis / "data")}[where]
    before = snapshot(thesis.parent)
    assert main([*COMMANDS[command], "--out", target, *overwrite]) == 2
    err = one_line_error(capsys)
    assert "--out" in err
    assert snapshot(thesis.parent) == before


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_report_and_figure_refuse_a_users_folder_the_cwd_and_its_parent(thesis, capsys, forbid_computing, overwrite):
    before = snapshot(thesis.parent)
    for target in (".", "..", str(thesis), "data"):
        for argv in (["report", "--no-progress"], ["figure", "zoom", "--scale", "tiny", "--no-progress"]):
            assert main([*argv, "--out", target, *overwrite]) == 2, (argv, target)
            err = one_line_error(capsys)
            assert "out" in err
    assert snapshot(thesis.parent) == before


def test_sweep_refuses_a_users_folder(thesis, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("arch = 'mlp'\nwidth = 4\ndepth = 2\nsigma_w = {start = 0, stop = 1, count = 2}\n"
                    "sigma_b = {start = 0, stop = 1, count = 2}\n")  # fmt: skip
    before = snapshot(thesis.parent)
    for target in (str(thesis), "..", "data"):
        for overwrite in ([], ["--overwrite"]):
            assert main(["sweep", "run", str(spec), "--out", target, "--no-progress", *overwrite]) == 2
            one_line_error(capsys)
    assert snapshot(thesis.parent) == before


# --------------------------------------------------------------------------- item 2: a regular file of another kind
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_naming_an_existing_file_is_refused_even_with_overwrite(thesis, capsys, forbid_computing, command):
    for name in ("exist.txt", "exist.zarr"):  # a file with a store's suffix is still not a store
        (thesis / name).write_text("precious\n")
        before = snapshot(thesis)
        for overwrite in ([], ["--overwrite"]):
            assert main([*COMMANDS[command], "--out", name, *overwrite]) == 2
            one_line_error(capsys)
        assert snapshot(thesis) == before


def test_plot_naming_a_png_infoprop_did_not_write_is_refused_even_with_overwrite(thesis, capsys, forbid_computing):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(thesis / "figure1.png")  # the user's own figure: no infoprop marker
    plt.close(fig)
    before = snapshot(thesis)
    argv = [*COMMANDS["meanfield"], "--out", "mf.zarr", "--plot", "figure1.png", "--overwrite"]
    assert main(argv) == 2
    assert "never replaced" in one_line_error(capsys)
    assert snapshot(thesis) == before


# --------------------------------------------------------------------------- infoprop's own output: --overwrite
def test_own_outputs_need_overwrite_and_then_are_replaced(thesis, capsys):
    argv = [*COMMANDS["meanfield"], "--out", "mf.zarr", "--plot", "mf.png"]
    assert main(argv) == 0
    capsys.readouterr()
    first = snapshot(thesis)
    assert main(argv) == 2
    assert "give --overwrite" in one_line_error(capsys)
    assert snapshot(thesis) == first
    assert main([*argv, "--variable", "xi_c", "--overwrite"]) == 0
    assert json.loads((thesis / "mf.zarr" / "zarr.json").read_text())["attributes"]["infoprop_kind"]
    assert (thesis / "mf.png").read_bytes() != b""
    assert snapshot(thesis)["thesis.tex"] == first["thesis.tex"]
    assert sorted(os.listdir(thesis)) == ["data", "mf.png", "mf.zarr", "thesis.tex"]  # no temporaries left


def test_an_own_store_with_a_users_file_inside_is_never_replaced(thesis, capsys):
    argv = [*COMMANDS["meanfield"], "--out", "mf.zarr"]
    assert main(argv) == 0
    (thesis / "mf.zarr" / "notes.txt").write_text("mine\n")
    before = snapshot(thesis)
    assert main([*argv, "--overwrite"]) == 2
    assert "notes.txt" in one_line_error(capsys)
    assert snapshot(thesis) == before


# --------------------------------------------------------------------------- item 5: checked before computing
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--out", "blocker/x.zarr"], "--out must be a writable path"),
        (["--out", "."], "--out must not be the current folder"),
        (["--out", "ok.zarr", "--plot", "."], "--plot must not be the current folder"),
        (["--out", "ok.zarr", "--plot", "data"], "--plot must be a figure path ending in .png or .pdf or .svg"),
        (["--out", "ok.zarr", "--plot", "noext"], "--plot must be a figure path ending in"),
        (["--out", "ok.zarr", "--plot", "blocker/f.png"], "--plot must be a writable path"),
    ],
)
@pytest.mark.parametrize("command", ["landscape", "meanfield", "trainability predict"])
def test_bad_out_or_plot_is_refused_before_computing(thesis, capsys, forbid_computing, command, options, message):
    (thesis / "blocker").write_text("a file, not a folder\n")
    before = snapshot(thesis)
    assert main([*COMMANDS[command], *options]) == 2
    assert message in one_line_error(capsys)
    assert snapshot(thesis) == before


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_out_under_proc_is_refused_before_computing(thesis, capsys, forbid_computing):
    assert main([*COMMANDS["meanfield"], "--out", "/proc/x.zarr"]) == 2
    err = one_line_error(capsys)
    assert "--out must be a writable path, got '/proc/x.zarr'" in err and "tmp-" not in err


# --------------------------------------------------------------------------- the library's writers, same rules
def dataset(value: float = 0.0) -> xr.Dataset:
    return xr.Dataset({"x": ("i", np.full(3, value))})


def test_library_writers_refuse_existing_paths_unless_overwrite_and_own(tmp_path):
    store, png, text = tmp_path / "s.zarr", tmp_path / "f.png", tmp_path / "t.json"
    write_zarr(dataset(0.0), store)
    with pytest.raises(OutputError, match="give --overwrite"):
        write_zarr(dataset(1.0), store)
    write_zarr(dataset(1.0), store, overwrite=True)
    assert float(xr.open_zarr(store).x[0]) == 1.0
    assert xr.open_zarr(store).attrs["infoprop_kind"] == "result"  # the marker, added when absent
    text.write_text("the user's\n")
    with pytest.raises(OutputError, match="never replaced"):
        write_text("mine", text, overwrite=True)
    assert text.read_text() == "the user's\n"
    foreign_png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    png.write_bytes(foreign_png)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with pytest.raises(OutputError, match="never replaced"):
        save_figure(plt.figure(), png, overwrite=True)
    assert png.read_bytes() == foreign_png
    png.unlink()
    save_figure(plt.figure(), png)
    save_figure(plt.figure(), png, overwrite=True)  # its own figure: recognised by the metadata marker
    assert b"infoprop-output" in png.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["f.png", "s.zarr", "t.json"]


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_pdf_and_svg_figures_carry_the_marker(tmp_path, suffix):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = save_figure(plt.figure(), tmp_path / f"f{suffix}")
    save_figure(plt.figure(), path, overwrite=True)
    assert b"infoprop-output" in path.read_bytes()


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_a_zarr_store_without_infoprops_attributes_is_never_replaced(tmp_path):
    dataset().to_zarr(tmp_path / "theirs.zarr")
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="without infoprop's attributes"):
        write_zarr(dataset(1.0), tmp_path / "theirs.zarr", overwrite=True)
    assert snapshot(tmp_path) == before


def test_output_folder_manifest_rules(tmp_path):
    folder = tmp_path / "out"
    first = OutputDir(folder)
    write_zarr(dataset(), first.file("a.zarr"), overwrite=True)
    write_text("{}", first.file("summary.json"), overwrite=True)
    assert json.loads((folder / MANIFEST).read_text())["files"] == ["a.zarr", "summary.json"]
    with pytest.raises(OutputError, match="give --overwrite"):
        OutputDir(folder)
    again = OutputDir(folder, overwrite=True)
    write_text('{"x": 1}', again.file("summary.json"), overwrite=True)  # listed in the manifest: its own
    assert (folder / "summary.json").read_text() == '{"x": 1}'
    (folder / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError, match=r"also holds files infoprop did not write \(notes.txt\)"):
        OutputDir(folder, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    OutputDir(empty)  # an empty folder holds nothing to lose


def test_a_folder_infoprop_creates_for_a_store_is_its_own_output_folder(tmp_path):
    write_zarr(dataset(), tmp_path / "out" / "mf.zarr")
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["files"] == ["mf.zarr"]
    OutputDir(tmp_path / "out", overwrite=True)  # a report may then be written there


def test_check_output_names_the_argument_and_rejects_bad_types(tmp_path):
    with pytest.raises(OutputError, match="--plot must be a figure path ending in"):
        check_output(tmp_path / "f.jpg", "figure", name="--plot")
    with pytest.raises(TypeError, match="out must be a path"):
        check_output(3, "store")
    with pytest.raises(OutputError, match="non-empty path"):
        check_output("", "store")
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        check_output(tmp_path / "s.zarr", "store", overwrite="yes")
    link = tmp_path / "link.zarr"
    link.symlink_to(tmp_path)
    with pytest.raises(OutputError, match="symbolic link"):
        check_output(link, "store", overwrite=True)
    assert check_output(tmp_path / "new" / "s.zarr", "store") == tmp_path / "new" / "s.zarr"
    assert not (tmp_path / "new").exists()  # checking creates nothing
