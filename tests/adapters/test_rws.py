"""Robust weight signatures (P28): the projection, patching, quantization, saving and the corruptions."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.adapters.rws import (
    RobustWeightSignature,
    RobustWeightSignatureConfig,
    applied_signatures,
    apply_image_corruption,
    attached_signature,
    contrast,
    gaussian_blur,
    gaussian_noise,
    linear_dequantize,
    linear_quantize,
    merge_signatures,
    shallow_parameter_names,
    signatures_disabled,
)
from hf_methods.adapters.rws.training import DigitsCNN, RWSArguments


def _cnn(seed=0):
    torch.manual_seed(seed)
    return DigitsCNN((4, 6))


def _triplet(seed=0, step=0.05):
    """A "pretrained" CNN and two seeded perturbations of it (stand-ins for the clean and the robust fine-tunes)."""
    pretrained = _cnn(seed)
    clean, robust = copy.deepcopy(pretrained), copy.deepcopy(pretrained)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p, q in zip(clean.parameters(), robust.parameters()):
            p.add_(step * torch.randn(p.shape, generator=g))
            q.add_(step * torch.randn(q.shape, generator=g))
    return clean, robust, pretrained


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ----------------------------------------------------------------------------------------------------- the math


def test_extract_matches_the_projection_written_out_in_numpy():
    clean, robust, pretrained = _triplet()
    rws = RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers=2)
    assert rws.parameter_names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    c, r, p = _params(clean), _params(robust), _params(pretrained)
    for name in rws.parameter_names:
        delta = (r[name].double() - p[name].double()).numpy().ravel()
        v = (c[name].double() - p[name].double()).numpy().ravel()
        expected = delta - (delta @ v) / (v @ v) * v  # Δ − (⟨Δ, v⟩ / ‖v‖²) v, per tensor
        np.testing.assert_allclose(rws.signatures[name].numpy().ravel(), expected, rtol=1e-6, atol=1e-7)
        # orthogonal to the clean update (float32 storage: relative to the norms)
        s = rws.signatures[name].double().numpy().ravel()
        assert abs(s @ v) <= 1e-6 * np.linalg.norm(s) * np.linalg.norm(v)


def test_extract_without_projection_is_the_robust_update_and_a_still_tensor_is_left_alone():
    clean, robust, pretrained = _triplet()
    with torch.no_grad():
        clean.conv1.bias.copy_(pretrained.conv1.bias)  # v = 0 for this tensor: nothing to project out
    raw = RobustWeightSignature.extract(clean, robust, pretrained, 1, project=False)
    proj = RobustWeightSignature.extract(clean, robust, pretrained, 1)
    for name in ("conv1.weight", "conv1.bias"):
        delta = (robust.get_parameter(name) - pretrained.get_parameter(name)).detach()
        torch.testing.assert_close(raw.signatures[name], delta, rtol=0, atol=1e-7)
    torch.testing.assert_close(proj.signatures["conv1.bias"], raw.signatures["conv1.bias"], rtol=0, atol=0)
    assert not raw.config.projected and proj.config.projected


def test_extract_from_state_dicts_equals_extract_from_models():
    clean, robust, pretrained = _triplet()
    names = ["conv2.weight"]
    a = RobustWeightSignature.extract(clean, robust, pretrained, parameter_names=names)
    b = RobustWeightSignature.extract(
        clean.state_dict(), robust.state_dict(), pretrained.state_dict(), parameter_names=names
    )
    torch.testing.assert_close(a.signatures["conv2.weight"], b.signatures["conv2.weight"], rtol=0, atol=0)


def test_shallow_layers_are_counted_from_the_input_with_their_norm_layers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Linear(2, 2))
    assert shallow_parameter_names(model, 1) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert shallow_parameter_names(model, 1, include_norm=False) == ["0.weight", "0.bias"]
    assert shallow_parameter_names(model, 2, layer_types=(nn.Conv2d,))[-2:] == ["3.weight", "3.bias"]
    assert shallow_parameter_names(model, 3)[-2:] == ["4.weight", "4.bias"]
    from hf_methods.common.tiny import tiny_llama

    names = shallow_parameter_names(tiny_llama(), 2)
    assert names == ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"]


def test_apply_adds_the_scaled_signature_to_the_shallow_tensors_only():
    clean, robust, pretrained = _triplet()
    rws = RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers=1)
    model = copy.deepcopy(clean)
    before = _params(model)
    rws.apply(model, scale=0.7)
    after = _params(model)
    for name in before:
        if name in rws.signatures:
            torch.testing.assert_close(after[name], before[name] + 0.7 * rws.signatures[name], rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(after[name], before[name]), name
    assert applied_signatures(model) == [(rws, 0.7)]


def test_apply_then_remove_restores_every_weight_exactly_also_when_composed():
    clean, robust, pretrained = _triplet()
    _, robust2, _ = _triplet(seed=0, step=0.08)
    noise = RobustWeightSignature.extract(clean, robust, pretrained, 2)
    blur = RobustWeightSignature.extract(clean, robust2, pretrained, 1)
    model = copy.deepcopy(clean)
    original = _params(model)
    noise.apply(model, scale=0.5)  # the paper's α/n for two signatures
    blur.apply(model, scale=0.5)
    noise.remove(model)
    only_blur = blur.apply(copy.deepcopy(clean), scale=0.5)
    for name, p in model.named_parameters():
        assert torch.equal(p, only_blur.get_parameter(name)), name
    blur.remove(model)
    for name, p in model.named_parameters():
        assert torch.equal(p, original[name]), name  # bit for bit, not up to rounding
    assert applied_signatures(model) == []


def test_disabled_context_gives_the_unpatched_model_and_restores_the_patch():
    clean, robust, pretrained = _triplet()
    rws = RobustWeightSignature.extract(clean, robust, pretrained, 2)
    x = torch.rand(3, 64, generator=torch.Generator().manual_seed(0))
    expected = clean(x).detach()
    model = rws.apply(copy.deepcopy(clean))
    patched = model(x).detach()
    with signatures_disabled(model):
        assert torch.equal(model(x), expected)
    assert torch.equal(model(x), patched)


def test_attach_computes_the_same_patch_as_apply_and_merges_into_plain_weights():
    clean, robust, pretrained = _triplet()
    rws = RobustWeightSignature.extract(clean, robust, pretrained, 2)
    x = torch.rand(4, 64, generator=torch.Generator().manual_seed(1))
    applied = rws.apply(copy.deepcopy(clean), scale=0.6)
    attached = rws.attach(copy.deepcopy(clean), scale=0.6, learnable=True)
    torch.testing.assert_close(attached(x), applied(x), rtol=1e-5, atol=1e-6)
    trainable = [n for n, p in attached.named_parameters() if p.requires_grad and "parametrizations" in n]
    assert trainable, "the learnable α must be a parameter"
    assert attached_signature(attached).config.default_scale == pytest.approx(0.6)
    merged = merge_signatures(attached)
    assert not any("parametrizations" in k for k in merged.state_dict())
    torch.testing.assert_close(merged(x), applied(x), rtol=1e-5, atol=1e-6)


def test_linear_quantization_matches_the_min_max_formula_and_its_error_bound():
    x = torch.randn(257, generator=torch.Generator().manual_seed(3))
    for bits in (1, 2, 4, 8):
        codes, low, high = linear_quantize(x, bits)
        levels = 2**bits - 1
        xs = x.double().numpy()
        expected = np.round((xs - xs.min()) / (xs.max() - xs.min()) * levels)
        np.testing.assert_array_equal(codes.numpy(), expected.astype(np.uint8))
        deq = linear_dequantize(codes, low, high, bits)
        assert float((deq - x).abs().max()) <= (high - low) / levels / 2 + 1e-6


# ----------------------------------------------------------------------------------------------------- saving


def test_save_and_load_the_signature_alone_float_and_quantized(tmp_path):
    clean, robust, pretrained = _triplet()
    rws = RobustWeightSignature.extract(clean, robust, pretrained, 2, corruption="gaussian_noise")
    sizes = {}
    for bits in (None, 8, 4):
        sig = rws if bits is None else rws.quantize(bits)
        folder = tmp_path / str(bits)
        sig.save_pretrained(folder)
        assert sorted(p.name for p in folder.iterdir()) == ["rws_config.json", "rws_signature.safetensors"]
        config = json.loads((folder / "rws_config.json").read_text())
        assert config["bits"] == bits and config["corruption"] == "gaussian_noise" and config["method"] == "rws"
        loaded = RobustWeightSignature.from_pretrained(folder)
        for name in sig.parameter_names:
            assert torch.equal(loaded.signatures[name], sig.signatures[name]), name
        sizes[bits] = (folder / "rws_signature.safetensors").stat().st_size
    assert sizes[4] < sizes[8] < sizes[None]


def test_patched_model_saves_and_reloads_with_plain_transformers(tmp_path):
    from transformers import LlamaForCausalLM

    from hf_methods.common.tiny import tiny_llama

    pretrained = tiny_llama(seed=0)
    clean, robust = copy.deepcopy(pretrained), copy.deepcopy(pretrained)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p, q in zip(clean.parameters(), robust.parameters()):
            p.add_(0.02 * torch.randn(p.shape, generator=g))
            q.add_(0.02 * torch.randn(q.shape, generator=g))
    rws = RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers=3).quantize(8)
    ids = torch.randint(3, 259, (2, 9), generator=g)
    original = _params(clean)
    with torch.no_grad():
        before = clean(input_ids=ids).logits
        rws.apply(clean, scale=1.0)
        expected = clean(input_ids=ids).logits
    assert not torch.allclose(before, expected)
    clean.save_pretrained(tmp_path)
    reloaded = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, expected, rtol=0, atol=0)
    rws.remove(clean)
    assert all(torch.equal(p, original[name]) for name, p in clean.named_parameters())


# ----------------------------------------------------------------------------------------------------- corruptions


def test_corruptions_match_their_definitions():
    from scipy.ndimage import gaussian_filter

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 8, 8, generator=g, dtype=torch.float64)
    noisy = gaussian_noise(x, 0.5, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(noisy, (x + 0.5 * eps).clamp(0, 1))
    for sigma in (0.6, 1.0):
        expected = gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=2.0)
        np.testing.assert_allclose(gaussian_blur(x, sigma).numpy(), np.clip(expected, 0, 1), atol=1e-12)
    xn = x.numpy()
    m = xn.mean(axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(contrast(x, 0.3).numpy(), np.clip((xn - m) * 0.3 + m, 0, 1), atol=1e-12)
    assert torch.equal(apply_image_corruption(x, "contrast", 0.3), contrast(x, 0.3))
    assert torch.equal(gaussian_blur(x, 0.0), x)


# ----------------------------------------------------------------------------------------------------- bad inputs


def test_extract_rejects_bad_inputs():
    clean, robust, pretrained = _triplet()
    with pytest.raises(TypeError, match="robust"):
        RobustWeightSignature.extract(clean, "robust.pt", pretrained, 1)
    with pytest.raises(ValueError, match="exactly one of n_shallow_layers"):
        RobustWeightSignature.extract(clean, robust, pretrained)
    with pytest.raises(ValueError, match="exactly one of n_shallow_layers"):
        RobustWeightSignature.extract(clean, robust, pretrained, 1, parameter_names=["conv1.weight"])
    with pytest.raises(TypeError, match="n_shallow_layers needs"):
        RobustWeightSignature.extract(clean.state_dict(), robust.state_dict(), pretrained.state_dict(), 1)
    with pytest.raises(ValueError, match="n_shallow_layers must be an integer >= 1"):
        RobustWeightSignature.extract(clean, robust, pretrained, 0)
    with pytest.raises(ValueError, match="only 3 layers"):
        RobustWeightSignature.extract(clean, robust, pretrained, 4)
    with pytest.raises(ValueError, match="base has no parameter 'conv9.weight'"):
        RobustWeightSignature.extract(clean, robust, pretrained, parameter_names=["conv9.weight"])
    with pytest.raises(ValueError, match="different shapes"):
        other = {**pretrained.state_dict(), "conv1.weight": torch.zeros(1)}
        RobustWeightSignature.extract(clean, robust, other, parameter_names=["conv1.weight"])
    with pytest.raises(ValueError, match="floating-point"):
        other = {**pretrained.state_dict(), "conv1.weight": torch.zeros(4, 1, 3, 3, dtype=torch.long)}
        RobustWeightSignature.extract(clean, robust, other, parameter_names=["conv1.weight"])
    with pytest.raises(TypeError, match="parameter_names"):
        RobustWeightSignature.extract(clean, robust, pretrained, parameter_names="conv1.weight")
    with pytest.raises(TypeError, match="layer_types"):
        RobustWeightSignature.extract(clean, robust, pretrained, 1, layer_types=("conv",))


def test_quantize_and_scale_reject_bad_values():
    rws = RobustWeightSignature.extract(*_triplet(), 1)
    for bits in (0, 9, 4.0, True):
        with pytest.raises(ValueError, match="bits must be an integer in"):
            rws.quantize(bits)
    with pytest.raises(ValueError, match="method must be one of"):
        rws.quantize(4, method="log")
    with pytest.raises(ValueError, match="scale must be a finite number"):
        rws.apply(_cnn(), scale=float("nan"))
    with pytest.raises(ValueError, match="default_scale"):
        RobustWeightSignature.extract(*_triplet(), 1, default_scale=float("inf"))


def test_apply_and_remove_reject_bad_models():
    rws = RobustWeightSignature.extract(*_triplet(), 1)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        rws.apply({"conv1.weight": torch.zeros(4, 1, 3, 3)})
    with pytest.raises(ValueError, match="has no parameter 'conv1.weight'"):
        rws.apply(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="has shape"):
        rws.apply(DigitsCNN((5, 6)))
    model = rws.apply(_cnn())
    with pytest.raises(ValueError, match="already applied"):
        rws.apply(model)
    with pytest.raises(ValueError, match="not applied"):
        rws.remove(_cnn())
    with pytest.raises(ValueError, match="already parametrized"):
        rws.attach(rws.attach(_cnn()))
    with pytest.raises(ValueError, match="no robust weight signature applied or attached"):
        with signatures_disabled(_cnn()):
            pass
    with pytest.raises(ValueError, match="no attached robust weight signature"):
        merge_signatures(_cnn())


def test_loading_and_configs_reject_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="not a saved signature"):
        RobustWeightSignature.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="shapes must give one shape per parameter"):
        RobustWeightSignatureConfig(parameter_names=["a"], shapes={"b": [1]})
    with pytest.raises(ValueError, match="codes must be given exactly when"):
        RobustWeightSignature({"a": torch.zeros(2)}, RobustWeightSignatureConfig(["a"], {"a": [2]}, bits=4))
    with pytest.raises(TypeError, match="signatures must be a mapping"):
        RobustWeightSignature([torch.zeros(2)])


def test_corruptions_reject_bad_inputs():
    x = torch.rand(2, 8, 8)
    with pytest.raises(ValueError, match="name must be one of"):
        apply_image_corruption(x, "fog", 1.0)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        gaussian_noise(x, -0.1)
    with pytest.raises(ValueError, match="factor"):
        contrast(x, float("nan"))
    with pytest.raises(TypeError, match="images must be a floating-point tensor"):
        gaussian_blur(torch.zeros(2, 8, 8, dtype=torch.long), 1.0)
    with pytest.raises(ValueError, match=r"images must have shape \(\.\.\., H, W\)"):
        contrast(torch.rand(8), 0.5)


@pytest.mark.parametrize(
    "name, value",
    [("corruption", "fog"), ("severity", -1.0), ("bits", 9), ("n_shallow_layers", 0), ("learning_rate", 0.0),
     ("momentum", 1.0), ("channels", "16")],
)  # fmt: skip
def test_recipe_arguments_reject_bad_values(name, value):
    with pytest.raises(ValueError, match=f"--{name}"):
        RWSArguments(output_dir="x", **{name: value}).validate()


# ----------------------------------------------------------------------------------------------------- recipe


def _recipe():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "recipes" / "rws.py"
    spec = importlib.util.spec_from_file_location("recipe_rws", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_runs_and_saves_the_signature_alone(tmp_path):
    metrics = _recipe().main(
        ["--output_dir", str(tmp_path), "--max_steps", "3", "--pretrain_epochs", "1", "--clean_epochs", "1",
         "--channels", "4,6", "--checkpoint_every", "0", "--bits", "4"]
    )  # fmt: skip
    assert {"eval/patched_corrupted_accuracy", "eval/clean_corrupted_accuracy"} <= set(metrics)
    rws = RobustWeightSignature.from_pretrained(tmp_path)
    assert rws.config.bits == 4 and rws.parameter_names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    assert (tmp_path / "README.md").is_file()


# ----------------------------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from transformers import LlamaForCausalLM

    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("rws").usage, namespace)
    assert isinstance(namespace["rws"], RobustWeightSignature) and namespace["rws"].config.bits == 8
    LlamaForCausalLM.from_pretrained(tmp_path / "patched")


@pytest.mark.slow
def test_digits_experiment_runs_end_to_end():
    from hf_methods.adapters.rws.training import run_rws_experiment

    out = run_rws_experiment(seed=0, pretrain_epochs=1, finetune_epochs=1, channels=(4, 8))
    assert out["remove_max_abs_error"] == 0.0
    assert max(abs(c) for c in out["cosine_with_clean_update"].values()) < 1e-5
    assert out["quantized"]["4"]["bits_per_value"] < out["quantized"]["8"]["bits_per_value"] < 33
