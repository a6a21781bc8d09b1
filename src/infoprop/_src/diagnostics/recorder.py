"""The networks the diagnostics watch while they train: a small MLP and a small CNN, their training with records,
and the importance of each weight segment (SPEC section 6, issue 14).

Models (ReLU; the last layer gives logits):

* ``mlp``: ``pixels -> 128 -> 64 -> 10``, layers ``fc1, fc2, fc3``.
* ``cnn``: ``conv1`` (8 channels, 5 x 5, padding 2) -> ReLU -> 2 x 2 max-pool -> ``conv2`` (16 channels, 5 x 5,
  padding 2) -> ReLU -> 2 x 2 max-pool -> flatten -> ``fc1`` (64) -> ReLU -> ``fc2`` (10). Image sides must be
  multiples of 4 (digits 8 x 8, MNIST / Fashion-MNIST 28 x 28, CIFAR-10 32 x 32).

Initialisation: weights ``N(0, sigma_w^2 / fan_in)`` with ``sigma_w = sqrt(2)`` (He; a standard deviation, as
everywhere in infoprop), biases 0, from an explicit seed. Conv kernels ``(out, in, k, k)`` are analysed as their
``out x (in k k)`` matrices (row-major flattening, so neighbouring columns are neighbouring kernel pixels).

Training: cross-entropy on logits, minibatches in an order drawn from the seed, SGD with momentum (or Adam).
A *record* is taken before the first step (record 0, the initialisation), after every epoch and, optionally, every
``record_every`` steps. Each record keeps every layer's weights and biases and, on a fixed *probe set* (the first
``probe_size`` training images), the loss and its gradient with respect to every weight -- one full-batch gradient
on fixed data, so that records differ by the weights only, not by minibatch noise. Test loss and accuracy are
measured on the test split.

Importance of a segment: the increase of the test loss when the segment's weights are set to zero (biases and all
other weights unchanged), computed exactly by propagating the change of that layer's pre-activation through the
rest of the network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import data as _data
from ..common import check_choice, check_int, check_memory, check_real, provenance_attrs
from .runtime import child_seed, single_thread
from .statistics import segment_grid

__all__ = [
    "MODELS",
    "OPTIMIZERS",
    "SIGMA_W",
    "LayerSpec",
    "init_parameters",
    "layer_inputs",
    "load_images",
    "logits",
    "model_layers",
    "record_steps",
    "record_training",
    "segment_importance",
]

MODELS: tuple[str, ...] = ("mlp", "cnn")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
#: Weight standard deviation times sqrt(fan_in) at initialisation (He).
SIGMA_W = math.sqrt(2.0)
MOMENTUM = 0.9
#: Largest recording (float32 weights, gradients and biases of all records) accepted before training starts.
MAX_RECORD_BYTES = 2 * 2**30
N_CLASSES = 10
MLP_WIDTHS = (128, 64)
CNN_CHANNELS = (8, 16)
CNN_HIDDEN = 64
CNN_KERNEL = 5

# Independent random streams (keys of child_seed).
_INIT, _ORDER = 0, 1


@dataclass(frozen=True)
class LayerSpec:
    """One layer: ``name``, ``kind`` (``"conv"`` or ``"linear"``), the weight tensor's shape and its matrix shape."""

    name: str
    kind: str
    weight_shape: tuple[int, ...]

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(out, fan_in)``: rows are output units/channels, columns the inputs (``in * k * k`` for a conv)."""
        return self.weight_shape[0], int(np.prod(self.weight_shape[1:]))


def model_layers(model: str, image_shape: Sequence[int]) -> list[LayerSpec]:
    """The layers of ``model`` for images of ``image_shape`` (``(h, w)`` or ``(h, w, channels)``)."""
    check_choice("model", model, MODELS)
    height, width, *rest = (int(s) for s in image_shape)
    channels = rest[0] if rest else 1
    if model == "mlp":
        sizes = (height * width * channels, *MLP_WIDTHS, N_CLASSES)
        return [LayerSpec(f"fc{i + 1}", "linear", (sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    if height % 4 or width % 4:
        raise ValueError(f"image sides must be multiples of 4 for the cnn (two 2x2 poolings), got {height} x {width}")
    c1, c2 = CNN_CHANNELS
    k = CNN_KERNEL
    return [
        LayerSpec("conv1", "conv", (c1, channels, k, k)),
        LayerSpec("conv2", "conv", (c2, c1, k, k)),
        LayerSpec("fc1", "linear", (CNN_HIDDEN, c2 * (height // 4) * (width // 4))),
        LayerSpec("fc2", "linear", (N_CLASSES, CNN_HIDDEN)),
    ]


def init_parameters(layers: Sequence[LayerSpec], seed: int) -> list[tuple[Any, Any]]:
    """``[(weight, bias), ...]`` float32 tensors: weights ``N(0, 2 / fan_in)``, biases 0, from ``seed``."""
    import torch

    gen = torch.Generator().manual_seed(child_seed(seed, _INIT))
    params = []
    for spec in layers:
        fan_in = spec.matrix_shape[1]
        weight = torch.randn(spec.weight_shape, generator=gen, dtype=torch.float32) * (SIGMA_W / math.sqrt(fan_in))
        params.append((weight, torch.zeros(spec.weight_shape[0], dtype=torch.float32)))
    return params


def _pre_activation(spec: LayerSpec, weight: Any, bias: Any, h: Any) -> Any:
    import torch.nn.functional as F

    if spec.kind == "conv":
        return F.conv2d(h, weight, bias, padding=spec.weight_shape[-1] // 2)
    return F.linear(h, weight, bias)


def _post(layers: Sequence[LayerSpec], index: int, pre: Any) -> Any:
    """From layer ``index``'s pre-activation to layer ``index + 1``'s input (ReLU, pooling, flattening)."""
    import torch.nn.functional as F

    if index == len(layers) - 1:
        return pre
    h = F.relu(pre)
    if layers[index].kind == "conv":
        h = F.max_pool2d(h, 2)
        if layers[index + 1].kind == "linear":
            h = h.flatten(1)
    return h


def _as_input(layers: Sequence[LayerSpec], images: Any, image_shape: Sequence[int]) -> Any:
    """Flattened HWC images to the first layer's input: ``(n, pixels)`` or ``(n, c, h, w)``."""
    if layers[0].kind == "linear":
        return images
    height, width, *rest = (int(s) for s in image_shape)
    channels = rest[0] if rest else 1
    return images.reshape(-1, height, width, channels).permute(0, 3, 1, 2).contiguous()


