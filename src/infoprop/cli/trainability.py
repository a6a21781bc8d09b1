"""`infoprop trainability predict | train | compare`: reconstruction-entropy prediction vs trained networks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .._src.common import parse_range
from ._common import MaxMemory, Overwrite, apply_max_memory, console, grid_from_options

trainability_app = typer.Typer(
    name="trainability",
    help="Predict trainable (sigma_w^2, depth) from reconstruction-entropy cascades; check against training.",
    no_args_is_help=True,
)

DEFAULT_SIGMA_W2 = "0.5:4:36"
DEFAULT_SIGMA_B2 = "0.05"

Data = Annotated[str, typer.Option("--data", help="digits | fashion-mnist | mnist | cifar10.")]
DataPath = Annotated[Path | None, typer.Option("--data-path", help="Directory with the data files (see docs).")]
Grayscale = Annotated[bool, typer.Option("--grayscale", help="cifar10 only: convert to luma.")]
Depth = Annotated[int, typer.Option("--depth", help="Layers of the network under test (>= 2).")]
Widths = Annotated[str, typer.Option("--widths", help="wide | shrinking | comma-separated widths of every layer.")]
SigmaW = Annotated[str | None, typer.Option("--sigma-w", help="Weight STD range 'start:stop:count'.")]
SigmaW2 = Annotated[str | None, typer.Option("--sigma-w2", help=f"Weight VARIANCE range [default {DEFAULT_SIGMA_W2}].")]
SigmaB = Annotated[str | None, typer.Option("--sigma-b", help="Bias STD (one value).")]
SigmaB2 = Annotated[str | None, typer.Option("--sigma-b2", help=f"Bias VARIANCE [default {DEFAULT_SIGMA_B2}].")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the network draw, initialisations and batch order.")]
Dtype = Annotated[str, typer.Option("--dtype", help="float32 | float64.")]
Out = Annotated[Path, typer.Option("--out", help="Zarr store to write.")]
Plot = Annotated[Path | None, typer.Option("--plot", help="Figure to write (.png, .pdf or .svg).")]
Pool = Annotated[int, typer.Option("--pool", help="Mean-pool KxK pixel blocks (2: 28x28 -> 14x14).")]
Device = Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:<index>.")]
ShowProgress = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")]
TrainSize = Annotated[
    int | None, typer.Option("--train-size", help="Use only the first N training images [default: all].")
]


def _sigmas(sigma_w: str | None, sigma_w2: str | None, sigma_b: str | None, sigma_b2: str | None):
    # Our defaults are variances, while grid_from_options reads its default as a standard deviation: fill them in.
    if sigma_w is None and sigma_w2 is None:
        sigma_w2 = DEFAULT_SIGMA_W2
    if sigma_b is None and sigma_b2 is None:
        sigma_b2 = DEFAULT_SIGMA_B2
    sw = grid_from_options(sigma_w, sigma_w2, "--sigma-w", "--sigma-w2", DEFAULT_SIGMA_W2)
    sb = grid_from_options(sigma_b, sigma_b2, "--sigma-b", "--sigma-b2", DEFAULT_SIGMA_B2)
    if sb.size != 1:
        raise ValueError(f"--sigma-b/--sigma-b2 must be one value, got {sb.size} values")
    return sw, float(sb[0])


def _widths(text: str) -> Any:
    if text in ("wide", "shrinking"):
        return text
    try:
        return [int(w) for w in text.split(",")]
    except ValueError:
        raise ValueError(f"--widths must be wide, shrinking or comma-separated integers, got {text!r}") from None


@contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich bar on stderr fed by the library's ``progress(done_steps, steps)``; ``None`` when disabled."""
    if not (enabled and console.is_terminal):  # a log file gets no bar (nor the blank line a closing bar leaves)
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _open(path: Path, name: str):
    from .._src.common import read_zarr

    return read_zarr(path, name)


@trainability_app.command("predict")
def predict(
    out: Out,
    data: Data = "digits",
    data_path: DataPath = None,
    grayscale: Grayscale = False,
    depth: Depth = 40,
    widths: Widths = "wide",
    sigma_w: SigmaW = None,
    sigma_w2: SigmaW2 = None,
    sigma_b: SigmaB = None,
    sigma_b2: SigmaB2 = None,
    steps: Annotated[int, typer.Option("--steps", help="Adam steps per decoder (940 = one MNIST epoch).")] = 940,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate of the decoders.")] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Decoder minibatch size.")] = 64,
    eval_images: Annotated[int, typer.Option("--eval-images", help="Test images for the entropies.")] = 256,
    strip_images: Annotated[int, typer.Option("--strip-images", help="Images kept as reconstruction strips.")] = 4,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Relative tolerance of the cutoff.")] = 0.005,
    entropy: Annotated[str, typer.Option("--entropy", help="relative | differential: drives the cutoff.")] = "relative",
    reference: Annotated[str, typer.Option(
        "--reference", help="hidden | output: the layer whose entropy is the saturated value.")] = "hidden",
    seed: Seed = 0,
    dtype: Dtype = "float32",
    train_size: TrainSize = None,
    pool: Pool = 1,
    device: Device = "cpu",
    plot: Plot = None,
    progress: ShowProgress = True,
    overwrite: Overwrite = False,
    max_memory: MaxMemory = None,
) -> None:
    """Train the cascade decoders on the untrained network; write entropies, cutoff and strips."""
    from .._src.common import check_output, save_figure, write_zarr
    from .._src.trainability import predict as run

    apply_max_memory(max_memory)
    check_output(out, "store", overwrite=overwrite, name="--out")
    if plot is not None:
        check_output(plot, "figure", overwrite=overwrite, name="--plot")
    sw, sb = _sigmas(sigma_w, sigma_w2, sigma_b, sigma_b2)
    with _progress_bar(progress, "decoders") as advance:
        ds = run(data=data, depth=depth, sigma_w=sw, sigma_b=sb, widths=_widths(widths), steps=steps, lr=lr,
                 batch_size=batch_size, eval_images=eval_images, strip_images=strip_images, tolerance=tolerance,
                 entropy=entropy, reference=reference, seed=seed, data_path=data_path, grayscale=grayscale,
                 dtype=dtype, train_size=train_size, pool=pool, device=device, progress=advance)
    print(write_zarr(ds, out, "--out", overwrite=overwrite))
    if plot is not None:
        from .._src.plots.trainability import plot_prediction

        print(save_figure(plot_prediction(ds), plot, "--plot", overwrite=overwrite))
    print(f"predicted critical sigma_w^2 = {float(ds.critical_sigma_w2):.3f} (mean field "
          f"{float(ds.meanfield_critical_sigma_w2):.3f}); {ds.attrs['compute_seconds']:.1f} s")


