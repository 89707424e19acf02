"""Tests of OFQ (P39): StatsQ and LSQ against their equations, QKR's identity, oscillation tracking and CGA against
plain loops, the weight-only bake reloaded with plain transformers, packed codes, the recipe and the errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.adapters.ofq import (
    CGACallback,
    ConfidenceGuidedAnnealing,
    LSQQuantizer,
    OscillationTracker,
    QKReparamAttention,
    QLinear,
    StatsQuantizer,
    cga_frozen_mask,
    load_quantized_weights,
    lsq_quantize,
    merge_and_unload,
    quantization_disabled,
    quantize_linear_layers,
    quantize_vit,
    save_quantized_weights,
    statsq_codes,
    statsq_quantize,
)


def _vit(seed=0, **kwargs):
    from hf_methods.adapters.ofq.training import tiny_digits_vit

    model = tiny_digits_vit(seed, **kwargs)
    with torch.no_grad():  # random non-zero biases, so the QKR bias terms matter
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(len(name)))
    return model.eval()


def _pixels(n=6, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------------------ StatsQ


def _statsq_reference(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """StatsQ written out row by row and element by element in Python floats."""
    n = 2 ** (bits - 1)
    codes, out = np.zeros_like(w), np.zeros_like(w)
    for r in range(w.shape[0]):
        s = 2.0 * sum(abs(float(v)) for v in w[r]) / w.shape[1]
        for c in range(w.shape[1]):
            t = min(max(float(w[r, c]) / s, -1.0), 1.0 - 1e-6)
            q = math.floor(t * n - 0.5 + 0.5)  # round half up; ties have probability zero for random weights
            codes[r, c] = q
            out[r, c] = s * (q + 0.5) / n
    return codes, out


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_statsq_matches_the_equation_written_out(bits):
    w = np.random.default_rng(bits).normal(size=(5, 7))
    codes, expected = _statsq_reference(w, bits)
    t = torch.from_numpy(w)
    np.testing.assert_allclose(statsq_quantize(t, bits).numpy(), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(statsq_codes(t, bits).numpy(), codes)
    n = 2 ** (bits - 1)
    assert codes.min() >= -n and codes.max() <= n - 1


def test_statsq_grid_has_no_zero_level_and_clamps_to_the_top_level():
    # row: scale s = 2·mean|w| = 1, so w/s = w; large weights clamp to the outermost levels ±(n − 0.5)/n
    w = torch.tensor([[0.0, 1e-9, -1e-9, 5.0 / 3, -1.0 / 3, -4.0 / 3]], dtype=torch.float64)
    w = w / (2 * w.abs().mean())
    q = statsq_quantize(w, 2)
    s = 2 * w.abs().mean()
    levels = torch.unique(q / s * 2)  # (code + 0.5) for n = 2
    assert set(levels.tolist()) <= {-1.5, -0.5, 0.5, 1.5}  # half-integers: no zero level
    assert q[0, 0].abs() == s / 4  # an exact zero weight goes to ±s/4, not 0
    top = torch.tensor([[1.0, 0.0]], dtype=torch.float64)  # s = 1, so w/s = 1 exactly: clamped to 1 − 1e-6
    assert statsq_codes(top, 2).max() == 1  # the top level n − 1 (round(1.5) would give n, off the grid)


def test_statsq_gradient_is_straight_through():
    w = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 6, dtype=torch.float64)
    (statsq_quantize(w, 2) * g).sum().backward()
    torch.testing.assert_close(w.grad, g, rtol=0, atol=0)


def test_statsq_quantizer_module_is_the_function():
    w = torch.randn(3, 8)
    quantizer = StatsQuantizer(3)
    torch.testing.assert_close(quantizer(w), statsq_quantize(w, 3), rtol=0, atol=0)
    torch.testing.assert_close(
        quantizer.dequantize(quantizer.codes(w), quantizer.scale(w)), quantizer(w), rtol=0, atol=0
    )
    assert quantizer.levels == (-4, 3) and not list(quantizer.parameters())


# ------------------------------------------------------------------------------------------------------------ LSQ


def test_lsq_forward_and_step_gradient_match_the_lsq_equations():
    x = torch.randn(3, 10, dtype=torch.float64)
    step = torch.tensor([0.3, 0.5, 0.8], dtype=torch.float64, requires_grad=True)
    low, high, g = -2, 1, 0.37
    out = lsq_quantize(x, step[:, None], low, high, g)
    out.sum().backward()
    for r in range(3):
        s = float(step[r])
        expected_grad = 0.0
        for c in range(10):
            v = float(x[r, c]) / s
            clipped = min(max(v, low), high)
            assert float(out[r, c]) == pytest.approx(round(clipped) * s, abs=1e-12)
            # ∂x_q/∂s = −v + round(v) inside the range, the clipping level outside (Esser et al., 2020)
            expected_grad += (round(v) - v) if low <= v <= high else clipped
        assert float(step.grad[r]) == pytest.approx(g * expected_grad, rel=1e-9, abs=1e-12)


def test_lsq_weight_quantizer_initialises_from_the_rows_and_decodes_exactly():
    w = torch.randn(4, 16)
    quantizer = LSQQuantizer(2, 4, signed=True, per_row=True)
    quantizer.initialize(w)
    torch.testing.assert_close(quantizer.step.detach(), 2 * w.abs().mean(1) / math.sqrt(1), rtol=1e-6, atol=0)
    codes = quantizer.codes(w)
    assert codes.min() >= -2 and codes.max() <= 1
    torch.testing.assert_close(quantizer.dequantize(codes, quantizer.scale(w)), quantizer(w), rtol=0, atol=0)


def test_activation_quantizer_initialises_on_its_first_batch_and_saves_the_flag():
    layer = QLinear(nn.Linear(6, 3), w_bits=2, a_bits=4)
    act = layer.input_quantizer.quantizer
    assert not bool(act.initialized)
    x = torch.randn(5, 6)
    layer(x)
    assert bool(act.initialized)
    torch.testing.assert_close(act.step.detach(), 2 * x.abs().mean(0) / math.sqrt(7), rtol=1e-6, atol=0)
    assert "input_quantizer.quantizer.initialized" in layer.state_dict()


# ------------------------------------------------------------------------------------------------------------ layers


def test_qlinear_computes_with_quantized_weight_and_input_and_disables_exactly():
    linear = nn.Linear(6, 4)
    x = torch.randn(3, 6)
    expected_fp = linear(x).detach()
    layer = QLinear(linear, w_bits=2, a_bits=4)
    with torch.no_grad():
        layer.input_quantizer.move_before.normal_()
        out = layer(x)
        a = layer.input_quantizer.quantizer(x + layer.input_quantizer.move_before) + layer.input_quantizer.move_after
        torch.testing.assert_close(out, a @ statsq_quantize(linear.weight, 2).T + linear.bias, rtol=1e-6, atol=1e-6)
        with quantization_disabled(layer):
            torch.testing.assert_close(layer(x), expected_fp, rtol=0, atol=0)
        assert not torch.allclose(layer(x), expected_fp)
    assert layer.weight is linear.weight  # the Parameters are reused, not copied


def test_qkr_logits_equal_query_key_products_in_float64():
    model = _vit().double()
    attention = model.vit.layers[0].attention
    x = torch.randn(3, 17, 32, dtype=torch.float64)
    b, n, _ = x.shape
    q = attention.q_proj(x).reshape(b, n, 2, -1).transpose(1, 2)
    k = attention.k_proj(x).reshape(b, n, 2, -1).transpose(1, 2)
    expected = q @ k.transpose(-1, -2) / math.sqrt(16)
    qkr = QKReparamAttention(attention, w_bits=2, a_bits=None).double()
    torch.testing.assert_close(qkr.attention_logits(x), expected, rtol=0, atol=1e-12)
    # W_qk^h = W_q^hᵀ W_k^h, head by head
    wq, wk = attention.q_proj.weight, attention.k_proj.weight
    for h in range(2):
        block = qkr.qk_weight()[h * 32 : (h + 1) * 32]
        torch.testing.assert_close(block, wq[h * 16 : (h + 1) * 16].T @ wk[h * 16 : (h + 1) * 16], rtol=0, atol=1e-12)


def test_quantize_vit_swaps_the_layers_and_qkr_quantizes_the_product():
    model = quantize_vit(_vit(), w_bits=2, a_bits=4, qk_reparam=True)
    layer = model.vit.layers[0]
    assert isinstance(layer.attention, QKReparamAttention)
    assert isinstance(layer.mlp.fc1, QLinear) and isinstance(layer.attention.v_proj, QLinear)
    assert isinstance(model.classifier, nn.Linear)  # the head stays in floating point
    attention = layer.attention
    torch.testing.assert_close(attention.quantized_weight(), statsq_quantize(attention.qk_weight(), 2), rtol=0, atol=0)
    x = _pixels()
    logits = model(pixel_values=x).logits
    assert torch.isfinite(logits).all()
    expected = _vit()(pixel_values=x).logits
    assert not torch.allclose(logits, expected, atol=1e-3)
    with quantization_disabled(model):  # the QKR attention falls back to q·kᵀ: same math, another kernel path
        torch.testing.assert_close(model(pixel_values=x).logits, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------------- oscillation


def _reference_oscillations(code_history):
    """Flips and oscillations per step, element by element, from a list of code arrays."""
    previous_direction = [0] * code_history[0].size
    records = []
    for before, after in zip(code_history, code_history[1:]):
        flips = oscillations = 0
        for i, (a, b) in enumerate(zip(before.flat, after.flat)):
            direction = int(b > a) - int(b < a)
            if direction:
                flips += 1
                if previous_direction[i] == -direction:
                    oscillations += 1
                previous_direction[i] = direction
        records.append((flips, oscillations))
    return records


def test_oscillation_tracker_matches_an_element_by_element_loop():
    layer = nn.Sequential(QLinear(nn.Linear(8, 5), w_bits=2, a_bits=None))
    tracker = OscillationTracker()
    assert tracker.update(layer) is None  # the first call only stores the codes
    generator = torch.Generator().manual_seed(0)
    history = [_statsq_reference(layer[0].weight.detach().double().numpy(), 2)[0]]
    for _ in range(30):
        with torch.no_grad():
            layer[0].weight.add_(0.3 * torch.randn(5, 8, generator=generator))
        tracker.update(layer)
        history.append(_statsq_reference(layer[0].weight.detach().double().numpy(), 2)[0])
    expected = _reference_oscillations(history)
    assert [(r["flips"], r["oscillations"]) for r in tracker.history] == expected
    assert sum(o for _, o in expected) > 0  # the walk does oscillate, so the test can fail
    assert tracker.history[0]["weights"] == 40
    # the EMA: m·Σ_t (1 − m)^(T−t)·oscillated_t, per weight
    assert 0.0 < tracker.mean_ema_oscillation() < 1.0


# ------------------------------------------------------------------------------------------------------------ CGA


def test_cga_mask_matches_the_official_boundary_loop():
    layer = QLinear(nn.Linear(16, 8), w_bits=2)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(8, 16) * 0.1)
    br = 0.05
    w = layer.weight.detach().numpy().astype(np.float64)
    s = 2 * np.abs(w).mean(1, keepdims=True)
    b = np.clip(w / s, -1, 1 - 1e-6) * 2 - 0.5
    not_frozen = np.zeros_like(b)
    for i in range(-2, 1):  # boundaries between the codes −2..1 of the 2-bit grid
        not_frozen += ((b - i) <= 0.5 + br) & ((b - i) >= 0.5 - br)
    expected = not_frozen == 0
    mask = cga_frozen_mask(layer, br).numpy()
    keep = np.abs(np.abs(b - np.floor(b) - 0.5) - br) > 1e-5  # skip weights within float error of the band's edge
    np.testing.assert_array_equal(mask[keep], expected[keep])
    assert (~expected).any() and expected.any()  # both kinds present, so the test can fail


def test_cga_freezes_confident_weights_through_an_adamw_step_with_weight_decay():
    torch.manual_seed(0)
    model = nn.Sequential(QLinear(nn.Linear(16, 8), w_bits=2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.5)
    x = torch.randn(32, 16)
    # a first step so AdamW has momentum that would move every weight
    model(x).pow(2).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    before = model[0].weight.detach().clone()
    mask = cga_frozen_mask(model[0], 0.1)
    annealing = ConfidenceGuidedAnnealing(0.1)
    model(x).pow(2).sum().backward()
    assert annealing.before_step(model) == pytest.approx(mask.float().mean().item())
    assert (model[0].weight.grad[mask] == 0).all()
    optimizer.step()
    annealing.after_step(model)
    after = model[0].weight.detach()
    assert torch.equal(after[mask], before[mask])
    assert (after[~mask] != before[~mask]).all()


@pytest.mark.slow
def test_callbacks_run_inside_a_trainer(tmp_path):
    from transformers import Trainer, TrainingArguments

    model = quantize_vit(_vit().train(), w_bits=2, a_bits=None, qk_reparam=False)
    pixels = _pixels(16)
    data = [{"pixel_values": pixels[i], "labels": torch.tensor(i % 10)} for i in range(16)]
    tracker, cga = OscillationTracker(), CGACallback(boundary_range=0.01, start_epoch=1.0)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        num_train_epochs=2,
        learning_rate=5e-2,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[tracker, cga])
    fc1 = model.vit.layers[0].mlp.fc1
    trainer.train()
    assert len(tracker.history) == 4  # 2 epochs of 2 steps
    assert sum(r["flips"] for r in tracker.history) > 0
    assert 0.0 < cga.annealing.frozen_fraction < 1.0  # CGA ran in the second epoch
    assert isinstance(fc1, QLinear)


# --------------------------------------------------------------------------------------------------------- bake & pack


def test_weight_only_bake_saves_and_reloads_with_plain_transformers(tmp_path):
    from transformers import ViTForImageClassification

    model = quantize_vit(_vit(), w_bits=2, a_bits=None, qk_reparam=False)
    x = _pixels()
    with torch.no_grad():
        expected = model(pixel_values=x).logits
    merged = merge_and_unload(model)
    assert not any(isinstance(m, QLinear) for m in merged.modules())
    merged.save_pretrained(tmp_path)
    reloaded = ViTForImageClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(pixel_values=x).logits, expected, rtol=0, atol=0)
    fc1 = reloaded.vit.layers[0].mlp.fc1.weight
    assert all(torch.unique(row).numel() <= 4 for row in fc1)  # 2-bit levels per row


def test_packed_weights_decode_exactly_at_about_two_bits(tmp_path):
    model = quantize_vit(_vit(), w_bits=2, a_bits=4, qk_reparam=True)
    model(pixel_values=_pixels())
    path = save_quantized_weights(model, tmp_path)
    decoded = load_quantized_weights(tmp_path)
    modules = dict(model.named_modules())
    n = 0
    with torch.no_grad():
        for name, weight in decoded.items():
            torch.testing.assert_close(weight, modules[name].quantized_weight(), rtol=0, atol=0)
            n += weight.numel()
    assert "vit.layers.0.attention" in decoded  # QKR's W_qk
    bits = 8 * path.stat().st_size / n
    assert 2.0 < bits < 4.5, bits  # 2-bit codes + float32 row scales + the header


def test_lsq_weights_quantize_and_merge():
    model = quantize_vit(_vit(), w_bits=3, a_bits=None, weight_quantizer="lsq", qk_reparam=False)
    x = _pixels()
    with torch.no_grad():
        expected = model(pixel_values=x).logits
        merged = merge_and_unload(model)
        torch.testing.assert_close(merged(pixel_values=x).logits, expected, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------------------ training


@pytest.mark.slow
def test_train_qat_branches_into_cga_and_records_flips():
    from hf_methods.adapters.ofq.training import train_qat

    fp = _vit()
    _, result = train_qat(fp, epochs=1, cga_epochs=1, batch_size=256, qk_reparam=True)
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["epochs"][0]["steps"] == 6 and "oscillation_rate" in result["epochs"][0]
    assert result["cga"]["frozen_fraction"] > 0.5
    assert result["cga"]["epochs"][-1]["flips"] < result["no_cga"]["epochs"][-1]["flips"]


def test_recipe_runs_and_saves(tmp_path):
    metrics = _recipe().main(
        [
            "--output_dir",
            str(tmp_path),
            "--max_steps",
            "4",
            "--cga_steps",
            "2",
            "--fp_epochs",
            "0",
            "--checkpoint_every",
            "0",
            "--batch_size",
            "128",
        ]
    )
    assert "eval/accuracy" in metrics and 2.0 < metrics["eval/bits_per_weight"] < 5.0
    assert (tmp_path / "quantized_weights.safetensors").is_file()
    assert (tmp_path / "model.safetensors").is_file()


@pytest.mark.slow
def test_recipe_resume_ends_with_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    flags = ["--max_steps", "6", "--cga_steps", "3", "--fp_epochs", "1", "--batch_size", "128"]
    _recipe().main(["--output_dir", str(tmp_path / "a"), "--checkpoint_every", "0", *flags])
    _recipe().main(["--output_dir", str(tmp_path / "b"), "--checkpoint_every", "2", *flags])
    import shutil

    for name in ("model.safetensors", "quantized_weights.safetensors", "checkpoints/checkpoint_2"):
        path = tmp_path / "b" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    _recipe().main(["--output_dir", str(tmp_path / "b"), "--resume_from_checkpoint", "latest", *flags])
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("ofq").usage, namespace)
    assert isinstance(namespace["qmodel"].vit.layers[0].attention, QKReparamAttention)
    assert len(namespace["tracker"].history) > 0


def _recipe():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "recipes" / "ofq.py"
    spec = importlib.util.spec_from_file_location("recipe_ofq", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"w_bits": 0}, ValueError, "w_bits"),
        ({"w_bits": 9}, ValueError, "w_bits"),
        ({"w_bits": 2.0}, TypeError, "w_bits"),
        ({"a_bits": 1}, ValueError, "a_bits"),
        ({"weight_quantizer": "dorefa"}, ValueError, "weight_quantizer"),
        ({"weight_quantizer": "lsq", "w_bits": 1}, ValueError, "w_bits"),
        ({"qk_reparam": "yes"}, TypeError, "qk_reparam"),
        ({"exclude": "classifier"}, TypeError, "exclude"),
    ],
)
def test_quantize_vit_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        quantize_vit(_vit(), **kwargs)


def test_quantize_vit_rejects_a_non_module_a_quantized_model_and_a_non_vit():
    with pytest.raises(TypeError, match="model"):
        quantize_vit("vit")
    with pytest.raises(ValueError, match="already quantized"):
        quantize_vit(quantize_vit(_vit()))
    with pytest.raises(ValueError, match="ViT attention"):
        quantize_vit(nn.Sequential(nn.Linear(3, 3)))


def test_quantize_linear_layers_rejects_an_exclude_matching_everything():
    with pytest.raises(ValueError, match="exclude"):
        quantize_linear_layers(nn.Sequential(nn.Linear(3, 3)), exclude=("0",))


def test_qlinear_and_qkr_reject_wrong_modules():
    with pytest.raises(TypeError, match="linear"):
        QLinear(nn.Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="q_proj"):
        QKReparamAttention(nn.Linear(3, 3))


def test_statsq_rejects_a_non_matrix_and_bad_bits():
    with pytest.raises(ValueError, match="2-D"):
        statsq_quantize(torch.randn(3), 2)
    with pytest.raises(ValueError, match="num_bits"):
        StatsQuantizer(0)
    with pytest.raises(ValueError, match="channels"):
        LSQQuantizer(2, 0)
    with pytest.raises(ValueError, match="channels"):
        LSQQuantizer(2, 3, per_row=True)(torch.randn(4, 5))


def test_merge_refuses_activation_quantization_and_qkr():
    with pytest.raises(ValueError, match="weight-only"):
        merge_and_unload(quantize_vit(_vit(), a_bits=4, qk_reparam=False))
    with pytest.raises(ValueError, match="QKR"):
        merge_and_unload(quantize_vit(_vit(), a_bits=None, qk_reparam=True))
    with pytest.raises(ValueError, match="no QLinear"):
        merge_and_unload(_vit())
    with pytest.raises(ValueError, match="no quantized module"):
        with quantization_disabled(_vit()):
            pass


@pytest.mark.parametrize("bad", [0.0, 0.5, -0.1, "0.005"])
def test_cga_rejects_bad_boundary_range(bad):
    with pytest.raises(ValueError, match="boundary_range"):
        ConfidenceGuidedAnnealing(bad)


def test_callbacks_reject_bad_arguments_and_misuse():
    with pytest.raises(ValueError, match="momentum"):
        OscillationTracker(momentum=0.0)
    with pytest.raises(ValueError, match="start_epoch"):
        CGACallback(start_epoch=-1)
    with pytest.raises(RuntimeError, match="before_step"):
        ConfidenceGuidedAnnealing().after_step(quantize_vit(_vit()))
    with pytest.raises(ValueError, match="no QLinear"):
        ConfidenceGuidedAnnealing().before_step(_vit())
    with pytest.raises(ValueError, match="no quantized module"):
        OscillationTracker().update(_vit())
    with pytest.raises(TypeError, match="QLinear"):
        cga_frozen_mask(nn.Linear(2, 2))


def test_load_quantized_weights_rejects_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="quantized weights"):
        load_quantized_weights(tmp_path)


@pytest.mark.parametrize(
    "name, value",
    [
        ("w_bits", 0),
        ("a_bits", 1),
        ("weight_quantizer", "dorefa"),
        ("boundary_range", 0.5),
        ("cga_steps", 1000),
        ("learning_rate", 0.0),
        ("num_heads", 3),
    ],
)
def test_recipe_arguments_reject_bad_values(name, value):
    from hf_methods.adapters.ofq.training import OFQArguments

    with pytest.raises(ValueError, match=f"--{name}"):
        OFQArguments(output_dir="x", **{name: value}).validate()
