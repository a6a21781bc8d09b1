"""Tests for infoprop.trainability: entropies against hand computations, both saturation rules on curves with a
closed-form answer, the null entropy on reconstructions that carry all or no information, closed-form decoders
against exact solutions and an independent optimiser, batched training against one model at a time with plain torch
optimisers, bisection against the full grid, and (slow) the prediction against the stored reference truth on digits."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from infoprop._src import trainability as tp
from infoprop._src.common import write_zarr

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


# --------------------------------------------------------------------------- entropies
def test_relative_entropy_hand_computed():
    # Input [0, 1, 3] -> pmf [0, 1/4, 3/4]; reconstruction [1, 2, 2] -> shifted [0, 1, 1] -> pmf [0, 1/2, 1/2].
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    value = tp.relative_entropy([0.0, 1.0, 3.0], [1.0, 2.0, 2.0])
    assert value == pytest.approx(expected, abs=1e-10)
    # Shift and scale of either image do not matter (the recipe normalises them away); identical images give 0.
    assert tp.relative_entropy([5.0, 6.0, 8.0], [-3.0, 1.0, 1.0]) == pytest.approx(expected, abs=1e-10)
    assert tp.relative_entropy([0.2, 0.9, 0.4], [0.2, 0.9, 0.4]) == 0.0
    # The reference is not modified in place (the authors' code shifted and normalised it in place).
    x, r = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 2.0])
    tp.relative_entropy(x, r)
    np.testing.assert_array_equal(x, [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(r, [1.0, 2.0, 2.0])


def test_relative_entropy_broadcasts_one_input_over_many_reconstructions():
    x = np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 0.0]])
    r = np.stack([x, np.array([[1.0, 2.0, 2.0], [1.0, 0.0, 0.0]])])  # (2 models, 2 images, 3 pixels)
    out = tp.relative_entropy(x, r)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out[0], 0.0, atol=1e-15)
    assert out[1, 0] == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5), abs=1e-10)
    assert out[1, 1] == pytest.approx(0.0, abs=1e-15)


def test_differential_entropy_hand_computed_and_gaussian():
    # Two images: every pixel takes the values (a, a + 2): sample variance (ddof 1) = 2.
    r = np.array([[0.0, 1.0, -1.0], [2.0, 3.0, 1.0]])
    assert tp.differential_entropy(r) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * (2.0 + 1e-12)), 1e-14)
    # Many Gaussian samples of std 0.3: the entropy of N(0, 0.3^2) in closed form.
    rng = np.random.default_rng(0)
    samples = rng.normal(0.0, 0.3, size=(200_000, 4))
    assert tp.differential_entropy(samples) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 0.09), abs=5e-3)
    # Identical reconstructions (all information lost) stay finite: the variance floor 1e-12.
    same = np.ones((5, 3))
    assert tp.differential_entropy(same) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 1e-12), 1e-14)



def test_relative_entropy_matrix_equals_pairwise_relative_entropy():
    rng = np.random.default_rng(3)
    x = rng.random((5, 7))
    r = rng.random((2, 5, 7))
    kl = tp.relative_entropy_matrix(x, r)
    assert kl.shape == (2, 5, 5)
    for s in range(2):
        for i in range(5):
            for j in range(5):
                assert kl[s, i, j] == pytest.approx(float(tp.relative_entropy(x[i], r[s, j])), abs=1e-12)


# --------------------------------------------------------------------------- the null entropy
def _images(n, pixels=16, seed=0):
    return np.random.default_rng(seed).random((n, pixels))


def test_null_entropy_of_perfect_and_of_information_free_reconstructions():
    x = _images(200)
    # Perfect reconstructions: the relative entropy is 0 and the null (another image) is far above it.
    rel, null, se = tp.null_relative_entropy(x, x[None], bootstrap=100)
    assert rel[0] == pytest.approx(0.0, abs=1e-12)
    assert null[0] > 0.1 and (null[0] - rel[0]) > 20 * se[0]
    # Reconstructions drawn independently of the inputs carry nothing: the gap is noise. Over 40 draws it exceeds
    # 3 standard errors in a few at most (one-sided 3 sigma: 0.13% each if the errors were Gaussian).
    gaps = []
    for seed in range(40):
        rel, null, se = tp.null_relative_entropy(x, _images(200, seed=seed + 1)[None], bootstrap=100, seed=seed)
        gaps.append((null[0] - rel[0]) / se[0])
    assert np.mean(np.abs(gaps) > 3) <= 0.1
    assert abs(np.mean(gaps)) < 1.0  # centred on zero, not biased towards "information"


def test_null_entropy_standard_error_shrinks_like_one_over_root_n():
    # Half-informative reconstructions: x mixed with an unrelated image. The bootstrap standard error of the gap
    # scales as 1/sqrt(n): quadrupling the images halves it (within sampling noise).
    ratios = []
    for seed in range(5):
        x, noise = _images(1600, seed=10 + seed), _images(1600, seed=50 + seed)
        rec = 0.5 * x + 0.5 * noise
        se_small = tp.null_relative_entropy(x[:400], rec[None, :400], bootstrap=300, seed=seed)[2][0]
        se_large = tp.null_relative_entropy(x, rec[None], bootstrap=300, seed=seed)[2][0]
        ratios.append(se_small / se_large)
    assert np.median(ratios) == pytest.approx(2.0, rel=0.25)


def test_null_cutoff_is_the_leading_run_of_informative_layers():
    rel = np.array([1.0, 1.5, 2.0, 2.0, 2.0])
    se = np.full(5, 0.1)
    # gap / se = 20, 15, 1, 10, 0: layer 4 passes again by chance but cannot extend the run (data processing).
    null = np.array([3.0, 3.0, 2.1, 3.0, 2.0])
    assert tp.null_cutoff(rel, null, se) == 2
    assert tp.null_cutoff(rel, null, se, z=0.5) == 4
    assert tp.null_cutoff(rel, rel + 1.0, se) == 5  # every layer informative
    assert tp.null_cutoff(rel, rel, se) == 0  # none
    np.testing.assert_array_equal(tp.null_cutoff(np.stack([rel, rel]), np.stack([null, rel]), np.stack([se, se])),
                                  [2, 0])
    # The prediction leaves the output layer (the last) out: a depth-d classifier reads layer d - 1.
    cut, depth = tp.null_predicted_depth(rel, rel + 1.0, se)
    assert (int(cut), int(depth)) == (4, 5)
    cut, depth = tp.null_predicted_depth(rel, null, se)
    assert (int(cut), int(depth)) == (2, 3)
    with pytest.raises(ValueError, match="one equal shape"):
        tp.null_cutoff(rel, null[:3], se)
    with pytest.raises(ValueError, match="standard_error must be >= 0"):
        tp.null_cutoff(rel, null, -se)


# --------------------------------------------------------------------------- the published rule
@pytest.mark.parametrize(("xi", "depth", "tol"), [(3.0, 40, 0.005), (7.5, 60, 0.01), (2.0, 30, 0.05)])
def test_cutoff_on_saturating_exponentials(xi, depth, tol):
    layers = np.arange(1, depth + 1)
    e = 1.0 + np.exp(-layers / xi)
    # |e_l - e_D| > tol |e_D|  <=>  exp(-l/xi) > tol (1 + exp(-D/xi)) + exp(-D/xi)  <=>  l < -xi ln(...)
    bound = -xi * math.log(tol * (1 + math.exp(-depth / xi)) + math.exp(-depth / xi))
    assert tp.cutoff(e, tol) == math.ceil(bound) - 1


def test_cutoff_special_curves():
    assert tp.cutoff(np.full(10, 2.5)) == 0  # saturated from the start
    assert tp.cutoff(np.linspace(1.0, 2.0, 10)) == 9  # never saturates: the deepest possible layer D - 1
    # Negative (differential) entropies use |e_D|; fluctuations below the tolerance are ignored.
    e = np.array([-1.0, -3.0, -9.0, -10.0, -10.03, -9.97, -10.0])
    assert tp.cutoff(e, 0.002) == 6  # |-9.97 + 10| = 0.03 > 0.002 * 10
    assert tp.cutoff(e, 0.005) == 3  # 0.03 < 0.05: only layer 3 (-9.0) and above still differ
    # Vectorised over leading axes.
    np.testing.assert_array_equal(tp.cutoff(np.stack([e, np.full(7, -10.0)]), 0.005), [3, 0])


@pytest.mark.parametrize(("xi", "depth"), [(3.0, 40), (6.0, 30)])
def test_predicted_depth_ignores_a_narrow_output_layer(xi, depth):
    # Hidden layers saturate like 1 + exp(-l / xi); the 10-wide output layer's entropy sits 1% above the plateau.
    layers = np.arange(1, depth)
    hidden = 1.0 + np.exp(-layers / xi)
    e = np.append(hidden, 1.01 * hidden[-1])
    bound = -xi * math.log(0.005 * (1 + math.exp(-(depth - 1) / xi)) + math.exp(-(depth - 1) / xi))
    cut, trainable = tp.predicted_depth(e, 0.005)
    assert cut == math.ceil(bound) - 1 and trainable == cut + 1
    # With the output layer as the saturated value every hidden layer "differs": the literal rule sees no cutoff.
    assert tp.predicted_depth(e, 0.005, reference="output") == (depth - 1, depth)


def test_predicted_depth_without_saturation_is_the_whole_network():
    rising = np.linspace(1.0, 2.0, 12)
    for reference, cut in (("hidden", 10), ("output", 11)):
        np.testing.assert_array_equal(tp.predicted_depth(rising, reference=reference), (cut, 12))
    flat = np.full((2, 6), 3.0)
    np.testing.assert_array_equal(tp.predicted_depth(flat)[1], [1, 1])  # saturated at once: depth 1
    with pytest.raises(ValueError, match="length >= 3 with reference='hidden'"):
        tp.predicted_depth([1.0, 2.0])
    with pytest.raises(ValueError, match="reference must be one of"):
        tp.predicted_depth(rising, reference="first")


def test_peak_sigma_w2_breaks_plateau_ties():
    s2 = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
    assert tp.peak_sigma_w2(s2, [3, 9, 9, 9, 4]) == 2.0
    assert tp.peak_sigma_w2(s2, [3, 9, 9, 4, 4]) == 1.75  # plateau centre
    assert tp.peak_sigma_w2(s2, [3, 9, 9, 9, 4], tiebreak=[0, 1, 5, 2, 9]) == 2.0
    assert tp.peak_sigma_w2(s2, [3, 9, 9, 9, 4], tiebreak=[0, 7, 5, 7, 9]) == 2.0
    assert tp.peak_sigma_w2(s2, [3, 9, 9, 9, 4], tiebreak=[0, 7, 5, 1, 9]) == 1.5


def test_side_of_the_critical_point():
    sides = tp.side_of([0.5, 1.35, 1.36, 1.76, 2.16, 2.2, 4.0], 1.76, band=0.4)
    assert sides.tolist() == ["ordered", "ordered", "critical", "critical", "critical", "chaotic", "chaotic"]
    assert tp.side_of([1.0, 2.0], float("nan")).tolist() == ["", ""]


# --------------------------------------------------------------------------- the network and its draw
def test_network_weights_follow_the_std_convention():
    sigma_w = np.array([0.5, 2.0])
    net = tp.build_network([300, 10], 200, sigma_w, 0.3, seed=1, dtype=F64)
    weight, bias = net.layers[0]
    assert weight.shape == (2, 300, 200) and bias.shape == (2, 300)
    # W = sigma_w Z / sqrt(fan_in): the empirical std of W sqrt(fan_in) is sigma_w (60,000 draws: ~0.3% error).
    for i, s in enumerate(sigma_w):
        assert float(weight[i].std() * math.sqrt(200)) == pytest.approx(s, rel=0.01)
    assert float(bias[0].std()) == pytest.approx(0.3, rel=0.1)
    # One shared draw, scaled: the two configurations differ by the ratio of their sigma_w only.
    torch.testing.assert_close(weight[1], 4.0 * weight[0], rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("activation", ["tanh", "relu", "erf"])
def test_network_applies_its_activation(activation):
    from infoprop._src.activations import get_activation

    net = tp.build_network([6, 5], 4, [0.7, 1.9], 0.2, activation=activation, seed=2, dtype=F64)
    x = torch.rand(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    ys = net.forward(x)
    phi = get_activation(activation).phi
    for s in range(2):
        h = x.numpy()
        for weight, bias in net.layers:
            h = phi(h @ weight[s].numpy().T + bias[s].numpy())  # NumPy form of the registry's activation
        np.testing.assert_allclose(ys[-1][s].numpy(), h, rtol=1e-12, atol=1e-14)



def test_network_is_built_from_the_arch_description():
    from infoprop._src.activations import get_activation
    from infoprop._src.arch import get_arch

    # The description's recursion on pre-activations, layer by layer from Arch.layers: h^1 = W x + b,
    # h^l = W phi(h^{l-1}) + b; the network's outputs are y_l = phi(h^l).
    net = tp.build_network([6, 5, 3], 4, [1.3], 0.2, arch="mlp", activation="erf", seed=2, dtype=F64)
    x = torch.rand(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64).numpy()
    phi = get_activation("erf").phi
    h = None
    for layer, (weight, bias) in zip(get_arch("mlp").layers(3), net.layers):
        inputs = phi(h) if layer.activation else x
        h = inputs @ weight[0].numpy().T + (bias[0].numpy() if layer.bias else 0.0)
    np.testing.assert_allclose(net.forward(torch.from_numpy(x))[-1][0].numpy(), phi(h), rtol=1e-12, atol=1e-14)
    for arch in ("resnet", "cnn", "orthogonal"):
        with pytest.raises(ValueError, match="arch must be 'mlp'"):
            tp.build_network([6, 5], 4, [1.0], 0.2, arch=arch)
    with pytest.raises(ValueError, match="arch must be one of"):
        tp.build_network([6, 5], 4, [1.0], 0.2, arch="architecture")


def test_layer_widths():
    assert tp.layer_widths("wide", 64, 10, 4) == [64, 64, 64, 10]
    assert tp.layer_widths("shrinking", 64, 10, 3) == [46, 28, 10]
    assert tp.layer_widths([5, 4, 3], 64, 10, 3) == [5, 4, 3]
    assert tp.WIDTH_PROFILES == ("wide", "shrinking")


# --------------------------------------------------------------------------- batched == one at a time
def _toy_data(n=96, pixels=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, pixels, generator=gen, dtype=F64), torch.randint(0, 10, (n,), generator=gen)


def test_batched_decoders_equal_one_model_at_a_time():
    images, _ = _toy_data()
    sigma_w, widths = np.sqrt([0.6, 1.8, 3.5]), [12, 9, 7]

    def run(sw):
        net = tp.build_network(widths, 12, sw, 0.2, seed=3, dtype=F64)
        dec = tp.init_decoders(widths, 12, len(sw), seed=3, dtype=F64)
        return tp.train_decoders(net, dec, images, steps=25, lr=1e-2, batch_size=16, seed=3)

    batched = run(sigma_w)
    for i in range(len(sigma_w)):
        single = run(sigma_w[i : i + 1])
        for (wb, bb), (ws, bs) in zip(batched, single):
            torch.testing.assert_close(wb[i : i + 1], ws, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(bb[i : i + 1], bs, rtol=1e-10, atol=1e-12)


# The decoders are stacked by shape: [12, 12, 12, 7] gives groups {1, 2, 3}, {4}; [12, 9, 12, 9] gives {1}, {2, 4},
# {3} (a group that is not contiguous in depth).
@pytest.mark.parametrize("widths", [[12, 12, 12, 7], [12, 9, 12, 9]])
def test_decoders_equal_a_plain_per_decoder_loop(widths):
    # Reference: every decoder of every configuration trained by its own Adam in a plain loop over the same batches.
    images, _ = _toy_data()
    sigma_w = np.sqrt([0.8, 2.2])
    net = tp.build_network(widths, 12, sigma_w, 0.2, seed=6, dtype=F64)
    dec = tp.init_decoders(widths, 12, 2, seed=6, dtype=F64)
    trained = tp.train_decoders(net, dec, images, steps=15, lr=1e-2, batch_size=16, seed=6)
    batches = tp._batches(96, 16, 15, tp._generator(6, tp._DECODER_ORDER))
    for s in range(2):
        for layer in range(4):
            weight = dec[layer][0][s].clone().requires_grad_()
            bias = dec[layer][1][s].clone().requires_grad_()
            opt = torch.optim.Adam([weight, bias], lr=1e-2)
            for index in batches:
                x = images[index]
                for w, b in [(w_[s], b_[s]) for w_, b_ in net.layers[:layer]]:
                    x = torch.tanh(x @ w.T + b)
                y = torch.tanh(x @ net.layers[layer][0][s].T + net.layers[layer][1][s])
                loss = torch.nn.functional.mse_loss(torch.tanh(y @ weight.T + bias), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            torch.testing.assert_close(trained[layer][0][s], weight.detach(), rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(trained[layer][1][s], bias.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batched_classifiers_equal_plain_torch_training_per_model(optimizer):
    # Reference: each (depth, sigma_w, lr) model as a plain list of layers trained by torch.optim on its own.
    images, labels = _toy_data()
    widths = [12, 12, 12, 12, 10]
    depth = np.array([5, 5, 3, 3, 2])  # descending, as train() orders them
    sigma = np.sqrt([0.7, 2.5, 0.7, 2.5, 1.2])
    lr = np.array([0.05, 0.01, 0.02, 0.05, 0.03])
    models = tp.build_classifiers(widths, 12, 10, depth, sigma, 0.2, seed=4, dtype=F64)
    # Models 1 and 3 are retired (early stopping) after step 7: the others must train on exactly as without them.
    seen = []

    def retire(step, ids, values):
        seen.append((step, ids.tolist(), values.tolist()))
        return np.isin(ids, [1, 3])

    trained, ids, values = tp.fit_classifiers(
        models, lr, images, labels, optimizer=optimizer, steps=20, batch_size=16, seed=4, checkpoints=[7, 12],
        evaluate=lambda current: np.arange(current.blocks[-1][2], dtype=float), retire=retire)
    assert ids.tolist() == [0, 2, 4]
    assert seen == [(7, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]), (12, [0, 2, 4], [0, 1, 2])]
    np.testing.assert_array_equal(values[1], [0, np.nan, 1, np.nan, 2])
    batches = tp._batches(96, 16, 20, tp._generator(4, tp._TRAIN_ORDER))
    for row, m in enumerate(ids):
        block = next(k for k, (_, start, stop) in enumerate(models.blocks) if start <= m < stop)
        layers = [(w[m].clone().requires_grad_(), b[m].clone().requires_grad_())
                  for w, b in models.hidden[: depth[m] - 1]]
        readout = tuple(t[m - models.blocks[block][1]].clone().requires_grad_() for t in models.readouts[block])
        trained_block = next(k for k, (_, start, stop) in enumerate(trained.blocks) if start <= row < stop)
        params = [t for pair in (*layers, readout) for t in pair]
        opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(params, lr=float(lr[m]))
        for index in batches:
            h = images[index]
            for w, b in layers:
                h = torch.tanh(h @ w.T + b)
            loss = torch.nn.functional.cross_entropy(h @ readout[0].T + readout[1], labels[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
        readout_row = row - trained.blocks[trained_block][1]
        torch.testing.assert_close(trained.readouts[trained_block][0][readout_row], readout[0].detach(), rtol=1e-10,
                                   atol=1e-12)
        for (w_ref, b_ref), (w, b) in zip(layers, trained.hidden):
            torch.testing.assert_close(w[row], w_ref.detach(), rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(b[row], b_ref.detach(), rtol=1e-10, atol=1e-12)


def test_classifiers_are_prefixes_of_the_network_under_test():
    widths = [12, 12, 12, 10]
    net = tp.build_network(widths, 12, [0.9, 1.7], 0.3, seed=8, dtype=F64)
    models = tp.build_classifiers(widths, 12, 10, [4, 3], [0.9, 1.7], 0.3, seed=8, dtype=F64)
    for layer, (w, b) in enumerate(models.hidden):
        active = w.shape[0]
        torch.testing.assert_close(w, net.layers[layer][0][:active], rtol=0, atol=0)
        torch.testing.assert_close(b, net.layers[layer][1][:active], rtol=0, atol=0)


# --------------------------------------------------------------------------- decoders reconstruct
def test_adam_decoder_of_identity_like_layer_reconstructs_almost_perfectly():
    gen = torch.Generator().manual_seed(5)
    images = (torch.rand(512, 8, generator=gen, dtype=F64) - 0.5) * 0.6  # in [-0.3, 0.3]
    # A layer y = tanh(x): invertible and close to the identity on this range.
    network = tp.Network(((torch.eye(8, dtype=F64)[None], torch.zeros(1, 8, dtype=F64)),), tp.get_activation("tanh"))
    decoders = tp.init_decoders([8], 8, 1, seed=0, dtype=F64)
    trained = tp.train_decoders(network, decoders, images, steps=1500, lr=1e-2, batch_size=64, seed=0)
    y = network.forward(images)[1]
    rec = tp.reconstruct(trained, y, 1)[0]
    relative_mse = float(((rec - images) ** 2).mean() / images.var())
    assert relative_mse < 1e-3
    untrained = tp.reconstruct(decoders, y, 1)[0]
    assert float(((untrained - images) ** 2).mean() / images.var()) > 0.5  # the training did the work


def test_ridge_recovers_an_exact_tanh_decoder():
    # Targets t = tanh(A0 y + a0) inside the clip: atanh(t) is exactly linear in y, so the ridge step alone (tiny
    # penalty) returns A0, a0; the Gauss-Newton steps then have nothing left to do.
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(2, 400, 6, generator=gen, dtype=F64)
    a_true = 0.1 * torch.randn(2, 5, 6, generator=gen, dtype=F64)
    b_true = 0.1 * torch.randn(2, 5, generator=gen, dtype=F64)
    t = torch.tanh(y @ a_true.transpose(1, 2) + b_true[:, None])
    assert float(t.abs().max()) < 0.9
    for steps in (0, 3):
        a, b = tp.fit_ridge(y, t, ridge=1e-12, refine_steps=steps)
        torch.testing.assert_close(a, a_true, rtol=0, atol=1e-8)
        torch.testing.assert_close(b, b_true, rtol=0, atol=1e-8)


def test_ridge_linear_decoder_is_the_ridge_regression_solution():
    # Reference: the augmented least-squares problem [Y 1; sqrt(n ridge) I 0] solved by numpy.linalg.lstsq.
    rng = np.random.default_rng(2)
    y, t = rng.normal(size=(300, 5)), rng.normal(size=(300, 4))
    ridge = 0.3
    design = np.vstack([np.hstack([y, np.ones((300, 1))]),
                        np.hstack([np.sqrt(300 * ridge) * np.eye(5), np.zeros((5, 1))])])
    target = np.vstack([t, np.zeros((5, 4))])
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    a, b = tp.fit_ridge(torch.from_numpy(y)[None], torch.from_numpy(t)[None], ridge=ridge, tanh_output=False)
    np.testing.assert_allclose(a[0].numpy(), coef[:5].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b[0].numpy(), coef[5], rtol=1e-10, atol=1e-12)


def test_ridge_refinement_converges_to_the_penalised_least_squares_optimum():
    # Reference: the same loss minimised by L-BFGS from zero. Targets that tanh(A y + a) cannot reach exactly.
    gen = torch.Generator().manual_seed(4)
    y = torch.randn(1, 500, 5, generator=gen, dtype=F64)
    t = torch.tanh(y @ torch.randn(5, 3, generator=gen, dtype=F64)) * 0.95 + 0.1 * torch.randn(1, 500, 3,
                                                                                                 generator=gen,
                                                                                                 dtype=F64)
    t = t.clamp(-0.99, 0.99)
    ridge = 1e-2

    def loss(a, b):
        return ((t - torch.tanh(y @ a.transpose(-1, -2) + b[:, None])) ** 2).sum(-1).mean() + ridge * (a**2).sum()

    a_ref = torch.zeros(1, 3, 5, dtype=F64, requires_grad=True)
    b_ref = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS([a_ref, b_ref], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = loss(a_ref, b_ref)
        value.backward()
        return value

    opt.step(closure)
    with torch.no_grad():
        optimum = float(loss(a_ref, b_ref))
        losses = [float(loss(*tp.fit_ridge(y, t, ridge=ridge, refine_steps=k))) for k in (0, 1, 3, 10, 200)]
    # Each step lowers the loss; the output-averaged curvature converges linearly, to the optimum itself.
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert losses[0] > 1.3 * optimum and losses[3] < 1.01 * optimum
    assert losses[-1] == pytest.approx(optimum, rel=1e-9)
    a, b = tp.fit_ridge(y, t, ridge=ridge, refine_steps=200)
    torch.testing.assert_close(a, a_ref.detach(), rtol=0, atol=1e-5)
    torch.testing.assert_close(b, b_ref.detach(), rtol=0, atol=1e-5)


def test_ridge_decoders_match_a_layer_by_layer_fit():
    # Reference: fit_ridge applied to each layer's (output, input) pair from the full forward pass.
    images, _ = _toy_data(n=200)
    net = tp.build_network([12, 12, 7], 12, np.sqrt([0.6, 3.0]), 0.2, seed=2, dtype=F64)
    decoders = tp.fit_ridge_decoders(net, images, ridge=1e-3, refine_steps=2)
    ys = net.forward(images)
    for layer in range(3):
        target = ys[layer] if layer else images.expand(2, -1, -1)
        a, b = tp.fit_ridge(ys[layer + 1], target, ridge=1e-3, refine_steps=2)
        torch.testing.assert_close(decoders[layer][0], a, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(decoders[layer][1], b, rtol=1e-12, atol=1e-13)


def test_cascade_composes_decoders_in_order():
    y = torch.tensor([[[0.3, -0.2]]], dtype=F64)  # (S=1, B=1, 2)
    c1 = (torch.tensor([[[2.0, 0.0], [0.0, 1.0]]], dtype=F64), torch.zeros(1, 2, dtype=F64))
    c2 = (torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=F64), torch.tensor([[0.1, 0.0]], dtype=F64))
    rec = tp.reconstruct([c1, c2], y, 2)
    inner = np.tanh([-0.2 + 0.1, 0.3])
    expected = np.tanh([2 * inner[0], inner[1]])
    np.testing.assert_allclose(rec[0, 0].numpy(), expected, rtol=1e-14)
    # A linear decoder 2 (unbounded activations) skips its tanh.
    rec = tp.reconstruct([c1, c2], y, 2, tanh_outputs=(True, False))
    np.testing.assert_allclose(rec[0, 0].numpy(), np.tanh([2 * (-0.2 + 0.1), 0.3]), rtol=1e-14)


def test_decoder_outputs_follow_the_activation_range():
    assert tp.decoder_outputs(tp.get_activation("tanh"), 3) == (True, True, True)
    assert tp.decoder_outputs(tp.get_activation("erf"), 3) == (True, True, True)
    assert tp.decoder_outputs(tp.get_activation("relu"), 3) == (True, False, False)


# --------------------------------------------------------------------------- high level
def _tiny_prediction(**kwargs):
    args = dict(eval_images=40, strip_images=2)
    args.update(kwargs)
    return tp.predict(args.pop("data", "digits"), args.pop("depth", 4), args.pop("sigma_w", np.sqrt([0.5, 1.8, 4.0])),
                      **args)


def test_predict_structure_reproducibility_and_zarr_round_trip(tmp_path):
    ds = _tiny_prediction()
    again = _tiny_prediction()
    xr.testing.assert_identical(tp.reproducible(ds), tp.reproducible(again))
    assert ds.attrs["nonreproducible_attrs"] == ["wall_seconds"] and ds.attrs["wall_seconds"] > 0
    assert ds.differential_entropy.dims == ("sigma_w", "layer")
    assert ds.reconstruction.shape == (3, 4, 2, 8, 8)
    np.testing.assert_allclose(ds.sigma_w2.values, [0.5, 1.8, 4.0], rtol=1e-14)
    # Both rules are stored; the chosen one (null by default) drives cutoff and predicted_depth.
    np.testing.assert_array_equal(ds.predicted_depth.values, ds.predicted_depth_null.values)
    np.testing.assert_array_equal(ds.predicted_depth_null.values, ds.cutoff_null.values + 1)
    # Depth 4, published rule: layer 3 is the saturated value; a cutoff of 2 means no saturation (depth 4).
    np.testing.assert_array_equal(ds.predicted_depth_seed.values,
                                  np.where(ds.cutoff_seed.values == 2, 4, ds.cutoff_seed + 1))
    # The published cutoff by the written-out rule (SPEC section 5) on the stored relative entropies, reference layer
    # R = 3 (the last hidden layer): the deepest layer l < R with |e_l - e_R| > 0.005 |e_R|, 0 if none.
    for row, cut in zip(ds.relative_entropy.values, ds.cutoff_seed.values):
        expected = max((l for l in (1, 2) if abs(row[l - 1] - row[2]) > 0.005 * abs(row[2])), default=0)
        assert cut == expected
    # The null cutoff written out: the leading run of hidden layers whose entropy beats the null by > 1 error (the
    # default null_z).
    assert json.loads(ds.attrs["parameters"])["null_z"] == 1.0
    for rel, null, se, cut in zip(ds.relative_entropy.values, ds.null_relative_entropy.values,
                                  ds.relative_entropy_se.values, ds.cutoff_null.values):
        informative = (null[:3] - rel[:3]) > 1.0 * se[:3]
        assert cut == next((l for l in range(3) if not informative[l]), 3)
    params = json.loads(ds.attrs["parameters"])
    assert ds.attrs["sigma_convention"] == "std" and params["widths"] == [64, 64, 64, 10]
    assert params["width_profile"] == "wide" and params["decoder"] == "ridge" and params["rule"] == "null"
    assert float(ds.meanfield_critical_sigma_w2) == pytest.approx(1.76, abs=0.01)
    for name, var in ds.data_vars.items():
        assert "long_name" in var.attrs, name
        assert np.all(np.isfinite(var.values)) or name in ("xi_c", "six_xi_c"), name
    seed_rule = _tiny_prediction(rule="seed")
    np.testing.assert_array_equal(seed_rule.predicted_depth.values, ds.predicted_depth_seed.values)
    write_zarr(ds, tmp_path / "p.zarr")
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "p.zarr").load(), ds)


def test_null_rule_prediction_of_a_shallower_network_is_a_prefix():
    # With the "wide" profile the hidden layers of a depth-4 network are those of a depth-6 one (same draw, same
    # decoders), and the null rule reads hidden layers only: its predicted depth is the deeper one's, capped at 4.
    sw = np.sqrt([0.5, 1.8, 4.0])
    shallow, deep = _tiny_prediction(depth=4, sigma_w=sw), _tiny_prediction(depth=6, sigma_w=sw)
    np.testing.assert_array_equal(shallow.predicted_depth_null.values, np.minimum(deep.predicted_depth_null, 4))


def test_predict_with_another_activation_and_adam_decoders():
    relu = _tiny_prediction(activation="relu", sigma_w=np.sqrt([1.0, 2.0]), sigma_b=0.0)
    params = json.loads(relu.attrs["parameters"])
    assert params["activation"] == "relu" and "identity (layers >= 2)" in params["decoder_form"]
    assert float(relu.meanfield_critical_sigma_w2) == pytest.approx(2.0, rel=1e-9)  # Kaiming: sigma_w^2 = 2
    adam = _tiny_prediction(decoder="adam", steps=5)
    assert json.loads(adam.attrs["parameters"])["steps"] == 5
    assert np.all(np.isfinite(adam.relative_entropy.values))


def test_train_and_compare_structure(tmp_path):
    pred = _tiny_prediction()
    truth = tp.train("digits", 4, np.sqrt([0.5, 1.8, 4.0]), depths=[2, 3, 4], steps=20, lr=[0.01, 0.05],
                     search="grid")
    assert truth.accuracy.dims == ("sigma_w", "depth", "lr", "budget")
    assert truth.budget.values.tolist() == [20, 40, 80, 160] and truth.lr.values.tolist() == [0.01, 0.05]
    assert bool(truth.tested.all())
    # Accuracy is a count of correct test images over all of them (a diverged model counts 0).
    n_test = len(tp._data.load("digits", "test")[1])
    correct = truth.accuracy.values * n_test
    np.testing.assert_allclose(correct, np.round(correct), atol=1e-9)
    final = [truth.accuracy.isel(sigma_w=i).sel(budget=b).max("lr").values
             for i, b in enumerate(truth.final_budget.values)]
    np.testing.assert_array_equal(truth.best_accuracy.values, np.stack(final))
    np.testing.assert_array_equal(truth.trainable.values, np.stack(final) >= 0.5)
    cmp = tp.compare(pred, truth)
    assert cmp.rule.values.tolist() == ["null", "seed"]
    for rule in ("null", "seed"):
        predicted = truth.depth.values[None, :] <= pred[f"predicted_depth_{rule}"].values[:, None]
        agree = predicted == truth.trainable.values
        assert float(cmp.agreement.sel(rule=rule)) == pytest.approx(agree.mean())
        sides = tp.side_of(truth.sigma_w2.values, float(pred.meanfield_critical_sigma_w2))
        for side in ("ordered", "critical", "chaotic"):
            assert float(cmp.agreement_by_side.sel(rule=rule, side=side)) == pytest.approx(agree[sides == side].mean())
    params = json.loads(cmp.attrs["parameters"])
    assert cmp.attrs["infoprop_kind"] == "trainability_comparison" and params["truth"]["search"] == "grid"
    assert set(cmp.attrs["nonreproducible_attrs"]) == {"prediction_seconds", "training_seconds", "speedup"}
    assert cmp.attrs["speedup"] == pytest.approx(truth.attrs["wall_seconds"] / pred.attrs["wall_seconds"])
    write_zarr(cmp, tmp_path / "cmp.zarr")
    with pytest.raises(ValueError, match="sigma_w grid"):
        tp.compare(pred, tp.train("digits", 4, [1.0], depths=[2], steps=2, lr=0.1))
    with pytest.raises(ValueError, match="prediction must be"):
        tp.compare(truth, truth)
    with pytest.raises(ValueError, match="truth must use the prediction's pool=1, got 2"):
        tp.compare(pred, tp.train("digits", 4, np.sqrt([0.5, 1.8, 4.0]), depths=[2], steps=2, lr=0.1, pool=2))
    with pytest.raises(ValueError, match="truth must use the prediction's activation='tanh', got 'erf'"):
        tp.compare(pred, tp.train("digits", 4, np.sqrt([0.5, 1.8, 4.0]), depths=[2], steps=2, lr=0.1,
                                  activation="erf"))


def test_truth_of_a_deeper_network_serves_a_shallower_prediction():
    # "wide": classifiers of depth <= 4 are the same networks whether the network under test has 4 or 6 layers.
    sw = np.sqrt([0.5, 2.0])
    kwargs = dict(depths=[2, 3, 4], steps=10, lr=[0.02], search="grid", dtype="float64", doublings=0)
    shallow = tp.train("digits", 4, sw, **kwargs)
    deep = tp.train("digits", 6, sw, **{**kwargs, "depths": [2, 3, 4, 6]})
    np.testing.assert_allclose(deep.accuracy.sel(depth=[2, 3, 4]).values, shallow.accuracy.values, atol=1e-12)
    pred = _tiny_prediction(sigma_w=sw)
    a, b = tp.compare(pred, shallow), tp.compare(pred, deep)
    np.testing.assert_array_equal(a.agree.values, b.agree.values)
    with pytest.raises(ValueError, match="widths of layers 1..3"):
        tp.compare(pred, tp.train("digits", 4, sw, widths=[64, 32, 64, 10], **kwargs))


def test_bisection_finds_the_deepest_trainable_depth_of_the_grid():
    # Reference: the full grid (every depth trained). Where trainability is monotone in depth, bisection must find
    # the same deepest trainable depth, and the cells it trained must have the grid's accuracy (each model trains
    # alone, whatever the batch).
    sw = np.sqrt([0.3, 1.0, 1.8, 4.0])
    kwargs = dict(depths=np.arange(2, 9), steps=40, lr=[0.05], dtype="float64", threshold=0.3)
    grid = tp.train("digits", 8, sw, search="grid", **kwargs)
    bisect = tp.train("digits", 8, sw, search="bisect", **kwargs)
    assert int(bisect.tested.sum()) < int(grid.tested.sum())
    monotone = np.all(np.diff(grid.trainable.values.astype(int), axis=1) <= 0, axis=1)
    assert monotone.sum() >= 3
    np.testing.assert_array_equal(bisect.max_trainable_depth[monotone], grid.max_trainable_depth[monotone])
    tested = bisect.tested.values
    np.testing.assert_allclose(bisect.accuracy.values[tested], grid.accuracy.values[tested], atol=1e-12)
    assert len(np.unique(grid.max_trainable_depth.values)) >= 2  # the test sees a boundary, not all-or-nothing


def test_train_memory_check_counts_the_models_trained_at_once(monkeypatch):
    # Bisection trains one depth per sigma_w at a time, the grid all of them at once: with a limit between the two
    # estimates the grid is refused before anything is computed, and bisection runs (it was refused too when the
    # estimate counted every depth for both).
    sw, depths = [1.0, 1.5], [2, 4, 6, 8]
    one, every = (tp.memory_estimate(8, 64, "wide", len(sw), n, 64, tp._EVAL_CHUNK, 4) for n in (1, len(depths)))
    monkeypatch.setenv("INFOPROP_MAX_MEMORY", str(int((one * every) ** 0.5)))
    kwargs = dict(depths=depths, lr=[0.05], steps=5, doublings=0)
    with pytest.raises(ValueError, match="trainability.train needs about"):
        tp.train("digits", 8, sw, search="grid", **kwargs)
    assert tp.train("digits", 8, sw, search="bisect", **kwargs).max_trainable_depth.shape == (2,)


BUDGET_CASE = dict(depths=[2, 4, 6, 8], lr=[0.01, 0.05], dtype="float64", threshold=0.3, steps=10, eval_every=5)


def test_budget_doubles_until_the_verdict_stops_moving():
    # Reference: separate runs with one budget each (steps * 2**k, no doubling, the same first batches), on the grid.
    sw = np.sqrt([0.5, 1.0, 2.0, 4.0])
    kwargs = {**BUDGET_CASE, "search": "grid"}
    adaptive = tp.train("digits", 8, sw, doublings=3, **kwargs)
    plain = [tp.train("digits", 8, sw, doublings=0, **{**kwargs, "steps": 10 * 2**k}) for k in range(4)]
    assert adaptive.budget.values.tolist() == [10, 20, 40, 80]
    by_budget = np.stack([p.max_trainable_depth_by_budget.values[:, 0] for p in plain], axis=1)
    for i in range(len(sw)):
        moved = by_budget[i, 1:] != by_budget[i, :-1]
        final = int(np.argmin(moved)) + 1 if not moved.all() else 3  # first budget that kept the previous verdict
        assert adaptive.final_budget.values[i] == 10 * 2**final
        assert bool(adaptive.budget_stable.values[i]) == (not moved[final - 1])
        for k in range(4):
            got = adaptive.accuracy.values[i, ..., k]
            if k <= final:
                np.testing.assert_allclose(got, plain[k].accuracy.values[i, ..., 0], atol=1e-12)
            else:
                assert np.all(np.isnan(got)) and adaptive.max_trainable_depth_by_budget.values[i, k] == -1
        assert adaptive.max_trainable_depth.values[i] == by_budget[i, final]
    assert sorted(set(adaptive.final_budget.values.tolist())) == [20, 40]  # the case has both outcomes


def test_resume_and_split_runs_equal_one_run():
    sw = np.sqrt([0.5, 1.0, 2.0, 4.0])
    whole = tp.reproducible(tp.train("digits", 8, sw, doublings=3, **BUDGET_CASE))
    assert int(np.sum(whole.final_budget.values > 20)) >= 1  # someone needed a second doubling
    once = tp.train("digits", 8, sw, doublings=1, **BUDGET_CASE)
    xr.testing.assert_identical(tp.reproducible(tp.train("digits", 8, sw, doublings=3, resume=once, **BUDGET_CASE)),
                                whole)
    # A store written before the budget adapted ("doubling": true, no final_budget) resumes the same way.
    params = json.loads(once.attrs["parameters"])
    params["doubling"] = bool(params.pop("doublings"))
    legacy = once.drop_vars(["final_budget", "best_accuracy"]).assign_attrs(parameters=json.dumps(params))
    xr.testing.assert_identical(tp.reproducible(tp.train("digits", 8, sw, doublings=3, resume=legacy,
                                                         **BUDGET_CASE)), whole)
    # One sigma_w at a time, then resumed over the whole grid: nothing left to train, the same result.
    parts = [tp.train("digits", 8, sw[i : i + 1], doublings=3, **BUDGET_CASE) for i in range(len(sw))]
    for i, part in enumerate(parts):
        xr.testing.assert_identical(part.accuracy, whole.accuracy.isel(sigma_w=[i]))
    merged = xr.concat(parts, "sigma_w", data_vars="minimal", coords="minimal", compat="override")
    calls = []
    resumed = tp.train("digits", 8, sw, doublings=3, resume=merged, progress=lambda *a: calls.append(a),
                       **BUDGET_CASE)
    assert calls == []
    xr.testing.assert_identical(tp.reproducible(resumed).drop_attrs(), whole.drop_attrs())
    with pytest.raises(ValueError, match=r"resume must have been run with lr=\[0.01, 0.1\] like this call, got "
                                         r"\[0.01, 0.05\]"):
        tp.train("digits", 8, sw, doublings=3, resume=once, **{**BUDGET_CASE, "lr": [0.01, 0.1]})
    with pytest.raises(ValueError, match="resume must be an infoprop trainability_ground_truth Dataset"):
        tp.train("digits", 8, sw, resume=xr.Dataset(), **BUDGET_CASE)


@pytest.mark.parametrize("run", ["predict", "train"])
def test_train_size_is_a_training_split_of_its_first_images(run, monkeypatch):
    # Reference: the whole run on a training split that holds only its first 100 images.
    def call(**kwargs):
        if run == "predict":
            return _tiny_prediction(**kwargs)
        return tp.train("digits", 3, np.sqrt([0.5, 2.0]), depths=[2, 3], steps=8, lr=0.05, **kwargs)

    subset = call(train_size=100)
    assert json.loads(subset.attrs["parameters"])["train_size"] == 100
    load = tp._data.load

    def first_100(name, split, **kwargs):
        images, labels = load(name, split, **kwargs)
        return (images[:100], labels[:100]) if split == "train" else (images, labels)

    monkeypatch.setattr(tp._data, "load", first_100)
    xr.testing.assert_identical(subset.drop_attrs(), call().drop_attrs())  # parameters differ: train_size


def test_pool_runs_on_the_pooled_images(monkeypatch):
    pooled = _tiny_prediction(pool=2)
    assert pooled.reconstruction.shape == (3, 4, 2, 4, 4)
    assert json.loads(pooled.attrs["parameters"])["widths"] == [16, 16, 16, 10]
    # Reference: the same run on 2 x 2 block means (4 x 4 images) computed here by strided slicing.
    load = tp._data.load

    def block_means(name, split, **kwargs):
        assert kwargs.pop("pool") == 2
        images, labels = load(name, split, **kwargs)
        images = images.reshape(-1, 8, 8).astype(np.float64)
        means = np.zeros((len(images), 4, 4))
        for i in range(2):
            for j in range(2):
                means += images[:, i::2, j::2] / 4
        return means.reshape(-1, 16).astype(np.float32), labels

    monkeypatch.setattr(tp._data, "load", block_means)
    monkeypatch.setattr(tp._data, "image_shape", lambda *args: (4, 4))
    xr.testing.assert_identical(tp.reproducible(pooled), tp.reproducible(_tiny_prediction(pool=2)))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    kwargs = dict(dtype="float64", sigma_w=np.sqrt([0.5, 1.8, 4.0]))
    cpu, gpu = _tiny_prediction(**kwargs), _tiny_prediction(device="cuda", **kwargs)
    for name in ("relative_entropy", "null_relative_entropy", "differential_entropy"):
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-8)
    truth = dict(depths=[2, 4], steps=20, dtype="float64", search="grid")
    np.testing.assert_allclose(
        tp.train("digits", 4, kwargs["sigma_w"], device="cuda", **truth).accuracy.values,
        tp.train("digits", 4, kwargs["sigma_w"], **truth).accuracy.values, atol=1 / 297
    )


def test_progress_reports_every_step_or_layer():
    calls = []
    _tiny_prediction(decoder="adam", steps=7, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 7) for k in range(1, 8)]
    calls.clear()
    _tiny_prediction(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 4) for k in range(1, 5)]  # ridge decoders: one call per layer
    calls.clear()
    tp.train("digits", 3, [1.0], depths=[2, 3], steps=5, lr=0.05, search="grid", doublings=1,
             progress=lambda *a: calls.append(a))
    assert calls == [(k, 10) for k in range(1, 11)]  # doubled budget
    calls.clear()
    tp.train("digits", 5, [1.0], depths=[2, 3, 4, 5], steps=3, lr=0.05, doublings=0,
             progress=lambda *a: calls.append(a))
    assert calls[-1] == (9, 9) and [c[0] for c in calls] == sorted(c[0] for c in calls)  # 3 rounds at most
    with pytest.raises(TypeError, match="progress must be a callable"):
        _tiny_prediction(progress=3)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": "imagenet"}, ValueError, "data must be one of"),
        ({"depth": 2}, ValueError, "depth must be >= 3"),
        ({"sigma_w": [-1.0, 1.0]}, ValueError, "sigma_w must be >= 0"),
        ({"sigma_b": -0.1}, ValueError, "sigma_b must be >= 0"),
        ({"sigma_w": [1.0, float("nan")]}, ValueError, "sigma_w must contain only finite"),
        ({"widths": [64, 64]}, ValueError, "widths must be"),
        ({"widths": "narrow"}, ValueError, "widths must be one of"),
        ({"activation": "swish2"}, ValueError, "activation must be one of"),
        ({"decoder": "lbfgs"}, ValueError, "decoder must be one of"),
        ({"rule": "eyeball"}, ValueError, "rule must be one of"),
        ({"ridge": 0.0}, ValueError, "ridge must be > 0"),
        ({"clip": 1.0}, ValueError, "clip must be < 1"),
        ({"refine_steps": -1}, ValueError, "refine_steps must be an integer >= 0"),
        ({"fit_images": 1}, ValueError, "fit_images must be an integer >= 2"),
        ({"null_z": -1.0}, ValueError, "null_z must be >= 0"),
        ({"bootstrap": 1}, ValueError, "bootstrap must be an integer >= 2"),
        ({"entropy": "shannon"}, ValueError, "entropy must be one of"),
        ({"tolerance": -0.1}, ValueError, "tolerance must be >= 0"),
        ({"steps": 0}, ValueError, "steps must be an integer >= 1"),
        ({"batch_size": 5000}, ValueError, "batch_size must be <="),
        ({"train_size": 32}, ValueError, "batch_size must be <= the 32 training images"),
        ({"train_size": 0}, ValueError, "train_size must be an integer >= 1"),
        ({"train_size": 5000}, ValueError, "train_size must be <= the 1500 training images"),
        ({"eval_images": 5000, "strip_images": 1}, ValueError, "eval_images must be <= the 297 test images"),
        ({"pool": 3}, ValueError, "pool must divide the 8-pixel image side"),
        ({"reference": "input"}, ValueError, "reference must be one of"),
        ({"device": "tpu"}, ValueError, "device must be 'cpu', 'cuda' or 'cuda:<index>', got 'tpu'"),
    ],
)
def test_predict_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        _tiny_prediction(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depths": [1, 4]}, "depths must be integers in 2..depth"),
        ({"depths": [2, 5]}, "depths must be integers in 2..depth"),
        ({"depths": [2.5]}, "depths must be integers"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of"),
        ({"search": "random"}, "search must be one of"),
        ({"lr": [0.1, -0.1]}, "lr must be >= 0"),
        ({"lr": [0.1, 0.1]}, "lr must be one positive learning rate or a list of distinct ones"),
        ({"lr": 0.0}, "lr must be one positive learning rate"),
        ({"threshold": 1.5}, "threshold must be <= 1"),
    ],
)
def test_train_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tp.train("digits", 4, [1.0], steps=1, **kwargs)


def test_entropy_bad_input():
    with pytest.raises(ValueError, match="n_images >= 2"):
        tp.differential_entropy(np.ones((1, 4)))
    with pytest.raises(ValueError, match="last \\(layer\\) axis of length >= 2"):
        tp.cutoff([1.0])
    with pytest.raises(ValueError, match="inputs must contain only finite"):
        tp.relative_entropy([np.nan, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="inputs must be \\(n, pixels\\)"):
        tp.null_relative_entropy(np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="bootstrap must be an integer >= 2"):
        tp.null_relative_entropy(np.ones((3, 4)), np.ones((3, 4)), bootstrap=1)


# --------------------------------------------------------------------------- acceptance (slow)
REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "data" / "trainability"


@pytest.mark.slow
@pytest.mark.parametrize("depth", [24, 48, 64])
def test_prediction_matches_the_reference_truth_on_digits(depth):
    """The default prediction against the stored reference truth of digits (docs/trainability.md: SGD at five
    learning rates, budget doubled until the verdict stops moving, early stopping; computed once, never by the
    tests).

    The prediction is closed-form, but a cutoff near the null level can move by a layer between machines
    (rounding); that flips at most one (sigma_w, depth) cell per sigma_w. Measured here: agreement 0.97-1.00 on
    every side, the critical sigma_w^2 on the trained one at depths 24 and 48 and one grid step off at 64 (2.75 vs
    2.50; the edges of the predicted plateau, 1.5 and 4.0, carry information 13 and 2.9 standard errors past the
    threshold, so rounding cannot move it further); required: every side >= 0.85 (room for two such flips on the
    4-value ordered side at depth 24, 24 cells) and the critical sigma_w^2 within one grid step (0.25)."""
    truth = xr.open_zarr(REFERENCE / "digits-truth.zarr").load()
    pred = tp.predict("digits", depth, truth.sigma_w.values, float(truth.attrs["sigma_b"]), strip_images=0)
    cmp = tp.compare(pred, truth).sel(rule="null")
    assert cmp.cells_by_side.values.tolist() == [4 * depth // 4, 3 * depth // 4, 8 * depth // 4]
    assert float(cmp.agreement_by_side.min()) >= 0.85
    step = float(np.diff(truth.sigma_w2.values)[0])
    assert abs(float(cmp.predicted_critical_sigma_w2) - float(cmp.trained_critical_sigma_w2)) <= step + 1e-9


@pytest.mark.slow
@pytest.mark.skipif(not tp._data.FASHION_MNIST_PATH.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_prediction_matches_the_reference_truth_on_fashion_mnist():
    """The default prediction of the stored Fashion-MNIST 14 x 14 truth's scan at depth 64 (the out-of-sample data
    set: no default was chosen on it). Measured here: ordered 0.94, critical 1.00, chaotic 0.91, critical sigma_w^2
    2.00 vs 2.25. A one-layer move of a cutoff changes a cell only where it crosses the 8-layer depth grid (the
    chaotic cutoffs are 62, 49, 42), so the per-side tolerance 0.85 (two more flips on the 16-cell ordered side)
    holds on any machine; the critical sigma_w^2 must be within one grid step (0.5)."""
    truth = xr.open_zarr(REFERENCE / "fashion-truth.zarr").load()
    pred = tp.predict("fashion-mnist", 64, truth.sigma_w.values, float(truth.attrs["sigma_b"]), pool=2,
                      strip_images=0)
    cmp = tp.compare(pred, truth).sel(rule="null")
    assert cmp.cells_by_side.values.tolist() == [16, 16, 32]  # sigma_w^2: 0.5, 1 | 1.5, 2 | 2.5 .. 4; 8 depths
    assert float(cmp.agreement_by_side.min()) >= 0.85
    assert abs(float(cmp.predicted_critical_sigma_w2) - float(cmp.trained_critical_sigma_w2)) <= 0.5 + 1e-9