@trainability_app.command("train")
def train(
    out: Out,
    data: Data = "digits",
    data_path: DataPath = None,
    grayscale: Grayscale = False,
    depth: Depth = 40,
    depths: Annotated[
        str | None, typer.Option("--depths", help="Classifier depths 'start:stop:count' [default 2..depth, 10].")
    ] = None,
    widths: Widths = "wide",
    sigma_w: SigmaW = None,
    sigma_w2: SigmaW2 = None,
    sigma_b: SigmaB = None,
    sigma_b2: SigmaB2 = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="sgd | adam.")] = "sgd",
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 0.05,
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps (batch --batch-size).")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size.")] = 64,
    threshold: Annotated[float, typer.Option("--threshold", help="Test accuracy that counts as trained.")] = 0.5,
    seed: Seed = 0,
    dtype: Dtype = "float32",
    train_size: TrainSize = None,
    pool: Pool = 1,
    device: Device = "cpu",
    progress: ShowProgress = True,
    overwrite: Overwrite = False,
    max_memory: MaxMemory = None,
) -> None:
    """Ground truth: train the classifiers over the same grid; write accuracy per (sigma_w, depth)."""
    from .._src.common import check_output, write_zarr
    from .._src.trainability import train as run

    apply_max_memory(max_memory)
    check_output(out, "store", overwrite=overwrite, name="--out")
    sw, sb = _sigmas(sigma_w, sigma_w2, sigma_b, sigma_b2)
    depth_values = None if depths is None else parse_range("--depths", depths)
    with _progress_bar(progress, "classifiers") as advance:
        ds = run(data=data, depth=depth, depths=depth_values, sigma_w=sw, sigma_b=sb, widths=_widths(widths),
                 optimizer=optimizer, steps=steps, lr=lr, batch_size=batch_size, threshold=threshold, seed=seed,
                 data_path=data_path, grayscale=grayscale, dtype=dtype, train_size=train_size, pool=pool,
                 device=device, progress=advance)
    print(write_zarr(ds, out, "--out", overwrite=overwrite))
    print(f"trained critical sigma_w^2 = {float(ds.critical_sigma_w2):.3f}; {ds.attrs['compute_seconds']:.1f} s")


@trainability_app.command("compare")
def compare(
    prediction: Annotated[Path, typer.Argument(help="Zarr store from `infoprop trainability predict`.")],
    truth: Annotated[Path, typer.Argument(help="Zarr store from `infoprop trainability train`.")],
    plot: Plot = None,
    out: Annotated[Path | None, typer.Option("--out", help="Zarr store for the comparison.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Agreement of prediction and training, the three critical sigma_w^2 and the compute times."""
    from .._src.common import check_output, save_figure, write_zarr
    from .._src.trainability import compare as run

    if out is not None:
        check_output(out, "store", overwrite=overwrite, name="--out")
    if plot is not None:
        check_output(plot, "figure", overwrite=overwrite, name="--plot")
    pred, true = _open(prediction, "PREDICTION"), _open(truth, "TRUTH")
    cmp = run(pred, true)
    print(f"agreement: {float(cmp.agreement):.3f} of {int(np.prod(cmp.agree.shape))} (sigma_w, depth) cells")
    print(f"critical sigma_w^2: predicted {float(cmp.predicted_critical_sigma_w2):.3f}, trained "
          f"{float(cmp.trained_critical_sigma_w2):.3f}, mean field {float(cmp.meanfield_critical_sigma_w2):.3f}")
    print(f"compute: prediction {cmp.attrs['prediction_seconds']:.1f} s, training {cmp.attrs['training_seconds']:.1f} s"
          f" ({cmp.attrs['speedup']:.1f}x)")
    if out is not None:
        print(write_zarr(cmp, out, "--out", overwrite=overwrite))
    if plot is not None:
        from .._src.plots.trainability import plot_comparison

        print(save_figure(plot_comparison(pred, true, cmp), plot, "--plot", overwrite=overwrite))


def register(app: typer.Typer) -> None:
    """Add ``infoprop trainability predict|train|compare`` to ``app``."""
    app.add_typer(trainability_app)
