"""Trainability before training: reconstruction-entropy cascades (SPEC section 5) and the ground truth.

The network under test
----------------------
A fully connected network of ``depth`` layers with output widths ``w_1 .. w_D`` (``w_0`` = pixels) and tanh after
every layer, ``y_l = tanh(W_l y_{l-1} + b_l)`` with ``y_0 = x`` the image in [0, 1] (layer 1 acts on the image
itself). ``W_l ~ N(0, sigma_w^2 / w_{l-1})``, ``b_l ~ N(0, sigma_b^2)``; **sigma_w and sigma_b are standard
deviations** (SPEC section 0); the CLI's ``--sigma-w2``/``--sigma-b2`` are variances and are converted with a square
root. Widths: ``"wide"`` = ``w_1 .. w_{D-1}`` = pixels, ``w_D`` = classes; ``"shrinking"`` = linear from pixels to
classes, ``w_l = round(w_0 + (classes - w_0) l / D)``; or an explicit list of ``D`` widths.

One random draw serves the whole scan: every layer's standard-normal matrix ``Z_l`` and vector ``z_l`` are drawn once
from ``seed`` and scaled, ``W_l = sigma_w Z_l / sqrt(w_{l-1})``, ``b_l = sigma_b z_l``, so the configurations of a scan
differ only in scale, and the trained networks of the ground truth are prefixes of the network under test.

Prediction (cascade)
--------------------
Decoder ``c_l(y) = tanh(A_l y + a_l)`` maps ``w_l -> w_{l-1}`` and is trained to reconstruct layer ``l``'s input
``y_{l-1}`` from its output ``y_l`` (MSE, Adam, batch 64) while the network stays at initialisation. Decoder 1 keeps
the tanh (as in the paper): its targets are images in [0, 1], inside tanh's range. All decoders of all layers and of
all ``sigma_w`` are trained at once: the decoders of all layers with the same shape and of the whole scan are one
``(layers * S, w_{l-1}, w_l)`` tensor and one ``torch.bmm``; the summed loss gives each decoder exactly its own
gradient and Adam is elementwise, so this equals ``S * D`` independent trainings (tested). The budget is ``steps``
Adam steps per decoder, a unit that means the same amount of training on every data set (940 steps = one MNIST
epoch at batch 64 = ~41 epochs of digits).

The reconstruction from layer ``l`` is ``r_l = c_1(c_2(...c_l(y_l)))``. On a fixed evaluation batch (the first
``eval_images`` test images):

* relative entropy (per image): shift input and reconstruction so their minimum is 0, add 1e-12, normalise to sum 1,
  ``KL(input || reconstruction)``; the sample median over images is kept;
* differential entropy: per pixel the sample standard deviation ``s`` (ddof = 1) over the batch,
  ``0.5 ln(2 pi e (s^2 + 1e-12))`` averaged over pixels (the 1e-12 keeps identical reconstructions finite);
* cutoff: the deepest layer ``l < R`` whose entropy differs from layer ``R``'s (the saturated value) by more than
  ``tolerance * |e_R|``, 0 if none (:func:`cutoff`); ``R`` is the last hidden layer ``D - 1`` (default) or the output
  layer ``D``. A depth-``d`` classifier reads layer ``d - 1`` of the network under test, so the predicted deepest
  trainable depth is ``cutoff + 1``, or ``D`` when the cutoff is ``R - 1`` (no saturation inside the network).

Ground truth
------------
:func:`train` trains classifiers of each depth ``d``: hidden layers 1..d-1 of the network under test (same draw, same
scale) and a linear read-out ``w_{d-1} -> classes`` (same initialisation law, no tanh: its outputs are the logits of
the cross-entropy, no softmax before it). All ``(sigma_w, depth)`` models are trained together: models are ordered
by depth so that the models still active at layer ``l`` are a prefix of the batch, one bmm per layer.
Trainable means test accuracy >= ``threshold`` after ``steps`` optimiser steps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import data as _data
from .common import as_float_array, check_choice, check_int, check_memory, check_real, provenance_attrs, resolve_device

ARCHITECTURES: tuple[str, ...] = ("wide", "shrinking")
ENTROPIES: tuple[str, ...] = ("differential", "relative")
REFERENCES: tuple[str, ...] = ("hidden", "output")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
DTYPES: tuple[str, ...] = ("float32", "float64")

STEPS_PER_MNIST_EPOCH = 940
N_CLASSES = 10  # every data set of infoprop.data has ten classes
DEFAULT_SIGMA_W2 = np.linspace(0.5, 4.0, 36)  # variances, as in the example scan
DEFAULT_SIGMA_B = 0.05**0.5  # standard deviation: sigma_b^2 = 0.05 as in the paper
RELATIVE_OFFSET = 1e-12
VARIANCE_FLOOR = 1e-12
_EVAL_CHUNK = 1024

# Independent random streams, one key per use, so that changing one part of a run never changes another's draws.
_NETWORK, _DECODERS, _DECODER_ORDER, _READOUT, _TRAIN_ORDER = range(5)


# --------------------------------------------------------------------------- seeds and validation
def _generator(seed: int, *key: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, *key]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def layer_widths(widths: str | Sequence[int], n_in: int, n_classes: int, depth: int) -> list[int]:
    """Output widths ``w_1 .. w_D`` of the network under test.

    Parameters
    ----------
    widths : {"wide", "shrinking"} or sequence of int
        ``"wide"``: ``depth - 1`` layers of width ``n_in`` then ``n_classes``; ``"shrinking"``: linear from ``n_in``
        to ``n_classes``; a sequence: the ``depth`` widths themselves.
    n_in, n_classes, depth : int
        Pixels per image, classes, number of layers (>= 2).
    """
    n_in = check_int("n_in", n_in, minimum=1)
    n_classes = check_int("n_classes", n_classes, minimum=1)
    depth = check_int("depth", depth, minimum=2)
    if isinstance(widths, str):
        check_choice("widths", widths, ARCHITECTURES)
        if widths == "wide":
            return [n_in] * (depth - 1) + [n_classes]
        return [round(n_in + (n_classes - n_in) * layer / depth) for layer in range(1, depth + 1)]
    if not isinstance(widths, Sequence) or len(widths) != depth:
        raise ValueError(f"widths must be 'wide', 'shrinking' or a list of depth={depth} integers, got {widths!r}")
    return [check_int(f"widths[{i}]", w, minimum=1) for i, w in enumerate(widths)]


def _sigma_grid(sigma_w: Any, sigma_b: Any) -> tuple[np.ndarray, float]:
    sigma_w = as_float_array("sigma_w", sigma_w, minimum=0.0)
    if sigma_w.ndim > 1:
        raise ValueError(f"sigma_w must be a number or a 1-d array (standard deviations), got shape {sigma_w.shape}")
    return np.atleast_1d(sigma_w), check_real("sigma_b", sigma_b, minimum=0.0)


# --------------------------------------------------------------------------- the network under test
def init_network(
    widths: Sequence[int], n_in: int, sigma_w: np.ndarray, sigma_b: float, seed: int, dtype: torch.dtype
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Weights ``(S, w_l, w_{l-1})`` and biases ``(S, w_l)`` of every layer, one shared draw scaled per ``sigma_w``.

    ``sigma_w`` (shape ``(S,)``) and ``sigma_b`` are standard deviations: ``W = sigma_w Z / sqrt(fan_in)``.
    """
    gen = _generator(seed, _NETWORK)
    return [_draw_layer(gen, fan_out, fan_in, sigma_w, sigma_b, dtype)
            for fan_in, fan_out in zip([n_in, *widths[:-1]], widths)]


