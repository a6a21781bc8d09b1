"""Trainability before training: reconstruction-entropy cascades (SPEC section 5) and the ground truth.

The network under test
----------------------
A fully connected network of ``depth`` layers with output widths ``w_1 .. w_D`` (``w_0`` = pixels) and the
activation ``phi`` (tanh by default, any registered activation) after every layer,
``y_l = phi(W_l y_{l-1} + b_l)`` with ``y_0 = x`` the image in [0, 1] (layer 1 acts on the image itself).
``W_l ~ N(0, sigma_w^2 / w_{l-1})``, ``b_l ~ N(0, sigma_b^2)``; **sigma_w and sigma_b are standard deviations**
(SPEC section 0); the CLI's ``--sigma-w2``/``--sigma-b2`` are variances and are converted with a square root.
Width profiles: ``"wide"`` = ``w_1 .. w_{D-1}`` = pixels, ``w_D`` = classes; ``"shrinking"`` = linear from pixels to
classes, ``w_l = round(w_0 + (classes - w_0) l / D)``; or an explicit list of ``D`` widths.

One random draw serves the whole scan: every layer's standard-normal matrix ``Z_l`` and vector ``z_l`` are drawn once
from ``seed`` and scaled, ``W_l = sigma_w Z_l / sqrt(w_{l-1})``, ``b_l = sigma_b z_l`` (:func:`build_network`, the one
place where networks are made), so the configurations of a scan differ only in scale, and the classifiers of the
ground truth are prefixes of the network under test.

Prediction (cascade)
--------------------
Decoder ``c_l(y) = psi(A_l y + a_l)`` maps ``w_l -> w_{l-1}`` and reconstructs layer ``l``'s input ``y_{l-1}`` from its
output ``y_l`` while the network stays at initialisation; ``psi`` is tanh (as in the paper) for decoder 1, whose
targets are images in [0, 1], and for every decoder when ``phi`` is bounded by 1 (tanh, erf, sin, hard_tanh);
decoders ``l >= 2`` of a network with an unbounded ``phi`` (ReLU, ...) are linear, as tanh cannot reach their
targets. Two ways to fit them:

* ``decoder="ridge"`` (default): closed form. Ridge regression of ``atanh(clip(y_{l-1}, -c, c))`` on ``[y_l, 1]``
  (``c`` = ``clip``, 0.9), with penalty ``ridge * ||A||^2`` per image (the bias is not penalised), then
  ``refine_steps`` Gauss-Newton steps on the mean squared error of ``tanh(A y + a)`` with the same penalty, whose
  curvature weights ``psi'^2`` are averaged over the outputs so that one Cholesky factor per decoder serves all of
  them. The penalty is absolute (in units of activation variance), not relative to the data: directions in which a
  layer's outputs vary by less than ``sqrt(ridge)`` are not inverted, as a trained decoder cannot invert them in a
  finite budget either (a one-shot fit with a vanishing penalty sees through the exponential contraction of the
  ordered phase and loses its cutoff, SPEC section 5).
* ``decoder="adam"``: the paper's decoders, trained by Adam (lr 1e-3, batch 64, MSE) for ``steps`` steps each (940 =
  one MNIST epoch). All decoders of all layers with the same shape and of the whole scan are one
  ``(layers * S, w_{l-1}, w_l)`` tensor and one ``torch.bmm``; the summed loss gives each decoder exactly its own
  gradient and Adam is elementwise, so this equals ``S * D`` independent trainings (tested).

The reconstruction from layer ``l`` is ``r_l = c_1(c_2(...c_l(y_l)))``. On a fixed evaluation batch (the first
``eval_images`` test images):

* relative entropy (per image): shift input and reconstruction so their minimum is 0, add 1e-12, normalise to sum 1,
  ``KL(input || reconstruction)``; ``relative_entropy`` is the sample median over images;
* null relative entropy: the same for an information-free reconstruction, that of *another* image of the batch:
  per image ``i`` the mean of ``KL(x_i || r_j)`` over all ``j != i``, then the median over images
  (:func:`null_relative_entropy`); its standard error comes from resampling the evaluation images (bootstrap);
* differential entropy: per pixel the sample standard deviation ``s`` (ddof = 1) over the batch,
  ``0.5 ln(2 pi e (s^2 + 1e-12))`` averaged over pixels (the 1e-12 keeps identical reconstructions finite).

Saturation rules (both are always computed and stored; ``rule`` picks the one reported as ``cutoff``):

* ``rule="null"`` (default): layer ``l`` still carries information when its relative entropy is below the null by
  more than ``null_z`` bootstrap standard errors; the cutoff is the last layer of the leading run of such layers
  (information cannot come back deeper in: data processing), looking at the hidden layers ``1..D-1``
  (:func:`null_cutoff`). "Saturated" then means "at the no-information level", measured, where the published rule
  cannot tell "all information kept" from "all information lost": both give an entropy that stops changing.
* ``rule="seed"``: the published rule, the deepest layer ``l < R`` whose entropy differs from layer ``R``'s (the
  saturated value) by more than ``tolerance * |e_R|`` (:func:`cutoff`, :func:`predicted_depth`); ``R`` is the last
  hidden layer ``D - 1`` (default) or the output layer ``D``.

A depth-``d`` classifier reads layer ``d - 1`` of the network under test, so the predicted deepest trainable depth is
``cutoff + 1`` (the null rule; at most ``D``), or for the seed rule ``cutoff + 1``, or ``D`` when the cutoff is
``R - 1`` (no saturation inside the network).

Ground truth
------------
:func:`train` trains classifiers of each depth ``d``: hidden layers 1..d-1 of the network under test (same draw, same
scale) and a linear read-out ``w_{d-1} -> classes`` (same initialisation law, no activation: its outputs are the logits
of the cross-entropy, no softmax before it). A cell ``(sigma_w, d)`` is trainable when, at one of a few learning rates,
the test accuracy reaches ``threshold`` at a checkpoint within the budget (it then stops training: early stopping). The
budget adapts per ``sigma_w``: it starts at ``2 * steps`` with the verdict also recorded after ``steps``, and is doubled
again while the deepest trainable depth still moves with it (at most ``doublings`` times; ``budget_stable`` says whether
the last doubling left it unchanged), so the truth does not depend on the budget where it is stable. All models of a
search (``sigma_w`` x depth x learning rate) are trained together: ordered by depth so that the models still active at
layer ``l`` are a prefix of the batch, one bmm per layer, each model with its own learning rate.
``search="bisect"`` finds the deepest trainable depth of each ``sigma_w`` on the depth grid by bisection
(trainability assumed monotone in depth), ``search="grid"`` trains every depth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import data as _data
from .activations import Activation, get_activation
from .arch import Arch, get_arch
from .common import (
    as_float_array,
    check_choice,
    check_int,
    check_memory,
    check_real,
    jsonable,
    provenance_attrs,
    resolve_device,
)

WIDTH_PROFILES: tuple[str, ...] = ("wide", "shrinking")
ENTROPIES: tuple[str, ...] = ("differential", "relative")
REFERENCES: tuple[str, ...] = ("hidden", "output")
RULES: tuple[str, ...] = ("null", "seed")
DECODERS: tuple[str, ...] = ("ridge", "adam")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
SEARCHES: tuple[str, ...] = ("bisect", "grid")
SIDES: tuple[str, ...] = ("ordered", "critical", "chaotic")
DTYPES: tuple[str, ...] = ("float32", "float64")

STEPS_PER_MNIST_EPOCH = 940
N_CLASSES = 10  # every data set of infoprop.data has ten classes
DEFAULT_SIGMA_W2 = np.linspace(0.5, 4.0, 36)  # variances, as in the example scan
DEFAULT_SIGMA_B = 0.05**0.5  # standard deviation: sigma_b^2 = 0.05 as in the paper
# Penalty of the closed-form decoders: of 1e-6 .. 3e-3, the one whose predictions agree best with the digits reference
# truth without the collapse at 1e-6 (docs/trainability.md; Fashion-MNIST validates it).
DEFAULT_RIDGE = 1e-5
# Standard errors by which a layer's entropy must beat the null (null rule): of 1, 2, 3 and 5, the one that agrees best
# with the digits reference truth. The leading-run rule bounds what chance adds: a layer at the null level passes with
# probability p (16% at z = 1), so the run overshoots the last informative layer by p / (1 - p) = 0.19 layers on average
DEFAULT_NULL_Z = 1.0
# SGD learning rates of the ground truth (best of), those of the stored reference truths: 0.001 or 0.1 is the only
# rate that passes 17 of the 64 trainable cells the digits truth tested (chaotic side, ordered edge).
DEFAULT_LRS = (0.001, 0.003, 0.01, 0.03, 0.1)
DEFAULT_TRUTH_STEPS = 1000  # ground-truth first budget
# Doublings of the ground-truth budget allowed per sigma_w (until the verdict stops moving), as in the stored truths:
# 1000 -> 8000 steps.
DEFAULT_DOUBLINGS = 3
MAX_DOUBLINGS = 8
RELATIVE_OFFSET = 1e-12
VARIANCE_FLOOR = 1e-12
NONREPRODUCIBLE = "nonreproducible_attrs"  # names the attributes that differ between identical runs (wall time)
_EVAL_CHUNK = 1024

# Independent random streams, one key per use, so that changing one part of a run never changes another's draws.
_NETWORK, _DECODERS, _DECODER_ORDER, _READOUT, _TRAIN_ORDER, _BOOTSTRAP = range(6)


# --------------------------------------------------------------------------- seeds and validation
def _generator(seed: int, *key: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, *key]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def layer_widths(widths: str | Sequence[int], n_in: int, n_classes: int, depth: int) -> list[int]:
    """Output widths ``w_1 .. w_D`` of the network under test.

    Parameters
    ----------
    widths : {"wide", "shrinking"} or sequence of int
        The width profile (:data:`WIDTH_PROFILES`): ``"wide"``: ``depth - 1`` layers of width ``n_in`` then
        ``n_classes``; ``"shrinking"``: linear from ``n_in`` to ``n_classes``; a sequence: the ``depth`` widths.
    n_in, n_classes, depth : int
        Pixels per image, classes, number of layers (>= 2).
    """
    n_in = check_int("n_in", n_in, minimum=1)
    n_classes = check_int("n_classes", n_classes, minimum=1)
    depth = check_int("depth", depth, minimum=2)
    if isinstance(widths, str):
        check_choice("widths", widths, WIDTH_PROFILES)
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
@dataclass(frozen=True)
class Network:
    """The network under test for a whole scan of ``S`` models: ``y_l = phi(W_l y_{l-1} + b_l)``.

    Attributes
    ----------
    layers : tuple of (weight, bias)
        Per layer, weights ``(S, w_l, w_{l-1})`` and biases ``(S, w_l)``; model ``s`` of the scan is row ``s``.
    activation : Activation
        ``phi`` (:func:`infoprop._src.activations.get_activation`), applied after every layer.
    """

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    activation: Activation

    @property
    def n_scan(self) -> int:
        return self.layers[0][0].shape[0]

    def layer(self, index: int, y: torch.Tensor) -> torch.Tensor:
        """Layer ``index + 1`` (0-based ``index``) applied to ``y`` of shape ``(S, B, w_{l-1})`` or ``(B, w_0)``."""
        weight, bias = self.layers[index]
        return apply_layer(y, weight, bias, self.activation.torch_fn)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations ``[x, y_1, ..., y_D]``; ``y_l`` has shape ``(S, B, w_l)``."""
        ys = [x]
        for index in range(len(self.layers)):
            ys.append(self.layer(index, ys[-1]))
        return ys

    def to(self, device: torch.device) -> Network:
        return Network(tuple((w.to(device), b.to(device)) for w, b in self.layers), self.activation)


