"""Bone (P46) = PEFT's MiSS: the paper's equations checked block by block, early errors, reload without hf-methods.

The references below are written from the paper with plain Python loops over blocks/columns, independent of PEFT's
reshapes and of `hf_methods.adapters.bone.delta`.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from peft import get_peft_model
from torch import nn

from hf_methods.adapters.bone import (
    BoneConfig,
    add_bone_adapter,
    bone_delta_weight,
    bone_variant,
    check_bone_targets,
    count_bone_parameters,
    get_bone_model,
    matched_lora_rank,
)
from hf_methods.common.tiny import tiny_llama


class TwoLinear(nn.Module):
    def __init__(self, in_features=32, out_features=24, bias=True):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(in_features, out_features, bias=bias)
        self.other = nn.Linear(out_features, 8)

    def forward(self, x):
        return self.other(self.proj(x))


# ------------------------------------------------------------------------------------------ loop references (paper)


def bat_loop(W, B):
    """Paper v1 (Bone-col): W'_{a,b} = W_{a,b} + W_{a,b} B_a + B_a for every r×r block."""
    d, k = W.shape
    r = B.shape[-1]
    out = W.clone()
    for a in range(d // r):
        for b in range(k // r):
            blk = W[a * r : (a + 1) * r, b * r : (b + 1) * r]
            out[a * r : (a + 1) * r, b * r : (b + 1) * r] = blk + blk @ B[a] + B[a]
    return out


def shard_loop(W, D, mini_r=None):
    """v4+ Bone / MiSS: W'[i, j] = W[i, j] + D[j mod r, i] (mini: D[j mod r, i mod mini_r])."""
    d, k = W.shape
    r = D.shape[0]
    out = W.clone()
    for i in range(d):
        for j in range(k):
            out[i, j] += D[j % r, i % mini_r if mini_r else i]
    return out


def _adapted_linear(variant, in_features=32, out_features=24, r=8, seed=1, **kw):
    model = TwoLinear(in_features, out_features)
    W = model.proj.weight.detach().clone()
    peft_model = get_peft_model(model, BoneConfig(r=r, target_modules=["proj"], variant=variant, **kw))
    layer = peft_model.base_model.model.proj
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        block = layer.miss_block["default"]
        block.copy_(torch.randn(block.shape, generator=g) * 0.3)
    return peft_model, layer, W


CASES = {
    "bat": (dict(variant="bat"), lambda W, blk: bat_loop(W, blk)),
    "bone": (dict(variant="bone"), lambda W, blk: shard_loop(W, blk)),
    "bone-partial-shard": (dict(variant="bone", in_features=36), lambda W, blk: shard_loop(W, blk)),
    "mini": (dict(variant="mini", mini_r=6), lambda W, blk: shard_loop(W, blk, mini_r=6)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_output_and_merge_match_loop_reference(name):
    kwargs, reference = CASES[name]
    peft_model, layer, W = _adapted_linear(**kwargs)
    expected_W = reference(W, layer.miss_block["default"].detach())
    x = torch.randn(5, W.shape[1])
    expected = torch.nn.functional.linear(x, expected_W, layer.base_layer.bias)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-5)
        # the documented helper states the same equation
        variant = kwargs["variant"]
        torch.testing.assert_close(
            W + bone_delta_weight(W, layer.miss_block["default"], variant), expected_W, rtol=0, atol=1e-5
        )
        layer.merge()
        torch.testing.assert_close(layer.base_layer.weight, expected_W, rtol=0, atol=1e-5)
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-5)
        layer.unmerge()
        torch.testing.assert_close(layer.base_layer.weight, W, rtol=0, atol=1e-5)


def test_bat_gradient_matches_autograd_through_reference():
    peft_model, layer, W = _adapted_linear("bat")
    x = torch.randn(7, 32)
    target = torch.randn(7, 24)
    loss = ((layer(x) - target) ** 2).sum()
    loss.backward()
    B = layer.miss_block["default"].detach().clone().requires_grad_(True)
    ref = ((torch.nn.functional.linear(x, bat_loop(W, B), layer.base_layer.bias) - target) ** 2).sum()
    ref.backward()
    torch.testing.assert_close(layer.miss_block["default"].grad, B.grad, rtol=1e-5, atol=1e-5)


def test_bat_gradient_is_weight_guided_at_zero_init():
    """Paper: ∂L/∂B_a = Σ_b (W_{a,b} + I)ᵀ G_{a,b} with G = ∂L/∂W', nonzero at the zero init."""
    model = TwoLinear()
    W = model.proj.weight.detach().clone()
    layer = get_peft_model(model, BoneConfig(r=8, target_modules=["proj"])).base_model.model.proj
    x = torch.randn(4, 32)
    out = layer(x)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    G = grad_out.T @ x  # ∂L/∂W' for y = x W'ᵀ
    r, eye = 8, torch.eye(8)
    expected = torch.stack(
        [
            sum(
                (W[a * r : (a + 1) * r, b * r : (b + 1) * r] + eye).T @ G[a * r : (a + 1) * r, b * r : (b + 1) * r]
                for b in range(32 // r)
            )
            for a in range(24 // r)
        ]
    )
    torch.testing.assert_close(layer.miss_block["default"].grad, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant,kw", [("bat", {}), ("bone", {}), ("mini", {"mini_r": 4})])
def test_identity_at_init_and_parameter_count(variant, kw):
    base = tiny_llama(0)
    ids = torch.randint(3, 259, (2, 9))
    with torch.no_grad():
        before = base(input_ids=ids).logits
    config = BoneConfig(r=8, target_modules="all-linear", variant=variant, **kw)
    expected_count = count_bone_parameters(base, config)
    model = get_bone_model(base, config)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, before, rtol=0, atol=1e-6)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected_count
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n.endswith("_proj")}
    assert names == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert not any("lm_head.miss" in n for n, _ in model.named_parameters())


def test_llama2_7b_parameter_count_from_the_paper():
    """87.0M trainable parameters for Bone r=64 on the seven projections of LLaMA2-7B (computed on `meta`)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    config = BoneConfig(r=64, target_modules="all-linear")
    n = count_bone_parameters(model, config)
    assert n == 64 * (4 * 4096 + 2 * 11008 + 4096) * 32 == 87_031_808
    # the LoRA baseline of the paper (89.9M) is LoRA r=36 on the same layers
    assert matched_lora_rank(model, config, 89_900_000) == 36
    assert matched_lora_rank(model, config) == 35  # rank 35 is the closest count to Bone's own 87.0M


def test_bone_variant_round_trip():
    assert bone_variant(BoneConfig(r=4)) == "bat"
    assert bone_variant(BoneConfig(r=4, variant="miss")) == "bone"
    assert bone_variant(BoneConfig(r=4, variant="mini", mini_r=2)) == "mini"
    assert BoneConfig(r=4, variant="bone").init_weights is True


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"variant": "row"}, "variant"),
        ({"r": 0}, "`r`"),
        ({"r": 2.5}, "`r`"),
        ({"variant": "mini"}, "mini_r"),
        ({"variant": "bat", "mini_r": 4}, "mini_r"),
        ({"variant": "bat", "dropout": 0.1}, "dropout"),
        ({"variant": "bone", "dropout": 1.5}, "dropout"),
    ],
)
def test_bad_config_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoneConfig(**{"r": 8, **kwargs})


def test_reserved_peft_kwargs_are_rejected():
    with pytest.raises(TypeError, match="init_weights"):
        BoneConfig(r=8, init_weights="bat")


def _untouched(model):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return not any(isinstance(m, BaseTunerLayer) for m in model.modules())


def test_bat_divisibility_error_before_any_weight_is_touched():
    base = tiny_llama(0)  # hidden 64, k/v out 32, intermediate 128
    with pytest.raises(ValueError, match=r"`r`=24 must divide"):
        get_bone_model(base, BoneConfig(r=24, target_modules="all-linear"))
    assert _untouched(base)
    # the default (shard) variant accepts any in_features >= r
    check_bone_targets(base, BoneConfig(r=24, target_modules="all-linear", variant="bone"))


def test_r_larger_than_in_features():
    base = TwoLinear(in_features=6, out_features=8)
    with pytest.raises(ValueError, match=r"`r`=8 must be <= in_features"):
        get_bone_model(base, BoneConfig(r=8, target_modules=["proj"], variant="bone"))
    assert _untouched(base)


def test_mini_r_must_divide_out_features():
    base = TwoLinear(in_features=32, out_features=24)
    with pytest.raises(ValueError, match=r"`mini_r`=5"):
        get_bone_model(base, BoneConfig(r=8, target_modules=["proj"], variant="mini", mini_r=5))


def test_gpt2_conv1d_targets_are_rejected():
    from transformers import GPT2Config, GPT2LMHeadModel

    base = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50, n_positions=16))
    with pytest.raises(TypeError, match="Conv1D"):
        get_bone_model(base, BoneConfig(r=8, target_modules=["c_attn"]))
    assert _untouched(base)


def test_embedding_and_conv_targets_are_rejected():
    with pytest.raises(TypeError, match="Embedding"):
        check_bone_targets(tiny_llama(0), BoneConfig(r=8, target_modules=["embed_tokens"]))

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3)

    with pytest.raises(TypeError, match="Conv2d"):
        check_bone_targets(Conv(), BoneConfig(r=4, target_modules=["conv"]))


def test_no_matching_target():
    with pytest.raises(ValueError, match="target_modules"):
        check_bone_targets(tiny_llama(0), BoneConfig(r=8, target_modules=["nope"]))


def test_config_must_be_a_miss_config():
    from peft import LoraConfig

    with pytest.raises(TypeError, match="`config`"):
        get_bone_model(tiny_llama(0), LoraConfig(r=4, target_modules=["q_proj"]))


def test_bat_on_forward_only_quantized_layer(monkeypatch):
    import peft.utils
    from peft.utils.quantization_utils import ForwardOnlyQuantizationBackend

    class EetqLinear(nn.Module):  # stands in for a GPTQ/AWQ/EETQ layer: no dequantization
        def __init__(self):
            super().__init__()
            self.in_features, self.out_features = 16, 16
            self.register_buffer("qweight", torch.zeros(16, 16, dtype=torch.int8))

    class Quantized(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = EetqLinear()

    real = peft.utils.resolve_quantization_backend

    def fake(layer, **kwargs):
        return ForwardOnlyQuantizationBackend("eetq") if isinstance(layer, EetqLinear) else real(layer, **kwargs)

    monkeypatch.setattr(peft.utils, "resolve_quantization_backend", fake)
    with pytest.raises(ValueError, match=r"`variant`='bat'.*forward-only"):
        check_bone_targets(Quantized(), BoneConfig(r=4, target_modules=["proj"]))
    check_bone_targets(Quantized(), BoneConfig(r=4, target_modules=["proj"], variant="bone"))  # fine


def test_mixing_variants_on_one_layer_is_refused():
    model = get_bone_model(tiny_llama(0), BoneConfig(r=8, target_modules=["q_proj", "v_proj"], variant="bone"))
    with pytest.raises(ValueError, match="`variant`='bat' differs"):
        add_bone_adapter(model, "second", BoneConfig(r=8, target_modules=["q_proj"], variant="bat"))
    assert "second" not in model.peft_config
    # the same variant, or another variant on other layers, is fine
    add_bone_adapter(model, "same", BoneConfig(r=4, target_modules=["q_proj"], variant="bone"))
    add_bone_adapter(model, "elsewhere", BoneConfig(r=8, target_modules=["down_proj"], variant="bat"))
    model.set_adapter("elsewhere")
    model(input_ids=torch.randint(3, 259, (1, 5)))
    with pytest.raises(ValueError, match="adapter_name"):
        add_bone_adapter(model, "same", BoneConfig(r=4, target_modules=["q_proj"], variant="bone"))
    with pytest.raises(TypeError, match="`model`"):
        add_bone_adapter(tiny_llama(0), "x", BoneConfig(r=8, target_modules=["q_proj"]))


# ------------------------------------------------------------------------------------------ efficient Bat path

# shapes PEFT's bat accepts (r divides both dims): square, wide, tall, r = in_features, one block
BAT_SHAPES = [(24, 32, 8), (64, 16, 8), (16, 48, 16), (32, 32, 32), (8, 8, 8)]


def _bat_pair(in_features, out_features, r, bias, adapters=1, seed=1):
    """The same random Bat layer twice: PEFT's `MissLinear` and hf-methods' `EfficientBatLinear`."""
    from peft.tuners.miss.layer import MissLinear

    from hf_methods.adapters.bone import EfficientBatLinear

    models = []
    for efficient in (False, True):
        model = get_bone_model(
            TwoLinear(in_features, out_features, bias=bias),
            BoneConfig(r=r, target_modules=["proj"]),
            efficient_bat=efficient,
        )
        for i in range(1, adapters):
            add_bone_adapter(model, f"extra{i}", BoneConfig(r=r, target_modules=["proj"]), efficient_bat=efficient)
        layer = model.base_model.model.proj
        assert type(layer) is (EfficientBatLinear if efficient else MissLinear)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name in sorted(layer.miss_block):
                layer.miss_block[name].copy_(torch.randn(layer.miss_block[name].shape, generator=g) * 0.3)
        layer.set_adapter(sorted(layer.miss_block))  # every adapter active, applied one after the other
        models.append(layer)
    return models


def _forward_backward(layer, x, grad_out):
    x = x.clone().requires_grad_(True)
    for p in layer.parameters():
        p.grad = None
    out = layer(x)
    out.backward(grad_out)
    grads = {name: p.grad for name, p in layer.named_parameters() if p.requires_grad}
    return out.detach(), x.grad, grads


@pytest.mark.parametrize("order", ["weight", "input", "auto"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", BAT_SHAPES)
def test_efficient_bat_equals_peft_forward_and_gradients(shape, bias, order):
    out_features, in_features, r = shape
    peft_layer, layer = _bat_pair(in_features, out_features, r, bias)
    layer.bat_order = order
    for tokens in (1, 3, 2 * r + 1):  # both sides of the automatic order's switch points (r and 2r tokens)
        x = torch.randn(tokens, in_features)
        grad_out = torch.randn(tokens, out_features)
        expected = _forward_backward(peft_layer, x, grad_out)
        got = _forward_backward(layer, x, grad_out)
        scale = expected[0].abs().max()
        torch.testing.assert_close(got[0], expected[0], rtol=1e-5, atol=1e-5 * scale)
        torch.testing.assert_close(got[1], expected[1], rtol=1e-5, atol=1e-5 * expected[1].abs().max())
        for name, grad in expected[2].items():
            torch.testing.assert_close(got[2][name], grad, rtol=1e-5, atol=1e-5 * grad.abs().max())


def test_efficient_bat_with_several_active_adapters_and_a_batch_dimension():
    peft_layer, layer = _bat_pair(32, 24, 8, bias=True, adapters=3)
    assert len(layer.active_adapters) == 3
    x, grad_out = torch.randn(2, 9, 32), torch.randn(2, 9, 24)
    expected, got = _forward_backward(peft_layer, x, grad_out), _forward_backward(layer, x, grad_out)
    torch.testing.assert_close(got[0], expected[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], expected[1], rtol=1e-5, atol=1e-5)
    assert set(got[2]) == {f"miss_block.{n}" for n in ("default", "extra1", "extra2")}
    for name, grad in expected[2].items():
        torch.testing.assert_close(got[2][name], grad, rtol=1e-5, atol=1e-5 * grad.abs().max())


def test_automatic_order_follows_the_multiply_add_counts():
    from hf_methods.adapters.bone.bat import _weight_side

    # forward: d·k·(r + T) (build W') vs 2·T·d·k (input side); backward: 2·d·k·(T + r) vs 3·T·d·k
    assert [_weight_side(t, 64, backward=False) for t in (1, 63, 64, 1024)] == [False, False, True, True]
    assert [_weight_side(t, 64, backward=True) for t in (64, 127, 128, 1024)] == [False, False, True, True]


def _saved_bytes(fn, module):
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()), out


def test_efficient_bat_saves_no_weight_sized_tensor_for_backward():
    peft_layer, layer = _bat_pair(256, 256, 32, bias=False)
    weight_bytes = 256 * 256 * 4
    x = torch.randn(16, 256, requires_grad=True)  # its storage is saved by both paths
    peft_saved, _ = _saved_bytes(lambda: peft_layer(x), peft_layer)
    saved, out = _saved_bytes(lambda: layer(x), layer)
    assert peft_saved >= 2 * weight_bytes  # PEFT keeps W' and a copy of W
    assert saved <= x.numel() * 4  # the input only (A = C = the adapter's own parameter)
    out.sum().backward()
    assert layer.miss_block["default"].grad.abs().sum() > 0


def test_peft_path_is_used_where_the_efficient_one_does_not_apply():
    """Disabled adapters, merged weights, blocks kept in bf16 on CPU (PEFT's fp32 round trip) and other variants
    run PEFT's own forward: outputs equal PEFT's layer bit for bit (same code path)."""
    from peft.tuners.miss.layer import MissLinear

    from hf_methods.adapters.bone import EfficientBatLinear, enable_efficient_bat

    peft_layer, layer = _bat_pair(32, 24, 8, bias=True)
    x = torch.randn(5, 32)
    with torch.no_grad():
        for lay in (peft_layer, layer):
            lay.enable_adapters(False)
        assert torch.equal(layer(x), peft_layer(x))
        for lay in (peft_layer, layer):
            lay.enable_adapters(True)
            lay.merge()
        assert torch.equal(layer(x), peft_layer(x))
        for lay in (peft_layer, layer):
            lay.unmerge()
            lay.miss_block["default"].data = lay.miss_block["default"].data.bfloat16()
        assert torch.equal(layer(x), peft_layer(x))
    bone = get_bone_model(TwoLinear(), BoneConfig(r=8, target_modules=["proj"], variant="bone"))
    plain = get_bone_model(TwoLinear(), BoneConfig(r=8, target_modules=["proj"], variant="bone"), efficient_bat=False)
    with torch.no_grad():
        assert torch.equal(bone(x), plain(x))
    # switching back gives PEFT's class; switching a loaded model on gives the efficient one
    assert enable_efficient_bat(bone, False) == 1 and type(bone.base_model.model.proj) is MissLinear
    assert enable_efficient_bat(bone) == 1 and type(bone.base_model.model.proj) is EfficientBatLinear
    with pytest.raises(ValueError, match="`order`"):
        enable_efficient_bat(bone, order="fastest")


def test_bat_trained_with_the_efficient_path_reloads_in_plain_peft(tmp_path):
    from peft import PeftModel
    from peft.tuners.miss.layer import MissLinear

    from hf_methods.adapters.bone import enable_efficient_bat

    model = get_bone_model(tiny_llama(0), BoneConfig(r=8, target_modules="all-linear"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(3, 259, (2, 9))
    for _ in range(2):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["init_weights"] == "bat"
    reference = get_peft_model(tiny_llama(0), BoneConfig(r=8, target_modules="all-linear"))
    assert set(model.state_dict()) == set(reference.state_dict())  # PEFT's own parameter names and shapes
    loaded = PeftModel.from_pretrained(tiny_llama(0), tmp_path)
    assert all(type(m) is MissLinear for m in loaded.modules() if isinstance(m, MissLinear))
    with torch.no_grad():
        efficient = model(input_ids=ids).logits
        enable_efficient_bat(model, False)
        assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)  # same weights, same path
        torch.testing.assert_close(loaded(input_ids=ids).logits, efficient, rtol=1e-5, atol=1e-5)
        # merge and unmerge are PEFT's
        merged = loaded.merge_and_unload()(input_ids=ids).logits
    torch.testing.assert_close(merged, efficient, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------ plain-PEFT reload


@pytest.mark.slow  # a second Python process importing torch, transformers and peft: ~6 s
def test_saved_adapter_reloads_with_plain_peft_in_a_process_without_hf_methods(tmp_path):
    base = tiny_llama(0)
    base.save_pretrained(tmp_path / "base")
    model = get_bone_model(base, BoneConfig(r=8, target_modules="all-linear"))  # the efficient Bat path
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "miss_block" in name:
                p.normal_(0, 0.1)
    train_ids = torch.randint(3, 259, (2, 7))
    model(input_ids=train_ids, labels=train_ids).loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 1e-2 * p.grad
    model.save_pretrained(tmp_path / "adapter")
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert saved["peft_type"] == "MISS" and saved["init_weights"] == "bat"
    ids = torch.randint(3, 259, (2, 7))
    torch.save(ids, tmp_path / "ids.pt")
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    script = textwrap.dedent(f"""
        import sys
        sys.modules["hf_methods"] = None  # importing hf_methods would fail
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
        base = AutoModelForCausalLM.from_pretrained({str(tmp_path / "base")!r})
        model = PeftModel.from_pretrained(base, {str(tmp_path / "adapter")!r}).eval()
        with torch.no_grad():
            torch.save(model(input_ids=torch.load({str(tmp_path / "ids.pt")!r})).logits, {str(tmp_path / "out.pt")!r})
        assert not any(m.startswith("hf_methods") and sys.modules[m] is not None for m in sys.modules)
    """)
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=tmp_path,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
    )
    # PEFT's forward there, the efficient Bat path here: the same W' up to fp32 summation order
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), expected, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------ 4-bit base

# bitsandbytes' fused CPU 4-bit kernel (AVX512-BF16 CPUs) rounds the layer input and the block scales to bf16 (unit
# roundoff 2^-9), so its output differs from `x · dequantize(W)ᵀ` in fp32 by about 1e-3 per layer; through the two
# decoder layers of the tiny Llama this reached 0.017 on logits of magnitude ~0.6. Reading a weight that the kernel
# had repacked as if it were in the standard layout gave 0.77. The bound below separates the two.
KERNEL_ROUNDING_ATOL = 0.05


def _nf4_tiny_llama(path):
    bnb = pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    tiny_llama(0).save_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        device_map="cpu",
        dtype=torch.float32,
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
        ),
    )
    return model, bnb


def _dequantized(layer):
    import bitsandbytes.functional as bf

    return bf.dequantize_4bit(layer.weight.data, layer.weight.quant_state)


def test_4bit_base_works_with_every_variant(tmp_path):
    """bnb NF4 on CPU: each variant is the identity at init and gets gradients (bat dequantizes W every forward).

    The base's own output is computed first in inference mode, which on AVX512-BF16 CPUs runs (and repacks the
    weight for) bitsandbytes' bf16 kernel: the adapted model must stay within that kernel's rounding of it, and equal
    the same 4-bit base read through PEFT's dequantization (adapters disabled) up to fp32 summation order.
    """
    base, _ = _nf4_tiny_llama(tmp_path)
    q_proj = base.model.layers[0].self_attn.q_proj
    weight_before = _dequantized(q_proj)
    ids = torch.randint(3, 259, (2, 6))
    with torch.no_grad():
        before = base(input_ids=ids).logits
    for variant, kw in [("bat", {}), ("bone", {}), ("mini", {"mini_r": 4})]:
        config = BoneConfig(r=8, target_modules=["q_proj", "v_proj", "down_proj"], variant=variant, **kw)
        model = get_bone_model(base, config)
        # the weight PEFT dequantizes is the quantized W, whatever the kernel did to its layout
        torch.testing.assert_close(_dequantized(q_proj), weight_before, rtol=0, atol=5e-3 * weight_before.abs().max())
        with torch.no_grad():
            adapted = model(input_ids=ids).logits
            with model.disable_adapter():
                plain = model(input_ids=ids).logits
        torch.testing.assert_close(adapted, plain, rtol=0, atol=1e-5)
        torch.testing.assert_close(adapted, before, rtol=0, atol=KERNEL_ROUNDING_ATOL)
        model(input_ids=ids, labels=ids).loss.backward()
        grads = [p.grad for n, p in model.named_parameters() if "miss_block" in n]
        assert len(grads) == 6 and all(g is not None and g.abs().sum() > 0 for g in grads), variant
        base = model.unload()  # the 4-bit base without adapter layers, for the next variant


def test_4bit_weight_repacked_for_the_cpu_kernel_is_restored_before_bat_reads_it(tmp_path):
    """The repacking bitsandbytes does on AVX512-BF16 CPUs, done by hand so every CPU runs this check: Bone puts the
    weight back into the standard layout (else `dequantize_4bit` reads a scrambled W) and keeps it there."""
    base, _ = _nf4_tiny_llama(tmp_path)
    functional = pytest.importorskip("bitsandbytes.functional")
    pack = getattr(functional, "_convert_weight_packed_for_cpu", None)
    if pack is None:
        pytest.skip("this bitsandbytes has no CPU repacking")
    layer = base.model.layers[0].self_attn.q_proj
    expected = _dequantized(layer)
    layer.weight.data, layer.weight.quant_state = pack(layer.weight.data, layer.weight.quant_state)
    assert (_dequantized(layer) - expected).abs().max() > 0.1 * expected.abs().max()  # what PEFT would have read
    with pytest.warns(UserWarning, match="repacked"):
        model = get_bone_model(base, BoneConfig(r=8, target_modules=["q_proj"]))
    assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)
    assert layer.support_avx512bf16_for_cpu is False  # no repacking on later inference passes
    # the scales come back rounded to bf16: 2^-9 relative
    torch.testing.assert_close(_dequantized(layer), expected, rtol=0, atol=5e-3 * expected.abs().max())
    x = torch.randn(3, 64)
    peft_layer = model.base_model.model.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        torch.testing.assert_close(peft_layer(x), x @ _dequantized(layer).T, rtol=0, atol=1e-5)


def test_efficient_bat_on_a_4bit_base_matches_peft_and_keeps_no_dequantized_weight(tmp_path):
    """Both paths read W through the same bitsandbytes dequantization, so they differ by fp32 summation order only
    (far inside KERNEL_ROUNDING_ATOL); the efficient one dequantizes again in backward instead of keeping W."""
    base, _ = _nf4_tiny_llama(tmp_path)
    targets = ["q_proj", "v_proj", "down_proj"]
    ids = torch.randint(3, 259, (2, 6))
    results = []
    for efficient in (False, True):
        model = get_bone_model(base, BoneConfig(r=8, target_modules=targets), efficient_bat=efficient)
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "miss_block" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        saved, loss = _saved_bytes(lambda m=model: m(input_ids=ids, labels=ids).loss, model)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if "miss_block" in n}
        results.append((loss.detach(), grads, saved))
        base = model.unload()
    (peft_loss, peft_grads, peft_saved), (loss, grads, saved) = results
    torch.testing.assert_close(loss, peft_loss, rtol=1e-5, atol=1e-5)
    assert len(grads) == 6
    for name, grad in peft_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-4 * grad.abs().max())
    weight_bytes = sum(o * i * 4 for o, i in [(64, 64), (32, 64), (64, 128)]) * 2  # the six adapted layers, fp32
    assert peft_saved - saved >= weight_bytes  # PEFT keeps each dequantized W (and W') per layer; this path none


# ------------------------------------------------------------------------------------------ SmolLM2


@pytest.mark.assets
def test_smollm2_all_linear_targets_the_seven_projections(smollm2):
    model, tokenizer = smollm2
    config = BoneConfig(r=64, target_modules="all-linear")
    targets = check_bone_targets(model, config)
    assert len(targets) == 7 * model.config.num_hidden_layers
    assert not any(name.endswith("lm_head") for name, _, _ in targets)
    assert count_bone_parameters(model, config) == 64 * sum(out for _, _, out in targets)


# ------------------------------------------------------------------------------------------ training code


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "dora"}, "--method"),
        ({"variant": "row"}, "--variant"),
        ({"lr_schedule": "step"}, "--lr_schedule"),
        ({"r": 0}, "--r"),
        ({"dropout": 1.0}, "--dropout"),
    ],
)
def test_arguments_reject_bad_values(kwargs, match):
    from hf_methods.adapters.bone.training import BoneArguments

    with pytest.raises(ValueError, match=match):
        BoneArguments(output_dir="unused", **kwargs).validate()


def test_arguments_build_the_bone_config_in_one_call():
    from hf_methods.adapters.bone.training import BoneArguments

    config = BoneArguments(output_dir="unused", layers="22-24,29", r=32, variant="bone").bone_config(30)
    assert config.layers_to_transform == [22, 23, 24, 29] and config.r == 32 and bone_variant(config) == "bone"
    assert BoneArguments(output_dir="unused", layers="last4").bone_config(30).layers_to_transform == [26, 27, 28, 29]
    assert BoneArguments(output_dir="unused").bone_config(30).layers_to_transform is None  # 'all'
    mini = BoneArguments(output_dir="unused", variant="mini", mini_r=16).bone_config()
    assert bone_variant(mini) == "mini" and mini.mini_r == 16
    with pytest.raises(ValueError, match="--layers"):
        BoneArguments(output_dir="unused", layers="28-31").bone_config(30)
    with pytest.raises(ValueError, match="all-linear"):
        BoneArguments(output_dir="unused", layers="1", target_modules="all-linear").bone_config(30)


def test_schedule_is_cosine_to_zero_or_constant():
    import math

    from hf_methods.adapters.bone.training import make_scheduler

    def lrs(schedule, warmup=0):
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = make_scheduler(optimizer, schedule, max_steps=10, warmup_steps=warmup)
        out = []
        for _ in range(10):
            out.append(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
        return out

    assert lrs("cosine") == pytest.approx([0.5 * (1 + math.cos(math.pi * s / 10)) for s in range(10)])
    assert lrs("constant") == [1.0] * 10
    assert lrs("constant", warmup=2)[:3] == pytest.approx([0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="schedule"):
        lrs("step")


def test_adapters_at_matched_parameters_and_per_problem_answer_loss():
    from hf_methods.adapters.bone.training import answer_losses, build_adapter, evaluate, word_problem_splits
    from hf_methods.common.instruct import answer_loss, collate_sft
    from hf_methods.common.tiny import byte_tokenizer

    config = BoneConfig(r=16, target_modules=["q_proj", "v_proj", "down_proj"], layers_to_transform=[1])
    counts = {}
    for method in ("bone", "lora", "pissa"):
        model, info = build_adapter(tiny_llama(0), method, config)
        counts[method] = info["trainable_parameters"]
        assert info["bone_parameters"] == 16 * (64 + 32 + 64)
        if method != "bone":  # rank·(in + out) closest to Bone's count, on the same layers only
            assert info["lora_rank"] == round(counts["bone"] / (2 * 64 + (64 + 32) + (128 + 64)))
            assert info["lora_alpha"] == (2 * info["lora_rank"] if method == "lora" else info["lora_rank"])
        assert all(".layers.1." in n for n, p in model.named_parameters() if p.requires_grad)
    assert counts["lora"] == counts["pissa"] and abs(counts["lora"] - counts["bone"]) / counts["bone"] < 0.2

    tokenizer = byte_tokenizer()
    data = word_problem_splits(tokenizer, 8, 5, max_length=96, n_validation=3)
    assert len(data["test"]) == 5 and len(data["validation"]) == 3
    held_out = {p.question for p in data["test_problems"] + data["validation_problems"]}
    assert len(held_out) == 8
    model = tiny_llama(0).eval()
    loader = torch.utils.data.DataLoader(data["test"], batch_size=2, collate_fn=collate_sft(tokenizer.pad_token_id))
    per_problem = answer_losses(model, loader)
    assert len(per_problem) == 5 and all(
        n == len(p.answer) + 1 for (_, n), p in zip(per_problem, data["test_problems"])
    )
    result = evaluate(model, tokenizer, data["test"], data["test_problems"], batch_size=2, n_accuracy=0)
    assert result["answer_loss"] == pytest.approx(answer_loss(model, loader), rel=1e-5)  # token-weighted, as before
    assert result["problem_losses"] == pytest.approx([s / n for s, n in per_problem])
    assert "exact_match" not in result


@pytest.mark.slow
@pytest.mark.assets
def test_recipe_resume_is_exact(tmp_path, repo_root):
    """Two steps, a checkpoint, then a resumed run to four steps give the same adapter as four uninterrupted steps
    (optimizer, cosine schedule and data order restored)."""
    import shutil

    from safetensors.torch import load_file

    from hf_methods.common.data import smollm2_path

    try:
        smollm2_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    common = ["--layers", "last1", "--max_steps", "4", "--checkpoint_every", "2", "--n_train", "32", "--n_eval", "4"]
    common += ["--n_accuracy", "0", "--cpu_threads", "1", "--learning_rate", "1e-3"]

    def recipe(out, *extra):
        cmd = [sys.executable, str(repo_root / "recipes" / "bone.py"), *common, "--output_dir", str(out), *extra]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600, cwd=tmp_path)

    recipe(tmp_path / "full")
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp_path / "full/checkpoints/checkpoint_0", tmp_path / "resumed/checkpoints/checkpoint_0")
    recipe(tmp_path / "resumed", "--resume_from_checkpoint", "latest")
    full = load_file(tmp_path / "full" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "adapter_model.safetensors")
    assert full.keys() == resumed.keys() and len(full) == 7
    for key in full:  # the same computation on the same machine: bit-exact
        torch.testing.assert_close(resumed[key], full[key], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ the README path


def test_readme_usage_gives_the_early_error_for_a_bad_r(monkeypatch):
    """The record's usage snippet (the README's and the card's) builds the model through `get_bone_model`, so r=64
    on a model whose k_proj has 32 outputs fails with the early, named error and leaves every layer unreplaced,
    where plain `get_peft_model` gives PEFT's "fully divisible" error after replacing the earlier layers."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    import hf_methods.common.data as data
    from hf_methods.common.tiny import byte_tokenizer
    from hf_methods.zoo import get_method

    base = tiny_llama(0)  # k_proj / v_proj: 64 -> 32 features, not a multiple of the snippet's r=64
    monkeypatch.setattr(data, "load_causal_lm", lambda name, **kw: (base, byte_tokenizer(), None))
    with pytest.raises(ValueError, match=r"must divide in_features and out_features.*k_proj is 32×64"):
        exec(get_method("bone").usage, {})
    assert not any(isinstance(m, BaseTunerLayer) for m in base.modules())

    plain = tiny_llama(0)
    with pytest.raises(ValueError, match=r"fully divisible into \[r, r\] blocks"):
        get_peft_model(plain, BoneConfig(r=64, target_modules="all-linear"))
    assert any(isinstance(m, BaseTunerLayer) for m in plain.modules())  # half-adapted: why the usage avoids it


# ------------------------------------------------------------------------------------------ recipe data and card


def _prompt_answer_rows(n):
    return [{"prompt": f"Spell {i} in words.", "answer": f"n{i}"} for i in range(n)]


def test_arguments_use_the_shared_model_and_dataset_flags():
    from hf_methods.adapters.bone.training import BoneArguments
    from hf_methods.harness.recipe import PretrainedRecipeArguments

    args = BoneArguments(output_dir="unused")
    assert isinstance(args, PretrainedRecipeArguments)
    assert (args.model_name_or_path, args.dataset_name_or_path) == ("smollm2-135m-instruct", None)
    assert args.cpu_threads == 0  # the shared flag (the recipe's own default of 2 is gone)


def test_card_names_the_base_and_the_data(tmp_path):
    from hf_methods.adapters.bone.training import BoneArguments, card_details

    default = card_details(BoneArguments(output_dir="unused"), "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert default["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert default["model_name"] == "smollm2-135m-instruct-bone" and "datasets" not in default
    data = tmp_path / "mine.jsonl"
    data.write_text("")
    tiny = card_details(BoneArguments(output_dir="u", model_name_or_path="tiny", dataset_name_or_path=str(data)), None)
    assert tiny["base_model"] is None and tiny["model_name"] == "tiny-llama-bone" and tiny["datasets"] is None
    assert tiny["card_kwargs"]["run_task"]["dataset_name"] == "mine.jsonl"
    local = card_details(BoneArguments(output_dir="u", model_name_or_path=str(tmp_path)), str(tmp_path))
    assert local["base_model"] is None  # a local folder is not a Hub id


@pytest.mark.slow  # two recipe processes (torch, transformers, peft, accelerate imports): ~20 s
def test_recipe_on_a_user_jsonl_with_the_tiny_base(tmp_path, repo_root):
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _prompt_answer_rows(12)) + "\n")
    recipe = [sys.executable, str(repo_root / "recipes" / "bone.py"), "--model_name_or_path", "tiny"]
    common = ["--r", "16", "--max_steps", "2", "--batch_size", "4", "--n_eval", "4", "--cpu_threads", "1"]
    out = tmp_path / "out"
    run = subprocess.run(
        [*recipe, *common, "--dataset_name_or_path", str(data), "--output_dir", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"eval/answer_loss", "trainable_parameters"}  # no exact match on free-form answers
    card = (out / "README.md").read_text()
    assert "--model_name_or_path tiny" in card and "train.jsonl" in card
    assert json.loads((out / "adapter_config.json").read_text())["peft_type"] == "MISS"

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "q", "answer": "a"}) + "\n")
    run = subprocess.run(
        [*recipe, *common, "--dataset_name_or_path", str(bad), "--output_dir", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode != 0 and "needs a 'prompt' (or 'question') field and an 'answer' field" in run.stderr