def logits(layers: Sequence[LayerSpec], params: Sequence[tuple[Any, Any]], x: Any, start: int = 0) -> Any:
    """Forward pass from the input ``x`` of layer ``start`` (0: the images, already shaped) to the logits."""
    h = x
    for index in range(start, len(layers)):
        weight, bias = params[index]
        h = _post(layers, index, _pre_activation(layers[index], weight, bias, h))
    return h


def layer_inputs(layers: Sequence[LayerSpec], params: Sequence[tuple[Any, Any]], x: Any) -> list[Any]:
    """The input of every layer for network input ``x`` (``[x, input of layer 1, ...]``)."""
    inputs, h = [], x
    for index, spec in enumerate(layers):
        inputs.append(h)
        weight, bias = params[index]
        h = _post(layers, index, _pre_activation(spec, weight, bias, h))
    return inputs


# --------------------------------------------------------------------------- data
def load_images(data: str, data_path: Any = None, train_size: int | None = None, pool: int = 1):
    """``(train_x, train_y, test_x, test_y, image_shape)`` as float32 / int64 tensors (flattened images)."""
    import torch

    check_choice("data", data, _data.DATASETS)
    train_x, train_y = _data.load(data, "train", path=data_path, pool=pool)
    test_x, test_y = _data.load(data, "test", path=data_path, pool=pool)
    if train_size is not None:
        train_size = check_int("train_size", train_size, minimum=1)
        if train_size > len(train_y):
            raise ValueError(f"train_size must be <= the {len(train_y)} training images of {data!r}, got {train_size}")
        train_x, train_y = train_x[:train_size], train_y[:train_size]
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in (train_x, train_y, test_x, test_y)]
    return (*tensors, _data.image_shape(data, pool=pool))


