"""Tests of P02 `terminator`: the HyperZ·Z·W operators, MAGNet, the slow neural loss, the model, errors, the recipe.

The generic model matrix (save/load, Auto classes, remote code, a training step, batch invariance) lives in
`tests/test_model_matrix.py` with the case in `tests/models/cases_terminator.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.models.terminator.configuration_terminator import TerminatorConfig
from hf_methods.models.terminator.modeling_terminator import (
    GroupInstanceStandardization,
    HyperZZWGlobal,
    HyperZZWLocal,
    MAGNetKernel,
    TerminatorForImageClassification,
    TerminatorModel,
    coordinate_grid,
    instance_standardize,
    slow_neural_loss,
)
from hf_methods.models.terminator.training import (
    PlainCNN,
    TerminatorArguments,
    count_parameters,
    matched_plain_cnn,
    plain_cnn_parameters,
    train_classifier,
)

from .cases_terminator import TINY_TERMINATOR


def tiny_model(**overrides) -> TerminatorForImageClassification:
    torch.manual_seed(0)
    return TerminatorForImageClassification(TerminatorConfig(**{**TINY_TERMINATOR, **overrides}))


# --- the operators against plain references ----------------------------------------------------------------------


def test_global_hyper_zzw_shape_contract_and_per_channel_matmul_loop():
    torch.manual_seed(0)
    op = HyperZZWGlobal(channels=3, kernel_size=5, hidden_size=8, num_layers=1).double()
    z, f = torch.randn(2, 2, 3, 5, 5, dtype=torch.float64)
    w = op.hyper_kernel()
    assert w.shape == (1, 3, 5, 5)
    out = op(z, f)
    assert out.shape == z.shape
    # W_ctx = Z ⊙ W, then a K×K matrix product per sample and channel, written as loops in Python floats
    zl, fl, wl = z.tolist(), f.tolist(), w[0].tolist()
    for b in range(2):
        for c in range(3):
            for i in range(5):
                for j in range(5):
                    expected = sum(zl[b][c][i][k] * wl[c][i][k] * fl[b][c][k][j] for k in range(5))
                    assert out[b, c, i, j].item() == pytest.approx(expected, abs=1e-12)


def test_context_kernel_is_linear_in_z():
    torch.manual_seed(1)
    op = HyperZZWGlobal(channels=2, kernel_size=4, hidden_size=8, num_layers=1).double()
    z1, z2 = torch.randn(2, 3, 2, 4, 4, dtype=torch.float64)
    w = op.hyper_kernel()
    combined = op.context_kernel(1.5 * z1 - 2.0 * z2, w)
    torch.testing.assert_close(combined, 1.5 * op.context_kernel(z1, w) - 2.0 * op.context_kernel(z2, w))


def test_magnet_matches_the_equations_written_out():
    torch.manual_seed(2)
    net = MAGNetKernel(2, 3, hidden_size=4, out_channels=2, num_layers=2, omega_0=1.0, gamma_alpha=6.0).double()
    with torch.no_grad():
        net.position_bias.normal_()
    coords = coordinate_grid(3, 2, dtype=torch.float64)
    assert coords.shape == (9, 2) and coords[1].tolist() == [-1.0, 0.0]  # row-major grid, last axis fastest
    weights = {n: p.detach().numpy() for n, p in net.named_parameters()}
    c = coords.numpy()
    h = np.sin(c @ weights["filters.0.weight"].T + weights["filters.0.bias"])
    for layer in (1, 2):
        gabor = np.sin(c @ weights[f"filters.{layer}.weight"].T + weights[f"filters.{layer}.bias"])
        h = gabor * (h @ weights[f"linears.{layer - 1}.weight"].T + weights[f"linears.{layer - 1}.bias"])
        h = h + weights["position_bias"][:, None]
    out = h @ weights["output_linear.weight"].T + weights["output_linear.bias"]  # (9 positions, 2 channels)
    expected = out.T.reshape(1, 2, 3, 3)
    np.testing.assert_allclose(net().detach().numpy(), expected, atol=1e-12)


def test_magnet_initialisation_follows_the_official_scales():
    torch.manual_seed(3)
    config = TerminatorConfig(**TINY_TERMINATOR)
    model = TerminatorForImageClassification(config)
    net = model.terminator.blocks[1].layer.global_hyper_zzw.slow_net
    for linear in net.linears:
        assert torch.equal(linear.bias, torch.ones_like(linear.bias))  # hidden biases filled with one
    assert torch.equal(net.position_bias, torch.zeros_like(net.position_bias))
    # output layer: Kaiming-uniform ("linear" gain: bound sqrt(3 / fan_in)) times sqrt(1 / K²)
    bound = math.sqrt(3.0 / net.hidden_size) * math.sqrt(1.0 / net.num_positions)
    assert net.output_linear.weight.abs().max().item() <= bound + 1e-7
    # sine filters: 2πω₀γ times U(±1/sqrt(d)) with γ > 0, so larger than the plain default range
    assert max(f.weight.abs().max().item() for f in net.filters) > 1.0 / math.sqrt(2)


def test_local_kernels_depend_on_the_context_and_the_convolution_matches_conv2d_per_sample():
    torch.manual_seed(4)
    op = HyperZZWLocal(channels=3, kernel_size=3, hidden_size=6, num_layers=1).double()
    context, z = torch.randn(2, 2, 3, 6, 6, dtype=torch.float64)
    kernels = op.local_kernels(context)
    assert kernels.shape == (2, 3, 3, 3)
    assert (kernels[0] - kernels[1]).abs().max() > 1e-6  # each sample has its own kernel
    other = op.local_kernels(torch.randn(2, 3, 6, 6, dtype=torch.float64))
    assert (other - kernels).abs().max() > 1e-6
    out = op(context, z)
    for b in range(2):  # reference: torch's depthwise conv2d, one sample at a time
        conv = F.conv2d(z[b : b + 1], kernels[b].unsqueeze(1), padding=1, groups=3)
        expected = F.gelu(instance_standardize(op.channel_mixer(conv))) + op.bias
        torch.testing.assert_close(out[b : b + 1], expected)


def test_instance_standardised_features_are_zero_mean():
    model = tiny_model().eval()
    layer = model.terminator.blocks[0].layer
    z = torch.rand(4, 1, 6, 6)
    with torch.no_grad():
        raw_fast = layer.rgu_slow(layer.global_hyper_zzw.context_kernel(z)) + layer.rgu_fast(z)
        raw_mixer = layer.channel_mixer(z)
    for raw in (raw_fast, raw_mixer):
        features = instance_standardize(raw)
        assert features.mean(dim=(2, 3)).abs().max().item() < 1e-5
        # (x − μ) / sqrt(σ² + ε) has variance σ² / (σ² + ε) per sample and channel
        variance = raw.var(dim=(2, 3), unbiased=False)
        torch.testing.assert_close(features.var(dim=(2, 3), unbiased=False), variance / (variance + 1e-5))


def test_group_standardisation_zero_mean_unit_variance_per_group():
    x = torch.randn(3, 8, 5, 5, dtype=torch.float64) * 4 + 2
    gibs = GroupInstanceStandardization(8, groups=12)
    assert gibs.groups == 4
    y = gibs(x).reshape(3, 4, -1)
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 4, dtype=torch.float64), atol=1e-12, rtol=0)
    # variance + eps = 1 up to the eps
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3, 4, dtype=torch.float64), atol=1e-5, rtol=0)


# --- the slow neural loss -----------------------------------------------------------------------------------------


def test_slow_loss_tiling_matches_a_python_loop():
    torch.manual_seed(5)
    kernels = [torch.randn(1, c, 3, 3, dtype=torch.float64) for c in (1, 2, 6)]
    factors = [2, 3]
    loss = slow_neural_loss(kernels, factors)
    expected = 0.0
    for i in range(3):
        for j in range(i):
            ci, cj = kernels[i].shape[1], kernels[j].shape[1]
            assert ci == cj * math.prod(factors[j:i])  # the tiling shapes
            total = 0.0
            for c in range(ci):  # channel c of the tiled kernel is channel c mod C_j
                for a in range(3):
                    for b in range(3):
                        total += (kernels[j][0, c % cj, a, b].item() - kernels[i][0, c, a, b].item()) ** 2
            expected += total / (ci * 9)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_slow_loss_is_differentiable_and_zero_for_identical_tiled_kernels():
    base = torch.randn(1, 2, 4, 4, requires_grad=True)
    deep = base.detach().repeat(1, 2, 1, 1)
    assert slow_neural_loss([base, deep], [2]).item() == 0.0
    loss = slow_neural_loss([base, torch.randn(1, 4, 4, 4)], [2])
    loss.backward()
    assert base.grad is not None and base.grad.abs().sum() > 0
    assert slow_neural_loss([base], []).item() == 0.0


def test_model_loss_is_cross_entropy_plus_weighted_slow_loss():
    model = tiny_model(slow_loss_weight=0.5, label_smoothing=0.1).eval()
    x, y = torch.rand(3, 1, 6, 6), torch.tensor([0, 2, 1])
    out = model(x, labels=y)
    kernels = model.terminator(x).global_hyper_kernels
    slow = slow_neural_loss(kernels, model.config.bottleneck_factors)
    torch.testing.assert_close(out.slow_loss, slow)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, y, label_smoothing=0.1) + 0.5 * slow)
    assert model(x).loss is None


def test_previous_block_inputs_are_tiled_into_the_bottleneck():
    model = tiny_model(channels=[1, 2, 4, 8], concat_previous=[0, 1, 2])
    layers = [block.layer for block in model.terminator.blocks]
    assert [layer.bottleneck.in_channels for layer in layers] == [1 * 10, 2 * 11, 4 * 12]
    out = model.terminator(torch.rand(2, 1, 6, 6), output_hidden_states=True)
    assert [h.shape[1] for h in out.hidden_states] == [1, 2, 4, 8]
    assert [k.shape for k in out.global_hyper_kernels] == [(1, 1, 6, 6), (1, 2, 6, 6), (1, 4, 6, 6)]


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 6, 6)
    y = (x.mean(dim=(1, 2, 3)) > x.mean()).long()
    model = tiny_model(num_labels=2, channels=[1, 2], concat_previous=[0])
    log = train_classifier(model, x, y, max_steps=12, learning_rate=1e-2, batch_size=16, log_every=4)
    assert log[-1]["loss"] < log[0]["loss"]
    assert all("slow_loss" in entry for entry in log)


def test_plain_cnn_parameter_formula_and_matching():
    for width in (1, 4, 9):
        assert plain_cnn_parameters(width) == count_parameters(PlainCNN(width))
    target = count_parameters(tiny_model())
    matched = matched_plain_cnn(target)
    widths = range(1, 64)
    assert abs(count_parameters(matched) - target) == min(abs(plain_cnn_parameters(w) - target) for w in widths)


# --- clear errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 0}, "image_size"),
        ({"channels": [1]}, "channels"),
        ({"channels": [2, 3]}, "channels"),
        ({"local_kernel_sizes": [3, 5, 7]}, "local_kernel_sizes"),
        ({"local_kernel_sizes": [3, 4, 5, 7]}, "local_kernel_sizes"),
        ({"magnet_hidden": 0}, "magnet_hidden"),
        ({"magnet_layers": 0}, "magnet_layers"),
        ({"omega_0": -1.0}, "omega_0"),
        ({"magnet_gamma_alpha": 0.0}, "magnet_gamma_alpha"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"dropout": 1.0}, "dropout"),
        ({"slow_loss_weight": -0.1}, "slow_loss_weight"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"bottleneck_factors": [2, 3]}, "bottleneck_factors"),
        ({"global_kernel_size": 5}, "global_kernel_size"),
        ({"concat_previous": [0, 2]}, "concat_previous"),
        ({"concat_previous": [0]}, "concat_previous"),
    ],
)
def test_bad_config_values_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TerminatorConfig(**{**TINY_TERMINATOR, **kwargs})


def test_error_pixel_values_shape():
    model = tiny_model()
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.rand(2, 1, 7, 7))
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.rand(2, 2, 6, 6))
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.rand(1, 6, 6))


def test_error_pixel_values_type():
    with pytest.raises(TypeError, match="pixel_values"):
        tiny_model()(np.zeros((1, 1, 6, 6), dtype=np.float32))


def test_error_labels():
    model = tiny_model()
    x = torch.rand(2, 1, 6, 6)
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.tensor([0, 3]))  # num_labels is 3
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.tensor([0]))
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.tensor([0.0, 1.0]))


def test_error_operator_inputs():
    op = HyperZZWGlobal(channels=2, kernel_size=4, hidden_size=4, num_layers=1)
    with pytest.raises(ValueError, match="hidden_states"):
        op.context_kernel(torch.rand(1, 2, 5, 5))
    with pytest.raises(ValueError, match="features"):
        op(torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 4))
    local = HyperZZWLocal(channels=2, kernel_size=3, hidden_size=4, num_layers=1)
    with pytest.raises(ValueError, match="hidden_states"):
        local(torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="same batch size"):
        local(torch.rand(2, 2, 4, 4), torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match="context"):
        local.slow_net(None)
    with pytest.raises(ValueError, match="kernel_size"):
        HyperZZWLocal(channels=2, kernel_size=4)
    with pytest.raises(ValueError, match="context_channels"):
        MAGNetKernel(1, 3, 4, 1, 1, 1.0, 6.0, context_channels=2)


def test_error_slow_loss_inputs():
    with pytest.raises(ValueError, match="global_kernels"):
        slow_neural_loss([], [])
    with pytest.raises(ValueError, match="factors"):
        slow_neural_loss([torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2)], [])
    with pytest.raises(ValueError, match="global_kernels"):
        slow_neural_loss([torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 2, 2)], [2])


def test_error_matched_cnn_target():
    with pytest.raises(ValueError, match="target_parameters"):
        matched_plain_cnn(0)


@pytest.mark.parametrize(
    "flag, value, match",
    [
        ("dataset", "cifar10", "--dataset"),
        ("channels", "1,8,x", "--channels"),
        ("channels", "3,6", "--channels"),
        ("batch_size", 0, "--batch_size"),
        ("learning_rate", 0.0, "--learning_rate"),
        ("warmup_ratio", 1.0, "--warmup_ratio"),
        ("lr_scheduler", "step", "--lr_scheduler"),
        ("n_train", -1, "--n_train"),
        ("n_test", -1, "--n_test"),
        ("weight_decay", -1.0, "--weight_decay"),
    ],
)
def test_recipe_arguments_are_validated(flag, value, match):
    with pytest.raises(ValueError, match=match):
        TerminatorArguments(**{flag: value}).validate()


# --- the recipe, the pipeline, the record ------------------------------------------------------------------------


def test_recipe_runs_and_the_checkpoint_serves_the_image_classification_pipeline(tmp_path):
    from PIL import Image
    from transformers import AutoModelForImageClassification, pipeline

    from recipes.terminator import main

    out = tmp_path / "run"
    argv = ["--output_dir", str(out), "--max_steps", "3", "--n_train", "64", "--batch_size", "16"]
    argv += ["--magnet_hidden", "8", "--local_magnet_hidden", "4", "--channels", "1,2", "--cpu_threads", "1"]
    metrics = main(argv)
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0
    assert (out / "preprocessor_config.json").is_file() and (out / "modeling_terminator.py").is_file()
    model = AutoModelForImageClassification.from_pretrained(out)
    assert isinstance(model, TerminatorForImageClassification)
    classify = pipeline("image-classification", model=str(out))
    image = Image.fromarray((np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8), mode="L")
    predictions = classify(image, top_k=3)
    assert len(predictions) == 3 and {"label", "score"} <= set(predictions[0])
    # the pipeline feeds the model the image / 255, as the recipe's training data (pixels in [0, 1])
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(image), dtype=torch.float32)[None, None] / 255).logits
    assert predictions[0]["label"] == model.config.id2label[int(logits.argmax())]


@pytest.mark.assets
def test_recipe_on_fashion_mnist(tmp_path):
    from recipes.terminator import main

    argv = ["--output_dir", str(tmp_path), "--dataset", "fashion_mnist", "--max_steps", "2", "--n_train", "16"]
    argv += ["--n_test", "16", "--batch_size", "8", "--channels", "1,2", "--magnet_hidden", "8"]
    argv += ["--local_magnet_hidden", "4", "--cpu_threads", "1"]
    metrics = main(argv)
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0
    assert TerminatorConfig.from_pretrained(tmp_path).image_size == 28


def test_grey_scale_model_takes_rgb_images_as_their_channel_mean():
    model = tiny_model().eval()
    grey = torch.rand(2, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(grey.repeat(1, 3, 1, 1)).logits, model(grey).logits)


def test_base_model_is_the_classifier_backbone():
    model = tiny_model().eval()
    x = torch.rand(2, 1, 6, 6)
    backbone = TerminatorModel(model.config)
    backbone.load_state_dict(model.terminator.state_dict())
    backbone.eval()
    torch.testing.assert_close(backbone(x).pooler_output, model.terminator(x).pooler_output)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.models.terminator.method import METHOD

    exec(compile(METHOD.usage, "<usage>", "exec"), {})
