"""`infoprop diagnose`: train a small MLP/CNN with records and write every weight diagnostic against its nulls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import MaxMemory, Overwrite, apply_max_memory, progress_bar


def _scales(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"--scales must be comma-separated integers (e.g. 2,4,8,16), got {text!r}") from None


def diagnose(
    data: Annotated[str, typer.Option("--data", help="mnist | digits | fashion-mnist | cifar10.")] = "mnist",
    model: Annotated[str, typer.Option("--model", help="cnn | mlp.")] = "cnn",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs (one record after each).")] = 10,
    out: Annotated[Path, typer.Option("--out", help="Zarr store to write.")] = Path("out/diagnostics.zarr"),
    plot_dir: Annotated[
        Path | None, typer.Option("--plot-dir", help="Directory for the PNG figures [default: next to --out].")
    ] = None,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Write the store only.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size.")] = 64,
    optimizer: Annotated[str, typer.Option("--optimizer", help="sgd (momentum 0.9) | adam.")] = "sgd",
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 0.01,
    record_every: Annotated[
        int, typer.Option("--record-every", help="Also record every K steps (0: once per epoch).")
    ] = 0,
    probe_size: Annotated[
        int, typer.Option("--probe-size", help="Training images for the recorded loss and gradients.")
    ] = 1000,
    train_size: Annotated[
        int | None, typer.Option("--train-size", help="Use only the first N training images [default: all].")
    ] = None,
    scales: Annotated[str, typer.Option("--scales", help="Segment scales r, comma-separated.")] = "2,4,8,16",
    graph_scale: Annotated[int, typer.Option("--graph-scale", help="Segment scale of the graph nodes (>= 8).")] = 8,
    quantile: Annotated[float, typer.Option("--quantile", help="Support = |w| > this quantile of |w|.")] = 0.5,
    surface: Annotated[str, typer.Option("--surface", help="Roughness of abs (|w|) or signed (w).")] = "abs",
    null_draws: Annotated[int, typer.Option("--null-draws", help="Draws per null model.")] = 8,
    k: Annotated[int, typer.Option("--k", help="Graph edges kept per node and adjacent layer.")] = 8,
    splits: Annotated[int, typer.Option("--splits", help="Held-out splits for the surrogates.")] = 5,
    gnn_epochs: Annotated[int, typer.Option("--gnn-epochs", help="Full-batch Adam steps of the GNN.")] = 300,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation, batch order, nulls and splits.")] = 0,
    data_path: Annotated[Path | None, typer.Option("--data-path", help="Directory with the data files.")] = None,
    pool: Annotated[int, typer.Option("--pool", help="Mean-pool KxK pixel blocks.")] = 1,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    overwrite: Overwrite = False,
    max_memory: MaxMemory = None,
) -> None:
    """Train, record, and diagnose: support dimension, roughness, entropy, phase flow and the segment-graph GNN,
    each against its null models -> OUT (zarr) and figures (a few minutes for the default MNIST CNN on a CPU)."""
    from .._src.common import OutputDir, check_output, save_figure, write_zarr
    from .._src.diagnostics.pipeline import diagnose as run
    from .._src.plots.diagnostics import FIGURES

    apply_max_memory(max_memory)
    # Both outputs are checked before training: nothing infoprop did not write is ever replaced.
    check_output(out, "store", overwrite=overwrite, name="--out")
    figures = None
    if not no_plots:
        figures_dir = plot_dir if plot_dir is not None else out.parent / f"{out.stem}-figures"
        figures = OutputDir(figures_dir, overwrite=overwrite, name="--plot-dir")
    with progress_bar("diagnose", enabled=progress) as advance:
        ds = run(data=data, model=model, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                 record_every=record_every, probe_size=probe_size, train_size=train_size, seed=seed,
                 data_path=data_path, pool=pool, scales=_scales(scales), quantile=quantile, surface=surface,
                 null_draws=null_draws, graph_scale=graph_scale, k=k, splits=splits, gnn_epochs=gnn_epochs,
                 progress=advance)
    print(write_zarr(ds, out, "--out", overwrite=overwrite))
    if figures is not None:
        for name, plot in FIGURES.items():
            print(save_figure(plot(ds), figures.file(f"{name}.png"), "--plot-dir", overwrite=True))
    _summary(ds)


def _summary(ds) -> None:
    """A few lines on stdout: accuracy, each layer's statistics at the last record against their permutation nulls
    (mean +- sd of the draws), and the surrogates' held-out scores."""
    last = ds.sizes["record"] - 1
    print(f"test accuracy {float(ds.test_accuracy[last]):.3f} after {float(ds.epoch[last]):g} epochs "
          f"(training {ds.attrs['training_seconds']:.0f} s, analysis {ds.attrs['analysis_seconds']:.0f} s)")
    columns = (("support_dimension", "support dim W"), ("roughness_inputs", "roughness W"),
               ("update_support_dimension", "support dim W-W0"), ("update_roughness_inputs", "roughness W-W0"))
    print("layer   " + "".join(f"{label:>26}" for _, label in columns) + "   (trained | permuted null)")
    for i, layer in enumerate(ds.layer.values):
        cells = []
        for name, _ in columns:
            nulls = ds[f"{name}_permuted"].isel(layer=i)[-1].values
            cells.append(f"{float(ds[name].isel(layer=i)[-1]):.3f} | {nulls.mean():.3f}+-{nulls.std(ddof=1):.3f}")
        print(f"{layer:<8}" + "".join(f"{c:>26}" for c in cells))
    scores = ", ".join(f"{p} {r:.2f}/{s:.2f}" for p, r, s in zip(
        ds.predictor.values, ds.surrogate_mean_r2.values, ds.surrogate_mean_spearman.values))
    print(f"segment importance, held-out R^2/Spearman: {scores}")


def register(app: typer.Typer) -> None:
    """Add ``infoprop diagnose`` to ``app``."""
    app.command("diagnose")(diagnose)