# --------------------------------------------------------------------------- training with records
def record_steps(epochs: int, steps_per_epoch: int, record_every: int) -> np.ndarray:
    """Optimiser steps after which a record is taken (0, the initialisation, first): every ``record_every`` steps
    (if > 0) and at the end of every epoch."""
    steps = np.arange(1, epochs * steps_per_epoch + 1)
    keep = steps % steps_per_epoch == 0
    if record_every:
        keep |= steps % record_every == 0
    return np.concatenate([[0], steps[keep]]).astype(np.int64)


def _record(layers, params, probe_x, probe_y, test_x, test_y) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    weights = [w.detach().clone().requires_grad_(True) for w, _ in params]
    biases = [b.detach() for _, b in params]
    probe_logits = logits(layers, list(zip(weights, biases)), probe_x)
    loss = F.cross_entropy(probe_logits, probe_y)
    grads = torch.autograd.grad(loss, weights)
    with torch.no_grad():
        test_logits = logits(layers, params, test_x)
        test_loss = F.cross_entropy(test_logits, test_y)
    return {
        "weights": [w.detach().reshape(spec.matrix_shape).numpy().copy() for w, spec in zip(weights, layers)],
        "grads": [g.reshape(spec.matrix_shape).numpy().copy() for g, spec in zip(grads, layers)],
        "biases": [b.numpy().copy() for b in biases],
        "loss": float(loss.detach()),
        "probe_accuracy": float((probe_logits.argmax(1) == probe_y).double().mean()),
        "test_loss": float(test_loss),
        "test_accuracy": float((test_logits.argmax(1) == test_y).double().mean()),
    }


