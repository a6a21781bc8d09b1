"""`infoprop trainability predict | train | compare`: reconstruction-entropy prediction vs trained networks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .._src.common import parse_range
from ._common import MaxMemory, Overwrite, apply_max_memory, grid_from_options, progress_bar

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
Widths = Annotated[str, typer.Option("--widths", help="Width profile wide | shrinking | comma-separated widths.")]
Activation = Annotated[str, typer.Option("--activation", help="Activation of the network (tanh, erf, relu, ...).")]
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


def _floats(flag: str, text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def _widths(text: str) -> Any:
    if text in ("wide", "shrinking"):
        return text
    try:
        return [int(w) for w in text.split(",")]
    except ValueError:
        raise ValueError(f"--widths must be wide, shrinking or comma-separated integers, got {text!r}") from None


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
    activation: Activation = "tanh",
    sigma_w: SigmaW = None,
    sigma_w2: SigmaW2 = None,
    sigma_b: SigmaB = None,
    sigma_b2: SigmaB2 = None,
    decoder: Annotated[str, typer.Option(
        "--decoder", help="ridge (closed form) | adam (the paper's trained decoders).")] = "ridge",
    rule: Annotated[str, typer.Option(
        "--rule", help="null (entropy vs an information-free reconstruction) | seed (the published rule).")] = "null",
    ridge: Annotated[float, typer.Option("--ridge", help="ridge decoders: penalty on the squared weights.")] = 1e-5,
    clip: Annotated[float, typer.Option("--clip", help="ridge decoders: targets clipped to +-clip for atanh.")] = 0.9,
    refine_steps: Annotated[int, typer.Option(
        "--refine-steps", help="ridge decoders: Gauss-Newton steps after the ridge fit.")] = 3,
    fit_images: Annotated[int | None, typer.Option(
        "--fit-images", help="ridge decoders: training images used for the fit [default 4096].")] = 4096,
    steps: Annotated[int, typer.Option("--steps", help="adam decoders: Adam steps (940 = one MNIST epoch).")] = 940,
    lr: Annotated[float, typer.Option("--lr", help="adam decoders: learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="adam decoders: minibatch size.")] = 64,
    eval_images: Annotated[int, typer.Option("--eval-images", help="Test images for the entropies.")] = 256,
    strip_images: Annotated[int, typer.Option("--strip-images", help="Images kept as reconstruction strips.")] = 4,
    null_z: Annotated[float, typer.Option(
        "--null-z", help="null rule: standard errors by which a layer must beat the null.")] = 1.0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="null rule: resamples of the images.")] = 200,
    tolerance: Annotated[float, typer.Option("--tolerance", help="seed rule: relative tolerance.")] = 0.005,
    entropy: Annotated[str, typer.Option("--entropy", help="seed rule: relative | differential.")] = "relative",
    reference: Annotated[str, typer.Option(
        "--reference", help="seed rule: hidden | output, the layer whose entropy is the saturated value.")] = "hidden",
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
    """Fit the cascade decoders on the untrained network; write entropies, both rules' cutoffs and strips."""
    from .._src.common import check_output, save_figure, write_zarr
    from .._src.trainability import predict as run

    apply_max_memory(max_memory)
    check_output(out, "store", overwrite=overwrite, name="--out")
    if plot is not None:
        check_output(plot, "figure", overwrite=overwrite, name="--plot")
    sw, sb = _sigmas(sigma_w, sigma_w2, sigma_b, sigma_b2)
    with progress_bar("decoders", "steps" if decoder == "adam" else "layers", enabled=progress) as advance:
        ds = run(data, depth, sw, sb, widths=_widths(widths), activation=activation, decoder=decoder, rule=rule,
                 ridge=ridge, clip=clip, refine_steps=refine_steps, fit_images=fit_images, steps=steps, lr=lr,
                 batch_size=batch_size, eval_images=eval_images, strip_images=strip_images, null_z=null_z,
                 bootstrap=bootstrap, tolerance=tolerance, entropy=entropy, reference=reference, seed=seed,
                 data_path=data_path, grayscale=grayscale, dtype=dtype, train_size=train_size, pool=pool,
                 device=device, progress=advance)
    print(write_zarr(ds, out, "--out", overwrite=overwrite))
    if plot is not None:
        from .._src.plots.trainability import plot_prediction

        print(save_figure(plot_prediction(ds), plot, "--plot", overwrite=overwrite))
    print(f"predicted critical sigma_w^2 = {float(ds.critical_sigma_w2):.3f} ({rule} rule; null rule "
          f"{float(ds.critical_sigma_w2_null):.3f} (plateau centre), seed rule {float(ds.critical_sigma_w2_seed):.3f} "
          "(peak of the predicted depth); mean field "
          f"{float(ds.meanfield_critical_sigma_w2):.3f}); {ds.attrs['wall_seconds']:.1f} s")


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
    activation: Activation = "tanh",
    sigma_w: SigmaW = None,
    sigma_w2: SigmaW2 = None,
    sigma_b: SigmaB = None,
    sigma_b2: SigmaB2 = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="sgd | adam.")] = "sgd",
    lr: Annotated[str, typer.Option(
        "--lr", help="Learning rates, comma-separated; the best counts.")] = "0.001,0.003,0.01,0.03,0.1",
    steps: Annotated[int, typer.Option("--steps", help="First budget: optimiser steps (batch --batch-size).")] = 1000,
    doublings: Annotated[int, typer.Option(
        "--doublings", help="Most doublings of the budget per sigma_w, until the deepest trainable depth stops "
                            "moving (0: --steps only, unchecked).")] = 3,
    resume: Annotated[Path | None, typer.Option(
        "--resume", help="Earlier `train` store with the same options (except --sigma-w*, --doublings): reuse its "
                         "finished sigma_w, continue its unstable ones.")] = None,
    search: Annotated[str, typer.Option(
        "--search", help="bisect (deepest trainable depth by bisection) | grid (every depth).")] = "bisect",
    eval_every: Annotated[int, typer.Option(
        "--eval-every", help="Steps between test-accuracy checkpoints (early stopping).")] = 250,
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
    """Ground truth: train the classifiers over the same grid; write accuracy per (sigma_w, depth, lr, budget)."""
    from .._src.common import check_output, write_zarr
    from .._src.trainability import train as run

    apply_max_memory(max_memory)
    check_output(out, "store", overwrite=overwrite, name="--out")
    sw, sb = _sigmas(sigma_w, sigma_w2, sigma_b, sigma_b2)
    depth_values = None if depths is None else parse_range("--depths", depths)
    previous = None if resume is None else _open(resume, "--resume").load()
    with progress_bar("classifiers", "steps", enabled=progress) as advance:
        ds = run(data, depth, sw, sb, depths=depth_values, widths=_widths(widths), activation=activation,
                 optimizer=optimizer, lr=_floats("--lr", lr), steps=steps, doublings=doublings, search=search,
                 eval_every=eval_every, batch_size=batch_size, threshold=threshold, seed=seed, data_path=data_path,
                 grayscale=grayscale, dtype=dtype, train_size=train_size, pool=pool, device=device, resume=previous,
                 progress=advance)
    print(write_zarr(ds, out, "--out", overwrite=overwrite))
    if doublings == 0:
        stability = "budget not doubled (--doublings 0), so not checked"
    else:
        unstable = ds.sigma_w2.values[~ds.budget_stable.values]
        stability = (f"deepest trainable depth still changed by the last doubling at {len(unstable)} of "
                     f"{ds.sizes['sigma_w']} sigma_w^2" + (f" ({', '.join(f'{v:.2f}' for v in unstable)})"
                                                            if len(unstable) else ""))
    budgets = ", ".join(f"{int(b)} x {int((ds.final_budget == b).sum())}" for b in np.unique(ds.final_budget))
    print(f"trained critical sigma_w^2 = {float(ds.critical_sigma_w2):.3f}; final budgets (steps x sigma_w) "
          f"{budgets}; {stability}; {ds.attrs['wall_seconds']:.1f} s")