def _draw_layer(
    gen: torch.Generator, fan_out: int, fan_in: int, sigma_w: np.ndarray, sigma_b: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer for the whole scan from one standard-normal draw (``sigma_w``, ``sigma_b``: standard deviations).

    ``W = sigma_w Z / sqrt(fan_in)``, shape ``(S, fan_out, fan_in)``; ``b = sigma_b z``, shape ``(S, fan_out)``.
    """
    scale = torch.as_tensor(np.asarray(sigma_w, dtype=np.float64), dtype=dtype)[:, None, None]
    z_w = torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64).to(dtype)
    z_b = torch.randn(fan_out, generator=gen, dtype=torch.float64).to(dtype)
    return scale * z_w / fan_in**0.5, (sigma_b * z_b).expand(len(sigma_w), fan_out).clone()


def _layer(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    # y is (S, B, in), or (B, in) for the image shared by all models; matmul broadcasts it over the scan.
    return torch.tanh(torch.matmul(y, weight.transpose(-1, -2)) + bias[:, None, :])


def forward(params: Sequence[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> list[torch.Tensor]:
    """Activations ``[x, y_1, ..., y_D]`` of the network under test; ``y_l`` has shape ``(S, B, w_l)``."""
    ys = [x]
    for weight, bias in params:
        ys.append(_layer(ys[-1], weight, bias))
    return ys


# --------------------------------------------------------------------------- decoders and cascade
def init_decoders(
    widths: Sequence[int], n_in: int, n_scan: int, seed: int, dtype: torch.dtype
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Decoder weights ``(S, w_{l-1}, w_l)`` and biases ``(S, w_{l-1})``, PyTorch's ``nn.Linear`` default law
    ``U(-1/sqrt(w_l), 1/sqrt(w_l))``, one draw shared by the scan."""
    gen = _generator(seed, _DECODERS)
    params = []
    for fan_out, fan_in in zip([n_in, *widths[:-1]], widths):
        bound = fan_in**-0.5
        weight = (torch.rand(fan_out, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        bias = (torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        params.append(
            (weight.to(dtype).expand(n_scan, -1, -1).clone(), bias.to(dtype).expand(n_scan, -1).clone())
        )
    return params


def _trainable_copy(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()) for w, b in pairs]


def _to_device(
    pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(w.to(device), b.to(device)) for w, b in pairs]


def _detached(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(w.detach(), b.detach()) for w, b in pairs]


def _batches(n: int, batch_size: int, steps: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Index batches for ``steps`` steps: successive random permutations of ``n``, each cut into full batches."""
    per_epoch = n // batch_size
    out: list[torch.Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=gen)
        out.extend(perm[i * batch_size : (i + 1) * batch_size] for i in range(per_epoch))
    return out[:steps]


def _shape_groups(decoders: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[list[int]]:
    """Decoder indices grouped by weight shape ``(w_{l-1}, w_l)``, groups in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (weight, _) in enumerate(decoders):
        groups.setdefault(tuple(weight.shape[1:]), []).append(i)
    return list(groups.values())


def train_decoders(
    network: Sequence[tuple[torch.Tensor, torch.Tensor]],
    decoders: Sequence[tuple[torch.Tensor, torch.Tensor]],
    images: torch.Tensor,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Train every decoder layer-locally (MSE to the layer's input, Adam) with the network frozen.

    Each decoder's loss depends on its own parameters only and Adam is elementwise, so one Adam over the summed
    losses of all layers and configurations is the same as training each decoder alone (tested). The decoders of
    all layers with the same shape (for ``"wide"``: every layer but the last) and of the whole scan are stacked
    into one ``(layers * S, w_{l-1}, w_l)`` tensor, so a step is one ``bmm`` per shape rather than one per layer:
    the paper's layer-by-layer decoders are independent and train in parallel. Returns the trained decoders per
    layer (new tensors); the inputs are not modified. ``progress(done, steps)`` is called after every step.
    """
    n_scan = decoders[0][0].shape[0]
    groups = _shape_groups(decoders)
    params = [
        tuple(torch.cat([decoders[i][k].detach() for i in group]).requires_grad_() for k in range(2))
        for group in groups
    ]
    optimizer = torch.optim.Adam([p for pair in params for p in pair], lr=lr, fused=True)
    for step, index in enumerate(_batches(images.shape[0], batch_size, steps, _generator(seed, _DECODER_ORDER))):
        with torch.no_grad():
            ys = forward(network, images[index.to(images.device)])
            ys[0] = ys[0].expand(n_scan, -1, -1)  # the images are shared by the scan
            outputs = [torch.cat([ys[i + 1] for i in group]) for group in groups]
            targets = [torch.cat([ys[i] for i in group]) for group in groups]
        loss = images.new_zeros(())
        for (weight, bias), y_in, y_out in zip(params, targets, outputs):
            loss = loss + ((_layer(y_out, weight, bias) - y_in) ** 2).mean(dim=(-2, -1)).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step + 1, steps)
    trained: list[tuple[torch.Tensor, torch.Tensor]] = [None] * len(decoders)  # type: ignore[list-item]
    for group, (weight, bias) in zip(groups, params):
        for j, i in enumerate(group):
            rows = slice(j * n_scan, (j + 1) * n_scan)
            trained[i] = (weight.detach()[rows], bias.detach()[rows])
    return trained


def reconstruct(
    decoders: Sequence[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor, layer: int
) -> torch.Tensor:
    """Cascade reconstruction ``c_1(c_2(...c_layer(y)))`` of the image from layer ``layer``'s output ``y``."""
    with torch.no_grad():
        for weight, bias in reversed(decoders[:layer]):
            y = _layer(y, weight, bias)
    return y


# --------------------------------------------------------------------------- entropies and cutoff
def relative_entropy(inputs: Any, reconstructions: Any) -> np.ndarray:
    """Per-image ``KL(input || reconstruction)`` of images read as probability mass functions.

    Each image (last axis = pixels) is shifted so that its minimum is 0, offset by 1e-12 and normalised to sum 1.
    ``inputs`` broadcasts against ``reconstructions``; the result has their broadcast shape without the last axis.
    Computed in float64.
    """
    p = _as_pmf(as_float_array("inputs", inputs))
    q = _as_pmf(as_float_array("reconstructions", reconstructions))
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def _as_pmf(images: np.ndarray) -> np.ndarray:
    if images.ndim < 1 or images.shape[-1] < 1:
        raise ValueError(f"images must have a non-empty last (pixel) axis, got shape {images.shape}")
    shifted = images - images.min(axis=-1, keepdims=True) + RELATIVE_OFFSET
    return shifted / shifted.sum(axis=-1, keepdims=True)


def differential_entropy(reconstructions: Any) -> np.ndarray:
    """Gaussian differential entropy per pixel over a batch, averaged over pixels.

    ``reconstructions`` has shape ``(..., n_images, pixels)`` with ``n_images >= 2``; per pixel the sample standard
    deviation ``s`` (ddof = 1) gives ``0.5 ln(2 pi e (s^2 + 1e-12))``; the mean over pixels is returned (shape
    ``(...)``). In nats.
    """
    r = as_float_array("reconstructions", reconstructions)
    if r.ndim < 2 or r.shape[-2] < 2:
        raise ValueError(f"reconstructions must have shape (..., n_images >= 2, pixels), got {r.shape}")
    variance = r.var(axis=-2, ddof=1)
    return np.mean(0.5 * np.log(2 * np.pi * np.e * (variance + VARIANCE_FLOOR)), axis=-1)


def cutoff(entropy: Any, tolerance: float = 0.005) -> np.ndarray:
    """Deepest layer whose entropy still differs from the saturated (last-layer) value.

    Parameters
    ----------
    entropy : array_like, shape (..., D)
        Entropy per layer 1..D (last axis), e.g. the sample-median relative entropy or the differential entropy.
    tolerance : float
        Relative tolerance: layer ``l`` differs when ``|e_l - e_D| > tolerance * |e_D|``, i.e. when the entropy
        normalised by the last layer's differs from 1 by more than ``tolerance``.

    Returns
    -------
    numpy.ndarray of int64, shape (...)
        The deepest differing layer (1-based, at most ``D - 1``); 0 when every layer equals the saturated value.

    Examples
    --------
    >>> cutoff([5.0, 3.0, 2.0, 2.001, 2.0])
    array(2)
    """
    e = as_float_array("entropy", entropy)
    tolerance = check_real("tolerance", tolerance, minimum=0.0)
    if e.ndim < 1 or e.shape[-1] < 2:
        raise ValueError(f"entropy must have a last (layer) axis of length >= 2, got shape {e.shape}")
    last = e[..., -1:]
    differs = np.abs(e[..., :-1] - last) > tolerance * np.abs(last)
    layers = np.arange(1, e.shape[-1])
    return np.asarray(np.max(np.where(differs, layers, 0), axis=-1), dtype=np.int64)


def predicted_depth(entropy: Any, tolerance: float = 0.005, reference: str = "hidden") -> tuple[np.ndarray, np.ndarray]:
    """Cutoff and predicted deepest trainable depth from the entropy of layers ``1..D``.

    ``reference="hidden"`` takes layer ``R = D - 1`` (the last hidden layer) as the saturated value, leaving the
    output layer ``D`` out; ``"output"`` takes ``R = D``. The cutoff is :func:`cutoff` of layers ``1..R``; a
    depth-``d`` classifier reads layer ``d - 1``, so the predicted depth is ``cutoff + 1``, or ``D`` when the
    cutoff is ``R - 1``: the entropy still changes at the last layer examined, no saturation inside the network.

    Returns
    -------
    cutoff, depth : numpy.ndarray of int64, shape ``entropy.shape[:-1]``

    Examples
    --------
    >>> predicted_depth([5.0, 3.0, 2.0, 2.001, 2.0, 2.6])  # saturated from layer 3; layer 6 is the output
    (array(2), array(3))
    >>> predicted_depth([5.0, 4.0, 3.0, 2.0, 1.0, 2.6])  # still falling at layer 5: trainable to depth 6
    (array(4), array(6))
    """
    check_choice("reference", reference, REFERENCES)
    e = as_float_array("entropy", entropy)
    minimum = 3 if reference == "hidden" else 2
    if e.ndim < 1 or e.shape[-1] < minimum:
        raise ValueError(
            f"entropy must have a last (layer) axis of length >= {minimum} with reference={reference!r}, got shape "
            f"{e.shape}"
        )
    last = e.shape[-1] - 1 if reference == "hidden" else e.shape[-1]
    cut = cutoff(e[..., :last], tolerance)
    return cut, np.where(cut == last - 1, e.shape[-1], cut + 1).astype(np.int64)


def peak_sigma_w2(sigma_w2: Any, curve: Any, tiebreak: Any = None) -> float:
    """Where ``curve`` (the cutoff, or the deepest trainable depth) peaks, as a ``sigma_w^2``.

    Without ``tiebreak`` the centre (mean ``sigma_w^2``) of the points attaining the maximum: the deepest trainable
    depth is capped by the deepest depth trained, and its plateau is the set of configurations trainable at every
    tested depth. With ``tiebreak`` (larger is better) only the maximal points that also maximise it are averaged:
    the cutoff is capped at ``D - 1`` over a plateau that can span the whole chaotic side (no saturation seen
    within the depth), and :func:`predict` breaks the tie by the information kept (minus the mean relative entropy
    over layers).
    """
    sigma_w2 = as_float_array("sigma_w2", sigma_w2)
    curve = as_float_array("curve", curve)
    tiebreak = np.zeros_like(curve) if tiebreak is None else as_float_array("tiebreak", tiebreak)
    if sigma_w2.ndim != 1 or curve.shape != sigma_w2.shape or tiebreak.shape != sigma_w2.shape:
        raise ValueError(
            f"sigma_w2, curve and tiebreak must be 1-d of equal length, got {sigma_w2.shape}, {curve.shape}, "
            f"{tiebreak.shape}"
        )
    top = curve == curve.max()
    best = top & (tiebreak == tiebreak[top].max())
    return float(np.mean(sigma_w2[best]))


# --------------------------------------------------------------------------- high-level: predict
def _load_splits(
    data: str, data_path: Any, grayscale: bool, pool: int, train_size: int | None, batch_size: int,
    dtype: torch.dtype, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``train_x, train_y, test_x, test_y`` on ``device``; the training split cut to its first ``train_size`` images."""
    train_x, train_y = _data.load(data, "train", path=data_path, grayscale=grayscale, pool=pool)
    test_x, test_y = _data.load(data, "test", path=data_path, grayscale=grayscale, pool=pool)
    if train_size is not None:
        if train_size > len(train_y):
            raise ValueError(f"train_size must be <= the {len(train_y)} training images of {data!r}, got {train_size}")
        train_x, train_y = train_x[:train_size], train_y[:train_size]
    if len(train_y) < batch_size:
        raise ValueError(f"batch_size must be <= the {len(train_y)} training images, got {batch_size}")
    return tuple(torch.from_numpy(a).to(device=device, dtype=dtype if a.dtype == np.float32 else None)
                 for a in (train_x, train_y, test_x, test_y))


def memory_estimate(
    depth: int, n_in: int, widths: Any, n_scan: int, models: int, batch_size: int, images: int, itemsize: int
) -> int:
    """Upper estimate (bytes) of :func:`predict` (``models=1``) or :func:`train` (``models`` = classifier depths).

    Weights: the frozen stack plus the trained copies with gradients and Adam's two moments, and a stacked copy
    (6 x); activations: a batch through every layer with autograd (5 x) and the evaluated images (2 x). With
    ``"wide"``/``"shrinking"`` every layer counts as ``n_in`` wide (exact for "wide", at most 3 x for "shrinking").
    """
    if isinstance(widths, str):
        weights, neurons = depth * n_in * (n_in + 1), depth * n_in
    else:
        weights = sum(int(w) * (int(v) + 1) for v, w in zip([n_in, *widths[:-1]], widths))
        neurons = sum(int(w) for w in widths)
    return models * n_scan * itemsize * (6 * weights + neurons * (5 * batch_size + 2 * images))


def _check_progress(progress: Any) -> Callable[[int, int], None] | None:
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done_steps, steps) or None, got {progress!r}")
    return progress


def _meanfield_curves(sigma_w: np.ndarray, sigma_b: float) -> tuple[np.ndarray, float]:
    from .meanfield import MeanField

    mf = MeanField("tanh")
    xi_c = np.asarray(mf.xi_c(sigma_w, sigma_b), dtype=np.float64)
    return xi_c, float(np.asarray(mf.critical_sigma_w(sigma_b))) ** 2


def _validate_common(
    data: str, depth: int, widths: Any, sigma_w: Any, sigma_b: Any, steps: int, lr: float, batch_size: int, seed: int,
    dtype: str, train_size: int | None, device: Any,
) -> dict[str, Any]:
    check_choice("data", data, _data.DATASETS)
    depth = check_int("depth", depth, minimum=2)
    sigma_w, sigma_b = _sigma_grid(np.sqrt(DEFAULT_SIGMA_W2) if sigma_w is None else sigma_w, sigma_b)
    return {
        "depth": depth,
        "sigma_w": sigma_w,
        "sigma_b": sigma_b,
        "steps": check_int("steps", steps, minimum=1),
        "lr": check_real("lr", lr, minimum=0.0, strict_minimum=True),
        "batch_size": check_int("batch_size", batch_size, minimum=1),
        "seed": check_int("seed", seed, minimum=0),
        "dtype": getattr(torch, check_choice("dtype", dtype, DTYPES)),
        "widths": widths if isinstance(widths, str) else list(widths),
        "train_size": None if train_size is None else check_int("train_size", train_size, minimum=1),
        "device": resolve_device(device),
    }


def predict(
    data: str = "digits",
    depth: int = 40,
    sigma_w: Any = None,
    sigma_b: float = DEFAULT_SIGMA_B,
    widths: str | Sequence[int] = "wide",
    steps: int = STEPS_PER_MNIST_EPOCH,
    lr: float = 1e-3,
    batch_size: int = 64,
    eval_images: int = 256,
    strip_images: int = 4,
    tolerance: float = 0.005,
    entropy: str = "relative",
    reference: str = "hidden",
    seed: int = 0,
    data_path: Any = None,
    grayscale: bool = False,
    dtype: str = "float32",
    train_size: int | None = None,
    pool: int = 1,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
):
    """Predict trainability over a ``sigma_w`` scan from reconstruction-entropy cascades (no training of the network).

    Parameters
    ----------
    data : str
        Data set name (:data:`infoprop.data.DATASETS`); ``data_path``/``grayscale`` are passed to
        :func:`infoprop.data.load`. Decoders train on the ``train`` split, entropies use the first ``eval_images``
        images of the ``test`` split.
    train_size : int, optional
        Train on the first ``train_size`` images of the ``train`` split only (default: all of it). The splits of
        :func:`infoprop.data.load` have a fixed order, so the subset is deterministic; the budget stays ``steps``.
    depth : int
        Layers of the network under test (>= 2).
    sigma_w : array_like, optional
        Weight standard deviations of the scan, shape ``(S,)`` (variances: pass ``sqrt(sigma_w2)``); default
        ``sqrt(linspace(0.5, 4, 36))``.
    sigma_b : float
        Bias standard deviation (default ``sqrt(0.05)``).
    widths : {"wide", "shrinking"} or list of int
        See :func:`layer_widths`.
    steps : int
        Adam steps per decoder (940 = one MNIST epoch at batch 64); ``lr``, ``batch_size`` as usual.
    eval_images : int
        The entropies are computed on the first ``eval_images`` (>= 2) test images.
    strip_images : int
        Number of evaluation images whose reconstructions from every layer are kept.
    tolerance : float
        Relative tolerance of :func:`cutoff`.
    entropy : {"differential", "relative"}
        Which entropy's cutoff is reported as ``cutoff`` (both are stored).
    reference : {"hidden", "output"}
        The layer ``R`` whose entropy is the saturated value of :func:`cutoff`: ``"hidden"`` (default) the last
        hidden layer ``D - 1``, as the paper leaves the output (class) layer out of the analysis: a 10-wide layer's
        reconstruction is limited by its width, not by depth, so it differs from any saturated value; ``"output"``
        layer ``D`` (SPEC's literal rule). The cutoff is the deepest layer ``l < R`` that differs; when that is
        ``R - 1`` no saturation is seen inside the network and the whole network is predicted trainable.
    seed : int
        Seeds the network draw, the decoder initialisation and the batch order (independent streams).
    dtype : {"float32", "float64"}
    pool : int
        Mean-pool ``pool x pool`` pixel blocks of the images first (:func:`infoprop.data.load`): ``pool=2`` makes
        28 x 28 images 14 x 14 and the ``"wide"`` network 16 times cheaper.
    device : {"cpu", "cuda", "cuda:<index>"}
        Where the decoders train. The random draws are made on the CPU whatever the device, so a device changes
        only rounding; bitwise reproducibility is guaranteed on the CPU (cuBLAS may pick different kernels).
    progress : callable, optional
        Called as ``progress(done_steps, steps)`` after every decoder training step.

    Returns
    -------
    xarray.Dataset
        ``differential_entropy`` and ``relative_entropy`` (sigma_w, layer); ``cutoff``, ``cutoff_differential``,
        ``cutoff_relative`` and ``predicted_depth`` (sigma_w; ``cutoff + 1``, or ``depth`` when the cutoff is
        ``R - 1``); ``reconstruction`` (sigma_w, layer, sample, y, x[, channel]) and ``input_image``; mean-field
        ``xi_c`` and ``six_xi_c`` (sigma_w); scalars
        ``critical_sigma_w2`` (where ``predicted_depth`` peaks; ties broken by the least mean relative entropy over
        layers 1..R, :func:`peak_sigma_w2`) and ``meanfield_critical_sigma_w2`` (chi_1 = 1 at this ``sigma_b``).
        Coordinate ``sigma_w2`` (variance) runs along ``sigma_w``; attrs carry provenance and
        ``compute_seconds`` (wall time, the only non-reproducible attribute).
    """
    import xarray as xr

    start = time.perf_counter()
    p = _validate_common(
        data, depth, widths, sigma_w, sigma_b, steps, lr, batch_size, seed, dtype, train_size, device
    )
    progress = _check_progress(progress)
    eval_images = check_int("eval_images", eval_images, minimum=2)
    strip_images = check_int("strip_images", strip_images, minimum=0, maximum=eval_images)
    tolerance = check_real("tolerance", tolerance, minimum=0.0)
    check_choice("entropy", entropy, ENTROPIES)
    check_choice("reference", reference, REFERENCES)
    if reference == "hidden" and p["depth"] < 3:
        raise ValueError(f"depth must be >= 3 with reference='hidden' (two hidden layers), got {p['depth']}")
    shape = _data.image_shape(data, grayscale, pool)  # validates pool
    check_memory(memory_estimate(p["depth"], int(np.prod(shape)), p["widths"], len(p["sigma_w"]), 1,
                                 p["batch_size"], eval_images, p["dtype"].itemsize), "trainability.predict")
    train_x, _, test_x, _ = _load_splits(
        data, data_path, grayscale, pool, p["train_size"], p["batch_size"], p["dtype"], p["device"]
    )
    n_in = train_x.shape[1]
    ws = layer_widths(p["widths"], n_in, N_CLASSES, p["depth"])
    if test_x.shape[0] < eval_images:
        raise ValueError(f"eval_images must be <= the {test_x.shape[0]} test images of {data!r}, got {eval_images}")
    sw, sb = p["sigma_w"], p["sigma_b"]

    network = _to_device(init_network(ws, n_in, sw, sb, p["seed"], p["dtype"]), p["device"])
    decoders = _to_device(init_decoders(ws, n_in, len(sw), p["seed"], p["dtype"]), p["device"])
    decoders = train_decoders(
        network, decoders, train_x, p["steps"], p["lr"], p["batch_size"], p["seed"], progress
    )

    x_eval = test_x[:eval_images]
    with torch.no_grad():
        ys = forward(network, x_eval)
    inputs = x_eval.double().cpu().numpy()
    diff, rel, strips = [], [], []
    for layer in range(1, p["depth"] + 1):
        rec = reconstruct(decoders, ys[layer], layer).double().cpu().numpy()  # (S, n_eval, pixels)
        diff.append(differential_entropy(rec))
        rel.append(np.median(relative_entropy(inputs, rec), axis=-1))
        strips.append(rec[:, :strip_images])
    diff_e, rel_e = np.stack(diff, axis=1), np.stack(rel, axis=1)
    cut = {"differential": predicted_depth(diff_e, tolerance, reference),
           "relative": predicted_depth(rel_e, tolerance, reference)}
    cutoff_layer, depth_predicted = cut[entropy]
    last = p["depth"] - 1 if reference == "hidden" else p["depth"]  # the saturated reference layer R
    xi_c, mf_crit = _meanfield_curves(sw, sb)
    sw2 = sw**2

    image_dims = ("y", "x", "channel")[: len(shape)]
    strip_arr = np.stack(strips, axis=1).reshape(len(sw), p["depth"], strip_images, *shape)
    layers = np.arange(1, p["depth"] + 1)
    parameters = {
        "data": data, "data_path": data_path, "grayscale": grayscale, "pool": pool, "depth": p["depth"], "widths": ws,
        "architecture": p["widths"] if isinstance(p["widths"], str) else "explicit", "sigma_w": sw, "sigma_b": sb,
        "steps": p["steps"], "lr": p["lr"], "batch_size": p["batch_size"], "eval_images": eval_images,
        "strip_images": strip_images, "tolerance": tolerance, "entropy": entropy, "reference": reference,
        "seed": p["seed"], "dtype": dtype, "optimizer": "adam", "decoder": "tanh(Linear(w_l -> w_{l-1}))",
        "train_size": p["train_size"], "device": str(p["device"]),
    }
    ds = xr.Dataset(
        {
            "differential_entropy": (("sigma_w", "layer"), diff_e, {
                "long_name": "differential entropy of the reconstructions (mean over pixels)", "units": "nat"}),
            "relative_entropy": (("sigma_w", "layer"), rel_e, {
                "long_name": "relative entropy KL(input || reconstruction), median over images", "units": "nat"}),
            "cutoff": ("sigma_w", cutoff_layer, {"long_name": f"cutoff layer ({entropy} entropy)"}),
            "cutoff_differential": ("sigma_w", cut["differential"][0], {"long_name": "cutoff layer (differential)"}),
            "cutoff_relative": ("sigma_w", cut["relative"][0], {"long_name": "cutoff layer (relative entropy)"}),
            "predicted_depth": ("sigma_w", depth_predicted, {
                "long_name": "predicted deepest trainable depth (cutoff + 1; depth without saturation)"}),
            "xi_c": ("sigma_w", xi_c, {"long_name": "mean-field correlation depth scale xi_c", "units": "layers"}),
            "six_xi_c": ("sigma_w", 6 * xi_c, {"long_name": "6 xi_c (mean-field trainable depth)", "units": "layers"}),
            "reconstruction": (("sigma_w", "layer", "sample", *image_dims), strip_arr.astype(np.float32), {
                "long_name": "cascade reconstruction c_1(...c_l(y_l))"}),
            "input_image": (("sample", *image_dims), inputs[:strip_images].reshape(strip_images, *shape).astype(
                np.float32), {"long_name": "input image"}),
            "critical_sigma_w2": ((), peak_sigma_w2(sw2, depth_predicted, -rel_e[:, :last].mean(axis=1)), {
                "long_name": "predicted critical sigma_w^2 (predicted-depth peak; ties: least mean entropy)"}),
            "meanfield_critical_sigma_w2": ((), mf_crit, {"long_name": "mean-field critical sigma_w^2 (chi_1 = 1)"}),
        },
        coords={
            "sigma_w": ("sigma_w", sw, {"long_name": "weight standard deviation sigma_w"}),
            "sigma_w2": ("sigma_w", sw2, {"long_name": "weight variance sigma_w^2"}),
            "layer": ("layer", layers, {"long_name": "layer"}),
            "width": ("layer", np.asarray(ws), {"long_name": "layer width"}),
        },
        attrs=provenance_attrs("trainability_prediction", parameters),
    )
    ds.attrs["sigma_b"] = sb
    ds.attrs["compute_seconds"] = time.perf_counter() - start
    return ds


# --------------------------------------------------------------------------- high-level: ground truth
def _truth_models(
    ws: Sequence[int], n_in: int, n_classes: int, depths: np.ndarray, sigma_w: np.ndarray, sigma_b: float, seed: int,
    dtype: torch.dtype,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]:
    """Hidden layers for the prefix-ordered models (depths descending, sigma_w fastest) and one read-out per depth."""
    network = init_network(ws[: depths[0] - 1], n_in, sigma_w, sigma_b, seed, dtype)
    hidden = []
    for layer, (weight, bias) in enumerate(network, start=1):
        active = int(np.sum(depths > layer))
        hidden.append((weight.repeat(active, 1, 1), bias.repeat(active, 1)))
    readouts = [
        _draw_layer(_generator(seed, _READOUT, int(depth)), n_classes, ws[depth - 2], sigma_w, sigma_b, dtype)
        for depth in depths
    ]
    return hidden, readouts


def _truth_logits(
    hidden: Sequence[tuple[torch.Tensor, torch.Tensor]],
    readouts: Sequence[tuple[torch.Tensor, torch.Tensor]],
    depths: np.ndarray,
    x: torch.Tensor,
) -> list[torch.Tensor]:
    """Logits ``(S, B, classes)`` of every depth (in ``depths`` order); models active at a layer are a prefix."""
    n_scan = readouts[0][0].shape[0]
    logits: list[torch.Tensor] = [None] * len(depths)  # type: ignore[list-item]
    y = x
    for layer, (weight, bias) in enumerate(hidden, start=1):
        y = _layer(y if layer == 1 else y[: weight.shape[0]], weight, bias)
        for i in np.flatnonzero(depths - 1 == layer):
            weight_r, bias_r = readouts[i]
            logits[i] = torch.matmul(y[i * n_scan : (i + 1) * n_scan], weight_r.transpose(-1, -2)) + bias_r[:, None, :]
    return logits


def fit_classifiers(
    hidden: Sequence[tuple[torch.Tensor, torch.Tensor]],
    readouts: Sequence[tuple[torch.Tensor, torch.Tensor]],
    depths: np.ndarray,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: str,
    lr: float,
    steps: int,
    batch_size: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]:
    """Train all classifiers of the ground truth at once (cross-entropy on raw logits, summed over models).

    ``hidden``/``readouts`` as built by :func:`train` (models ordered by ``depths`` descending, ``sigma_w``
    fastest); returns trained copies, the inputs are not modified. SGD has no momentum. ``progress(done, steps)``
    is called after every step.
    """
    hidden, readouts = _trainable_copy(hidden), _trainable_copy(readouts)
    params = [t for pair in (*hidden, *readouts) for t in pair]
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(params, lr=lr)
    for step, index in enumerate(_batches(images.shape[0], batch_size, steps, _generator(seed, _TRAIN_ORDER))):
        x, y = images[index.to(images.device)], labels[index.to(images.device)]
        loss = images.new_zeros(())
        for logit in _truth_logits(hidden, readouts, depths, x):
            per_model = torch.nn.functional.cross_entropy(
                logit.transpose(1, 2), y.expand(logit.shape[0], -1), reduction="none"
            )
            loss = loss + per_model.mean(dim=1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, steps)
    return _detached(hidden), _detached(readouts)


def _accuracy(
    hidden: Sequence[tuple[torch.Tensor, torch.Tensor]],
    readouts: Sequence[tuple[torch.Tensor, torch.Tensor]],
    depths: np.ndarray,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and divergence flags, both ``(len(depths), S)`` in ``depths`` order."""
    correct = np.zeros((len(depths), readouts[0][0].shape[0]))
    finite = np.ones_like(correct, dtype=bool)
    with torch.no_grad():
        for start in range(0, images.shape[0], _EVAL_CHUNK):
            x, y = images[start : start + _EVAL_CHUNK], labels[start : start + _EVAL_CHUNK]
            for i, logit in enumerate(_truth_logits(hidden, readouts, depths, x)):
                correct[i] += (logit.argmax(-1) == y).sum(-1).cpu().numpy()
                finite[i] &= torch.isfinite(logit).all(dim=(-2, -1)).cpu().numpy()
    # A diverged model (non-finite logits) counts as untrainable, not as whatever argmax makes of NaN.
    return np.where(finite, correct / images.shape[0], 0.0), ~finite


def train(
    data: str = "digits",
    depth: int = 40,
    depths: Any = None,
    sigma_w: Any = None,
    sigma_b: float = DEFAULT_SIGMA_B,
    widths: str | Sequence[int] = "wide",
    optimizer: str = "sgd",
    steps: int = 1000,
    lr: float = 0.05,
    batch_size: int = 64,
    threshold: float = 0.5,
    seed: int = 0,
    data_path: Any = None,
    grayscale: bool = False,
    dtype: str = "float32",
    train_size: int | None = None,
    pool: int = 1,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
):
    """Ground truth: train classifiers of each depth over the ``sigma_w`` scan and record their accuracy.

    The depth-``d`` classifier is layers 1..d-1 of the network under test of :func:`predict` (same ``depth``,
    ``widths``, ``seed`` give the very same draw) plus a linear read-out, trained with cross-entropy on raw logits.

    Parameters
    ----------
    data, widths, seed, data_path, grayscale, dtype
        As in :func:`predict`.
    depth : int
        Depth of the network under test (fixes the widths); ``depths`` (default: 2..depth in at most 10 steps) are
        the classifier depths trained, each in 2..depth.
    sigma_w, sigma_b : standard deviations, as in :func:`predict`.
    optimizer : {"sgd", "adam"}
        Plain SGD (no momentum) or Adam; ``lr`` its learning rate, ``steps`` its number of steps at ``batch_size``.
        SPEC section 5 uses SGD with lr 1e-3 for up to 200 MNIST epochs, far beyond a CI run; 1,000 such steps on
        digits do not even train ordered-side networks of depth 4, so the defaults are SGD, lr 0.05, 1,000 steps,
        which show the whole trainable region (measurements in docs/trainability.md).
    threshold : float
        Test accuracy at or above which a configuration counts as trainable.
    train_size : int, optional
        Train on (and report ``train_accuracy`` of) the first ``train_size`` training images only, as in
        :func:`predict`; the test split is always used whole.
    pool, device
        As in :func:`predict`.
    progress : callable, optional
        Called as ``progress(done_steps, steps)`` after every optimiser step.

    Returns
    -------
    xarray.Dataset
        ``accuracy`` and ``train_accuracy`` (sigma_w, depth), ``diverged`` (sigma_w, depth; counted as accuracy 0),
        ``trainable`` (accuracy >= threshold), ``max_trainable_depth`` (sigma_w; 0 when none) and the scalar
        ``critical_sigma_w2`` (where ``max_trainable_depth`` peaks); attrs: provenance, ``threshold``,
        ``compute_seconds``.
    """
    import xarray as xr

    start = time.perf_counter()
    p = _validate_common(
        data, depth, widths, sigma_w, sigma_b, steps, lr, batch_size, seed, dtype, train_size, device
    )
    progress = _check_progress(progress)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    threshold = check_real("threshold", threshold, minimum=0.0, maximum=1.0)
    if depths is None:
        depths = np.unique(np.linspace(2, p["depth"], min(10, p["depth"] - 1)).round().astype(np.int64))
    depths = as_float_array("depths", depths)
    if depths.ndim != 1 or np.any(depths != np.round(depths)) or depths.min() < 2 or depths.max() > p["depth"]:
        raise ValueError(f"depths must be integers in 2..depth={p['depth']}, got {depths.tolist()}")
    depths = np.unique(depths.astype(np.int64))[::-1].copy()  # descending: the prefix order of the models
    n_pixels = int(np.prod(_data.image_shape(data, grayscale, pool)))
    check_memory(memory_estimate(p["depth"], n_pixels, p["widths"], len(p["sigma_w"]), len(depths),
                                 p["batch_size"], _EVAL_CHUNK, p["dtype"].itemsize), "trainability.train")
    train_x, train_y, test_x, test_y = _load_splits(
        data, data_path, grayscale, pool, p["train_size"], p["batch_size"], p["dtype"], p["device"]
    )
    n_in = train_x.shape[1]
    ws = layer_widths(p["widths"], n_in, N_CLASSES, p["depth"])
    sw, sb = p["sigma_w"], p["sigma_b"]

    hidden, readouts = _truth_models(ws, n_in, N_CLASSES, depths, sw, sb, p["seed"], p["dtype"])
    hidden, readouts = _to_device(hidden, p["device"]), _to_device(readouts, p["device"])
    hidden, readouts = fit_classifiers(
        hidden, readouts, depths, train_x, train_y, optimizer, p["lr"], p["steps"], p["batch_size"], p["seed"], progress
    )
    accuracy, diverged = _accuracy(hidden, readouts, depths, test_x, test_y)
    train_accuracy, _ = _accuracy(hidden, readouts, depths, train_x, train_y)

    order = np.argsort(depths)  # back to ascending depth for the stored result, (sigma_w, depth)
    depths = depths[order]
    accuracy, train_accuracy, diverged = accuracy[order].T, train_accuracy[order].T, diverged[order].T
    trainable = accuracy >= threshold
    max_depth = np.max(np.where(trainable, depths[None, :], 0), axis=1)
    parameters = {
        "data": data, "data_path": data_path, "grayscale": grayscale, "pool": pool, "depth": p["depth"],
        "depths": depths, "device": str(p["device"]),
        "widths": ws, "architecture": p["widths"] if isinstance(p["widths"], str) else "explicit", "sigma_w": sw,
        "sigma_b": sb, "optimizer": optimizer, "steps": p["steps"], "lr": p["lr"], "batch_size": p["batch_size"],
        "threshold": threshold, "seed": p["seed"], "dtype": dtype, "readout": "Linear(w_{d-1} -> classes), logits",
        "train_size": p["train_size"],
    }
    ds = xr.Dataset(
        {
            "accuracy": (("sigma_w", "depth"), accuracy, {"long_name": "test accuracy after training"}),
            "train_accuracy": (("sigma_w", "depth"), train_accuracy, {"long_name": "training-set accuracy"}),
            "diverged": (("sigma_w", "depth"), diverged, {"long_name": "non-finite logits after training"}),
            "trainable": (("sigma_w", "depth"), trainable, {"long_name": f"test accuracy >= {threshold}"}),
            "max_trainable_depth": ("sigma_w", max_depth, {"long_name": "deepest trainable depth (0: none)"}),
            "critical_sigma_w2": ((), peak_sigma_w2(sw**2, max_depth), {
                "long_name": "trained critical sigma_w^2 (centre of the deepest-trainable-depth plateau)"}),
        },
        coords={
            "sigma_w": ("sigma_w", sw, {"long_name": "weight standard deviation sigma_w"}),
            "sigma_w2": ("sigma_w", sw**2, {"long_name": "weight variance sigma_w^2"}),
            "depth": ("depth", depths, {"long_name": "classifier depth"}),
        },
        attrs=provenance_attrs("trainability_ground_truth", parameters),
    )
    ds.attrs["sigma_b"] = sb
    ds.attrs["threshold"] = threshold
    ds.attrs["compute_seconds"] = time.perf_counter() - start
    return ds


# --------------------------------------------------------------------------- prediction vs ground truth
def compare(prediction: Any, truth: Any):
    """Compare a :func:`predict` result with a :func:`train` result on the same ``sigma_w`` grid.

    A cell ``(sigma_w, depth)`` is predicted trainable when ``depth <= predicted_depth`` (:func:`predicted_depth`)
    and is trained-trainable when its test accuracy reached the threshold. ``agreement`` is the fraction of cells
    where the two agree.

    Returns
    -------
    xarray.Dataset
        ``predicted_trainable``, ``trainable``, ``agree`` (sigma_w, depth); scalars ``agreement``,
        ``predicted_critical_sigma_w2``, ``trained_critical_sigma_w2``, ``meanfield_critical_sigma_w2``; attrs
        ``prediction_seconds``, ``training_seconds`` and ``speedup`` (their ratio).
    """
    import xarray as xr

    for name, ds, kind in (("prediction", prediction, "trainability_prediction"),
                           ("truth", truth, "trainability_ground_truth")):
        if not isinstance(ds, xr.Dataset) or ds.attrs.get("infoprop_kind") != kind:
            found = ds.attrs.get("infoprop_kind") if isinstance(ds, xr.Dataset) else type(ds).__name__
            raise ValueError(f"{name} must be an infoprop {kind} Dataset, got {found!r}")
    if prediction.sizes["sigma_w"] != truth.sizes["sigma_w"] or not np.allclose(
        prediction.sigma_w.values, truth.sigma_w.values, rtol=1e-12, atol=0.0
    ):
        raise ValueError(
            f"truth must use the prediction's sigma_w grid ({prediction.sizes['sigma_w']} values in "
            f"[{float(prediction.sigma_w.min()):.4g}, {float(prediction.sigma_w.max()):.4g}]), got "
            f"{truth.sizes['sigma_w']} values in [{float(truth.sigma_w.min()):.4g}, {float(truth.sigma_w.max()):.4g}]"
        )
    pred_params, truth_params = json.loads(prediction.attrs["parameters"]), json.loads(truth.attrs["parameters"])
    for key, default in (("data", None), ("grayscale", False), ("pool", 1), ("widths", None)):
        if pred_params.get(key, default) != truth_params.get(key, default):
            raise ValueError(f"truth must use the prediction's {key}={pred_params.get(key, default)!r}, got "
                             f"{truth_params.get(key, default)!r}")
    if not np.isclose(prediction.attrs["sigma_b"], truth.attrs["sigma_b"], rtol=1e-12, atol=0.0):
        raise ValueError(f"truth must use sigma_b={prediction.attrs['sigma_b']}, got {truth.attrs['sigma_b']}")
    if int(truth.depth.max()) > prediction.sizes["layer"]:
        raise ValueError(
            f"truth depths must be <= the prediction's depth {prediction.sizes['layer']}, got {int(truth.depth.max())}"
        )
    predicted_depth = prediction.predicted_depth.drop_vars("sigma_w2").assign_coords(sigma_w=truth.sigma_w)
    predicted = (truth.depth <= predicted_depth).transpose("sigma_w", "depth")
    trained = truth.trainable
    agree = predicted == trained
    t_pred, t_train = float(prediction.attrs["compute_seconds"]), float(truth.attrs["compute_seconds"])
    ds = xr.Dataset(
        {
            "predicted_trainable": predicted.assign_attrs(long_name="depth <= predicted deepest trainable depth"),
            "trainable": trained,
            "agree": agree.assign_attrs(long_name="prediction agrees with training"),
            "agreement": ((), float(agree.mean()), {"long_name": "fraction of (sigma_w, depth) cells that agree"}),
            "predicted_critical_sigma_w2": prediction.critical_sigma_w2,
            "trained_critical_sigma_w2": truth.critical_sigma_w2,
            "meanfield_critical_sigma_w2": prediction.meanfield_critical_sigma_w2,
        },
        attrs={
            "prediction_seconds": t_pred,
            "training_seconds": t_train,
            "speedup": t_train / t_pred if t_pred > 0 else float("inf"),
            "threshold": truth.attrs["threshold"],
        },
    )
    return ds