def apply_layer(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, phi: Callable[[Any], Any]) -> torch.Tensor:
    """``phi(W y + b)`` for a stack of models: ``y`` is ``(M, B, in)`` or ``(B, in)`` (shared input), ``weight``
    ``(M, out, in)``, ``bias`` ``(M, out)``; the result is ``(M, B, out)``."""
    return phi(torch.matmul(y, weight.transpose(-1, -2)) + bias[:, None, :])


def _standard_draws(widths: Sequence[int], n_in: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The standard-normal ``(Z_l, z_l)`` of every layer (float64), drawn in layer order from ``seed``."""
    gen = _generator(seed, _NETWORK)
    draws = []
    for fan_in, fan_out in zip([n_in, *widths[:-1]], widths):
        z_w = torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64)
        z_b = torch.randn(fan_out, generator=gen, dtype=torch.float64)
        draws.append((z_w, z_b))
    return draws


def _scale_layer(
    draw: tuple[torch.Tensor, torch.Tensor], sigma_w: np.ndarray, sigma_b: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W = sigma_w Z / sqrt(fan_in)`` of shape ``(len(sigma_w), out, in)`` and ``b = sigma_b z`` (standard
    deviations), computed in float64 and cast, so that a model's weights do not depend on the others of the batch."""
    z_w, z_b = draw
    scale = torch.tensor(np.asarray(sigma_w, dtype=np.float64))[:, None, None]
    weight = (scale * z_w / z_w.shape[1] ** 0.5).to(dtype)
    bias = (sigma_b * z_b).to(dtype).expand(len(sigma_w), -1).clone()
    return weight, bias


def build_network(
    widths: Sequence[int],
    n_in: int,
    sigma_w: Any,
    sigma_b: float,
    *,
    arch: str | Arch = "mlp",
    activation: str | Activation = "tanh",
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Network:
    """The network under test for every ``sigma_w`` of a scan, from one shared draw (the one place networks are made).

    The layers are those of the engine's network description (:class:`infoprop._src.arch.Arch`,
    ``arch.layers(depth)``): layer 1 acts on the image itself, layers ``l >= 2`` on ``phi(h^{l-1})``, every layer
    adds its bias; ``y_l = phi(h^l)`` is what the decoders and classifiers read. Only the dense, non-residual family
    (``arch="mlp"``) is a classifier of images here: its layers are rectangular (``w_{l-1} -> w_l``), while the other
    operators of the registry are square (``N -> N``) maps and a residual layer needs equal widths.

    Parameters
    ----------
    widths : sequence of int
        Output widths ``w_1 .. w_D`` (:func:`layer_widths`); ``n_in`` = ``w_0``.
    sigma_w : array_like, shape (S,)
        Weight standard deviations: ``W_l = sigma_w Z_l / sqrt(w_{l-1})`` with the same ``Z_l`` for all of them.
    sigma_b : float
        Bias standard deviation: ``b_l = sigma_b z_l``.
    arch : str or Arch
        The network family (:func:`infoprop._src.arch.get_arch`); ``"mlp"`` only, see above.
    activation : str or Activation
        ``phi`` (:func:`infoprop._src.activations.get_activation`).
    seed : int
        Seeds the draw; the same ``seed`` and widths give the same ``Z_l, z_l`` whatever the scan.
    """
    description = get_arch(arch)
    if description.operator != "dense" or description.residual:
        raise ValueError(f"arch must be 'mlp' (dense, not residual: the trainability networks have rectangular "
                         f"layers w_(l-1) -> w_l), got {description.name!r}")
    layers_described = description.layers(len(widths))
    # The recursion below is the description's: phi on the input of layers >= 2 only (y_0 = x), a bias everywhere.
    if layers_described[0].activation or not all(layer.activation and layer.bias for layer in layers_described[1:]):
        raise ValueError(f"arch {description.name!r} describes layers this network does not implement")
    sigma_w = np.atleast_1d(np.asarray(sigma_w, dtype=np.float64))
    act = get_activation(activation)
    layers = tuple(_scale_layer(draw, sigma_w, sigma_b, dtype) for draw in _standard_draws(widths, n_in, seed))
    return Network(layers, act)


def _bounded_by_one(activation: Activation) -> bool:
    """Whether ``|phi| <= 1`` everywhere (probed on [-50, 50]): then tanh decoders can reach every target."""
    probe = np.linspace(-50.0, 50.0, 2001)
    return bool(np.all(np.abs(activation.phi(probe)) <= 1.0 + 1e-12))


def decoder_outputs(activation: Activation, depth: int) -> tuple[bool, ...]:
    """Per decoder ``1..depth``, whether its output goes through tanh (True) or is linear (False).

    Decoder 1 reconstructs the image (in [0, 1]) and always ends with tanh, as in the paper; decoders ``l >= 2``
    reconstruct ``phi(h_{l-1})`` and end with tanh when ``|phi| <= 1`` (tanh, erf, sin, hard_tanh), else are linear.
    """
    bounded = _bounded_by_one(activation)
    return (True,) + (bounded,) * (depth - 1)


# --------------------------------------------------------------------------- decoders and cascade
Decoders = list[tuple[torch.Tensor, torch.Tensor]]


def _decoder_fn(tanh_output: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    return torch.tanh if tanh_output else (lambda x: x)


def init_decoders(
    widths: Sequence[int], n_in: int, n_scan: int, seed: int, dtype: torch.dtype
) -> Decoders:
    """Decoder weights ``(S, w_{l-1}, w_l)`` and biases ``(S, w_{l-1})``, PyTorch's ``nn.Linear`` default law
    ``U(-1/sqrt(w_l), 1/sqrt(w_l))``, one draw shared by the scan (the start of the Adam decoders)."""
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


def _to_device(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> Decoders:
    return [(w.to(device), b.to(device)) for w, b in pairs]


def _batches(n: int, batch_size: int, steps: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Index batches for ``steps`` steps: successive random permutations of ``n``, each cut into full batches."""
    per_epoch = n // batch_size
    out: list[torch.Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=gen)
        out.extend(perm[i * batch_size : (i + 1) * batch_size] for i in range(per_epoch))
    return out[:steps]


def _shape_groups(
    decoders: Sequence[tuple[torch.Tensor, torch.Tensor]], tanh_outputs: Sequence[bool]
) -> list[list[int]]:
    """Decoder indices grouped by weight shape ``(w_{l-1}, w_l)`` and output function, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (weight, _) in enumerate(decoders):
        groups.setdefault((*weight.shape[1:], tanh_outputs[i]), []).append(i)
    return list(groups.values())


def train_decoders(
    network: Network,
    decoders: Decoders,
    images: torch.Tensor,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> Decoders:
    """Train every decoder layer-locally (MSE to the layer's input, Adam) with the network frozen.

    Each decoder's loss depends on its own parameters only and Adam is elementwise, so one Adam over the summed
    losses of all layers and configurations is the same as training each decoder alone (tested). The decoders of
    all layers with the same shape (for ``"wide"``: every layer but the last) and of the whole scan are stacked
    into one ``(layers * S, w_{l-1}, w_l)`` tensor, so a step is one ``bmm`` per shape rather than one per layer:
    the paper's layer-by-layer decoders are independent and train in parallel. Returns the trained decoders per
    layer (new tensors); the inputs are not modified. ``progress(done, total)`` is called after every step.
    """
    n_scan = network.n_scan
    tanh_outputs = decoder_outputs(network.activation, len(network.layers))
    groups = _shape_groups(decoders, tanh_outputs)
    params = [
        tuple(torch.cat([decoders[i][k].detach() for i in group]).requires_grad_() for k in range(2))
        for group in groups
    ]
    optimizer = torch.optim.Adam([p for pair in params for p in pair], lr=lr, fused=True)
    for step, index in enumerate(_batches(images.shape[0], batch_size, steps, _generator(seed, _DECODER_ORDER))):
        with torch.no_grad():
            ys = network.forward(images[index.to(images.device)])
            ys[0] = ys[0].expand(n_scan, -1, -1)  # the images are shared by the scan
            outputs = [torch.cat([ys[i + 1] for i in group]) for group in groups]
            targets = [torch.cat([ys[i] for i in group]) for group in groups]
        loss = images.new_zeros(())
        for group, (weight, bias), y_in, y_out in zip(groups, params, targets, outputs):
            psi = _decoder_fn(tanh_outputs[group[0]])
            loss = loss + ((apply_layer(y_out, weight, bias, psi) - y_in) ** 2).mean(dim=(-2, -1)).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step + 1, steps)
    trained: Decoders = [None] * len(decoders)  # type: ignore[list-item]
    for group, (weight, bias) in zip(groups, params):
        for j, i in enumerate(group):
            rows = slice(j * n_scan, (j + 1) * n_scan)
            trained[i] = (weight.detach()[rows], bias.detach()[rows])
    return trained


def fit_ridge(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    ridge: float = DEFAULT_RIDGE,
    clip: float = 0.9,
    refine_steps: int = 3,
    tanh_output: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form decoder ``psi(A y + a)`` from layer outputs ``y`` to targets ``t``, for a stack of models.

    Minimises ``mean_n ||t_n - psi(A y_n + a)||^2 + ridge ||A||_F^2`` (the bias ``a`` is not penalised):

    1. ridge regression of ``atanh(clip(t, -clip, clip))`` on ``[y, 1]`` (of ``t`` itself when ``psi`` is linear,
       which is then the exact minimiser and no refinement follows);
    2. ``refine_steps`` Gauss-Newton steps on the loss above. The exact Gauss-Newton curvature of output ``j`` is
       ``[y,1]^T diag(psi'_j^2) [y,1] / n + ridge``, one matrix per output; the weights ``psi'_{jn}^2`` are averaged
       over the outputs ``j`` so that one Cholesky factor per decoder serves all its outputs.

    Parameters
    ----------
    outputs : torch.Tensor, shape (M, n, p)
        The layer's outputs ``y`` (``n`` images) for ``M`` models.
    targets : torch.Tensor, shape (M, n, q)
        What to reconstruct (the layer's input).
    ridge : float
        Penalty per image on the squared weights, in units of activation variance (absolute, not scaled by the
        data): output directions with variance below ~``ridge`` are not inverted.
    clip : float
        Targets are clipped to ``[-clip, clip]`` before ``atanh`` in step 1 (in (0, 1)).
    refine_steps : int
        Gauss-Newton steps after the ridge fit.
    tanh_output : bool
        ``psi = tanh`` (True) or the identity.

    Returns
    -------
    A : torch.Tensor, shape (M, q, p); a : torch.Tensor, shape (M, q)
        In the dtype of ``outputs``; products over the images run in that dtype, the solves in float64.
    """
    # Products over the images run in the working dtype (float32 by default); the small solves in float64.
    dtype = outputs.dtype
    t = targets if targets.shape[0] == outputs.shape[0] else targets.expand(outputs.shape[0], -1, -1)
    n = outputs.shape[1]
    y1 = torch.cat([outputs, torch.ones_like(outputs[..., :1])], dim=-1)
    penalty = torch.full((y1.shape[-1],), float(ridge), dtype=torch.float64, device=outputs.device)
    penalty[-1] = 0.0  # the bias is free
    # Levenberg-Marquardt damping of the bias in the refinement steps: keeps the curvature positive definite when
    # every output saturates (weights psi'^2 -> 0); it changes the step, not the fixed point (the true optimum).
    damping = torch.zeros_like(penalty)
    damping[-1] = max(float(ridge), 1e-8)
    y1_64 = y1.double()  # the normal equations in float64: a float32 Gram is not positive definite at small ridge

    def solve(weights: torch.Tensor | None, rhs: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        weighted = y1_64 if weights is None else y1_64 * weights.double()
        matrix = weighted.transpose(-1, -2) @ y1_64 / n + torch.diag(penalty + extra)
        return torch.cholesky_solve(rhs.double(), torch.linalg.cholesky(matrix))

    z = torch.atanh(t.clamp(-clip, clip)) if tanh_output else t
    coef = solve(None, y1.transpose(-1, -2) @ z / n, torch.zeros_like(penalty))  # (M, p + 1, q), float64
    if tanh_output:
        for _ in range(refine_steps):
            th = torch.tanh(y1 @ coef.to(dtype))
            slope = 1.0 - th * th
            # Minus the gradient of half the loss; the Gauss-Newton weights psi'^2 averaged over the outputs.
            descent = (y1.transpose(-1, -2) @ (slope * (t - th))).double() / n - penalty[:, None] * coef
            coef = coef + solve((slope * slope).mean(dim=-1, keepdim=True), descent, damping)
    return coef[..., :-1, :].transpose(-1, -2).to(dtype).contiguous(), coef[..., -1, :].to(dtype).contiguous()


def fit_ridge_decoders(
    network: Network,
    images: torch.Tensor,
    *,
    ridge: float = DEFAULT_RIDGE,
    clip: float = 0.9,
    refine_steps: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> Decoders:
    """Fit every decoder of ``network`` in closed form (:func:`fit_ridge`) on ``images`` (``(n, w_0)``).

    The network is evaluated layer by layer, so memory holds two layers' outputs for the scan, never all of them.
    ``progress(done, total)`` is called after every layer.
    """
    tanh_outputs = decoder_outputs(network.activation, len(network.layers))
    previous = images.expand(network.n_scan, -1, -1)
    decoders: Decoders = []
    for index in range(len(network.layers)):
        with torch.no_grad():
            current = network.layer(index, previous)
            decoders.append(fit_ridge(current, previous, ridge=ridge, clip=clip, refine_steps=refine_steps,
                                      tanh_output=tanh_outputs[index]))
        previous = current
        if progress is not None:
            progress(index + 1, len(network.layers))
    return decoders


def reconstruct(
    decoders: Sequence[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor, layer: int,
    tanh_outputs: Sequence[bool] | None = None,
) -> torch.Tensor:
    """Cascade reconstruction ``c_1(c_2(...c_layer(y)))`` of the image from layer ``layer``'s output ``y``.

    ``tanh_outputs[l]`` says whether decoder ``l + 1`` ends with tanh (:func:`decoder_outputs`); default all.
    """
    tanh_outputs = (True,) * len(decoders) if tanh_outputs is None else tanh_outputs
    with torch.no_grad():
        for index in reversed(range(layer)):
            weight, bias = decoders[index]
            y = apply_layer(y, weight, bias, _decoder_fn(tanh_outputs[index]))
    return y


# --------------------------------------------------------------------------- entropies
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


def relative_entropy_matrix(inputs: Any, reconstructions: Any) -> np.ndarray:
    """``KL(x_i || r_j)`` for every input ``i`` and reconstruction ``j`` of a batch: shape ``(..., n, n)``.

    ``inputs`` is ``(n, pixels)``, ``reconstructions`` ``(..., n, pixels)``; the diagonal is
    :func:`relative_entropy` of matched pairs. One matrix product per batch: ``KL(p || q) = sum p ln p - p . ln q``.
    """
    p = _as_pmf(as_float_array("inputs", inputs))
    q = _as_pmf(as_float_array("reconstructions", reconstructions))
    if p.ndim != 2 or q.shape[-2:] != p.shape:
        raise ValueError(f"inputs must be (n, pixels) and reconstructions (..., n, pixels), got {p.shape} and "
                         f"{q.shape}")
    cross = torch.matmul(torch.from_numpy(p), torch.from_numpy(np.log(q)).transpose(-1, -2)).numpy()
    return np.sum(p * np.log(p), axis=-1)[:, None] - cross


def null_relative_entropy(
    inputs: Any, reconstructions: Any, *, bootstrap: int = 200, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative entropy of the reconstructions, that of an information-free reconstruction, and their uncertainty.

    The information-free reconstruction of image ``i`` is that of another image of the batch: it comes from the same
    decoders and has the same distribution as ``r_i``, but carries nothing about ``x_i``.

    Parameters
    ----------
    inputs : array_like, shape (n, pixels)
    reconstructions : array_like, shape (..., n, pixels)
    bootstrap : int
        Resamples of the ``n`` images (with replacement) for the standard error.
    seed : int
        Seeds the resampling (the same resamples for every leading index, so errors are paired across layers).

    Returns
    -------
    relative, null, standard_error : numpy.ndarray, shape (...)
        ``relative`` = median over ``i`` of ``KL(x_i || r_i)``; ``null`` = median over ``i`` of the mean over
        ``j != i`` of ``KL(x_i || r_j)``; ``standard_error`` = bootstrap standard deviation of ``null - relative``
        (both medians recomputed on each resample of the images). Nats.
    """
    bootstrap = check_int("bootstrap", bootstrap, minimum=2)
    kl = relative_entropy_matrix(inputs, reconstructions)
    n = kl.shape[-1]
    if n < 2:
        raise ValueError(f"reconstructions must hold n_images >= 2, got {n}")
    matched = np.diagonal(kl, axis1=-2, axis2=-1)
    mismatched = (kl.sum(axis=-1) - matched) / (n - 1)
    rows = np.random.default_rng([seed, _BOOTSTRAP]).integers(0, n, size=(bootstrap, n))
    gaps = np.median(mismatched[..., rows], axis=-1) - np.median(matched[..., rows], axis=-1)
    return np.median(matched, axis=-1), np.median(mismatched, axis=-1), np.std(gaps, axis=-1, ddof=1)


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


# --------------------------------------------------------------------------- saturation rules
def cutoff(entropy: Any, tolerance: float = 0.005) -> np.ndarray:
    """The published rule: deepest layer whose entropy still differs from the saturated (last-layer) value.

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
    """The published rule's cutoff and predicted deepest trainable depth from the entropy of layers ``1..D``.

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


def null_cutoff(relative: Any, null: Any, standard_error: Any, z: float = 3.0) -> np.ndarray:
    """The null rule: the last layer of the leading run of layers whose entropy is distinguishable from the null.

    Layer ``l`` (last axis, 1-based) carries information when ``null_l - relative_l > z * standard_error_l``
    (:func:`null_relative_entropy`). Information lost at one layer cannot come back deeper in (data processing), so
    the first layer that fails ends the run; a deeper layer that passes by chance does not extend it.

    Returns
    -------
    numpy.ndarray of int64, shape (...)
        The number of leading informative layers: 0 when layer 1 already fails, the number of layers when none does.

    Examples
    --------
    >>> null_cutoff([1.0, 1.5, 2.0, 2.0], [3.0, 3.0, 2.1, 2.5], [0.1, 0.1, 0.1, 0.1])
    array(2)
    """
    relative = as_float_array("relative", relative)
    null = as_float_array("null", null)
    se = as_float_array("standard_error", standard_error, minimum=0.0)
    z = check_real("z", z, minimum=0.0)
    if relative.ndim < 1 or relative.shape != null.shape or relative.shape != se.shape:
        raise ValueError(f"relative, null and standard_error must have one equal shape with a layer axis, got "
                         f"{relative.shape}, {null.shape}, {se.shape}")
    informative = (null - relative) > z * se
    failed = np.concatenate([~informative, np.ones((*informative.shape[:-1], 1), dtype=bool)], axis=-1)
    return np.asarray(np.argmax(failed, axis=-1), dtype=np.int64)


def null_predicted_depth(
    relative: Any, null: Any, standard_error: Any, z: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """The null rule's cutoff over the hidden layers ``1..D-1`` (of per-layer arrays over ``1..D``) and the
    predicted deepest trainable depth ``cutoff + 1`` (``D`` when every hidden layer carries information)."""
    relative = as_float_array("relative", relative)
    if relative.ndim < 1 or relative.shape[-1] < 2:
        raise ValueError(f"relative must have a last (layer) axis of length >= 2, got shape {relative.shape}")
    hidden = slice(0, relative.shape[-1] - 1)
    cut = null_cutoff(relative[..., hidden], np.asarray(null)[..., hidden], np.asarray(standard_error)[..., hidden], z)
    return cut, (cut + 1).astype(np.int64)


def peak_sigma_w2(sigma_w2: Any, curve: Any, tiebreak: Any = None) -> float:
    """Where ``curve`` (the cutoff, or the deepest trainable depth) peaks, as a ``sigma_w^2``.

    Without ``tiebreak`` the centre (mean ``sigma_w^2``) of the points attaining the maximum: the deepest trainable
    depth is capped by the deepest depth trained, and its plateau is the set of configurations trainable at every
    tested depth. With ``tiebreak`` (larger is better) only the maximal points that also maximise it are averaged.
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
    """Upper estimate (bytes) of :func:`predict` (``models=1``) or :func:`train` (``models`` per ``sigma_w`` trained
    at once: the learning rates, times the classifier depths under ``search="grid"``).

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
        raise TypeError(f"progress must be a callable progress(done, total) or None, got {progress!r}")
    return progress


def _meanfield_curves(sigma_w: np.ndarray, sigma_b: float, activation: Activation) -> tuple[np.ndarray, float]:
    """Mean-field ``xi_c`` along the scan and the critical ``sigma_w^2`` (NaN: no critical point at this sigma_b)."""
    from .meanfield import MeanField

    mf = MeanField(activation)
    xi_c = np.asarray(mf.xi_c(sigma_w, sigma_b), dtype=np.float64)
    return xi_c, float(np.asarray(mf.critical_sigma_w(sigma_b))) ** 2


def _validate_common(
    data: str, depth: int, widths: Any, activation: Any, sigma_w: Any, sigma_b: Any, steps: int, batch_size: int,
    seed: int, dtype: str, train_size: int | None, device: Any,
) -> dict[str, Any]:
    check_choice("data", data, _data.DATASETS)
    depth = check_int("depth", depth, minimum=2)
    sigma_w, sigma_b = _sigma_grid(np.sqrt(DEFAULT_SIGMA_W2) if sigma_w is None else sigma_w, sigma_b)
    if isinstance(widths, str):
        check_choice("widths", widths, WIDTH_PROFILES)
    return {
        "depth": depth,
        "sigma_w": sigma_w,
        "sigma_b": sigma_b,
        "activation": get_activation(activation),
        "steps": check_int("steps", steps, minimum=1),
        "batch_size": check_int("batch_size", batch_size, minimum=1),
        "seed": check_int("seed", seed, minimum=0),
        "dtype": getattr(torch, check_choice("dtype", dtype, DTYPES)),
        "widths": widths if isinstance(widths, str) else list(widths),
        "train_size": None if train_size is None else check_int("train_size", train_size, minimum=1),
        "device": resolve_device(device),
    }


def _describe_activation(activation: Activation) -> Any:
    return activation.describe() if activation.params else activation.name


def _stamp(ds: Any, seconds: float) -> Any:
    """Add the wall time, the one attribute that is not reproducible, under a name that says so."""
    ds.attrs["wall_seconds"] = float(seconds)
    ds.attrs[NONREPRODUCIBLE] = ["wall_seconds"]
    return ds


def reproducible(ds: Any) -> Any:
    """``ds`` without the attributes listed in its ``nonreproducible_attrs`` (wall time): what equal runs share."""
    out = ds.copy()
    for key in [*ds.attrs.get(NONREPRODUCIBLE, []), NONREPRODUCIBLE]:
        out.attrs.pop(key, None)
    return out


def predict(
    data: str = "digits",
    depth: int = 40,
    sigma_w: Any = None,
    sigma_b: float = DEFAULT_SIGMA_B,
    *,
    widths: str | Sequence[int] = "wide",
    activation: str | Activation = "tanh",
    decoder: str = "ridge",
    rule: str = "null",
    ridge: float = DEFAULT_RIDGE,
    clip: float = 0.9,
    refine_steps: int = 3,
    fit_images: int | None = 4096,
    steps: int = STEPS_PER_MNIST_EPOCH,
    lr: float = 1e-3,
    batch_size: int = 64,
    eval_images: int = 256,
    strip_images: int = 4,
    null_z: float = DEFAULT_NULL_Z,
    bootstrap: int = 200,
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
        :func:`infoprop.data.load`. Decoders are fitted on the ``train`` split, entropies use the first
        ``eval_images`` images of the ``test`` split.
    depth : int
        Layers of the network under test (>= 3).
    sigma_w : array_like, optional
        Weight standard deviations of the scan, shape ``(S,)`` (variances: pass ``sqrt(sigma_w2)``); default
        ``sqrt(linspace(0.5, 4, 36))``.
    sigma_b : float
        Bias standard deviation (default ``sqrt(0.05)``).
    widths : {"wide", "shrinking"} or list of int
        Width profile, see :func:`layer_widths`.
    activation : str or Activation
        The network's activation (any of :data:`infoprop._src.activations.ACTIVATIONS`); default tanh as in the
        paper. Also used for the mean-field curves.
    decoder : {"ridge", "adam"}
        Closed-form decoders (:func:`fit_ridge`, parameters ``ridge``, ``clip``, ``refine_steps``, fitted on the
        first ``fit_images`` training images; None: all) or the paper's Adam-trained ones (``steps`` Adam steps per
        decoder at ``lr`` and ``batch_size``; 940 = one MNIST epoch at batch 64).
    rule : {"null", "seed"}
        Which saturation rule drives ``cutoff``, ``predicted_depth`` and ``critical_sigma_w2``; both are stored
        (``*_null``, ``*_seed``). ``null``: :func:`null_predicted_depth` with ``null_z`` and ``bootstrap`` resamples;
        ``seed``: the published :func:`predicted_depth` of the ``entropy`` with ``tolerance`` and ``reference``.
    eval_images : int
        The entropies are computed on the first ``eval_images`` (>= 2) test images. The null rule's power, hence how
        deep it still detects information, grows with it; keep it fixed when comparing runs.
    strip_images : int
        Number of evaluation images whose reconstructions from every layer are kept.
    seed : int
        Seeds the network draw, the decoder initialisation, the batch order and the bootstrap (independent streams).
    dtype : {"float32", "float64"}
    train_size : int, optional
        Use the first ``train_size`` images of the ``train`` split only (the splits of :func:`infoprop.data.load`
        have a fixed order, so the subset is deterministic).
    pool : int
        Mean-pool ``pool x pool`` pixel blocks of the images first (:func:`infoprop.data.load`): ``pool=2`` makes
        28 x 28 images 14 x 14 and the ``"wide"`` network 16 times cheaper.
    device : {"cpu", "cuda", "cuda:<index>"}
        Where the decoders are fitted. The random draws are made on the CPU whatever the device, so a device changes
        only rounding; bitwise reproducibility is guaranteed on the CPU (cuBLAS may pick different kernels).
    progress : callable, optional
        ``progress(done, total)``: after every Adam step (``total = steps``) or every ridge-fitted layer
        (``total = depth``).

    Returns
    -------
    xarray.Dataset
        ``relative_entropy``, ``null_relative_entropy``, ``relative_entropy_se`` (bootstrap standard error of their
        difference) and ``differential_entropy`` (sigma_w, layer); ``cutoff_null``, ``cutoff_seed`` (the published
        rule on ``entropy``), ``cutoff_relative``/``cutoff_differential`` (the published rule on each entropy),
        ``predicted_depth_null``, ``predicted_depth_seed`` and the chosen rule's ``cutoff``/``predicted_depth``
        (sigma_w); ``reconstruction`` (sigma_w, layer, sample, y, x[, channel]) and ``input_image``; mean-field
        ``xi_c`` and ``six_xi_c`` (sigma_w); scalars ``critical_sigma_w2_null`` (centre of the plateau of
        ``predicted_depth_null``), ``critical_sigma_w2_seed`` (peak of ``predicted_depth_seed``, ties broken by the
        least mean relative entropy over layers 1..R), ``critical_sigma_w2`` (the chosen rule's) and
        ``meanfield_critical_sigma_w2`` (chi_1 = 1 at this ``sigma_b``; NaN when there is none). Coordinate
        ``sigma_w2`` (variance) runs along ``sigma_w``. Attributes: provenance (every parameter), and the wall time
        ``wall_seconds``, listed in ``nonreproducible_attrs`` (:func:`reproducible` drops it).
    """
    import xarray as xr

    start = time.perf_counter()
    p = _validate_common(
        data, depth, widths, activation, sigma_w, sigma_b, steps, batch_size, seed, dtype, train_size, device
    )
    progress = _check_progress(progress)
    check_choice("decoder", decoder, DECODERS)
    check_choice("rule", rule, RULES)
    lr = check_real("lr", lr, minimum=0.0, strict_minimum=True)
    ridge = check_real("ridge", ridge, minimum=0.0, strict_minimum=True)
    clip = check_real("clip", clip, minimum=0.0, maximum=1.0, strict_minimum=True)
    if clip >= 1.0:
        raise ValueError(f"clip must be < 1 (atanh(1) is infinite), got {clip}")
    refine_steps = check_int("refine_steps", refine_steps, minimum=0)
    fit_images = None if fit_images is None else check_int("fit_images", fit_images, minimum=2)
    eval_images = check_int("eval_images", eval_images, minimum=2)
    strip_images = check_int("strip_images", strip_images, minimum=0, maximum=eval_images)
    null_z = check_real("null_z", null_z, minimum=0.0)
    bootstrap = check_int("bootstrap", bootstrap, minimum=2)
    tolerance = check_real("tolerance", tolerance, minimum=0.0)
    check_choice("entropy", entropy, ENTROPIES)
    check_choice("reference", reference, REFERENCES)
    if p["depth"] < 3:
        raise ValueError(f"depth must be >= 3 (two hidden layers), got {p['depth']}")
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
    sw, sb, act = p["sigma_w"], p["sigma_b"], p["activation"]

    network = build_network(ws, n_in, sw, sb, activation=act, seed=p["seed"], dtype=p["dtype"]).to(p["device"])
    tanh_outputs = decoder_outputs(act, p["depth"])
    if decoder == "ridge":
        decoders = fit_ridge_decoders(network, train_x[:fit_images], ridge=ridge, clip=clip,
                                      refine_steps=refine_steps, progress=progress)
    else:
        decoders = _to_device(init_decoders(ws, n_in, len(sw), p["seed"], p["dtype"]), p["device"])
        decoders = train_decoders(network, decoders, train_x, p["steps"], lr, p["batch_size"], p["seed"], progress)

    x_eval = test_x[:eval_images]
    with torch.no_grad():
        ys = network.forward(x_eval)
    inputs = x_eval.double().cpu().numpy()
    diff, rel, null, se, strips = [], [], [], [], []
    for layer in range(1, p["depth"] + 1):
        rec = reconstruct(decoders, ys[layer], layer, tanh_outputs).double().cpu().numpy()  # (S, n_eval, pixels)
        diff.append(differential_entropy(rec))
        r, n, s = null_relative_entropy(inputs, rec, bootstrap=bootstrap, seed=p["seed"])
        rel.append(r)
        null.append(n)
        se.append(s)
        strips.append(rec[:, :strip_images])
    diff_e, rel_e, null_e, se_e = (np.stack(v, axis=1) for v in (diff, rel, null, se))
    seed_cut = {"differential": predicted_depth(diff_e, tolerance, reference),
                "relative": predicted_depth(rel_e, tolerance, reference)}
    cut_seed, depth_seed = seed_cut[entropy]
    cut_null, depth_null = null_predicted_depth(rel_e, null_e, se_e, null_z)
    last = p["depth"] - 1 if reference == "hidden" else p["depth"]  # the published rule's saturated layer R
    xi_c, mf_crit = _meanfield_curves(sw, sb, act)
    sw2 = sw**2
    critical = {
        "null": peak_sigma_w2(sw2, depth_null),
        "seed": peak_sigma_w2(sw2, depth_seed, -rel_e[:, :last].mean(axis=1)),
    }

    image_dims = ("y", "x", "channel")[: len(shape)]
    strip_arr = np.stack(strips, axis=1).reshape(len(sw), p["depth"], strip_images, *shape)
    layers = np.arange(1, p["depth"] + 1)
    parameters = {
        "data": data, "data_path": data_path, "grayscale": grayscale, "pool": pool, "depth": p["depth"], "widths": ws,
        "width_profile": p["widths"] if isinstance(p["widths"], str) else "explicit",
        "activation": _describe_activation(act), "sigma_w": sw, "sigma_b": sb, "decoder": decoder, "rule": rule,
        "decoder_form": "psi(Linear(w_l -> w_{l-1})), psi = tanh" + ("" if all(tanh_outputs) else
                                                                    " (layer 1), identity (layers >= 2)"),
        "eval_images": eval_images, "strip_images": strip_images, "null_z": null_z, "bootstrap": bootstrap,
        "tolerance": tolerance, "entropy": entropy, "reference": reference, "seed": p["seed"], "dtype": dtype,
        "train_size": p["train_size"], "device": str(p["device"]),
    }
    if decoder == "ridge":
        parameters.update(ridge=ridge, clip=clip, refine_steps=refine_steps, fit_images=fit_images)
    else:
        parameters.update(optimizer="adam", steps=p["steps"], lr=lr, batch_size=p["batch_size"])
    per_layer = ("sigma_w", "layer")
    ds = xr.Dataset(
        {
            "relative_entropy": (per_layer, rel_e, {
                "long_name": "relative entropy KL(input || reconstruction), median over images", "units": "nat"}),
            "null_relative_entropy": (per_layer, null_e, {
                "long_name": "null relative entropy KL(input || another image's reconstruction), median over images",
                "units": "nat"}),
            "relative_entropy_se": (per_layer, se_e, {
                "long_name": "bootstrap standard error of null_relative_entropy - relative_entropy", "units": "nat"}),
            "differential_entropy": (per_layer, diff_e, {
                "long_name": "differential entropy of the reconstructions (mean over pixels)", "units": "nat"}),
            "cutoff": ("sigma_w", cut_null if rule == "null" else cut_seed, {
                "long_name": f"cutoff layer ({rule} rule)"}),
            "cutoff_null": ("sigma_w", cut_null, {
                "long_name": "cutoff layer (null rule: last of the leading informative layers)"}),
            "cutoff_seed": ("sigma_w", cut_seed, {"long_name": f"cutoff layer (published rule, {entropy} entropy)"}),
            "cutoff_differential": ("sigma_w", seed_cut["differential"][0], {
                "long_name": "cutoff layer (published rule, differential entropy)"}),
            "cutoff_relative": ("sigma_w", seed_cut["relative"][0], {
                "long_name": "cutoff layer (published rule, relative entropy)"}),
            "predicted_depth": ("sigma_w", depth_null if rule == "null" else depth_seed, {
                "long_name": f"predicted deepest trainable depth ({rule} rule)"}),
            "predicted_depth_null": ("sigma_w", depth_null, {
                "long_name": "predicted deepest trainable depth (null rule: cutoff + 1)"}),
            "predicted_depth_seed": ("sigma_w", depth_seed, {
                "long_name": "predicted deepest trainable depth (published rule: cutoff + 1; depth if unsaturated)"}),
            "xi_c": ("sigma_w", xi_c, {"long_name": "mean-field correlation depth scale xi_c", "units": "layers"}),
            "six_xi_c": ("sigma_w", 6 * xi_c, {"long_name": "6 xi_c (mean-field trainable depth)", "units": "layers"}),
            "reconstruction": (("sigma_w", "layer", "sample", *image_dims), strip_arr.astype(np.float32), {
                "long_name": "cascade reconstruction c_1(...c_l(y_l))"}),
            "input_image": (("sample", *image_dims), inputs[:strip_images].reshape(strip_images, *shape).astype(
                np.float32), {"long_name": "input image"}),
            "critical_sigma_w2": ((), critical[rule], {"long_name": f"predicted critical sigma_w^2 ({rule} rule)"}),
            "critical_sigma_w2_null": ((), critical["null"], {
                "long_name": "predicted critical sigma_w^2 (null rule: centre of the predicted-depth plateau)"}),
            "critical_sigma_w2_seed": ((), critical["seed"], {
                "long_name": "predicted critical sigma_w^2 (published rule: predicted-depth peak; ties: least mean "
                             "relative entropy)"}),
            "meanfield_critical_sigma_w2": ((), mf_crit, {
                "long_name": "mean-field critical sigma_w^2 (chi_1 = 1; NaN: none at this sigma_b)"}),
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
    return _stamp(ds, time.perf_counter() - start)


# --------------------------------------------------------------------------- high-level: ground truth
@dataclass(frozen=True)
class Classifiers:
    """A batch of ground-truth classifiers, models ordered by depth (descending).

    ``hidden[l]`` holds layer ``l + 1`` of the models still active there (a prefix of the batch): weights
    ``(active, w_{l+1}, w_l)`` and biases; ``blocks`` lists ``(depth, start, stop)``, the models of each depth, whose
    linear read-out ``readouts[k]`` (``(stop - start, classes, w_{depth-1})``) reads layer ``depth - 1``.
    """

    hidden: list[tuple[torch.Tensor, torch.Tensor]]
    readouts: list[tuple[torch.Tensor, torch.Tensor]]
    blocks: list[tuple[int, int, int]]
    activation: Activation

    def logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits ``(models of the block, B, classes)`` of every block, for the images ``x`` (``(B, w_0)``)."""
        out: list[torch.Tensor] = [None] * len(self.blocks)  # type: ignore[list-item]
        y = x
        for layer, (weight, bias) in enumerate(self.hidden, start=1):
            y = apply_layer(y if layer == 1 else y[: weight.shape[0]], weight, bias, self.activation.torch_fn)
            for k, (depth, start, stop) in enumerate(self.blocks):
                if depth - 1 == layer:
                    weight_r, bias_r = self.readouts[k]
                    out[k] = torch.matmul(y[start:stop], weight_r.transpose(-1, -2)) + bias_r[:, None, :]
        return out

    def parameters(self) -> list[torch.Tensor]:
        return [t for pair in (*self.hidden, *self.readouts) for t in pair]

    def rows(self) -> list[slice]:
        """For each tensor of :meth:`parameters`, the models (batch rows) it holds."""
        hidden = [slice(0, w.shape[0]) for w, _ in self.hidden for _ in range(2)]
        return hidden + [slice(start, stop) for _, start, stop in self.blocks for _ in range(2)]


def build_classifiers(
    widths: Sequence[int], n_in: int, n_classes: int, model_depth: Any, model_sigma_w: Any, sigma_b: float, *,
    activation: str | Activation = "tanh", seed: int = 0, dtype: torch.dtype = torch.float64,
) -> Classifiers:
    """Classifiers of depths ``model_depth`` (descending, each in 2..D) at ``model_sigma_w`` (standard deviations).

    The depth-``d`` model is layers ``1..d-1`` of :func:`build_network` (the same ``Z_l, z_l`` of ``seed``, scaled by
    its own ``sigma_w``) plus a read-out ``w_{d-1} -> classes`` drawn with the same law from a stream of its own per
    depth, so all models of one depth share their read-out draw.
    """
    model_depth = np.asarray(model_depth, dtype=np.int64)
    model_sigma_w = np.asarray(model_sigma_w, dtype=np.float64)
    if np.any(np.diff(model_depth) > 0):
        raise ValueError(f"model_depth must be in descending order, got {model_depth.tolist()}")
    act = get_activation(activation)
    draws = _standard_draws(widths[: model_depth[0] - 1], n_in, seed)
    hidden = [_scale_layer(draw, model_sigma_w[: int(np.sum(model_depth > layer))], sigma_b, dtype)
              for layer, draw in enumerate(draws, start=1)]
    blocks, readouts = [], []
    for depth in np.unique(model_depth)[::-1]:
        start, stop = int(np.argmax(model_depth == depth)), int(np.sum(model_depth >= depth))
        gen = _generator(seed, _READOUT, int(depth))
        fan_in = widths[depth - 2]
        draw = (torch.randn(n_classes, fan_in, generator=gen, dtype=torch.float64),
                torch.randn(n_classes, generator=gen, dtype=torch.float64))
        readouts.append(_scale_layer(draw, model_sigma_w[start:stop], sigma_b, dtype))
        blocks.append((int(depth), start, stop))
    return Classifiers(hidden, readouts, blocks, act)


class _RowOptimizer:
    """SGD (no momentum) or Adam over stacked tensors whose rows are different models with their own learning rate.

    Elementwise updates, so each model trains exactly as it would alone; Adam follows ``torch.optim.Adam``
    (betas 0.9, 0.999, eps 1e-8, bias-corrected).
    """

    def __init__(self, params: list[torch.Tensor], row_lrs: list[torch.Tensor], kind: str):
        self.params, self.kind, self.t = params, kind, 0
        self.lrs = [lr.reshape(-1, *([1] * (p.dim() - 1))).to(p) for p, lr in zip(params, row_lrs)]
        self.m = [torch.zeros_like(p) for p in params] if kind == "adam" else []
        self.v = [torch.zeros_like(p) for p in params] if kind == "adam" else []

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        for i, (p, lr) in enumerate(zip(self.params, self.lrs)):
            g = p.grad
            if self.kind == "sgd":
                p.sub_(lr * g)
                continue
            self.m[i].lerp_(g, 0.1)
            self.v[i].mul_(0.999).addcmul_(g, g, value=0.001)
            denom = (self.v[i].sqrt() / (1 - 0.999**self.t) ** 0.5).add_(1e-8)
            p.sub_(lr / (1 - 0.9**self.t) * self.m[i] / denom)

    def keep(self, params: list[torch.Tensor], rows: list[torch.Tensor]) -> None:
        """Continue with the rows ``rows[i]`` of every tensor (the models still training), states included."""
        self.params = params
        self.lrs = [lr[r] for lr, r in zip(self.lrs, rows)]
        self.m = [m[r] for m, r in zip(self.m, rows)] if self.m else []
        self.v = [v[r] for v, r in zip(self.v, rows)] if self.v else []


def _keep_models(models: Classifiers, keep: np.ndarray) -> tuple[Classifiers, list[torch.Tensor]]:
    """The classifiers ``keep`` (bool per batch row) selects, still ordered by depth, and for every tensor of
    :meth:`Classifiers.parameters` the rows of it that stay (to slice optimiser states alike)."""
    depth = np.concatenate([np.full(stop - start, d) for d, start, stop in models.blocks])
    kept_depth = depth[keep]
    rows, hidden = [], []
    for layer, (weight, bias) in enumerate(models.hidden, start=1):
        r = torch.as_tensor(np.flatnonzero(keep[: weight.shape[0]]), device=weight.device)
        if np.any(kept_depth > layer):
            hidden.append((weight[r], bias[r]))
            rows += [r, r]
    blocks, readouts = [], []
    for (d, start, stop), (weight, bias) in zip(models.blocks, models.readouts):
        r = torch.as_tensor(np.flatnonzero(keep[start:stop]), device=weight.device)
        if len(r):
            first = int(np.sum(kept_depth > d))
            blocks.append((d, first, first + len(r)))
            readouts.append((weight[r], bias[r]))
            rows += [r, r]
    return Classifiers(hidden, readouts, blocks, models.activation), rows


def fit_classifiers(
    models: Classifiers,
    model_lr: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    optimizer: str,
    steps: int,
    batch_size: int,
    seed: int,
    checkpoints: Sequence[int] = (),
    evaluate: Callable[[Classifiers], np.ndarray] | None = None,
    retire: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: Callable[[], None] | None = None,
) -> tuple[Classifiers, np.ndarray, list[np.ndarray]]:
    """Train all classifiers of ``models`` at once (cross-entropy on raw logits, summed over models).

    Each model (batch row) has its learning rate ``model_lr[m]``; the inputs are not modified. After each step
    listed in ``checkpoints``, ``evaluate(models_still_training)`` gives one value per model (e.g. test accuracy);
    then ``retire(step, ids, values)`` (``ids``: the original row numbers of the models still training) may return
    a bool mask of models to stop: they leave the batch, and the others continue exactly as they would have (each
    model's update depends on its own parameters only). ``progress()`` is called after every step.

    Returns
    -------
    models : Classifiers
        The models still training at the end; ``ids`` their original row numbers.
    ids : numpy.ndarray of int
    values : list of numpy.ndarray
        Per checkpoint, ``evaluate``'s value for every original model (NaN for models retired before it).
    """
    params = [t.detach().clone().requires_grad_() for t in models.parameters()]
    current = _with_parameters(models, params)
    lr = torch.as_tensor(np.asarray(model_lr, dtype=np.float64))
    opt = _RowOptimizer(params, [lr[rows] for rows in models.rows()], optimizer)
    ids = np.arange(len(np.asarray(model_lr)))
    results: list[np.ndarray] = []
    for step, index in enumerate(_batches(images.shape[0], batch_size, steps, _generator(seed, _TRAIN_ORDER)), 1):
        if len(ids):
            x, y = images[index.to(images.device)], labels[index.to(images.device)]
            loss = images.new_zeros(())
            for logit in current.logits(x):
                per_model = torch.nn.functional.cross_entropy(
                    logit.transpose(1, 2), y.expand(logit.shape[0], -1), reduction="none"
                )
                loss = loss + per_model.mean(dim=1).sum()
            for t in params:
                t.grad = None
            loss.backward()
            opt.step()
        if step in checkpoints and evaluate is not None:
            values = np.full(len(np.asarray(model_lr)), np.nan)
            if len(ids):
                values[ids] = evaluate(_with_parameters(current, [t.detach() for t in params]))
            results.append(values)
            stop = np.zeros(len(ids), dtype=bool) if retire is None or not len(ids) else retire(step, ids,
                                                                                                values[ids])
            if np.any(stop):
                kept, rows = _keep_models(_with_parameters(current, [t.detach() for t in params]), ~stop)
                params = [t.detach().clone().requires_grad_() for t in kept.parameters()]
                opt.keep(params, rows)
                current = _with_parameters(kept, params)
                ids = ids[~stop]
        if progress is not None:
            progress()
    return _with_parameters(current, [t.detach() for t in params]), ids, results


def _with_parameters(models: Classifiers, params: list[torch.Tensor]) -> Classifiers:
    n_hidden = 2 * len(models.hidden)
    hidden = [(params[2 * i], params[2 * i + 1]) for i in range(len(models.hidden))]
    readouts = [(params[n_hidden + 2 * i], params[n_hidden + 2 * i + 1]) for i in range(len(models.readouts))]
    return Classifiers(hidden, readouts, models.blocks, models.activation)


def classifier_accuracy(
    models: Classifiers, images: torch.Tensor, labels: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and divergence flag per model (batch row order); a diverged model (non-finite logits) counts as
    accuracy 0, not as whatever argmax makes of NaN."""
    n_models = models.blocks[-1][2]
    correct = np.zeros(n_models)
    finite = np.ones(n_models, dtype=bool)
    with torch.no_grad():
        for start in range(0, images.shape[0], _EVAL_CHUNK):
            x, y = images[start : start + _EVAL_CHUNK], labels[start : start + _EVAL_CHUNK]
            for (_, first, last), logit in zip(models.blocks, models.logits(x)):
                correct[first:last] += (logit.argmax(-1) == y).sum(-1).cpu().numpy()
                finite[first:last] &= torch.isfinite(logit).all(dim=(-2, -1)).cpu().numpy()
    return np.where(finite, correct / images.shape[0], 0.0), ~finite


def train(
    data: str = "digits",
    depth: int = 40,
    sigma_w: Any = None,
    sigma_b: float = DEFAULT_SIGMA_B,
    *,
    depths: Any = None,
    widths: str | Sequence[int] = "wide",
    activation: str | Activation = "tanh",
    optimizer: str = "sgd",
    lr: Any = DEFAULT_LRS,
    steps: int = DEFAULT_TRUTH_STEPS,
    doublings: int = DEFAULT_DOUBLINGS,
    search: str = "bisect",
    eval_every: int = 250,
    batch_size: int = 64,
    threshold: float = 0.5,
    seed: int = 0,
    data_path: Any = None,
    grayscale: bool = False,
    dtype: str = "float32",
    train_size: int | None = None,
    pool: int = 1,
    device: str = "cpu",
    resume: Any = None,
    progress: Callable[[int, int], None] | None = None,
):
    """Ground truth: the deepest trainable depth of each ``sigma_w``, from classifiers trained at a few learning rates.

    The depth-``d`` classifier is layers 1..d-1 of the network under test of :func:`predict` (same ``depth``,
    ``widths``, ``activation``, ``seed`` give the very same draw) plus a linear read-out, trained with cross-entropy
    on raw logits. A cell ``(sigma_w, d)`` is trainable when, at one of the learning rates ``lr``, its test accuracy
    reaches ``threshold`` at a checkpoint (every ``eval_every`` steps) within the budget; a cell stops training as
    soon as it is (early stopping), and a model whose logits become non-finite stops as diverged.

    The budget adapts per ``sigma_w`` so that the verdict does not move with it: the search first runs with budget
    ``2 * steps`` and records the verdict after ``steps`` too; while the deepest trainable depth of a ``sigma_w``
    still differs between the last two budgets, its search is rerun with the budget doubled again, at most
    ``doublings`` times in all (budgets ``steps * 2**k``, ``k = 0..doublings``). ``budget_stable`` says whether the
    last doubling left the verdict unchanged. Each ``sigma_w`` is searched independently (every model trains alone,
    whatever the batch), so a run over part of the grid, or one that reuses finished ``sigma_w`` (``resume``), gives
    the same values as one run over the whole grid.

    Parameters
    ----------
    data, widths, activation, seed, data_path, grayscale, dtype, train_size, pool, device
        As in :func:`predict`.
    depth : int
        Depth of the network under test (fixes the widths); ``depths`` (default: 2..depth in at most 10 steps) is
        the depth grid of the classifiers, each in 2..depth.
    sigma_w, sigma_b : standard deviations, as in :func:`predict`.
    optimizer : {"sgd", "adam"}
        Plain SGD (no momentum) or Adam, at ``batch_size``.
    lr : float or sequence of float
        Learning rates; every cell is trained at each and the best counts. The default (0.001 .. 0.1, five rates)
        spans what digits and Fashion-MNIST need from the ordered side (large rates: vanishing gradients) to the
        chaotic side (small rates: exploding gradients), see docs/trainability.md.
    steps : int
        The first budget (optimiser steps).
    doublings : int
        The most times the budget of a ``sigma_w`` is doubled (0: one budget, ``steps``, stability not checked).
    search : {"bisect", "grid"}
        ``"bisect"``: per ``sigma_w``, bisection over the depth grid for the deepest trainable depth, assuming
        trainability is monotone in depth (deeper never trains when shallower does not); about ``log2(len(depths))``
        depths per ``sigma_w`` are trained. ``"grid"``: every depth is trained (no assumption; the full accuracy map).
    threshold : float
        Test accuracy at or above which a model counts as trained.
    eval_every : int
        Steps between test-accuracy checkpoints (also taken at every budget).
    resume : xarray.Dataset, optional
        An earlier result of this function with the same arguments except ``sigma_w`` and ``doublings``: its
        ``sigma_w`` whose search is final under this call (budget-stable within ``doublings``, or at exactly
        ``doublings``) are copied, and its unstable ones continue with the next doubling instead of starting over.
    progress : callable, optional
        ``progress(done, total)`` after every optimiser step; ``total`` bounds the steps of the searches known so far
        and grows when a ``sigma_w`` needs another doubling.

    Returns
    -------
    xarray.Dataset
        ``accuracy`` (sigma_w, depth, lr, budget: the best test accuracy reached at the checkpoints within the
        budget; a cell stopped at the threshold keeps that value; NaN: not trained, by the bisection or at that
        budget) and ``diverged``; ``final_budget`` (sigma_w: the budget whose verdict counts); ``best_accuracy``
        (sigma_w, depth: best over ``lr`` at the final budget); ``tested`` (sigma_w, depth); ``trainable``
        (sigma_w, depth: best accuracy at the final budget >= threshold, deduced from the bisection bracket for
        untested cells); ``max_trainable_depth`` (sigma_w; 0: none), ``max_trainable_depth_by_budget`` (sigma_w,
        budget; under bisection, the deepest trainable *tested* depth; -1: budget not run), ``budget_stable``
        (sigma_w) and the scalar ``critical_sigma_w2`` (centre of the plateau of ``max_trainable_depth``);
        attributes: provenance, ``threshold``, and the wall time ``wall_seconds`` (listed in
        ``nonreproducible_attrs``; with ``resume``, that of this call only).
    """
    import xarray as xr

    start = time.perf_counter()
    p = _validate_common(
        data, depth, widths, activation, sigma_w, sigma_b, steps, batch_size, seed, dtype, train_size, device
    )
    progress = _check_progress(progress)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("search", search, SEARCHES)
    doublings = check_int("doublings", doublings, minimum=0, maximum=MAX_DOUBLINGS)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    lrs = np.atleast_1d(as_float_array("lr", lr, minimum=0.0))
    if lrs.ndim != 1 or np.any(lrs <= 0) or len(np.unique(lrs)) != len(lrs):
        raise ValueError(f"lr must be one positive learning rate or a list of distinct ones, got {lrs.tolist()}")
    threshold = check_real("threshold", threshold, minimum=0.0, maximum=1.0)
    if depths is None:
        depths = np.unique(np.linspace(2, p["depth"], min(10, p["depth"] - 1)).round().astype(np.int64))
    depths = as_float_array("depths", depths)
    if depths.ndim != 1 or np.any(depths != np.round(depths)) or depths.min() < 2 or depths.max() > p["depth"]:
        raise ValueError(f"depths must be integers in 2..depth={p['depth']}, got {depths.tolist()}")
    depths = np.unique(depths.astype(np.int64))
    n_in = int(np.prod(_data.image_shape(data, grayscale, pool)))
    ws = layer_widths(p["widths"], n_in, N_CLASSES, p["depth"])
    sw, sb, act = p["sigma_w"], p["sigma_b"], p["activation"]
    budgets = [p["steps"] * 2**k for k in range(doublings + 1)]
    n_s, n_d, n_l = len(sw), len(depths), len(lrs)
    parameters = {
        "data": data, "data_path": data_path, "grayscale": grayscale, "pool": pool, "depth": p["depth"],
        "depths": depths, "device": str(p["device"]), "widths": ws,
        "width_profile": p["widths"] if isinstance(p["widths"], str) else "explicit",
        "activation": _describe_activation(act), "sigma_w": sw, "sigma_b": sb, "optimizer": optimizer,
        "lr": lrs, "steps": p["steps"], "doublings": doublings, "search": search, "eval_every": eval_every,
        "batch_size": p["batch_size"],
        "threshold": threshold, "seed": p["seed"], "dtype": dtype, "train_size": p["train_size"],
        "readout": "Linear(w_{d-1} -> classes), logits",
    }
    accuracy = np.full((n_s, n_d, n_l, len(budgets)), np.nan)
    diverged = np.zeros(accuracy.shape, dtype=bool)
    final = np.full(n_s, -1)  # index of the budget whose verdict counts; -1: still searching
    first_stage = np.full(n_s, min(1, doublings))
    if resume is not None:
        _resume(resume, parameters, accuracy, diverged, final, first_stage)
    # Models trained at once: every open sigma_w at every rate, at one depth each (bisection) or at all of them.
    at_once = (n_d if search == "grid" else 1) * n_l
    check_memory(memory_estimate(p["depth"], n_in, p["widths"], int(np.sum(final < 0)), at_once,
                                 p["batch_size"], _EVAL_CHUNK, p["dtype"].itemsize), "trainability.train")
    train_x, train_y, test_x, test_y = _load_splits(
        data, data_path, grayscale, pool, p["train_size"], p["batch_size"], p["dtype"], p["device"]
    )
    rounds = 1 if search == "grid" else int(np.ceil(np.log2(n_d + 1)))
    done, total = [0], [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total[0])

    def run(cells: list[tuple[int, int]], stage: int) -> None:
        """Train the cells (sigma index, depth index) at every learning rate with the budgets up to ``stage``; fill
        ``accuracy`` and ``diverged``."""
        models = sorted(((d, s, k) for s, d in cells for k in range(n_l)), key=lambda m: (-depths[m[0]], m[1], m[2]))
        idx = np.array(models)
        nets = build_classifiers(ws, n_in, N_CLASSES, depths[idx[:, 0]], sw[idx[:, 1]], sb, activation=act,
                                 seed=p["seed"], dtype=p["dtype"])
        nets = Classifiers(_to_device(nets.hidden, p["device"]), _to_device(nets.readouts, p["device"]), nets.blocks,
                           nets.activation)
        cell = idx[:, 1] * n_d + idx[:, 0]
        best = np.zeros(len(idx))
        checkpoints = sorted({*range(eval_every, budgets[stage] + 1, eval_every), *budgets[: stage + 1]})

        def evaluate(trained: Classifiers) -> np.ndarray:
            acc, div = classifier_accuracy(trained, test_x, test_y)
            return np.where(div, -1.0, acc)  # -1 marks a diverged model

        def retire(step: int, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
            # Early stopping: a cell is decided once one of its learning rates reaches the threshold (all of its
            # models stop); a diverged model (non-finite logits) never recovers and stops too.
            best[ids] = np.maximum(best[ids], values)
            passed = np.isin(cell[ids], cell[best >= threshold])
            return passed | (values < 0)

        _, _, results = fit_classifiers(
            nets, lrs[idx[:, 2]], train_x, train_y, optimizer=optimizer, steps=budgets[stage],
            batch_size=p["batch_size"], seed=p["seed"], checkpoints=checkpoints, evaluate=evaluate, retire=retire,
            progress=tick,
        )
        values = np.stack(results)  # (checkpoints, models); NaN once retired
        for b, budget in enumerate(budgets[: stage + 1]):
            upto = values[: checkpoints.index(budget) + 1]
            accuracy[idx[:, 1], idx[:, 0], idx[:, 2], b] = np.max(np.nan_to_num(upto, nan=-1.0).clip(min=0.0), axis=0)
            diverged[idx[:, 1], idx[:, 0], idx[:, 2], b] = np.any(upto < 0, axis=0)

    def search_stage(rows: np.ndarray, stage: int) -> None:
        """The whole search of the ``sigma_w`` ``rows`` with the budgets up to ``stage``, from scratch."""
        accuracy[rows], diverged[rows] = np.nan, False
        total[0] += rounds * budgets[stage]
        if search == "grid":
            run([(int(s), d) for s in rows for d in range(n_d)], stage)
            return
        lo, hi = np.full(n_s, -1), np.full(n_s, n_d)  # deepest index known trainable, shallowest known not
        open_ = rows
        while len(open_):
            mid = (lo + hi) // 2
            run([(int(s), int(mid[s])) for s in open_], stage)
            for s in open_:
                if np.max(accuracy[s, mid[s], :, stage]) >= threshold:
                    lo[s] = mid[s]
                else:
                    hi[s] = mid[s]
            open_ = open_[hi[open_] - lo[open_] > 1]

    for stage in range(doublings + 1):
        rows = np.flatnonzero((final < 0) & (first_stage <= stage))
        if not len(rows):
            continue
        search_stage(rows, stage)
        by_budget = _deepest_by_budget(accuracy[rows], depths, threshold)
        settled = (stage == doublings) | ((stage > 0) & (by_budget[:, stage] == by_budget[:, max(stage - 1, 0)]))
        final[rows[settled]] = stage
    if progress is not None and done[0] < total[0]:
        progress(total[0], total[0])  # bisection finished in fewer rounds than the bound

    tested = ~np.isnan(accuracy[:, :, 0, 0])
    by_budget = _deepest_by_budget(accuracy, depths, threshold)
    rows = np.arange(n_s)
    max_depth = by_budget[rows, final]
    best_accuracy = np.max(accuracy[rows, :, :, final], axis=-1)  # (sigma_w, depth); NaN: not trained
    # Bisection: the bracket decides the untested cells; grid: every cell as measured.
    if search == "grid":
        trainable = best_accuracy >= threshold
    else:
        trainable = depths[None, :] <= max_depth[:, None]
    stable = (final > 0) & (by_budget[rows, final] == by_budget[rows, np.maximum(final - 1, 0)])
    cell = ("sigma_w", "depth", "lr", "budget")
    ds = xr.Dataset(
        {
            "accuracy": (cell, accuracy, {
                "long_name": "best test accuracy reached within the budget (NaN: not trained)"}),
            "diverged": (cell, diverged, {"long_name": "non-finite logits after training"}),
            "final_budget": ("sigma_w", np.asarray(budgets)[final], {
                "long_name": "budget whose verdict counts (doubled until the verdict stopped moving)"}),
            "best_accuracy": (("sigma_w", "depth"), best_accuracy, {
                "long_name": "best test accuracy over lr at the final budget (NaN: not trained)"}),
            "tested": (("sigma_w", "depth"), tested, {"long_name": "cell trained (bisection trains a few depths)"}),
            "trainable": (("sigma_w", "depth"), trainable, {
                "long_name": f"best test accuracy over lr >= {threshold} at the final budget"}),
            "max_trainable_depth": ("sigma_w", max_depth, {"long_name": "deepest trainable depth (0: none)"}),
            "max_trainable_depth_by_budget": (("sigma_w", "budget"), by_budget, {
                "long_name": "deepest trainable depth after each budget (bisection: deepest trained one; "
                             "-1: budget not run)"}),
            "budget_stable": ("sigma_w", stable, {
                "long_name": "deepest trainable depth unchanged by the last doubling of the budget"}),
            "critical_sigma_w2": ((), peak_sigma_w2(sw**2, max_depth), {
                "long_name": "trained critical sigma_w^2 (centre of the deepest-trainable-depth plateau)"}),
        },
        coords={
            "sigma_w": ("sigma_w", sw, {"long_name": "weight standard deviation sigma_w"}),
            "sigma_w2": ("sigma_w", sw**2, {"long_name": "weight variance sigma_w^2"}),
            "depth": ("depth", depths, {"long_name": "classifier depth"}),
            "lr": ("lr", lrs, {"long_name": f"learning rate ({optimizer})"}),
            "budget": ("budget", np.asarray(budgets), {"long_name": "optimiser steps"}),
        },
        attrs=provenance_attrs("trainability_ground_truth", parameters),
    )
    ds.attrs["sigma_b"] = sb
    ds.attrs["threshold"] = threshold
    return _stamp(ds, time.perf_counter() - start)


def _deepest_by_budget(accuracy: np.ndarray, depths: np.ndarray, threshold: float) -> np.ndarray:
    """Deepest depth whose best accuracy over the learning rates passes ``threshold``, per (sigma_w, budget), among
    the trained cells (0: none; -1: the budget was not run for that sigma_w)."""
    passed = np.where(np.isnan(accuracy), -1.0, accuracy).max(axis=2) >= threshold  # (sigma_w, depth, budget)
    deepest = np.max(np.where(passed, depths[None, :, None], 0), axis=1)
    return np.where(np.all(np.isnan(accuracy), axis=(1, 2)), -1, deepest)


# Parameters of train() that a resumed run may change.
_RESUMABLE = ("sigma_w", "doublings", "device")


def _resume(previous: Any, parameters: dict, accuracy: np.ndarray, diverged: np.ndarray, final: np.ndarray,
            first_stage: np.ndarray) -> None:
    """Copy the finished ``sigma_w`` of ``previous`` (a :func:`train` result) into this run's arrays and set where the
    others start (see :func:`train`'s ``resume``)."""
    import xarray as xr

    if not isinstance(previous, xr.Dataset) or previous.attrs.get("infoprop_kind") != "trainability_ground_truth":
        found = previous.attrs.get("infoprop_kind") if isinstance(previous, xr.Dataset) else type(previous).__name__
        raise ValueError(f"resume must be an infoprop trainability_ground_truth Dataset, got {found!r}")
    old = json.loads(previous.attrs["parameters"])
    if "doublings" not in old:  # written before the budget adapted: one doubling for every sigma_w, or none
        old["doublings"] = int(old.pop("doubling", False))
    new = json.loads(json.dumps(jsonable(parameters)))
    for key, value in new.items():
        if key not in _RESUMABLE and old.get(key) != value:
            raise ValueError(f"resume must have been run with {key}={value!r} like this call, got {old.get(key)!r}")
    n_old = previous.sizes["budget"]
    old_final = (np.searchsorted(previous.budget.values, previous.final_budget.values) if "final_budget" in previous
                 else np.full(previous.sizes["sigma_w"], n_old - 1))
    old_stable = previous.budget_stable.values
    doublings = accuracy.shape[-1] - 1
    for i, value in enumerate(parameters["sigma_w"]):
        match = np.flatnonzero(previous.sigma_w.values == value)
        if not len(match):
            continue
        j, k_old = int(match[0]), int(old_final[match[0]])
        if k_old <= doublings and (old_stable[j] or k_old == doublings):
            stop = k_old + 1
            accuracy[i, :, :, :stop] = previous.accuracy.values[j, :, :, :stop]
            diverged[i, :, :, :stop] = previous.diverged.values[j, :, :, :stop]
            final[i] = k_old
        else:  # unstable at every budget up to k_old: the search goes on from the next doubling
            first_stage[i] = min(k_old + 1, doublings)


# --------------------------------------------------------------------------- prediction vs ground truth
def side_of(sigma_w2: Any, critical_sigma_w2: float, band: float = 0.4) -> np.ndarray:
    """``"ordered"``, ``"critical"`` or ``"chaotic"`` for each ``sigma_w^2``: within ``band`` of the critical value
    (inclusive) is ``"critical"``; every value is ``""`` when ``critical_sigma_w2`` is NaN (no critical point)."""
    sigma_w2 = as_float_array("sigma_w2", sigma_w2)
    band = check_real("band", band, minimum=0.0)
    if not np.isfinite(critical_sigma_w2):
        return np.full(sigma_w2.shape, "", dtype=object)
    out = np.where(sigma_w2 < critical_sigma_w2 - band, "ordered",
                   np.where(sigma_w2 > critical_sigma_w2 + band, "chaotic", "critical"))
    return out.astype(object)


def _on_grid(depth: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The deepest grid depth <= ``depth`` (0 when none): a per-layer predicted depth seen on the truth's grid."""
    below = grid[None, :] <= depth[:, None]
    return np.max(np.where(below, grid[None, :], 0), axis=1)


def compare(prediction: Any, truth: Any, *, band: float = 0.4):
    """Compare a :func:`predict` result with a :func:`train` result on the same ``sigma_w`` grid, for both rules.

    A cell ``(sigma_w, depth)`` is predicted trainable when ``depth <=`` the rule's predicted depth and is
    trained-trainable when the truth says so; ``agreement`` is the fraction of cells where the two agree, per rule,
    over all cells and per side of the mean-field critical point (:func:`side_of` with ``band``). The truth may come
    from a deeper network with the same hidden widths (its depths beyond the prediction's are left out): with the
    ``"wide"`` profile one truth at depth 64 serves predictions at depths 24 and 48, as their classifiers are the
    same networks. Critical points are compared on the truth's depth grid: each rule's predicted depth is rounded
    down to the grid and the centre of its plateau taken, as for the trained one.

    Returns
    -------
    xarray.Dataset
        ``predicted_trainable``, ``agree`` (rule, sigma_w, depth), ``trainable`` (sigma_w, depth);
        ``agreement`` (rule), ``agreement_by_side`` (rule, side; NaN where a side has no cell), ``cells_by_side``
        (side), ``sigma_w_side`` (sigma_w); ``predicted_critical_sigma_w2`` (rule), ``trained_critical_sigma_w2``,
        ``meanfield_critical_sigma_w2``. Attributes: provenance (both inputs' parameters, ``band``), ``rule``
        (the prediction's chosen rule), and the wall times ``prediction_seconds``, ``training_seconds`` and their
        ratio ``speedup``, listed in ``nonreproducible_attrs``.
    """
    import xarray as xr

    band = check_real("band", band, minimum=0.0)
    for name, ds, kind, needs in (("prediction", prediction, "trainability_prediction", "predicted_depth_null"),
                                  ("truth", truth, "trainability_ground_truth", "final_budget")):
        if not isinstance(ds, xr.Dataset) or ds.attrs.get("infoprop_kind") != kind:
            found = ds.attrs.get("infoprop_kind") if isinstance(ds, xr.Dataset) else type(ds).__name__
            raise ValueError(f"{name} must be an infoprop {kind} Dataset, got {found!r}")
        if needs not in ds:
            raise ValueError(f"{name} was written by an older infoprop (no null rule / adaptive budget); recompute "
                             "it (a truth can be brought up to date with train(..., resume=truth))")
    if prediction.sizes["sigma_w"] != truth.sizes["sigma_w"] or not np.allclose(
        prediction.sigma_w.values, truth.sigma_w.values, rtol=1e-12, atol=0.0
    ):
        raise ValueError(
            f"truth must use the prediction's sigma_w grid ({prediction.sizes['sigma_w']} values in "
            f"[{float(prediction.sigma_w.min()):.4g}, {float(prediction.sigma_w.max()):.4g}]), got "
            f"{truth.sizes['sigma_w']} values in [{float(truth.sigma_w.min()):.4g}, {float(truth.sigma_w.max()):.4g}]"
        )
    pred_params, truth_params = json.loads(prediction.attrs["parameters"]), json.loads(truth.attrs["parameters"])
    for key, default in (("data", None), ("grayscale", False), ("pool", 1), ("activation", "tanh")):
        if pred_params.get(key, default) != truth_params.get(key, default):
            raise ValueError(f"truth must use the prediction's {key}={pred_params.get(key, default)!r}, got "
                             f"{truth_params.get(key, default)!r}")
    if not np.isclose(prediction.attrs["sigma_b"], truth.attrs["sigma_b"], rtol=1e-12, atol=0.0):
        raise ValueError(f"truth must use sigma_b={prediction.attrs['sigma_b']}, got {truth.attrs['sigma_b']}")
    depth = prediction.sizes["layer"]
    truth = truth.sel(depth=truth.depth <= depth)
    if truth.sizes["depth"] == 0:
        raise ValueError(f"truth must have depths <= the prediction's depth {depth}, got none")
    hidden = int(truth.depth.max()) - 1  # the classifiers use hidden layers 1..hidden
    if pred_params["widths"][:hidden] != truth_params["widths"][:hidden]:
        raise ValueError(f"truth must use the prediction's widths of layers 1..{hidden} "
                         f"{pred_params['widths'][:hidden]}, got {truth_params['widths'][:hidden]}")

    sw2 = truth.sigma_w2.values
    grid = truth.depth.values
    trained = truth.trainable.values
    max_trained = np.max(np.where(trained, grid[None, :], 0), axis=1)
    mf = float(prediction.meanfield_critical_sigma_w2)
    sides = side_of(sw2, mf, band)
    predicted, critical = [], []
    for rule in RULES:
        depth_r = prediction[f"predicted_depth_{rule}"].values
        predicted.append(grid[None, :] <= depth_r[:, None])
        critical.append(peak_sigma_w2(sw2, _on_grid(depth_r, grid)))
    predicted = np.stack(predicted)
    agree = predicted == trained[None]
    by_side = np.array([[agree[r][sides == side].mean() if np.any(sides == side) else np.nan for side in SIDES]
                        for r in range(len(RULES))])
    cells = np.array([int(np.sum(sides == side)) * len(grid) for side in SIDES])
    t_pred = float(prediction.attrs.get("wall_seconds", np.nan))
    t_train = float(truth.attrs.get("wall_seconds", np.nan))
    parameters = {"prediction": pred_params, "truth": truth_params, "band": band,
                  "prediction_version": prediction.attrs.get("infoprop_version"),
                  "truth_version": truth.attrs.get("infoprop_version")}
    ds = xr.Dataset(
        {
            "predicted_trainable": (("rule", "sigma_w", "depth"), predicted, {
                "long_name": "depth <= predicted deepest trainable depth"}),
            "trainable": (("sigma_w", "depth"), trained, {"long_name": "trainable (ground truth)"}),
            "agree": (("rule", "sigma_w", "depth"), agree, {"long_name": "prediction agrees with training"}),
            "agreement": ("rule", agree.mean(axis=(1, 2)), {
                "long_name": "fraction of (sigma_w, depth) cells that agree"}),
            "agreement_by_side": (("rule", "side"), by_side, {
                "long_name": f"agreement per side of the mean-field critical sigma_w^2 (+-{band:g}: critical)"}),
            "cells_by_side": ("side", cells, {"long_name": "cells per side"}),
            "sigma_w_side": ("sigma_w", sides, {"long_name": "side of the mean-field critical point"}),
            "predicted_critical_sigma_w2": ("rule", np.array(critical), {
                "long_name": "predicted critical sigma_w^2 (plateau centre of the predicted depth on the truth grid)"}),
            "trained_critical_sigma_w2": ((), peak_sigma_w2(sw2, max_trained), {
                "long_name": "trained critical sigma_w^2 (centre of the deepest-trainable-depth plateau)"}),
            "meanfield_critical_sigma_w2": ((), mf, {"long_name": "mean-field critical sigma_w^2 (chi_1 = 1)"}),
        },
        coords={
            # object (variable-length) strings: zarr v3 has no stable fixed-length string type
            "rule": ("rule", np.array(RULES, dtype=object)),
            "side": ("side", np.array(SIDES, dtype=object)),
            "sigma_w": truth.sigma_w.values,
            "sigma_w2": ("sigma_w", sw2),
            "depth": grid,
        },
        attrs=provenance_attrs("trainability_comparison", parameters),
    )
    ds.attrs["rule"] = pred_params.get("rule", "seed")
    ds.attrs["threshold"] = truth.attrs["threshold"]
    ds.attrs["prediction_seconds"] = t_pred
    ds.attrs["training_seconds"] = t_train
    ds.attrs["speedup"] = t_train / t_pred if t_pred > 0 else float("inf")
    ds.attrs[NONREPRODUCIBLE] = ["prediction_seconds", "training_seconds", "speedup"]
    return ds