@trainability_app.command("compare")
def compare(
    prediction: Annotated[Path, typer.Argument(help="Zarr store from `infoprop trainability predict`.")],
    truth: Annotated[Path, typer.Argument(help="Zarr store from `infoprop trainability train`.")],
    band: Annotated[float, typer.Option(
        "--band", help="sigma_w^2 within this of the mean-field critical value count as 'critical'.")] = 0.4,
    plot: Plot = None,
    out: Annotated[Path | None, typer.Option("--out", help="Zarr store for the comparison.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Agreement of prediction and training (both rules, per side), the critical sigma_w^2 and the compute times."""
    from .._src.common import check_output, save_figure, write_zarr
    from .._src.trainability import compare as run

    if out is not None:
        check_output(out, "store", overwrite=overwrite, name="--out")
    if plot is not None:
        check_output(plot, "figure", overwrite=overwrite, name="--plot")
    pred, true = _open(prediction, "PREDICTION"), _open(truth, "TRUTH")
    cmp = run(pred, true, band=band)
    cells = int(np.prod(cmp.trainable.shape))
    print(f"{cells} (sigma_w, depth) cells; sides of the mean-field critical sigma_w^2 "
          f"{float(cmp.meanfield_critical_sigma_w2):.3f} +- {band:g}: " + ", ".join(
              f"{side} {int(n)}" for side, n in zip(cmp.side.values, cmp.cells_by_side.values)))
    for rule in cmp.rule.values:
        c = cmp.sel(rule=rule)
        sides = ", ".join(f"{side} {v:.3f}" for side, v in zip(cmp.side.values, c.agreement_by_side.values))
        chosen = " (chosen)" if rule == cmp.attrs["rule"] else ""
        print(f"{rule} rule{chosen}: agreement {float(c.agreement):.3f} ({sides}); predicted critical sigma_w^2 "
              f"{float(c.predicted_critical_sigma_w2):.3f} (plateau centre on the truth's depth grid)")
    print(f"critical sigma_w^2: trained {float(cmp.trained_critical_sigma_w2):.3f}, mean field "
          f"{float(cmp.meanfield_critical_sigma_w2):.3f}")
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