def record_training(
    data: str = "mnist",
    model: str = "cnn",
    *,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: str = "sgd",
    lr: float = 0.01,
    record_every: int = 0,
    probe_size: int = 1000,
    train_size: int | None = None,
    seed: int = 0,
    data_path: Any = None,
    pool: int = 1,
    progress: Callable[[int, int], None] | None = None,
):
    """Train ``model`` on ``data`` and return the records (see the module docstring) with the final parameters.

    Parameters
    ----------
    data : {"digits", "mnist", "fashion-mnist", "cifar10"}
        Data set of :func:`infoprop.data.load` (``data_path`` and ``pool`` as there).
    model : {"mlp", "cnn"}
    epochs : int
        Passes over the training images (the last partial minibatch of an epoch is dropped).
    batch_size, lr : minibatch size and learning rate.
    optimizer : {"sgd", "adam"}
        SGD with momentum 0.9, or Adam.
    record_every : int
        Also record every this many steps (0: only at initialisation and after each epoch).
    probe_size : int
        Training images (the first ones) on which the recorded loss and gradients are computed.
    train_size : int, optional
        Train on the first ``train_size`` training images only.
    seed : int
        Seeds the initialisation and the minibatch order (separate streams).
    progress : callable, optional
        ``progress(done_steps, total_steps)`` after every step.

    Returns
    -------
    recording : xarray.Dataset
        ``weight_<layer>`` and ``grad_<layer>`` (record, <layer>_row, <layer>_col), ``bias_<layer>`` (record,
        <layer>_row), ``loss``, ``probe_accuracy``, ``test_loss``, ``test_accuracy`` (record); coordinates
        ``epoch`` (fractional) and ``step`` on ``record``; ``layer`` with ``layer_kind``, ``layer_rows``,
        ``layer_cols``; attrs: provenance.
    layers : list of LayerSpec
    params : list of (weight, bias) torch tensors after training
    tensors : dict
        ``test_x`` (shaped for the first layer) and ``test_y``, for :func:`segment_importance`.
    """

    start_time = time.perf_counter()
    check_choice("model", model, MODELS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_real("lr", lr, minimum=0.0, strict_minimum=True)
    record_every = check_int("record_every", record_every, minimum=0)
    probe_size = check_int("probe_size", probe_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total) or None, got {progress!r}")
    train_x, train_y, test_x, test_y, image_shape = load_images(data, data_path, train_size, pool)
    n_train = len(train_y)
    if batch_size > n_train:
        raise ValueError(f"batch_size must be <= the {n_train} training images, got {batch_size}")
    if probe_size > n_train:
        raise ValueError(f"probe_size must be <= the {n_train} training images, got {probe_size}")
    layers = model_layers(model, image_shape)
    _check_record_size(layers, epochs, n_train // batch_size, record_every)
    train_x, test_x = _as_input(layers, train_x, image_shape), _as_input(layers, test_x, image_shape)

    with single_thread():
        return _train(layers, image_shape, train_x, train_y, test_x, test_y, probe_size, epochs, batch_size, optimizer,
                      lr, record_every, seed, progress, start_time, {
                          "data": data, "data_path": data_path, "pool": pool, "model": model,
                          "train_size": train_size})


def _check_record_size(layers: Sequence[LayerSpec], epochs: int, steps_per_epoch: int, record_every: int) -> None:
    """Refuse, before training, a recording whose weights and gradients would exceed MAX_RECORD_BYTES."""
    n_records = len(record_steps(epochs, steps_per_epoch, record_every))
    per_record = sum(2 * int(np.prod(spec.weight_shape)) + spec.weight_shape[0] for spec in layers) * 4
    if n_records * per_record > MAX_RECORD_BYTES:
        raise ValueError(
            f"record_every must keep the records under {MAX_RECORD_BYTES / 2**30:.0f} GiB: {n_records} records of "
            f"{per_record / 2**20:.1f} MiB each (record_every={record_every}, {epochs} epochs of {steps_per_epoch} "
            f"steps) would need {n_records * per_record / 2**30:.1f} GiB; record less often or train less")
    check_memory(n_records * per_record, f"the recording ({n_records} records of {per_record / 2**20:.1f} MiB)")


def _train(layers, image_shape, train_x, train_y, test_x, test_y, probe_size, epochs, batch_size, optimizer, lr,
           record_every, seed, progress, start_time, settings):
    import torch
    import torch.nn.functional as F
    import xarray as xr

    n_train = len(train_y)
    probe_x, probe_y = train_x[:probe_size], train_y[:probe_size]
    params = [(w.requires_grad_(True), b.requires_grad_(True)) for w, b in init_parameters(layers, seed)]
    flat = [p for pair in params for p in pair]
    opt = (torch.optim.SGD(flat, lr=lr, momentum=MOMENTUM) if optimizer == "sgd" else torch.optim.Adam(flat, lr=lr))
    steps_per_epoch = n_train // batch_size
    total = epochs * steps_per_epoch
    order_gen = torch.Generator().manual_seed(child_seed(seed, _ORDER))

    when = set(record_steps(epochs, steps_per_epoch, record_every).tolist())
    records, steps = [_record(layers, params, probe_x, probe_y, test_x, test_y)], [0]
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n_train, generator=order_gen)
        for b in range(steps_per_epoch):
            index = order[b * batch_size : (b + 1) * batch_size]
            loss = F.cross_entropy(logits(layers, params, train_x[index]), train_y[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step in when:
                records.append(_record(layers, params, probe_x, probe_y, test_x, test_y))
                steps.append(step)
            if progress is not None:
                progress(step, total)
    if not all(np.isfinite(r["loss"]) for r in records):
        raise ValueError(f"lr must let training stay finite: the loss diverged with lr={lr} ({optimizer})")

    step_array = np.array(steps, dtype=np.int64)
    variables: dict[str, Any] = {
        "loss": ("record", [r["loss"] for r in records], {"long_name": "cross-entropy on the probe set"}),
        "probe_accuracy": ("record", [r["probe_accuracy"] for r in records], {"long_name": "probe-set accuracy"}),
        "test_loss": ("record", [r["test_loss"] for r in records], {"long_name": "cross-entropy on the test split"}),
        "test_accuracy": ("record", [r["test_accuracy"] for r in records], {"long_name": "test accuracy"}),
    }
    for i, spec in enumerate(layers):
        dims = ("record", f"{spec.name}_row", f"{spec.name}_col")
        variables[f"weight_{spec.name}"] = (dims, np.stack([r["weights"][i] for r in records]), {
            "long_name": f"{spec.name} weights as an (out, fan_in) matrix"})
        variables[f"grad_{spec.name}"] = (dims, np.stack([r["grads"][i] for r in records]), {
            "long_name": f"gradient of the probe loss w.r.t. the {spec.name} weights"})
        variables[f"bias_{spec.name}"] = (dims[:2], np.stack([r["biases"][i] for r in records]), {
            "long_name": f"{spec.name} biases"})
    parameters = {
        **settings, "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
        "momentum": MOMENTUM if optimizer == "sgd" else None,
        "record_every": record_every, "probe_size": probe_size, "n_train": n_train,
        "seed": seed, "sigma_w": SIGMA_W, "sigma_b": 0.0, "image_shape": list(image_shape),
        "layers": [{"name": s.name, "kind": s.kind, "weight_shape": list(s.weight_shape)} for s in layers],
    }
    recording = xr.Dataset(
        variables,
        coords={
            "record": ("record", np.arange(len(records))),
            "step": ("record", step_array, {"long_name": "optimiser steps taken"}),
            "epoch": ("record", step_array / steps_per_epoch, {"long_name": "epoch (fractional)"}),
            "layer": ("layer", np.array([s.name for s in layers], dtype=object)),
            "layer_kind": ("layer", np.array([s.kind for s in layers], dtype=object)),
            "layer_rows": ("layer", [s.matrix_shape[0] for s in layers]),
            "layer_cols": ("layer", [s.matrix_shape[1] for s in layers]),
        },
        attrs=provenance_attrs("diagnostics_recording", parameters),
    )
    recording.attrs["training_seconds"] = time.perf_counter() - start_time
    final = [(w.detach(), b.detach()) for w, b in params]
    return recording, layers, final, {"test_x": test_x, "test_y": test_y}


# --------------------------------------------------------------------------- importance
def segment_importance(
    layers: Sequence[LayerSpec],
    params: Sequence[tuple[Any, Any]],
    index: int,
    scale: int,
    x: Any,
    y: Any,
) -> np.ndarray:
    """Loss increase when each whole ``scale x scale`` segment of layer ``index`` is set to zero.

    ``x`` is the network input (shaped for the first layer), ``y`` the labels; the loss is the mean cross-entropy.
    Zeroing block ``(R, C)`` of the weight matrix changes layer ``index``'s pre-activation by ``-(W_RC)`` applied
    to the inputs ``C`` only (for a conv: the kernel entries of the block, convolved with the input channels they
    read), which is added to the cached pre-activation and propagated through the rest of the network.

    Returns
    -------
    numpy.ndarray, float64, shape :func:`segment_grid` ``(matrix_shape, scale)``
    """
    import torch
    import torch.nn.functional as F

    index = check_int("index", index, minimum=0, maximum=len(layers) - 1)
    spec = layers[index]
    rows, cols = segment_grid(spec.matrix_shape, scale)
    out = np.zeros((rows, cols))
    with torch.no_grad(), single_thread():
        h = layer_inputs(layers, params, x)[index]
        weight, bias = params[index]
        pre = _pre_activation(spec, weight, bias, h)
        base = float(F.cross_entropy(logits(layers, params, _post(layers, index, pre), index + 1), y))
        matrix = weight.reshape(spec.matrix_shape)
        for i in range(rows):
            r = slice(i * scale, (i + 1) * scale)
            for j in range(cols):
                c = slice(j * scale, (j + 1) * scale)
                changed = pre.clone()
                if spec.kind == "linear":
                    changed[:, r] -= h[:, c] @ matrix[r, c].T
                else:
                    changed[:, r] -= _conv_block(spec, matrix[r, c], c, h)
                rest = logits(layers, params, _post(layers, index, changed), index + 1)
                out[i, j] = float(F.cross_entropy(rest, y)) - base
    return out


def _conv_block(spec: LayerSpec, block: Any, columns: slice, h: Any) -> Any:
    """Convolution of ``h`` with a kernel that holds only ``block`` (rows = output channels, ``columns`` of the
    flattened ``in * k * k`` axis), restricted to the input channels those columns read."""
    import torch
    import torch.nn.functional as F

    k = spec.weight_shape[-1]
    first, last = columns.start // (k * k), (columns.stop - 1) // (k * k)
    kernel = torch.zeros((block.shape[0], (last - first + 1) * k * k), dtype=block.dtype)
    kernel[:, columns.start - first * k * k : columns.stop - first * k * k] = block
    kernel = kernel.reshape(block.shape[0], last - first + 1, k, k)
    return F.conv2d(h[:, first : last + 1], kernel, padding=k // 2)
