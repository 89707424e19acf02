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


# ------------------------------------------------------------------------------------------ plain-PEFT reload


def test_saved_adapter_reloads_with_plain_peft_in_a_process_without_hf_methods(tmp_path):
    base = tiny_llama(0)
    base.save_pretrained(tmp_path / "base")
    model = get_peft_model(base, BoneConfig(r=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "miss_block" in name:
                p.normal_(0, 0.1)
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
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), expected, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ 4-bit base


def test_4bit_base_works_with_every_variant(tmp_path):
    """bnb NF4 on CPU: each variant is the identity at init and gets gradients (bat dequantizes W every forward)."""
    pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    tiny_llama(0).save_pretrained(tmp_path)
    base = AutoModelForCausalLM.from_pretrained(
        tmp_path,
        device_map="cpu",
        dtype=torch.float32,
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
        ),
    )
    ids = torch.randint(3, 259, (2, 6))
    with torch.no_grad():
        before = base(input_ids=ids).logits
    for variant, kw in [("bat", {}), ("bone", {}), ("mini", {"mini_r": 4})]:
        config = BoneConfig(r=8, target_modules=["q_proj", "v_proj", "down_proj"], variant=variant, **kw)
        model = get_bone_model(base, config)
        with torch.no_grad():
            torch.testing.assert_close(model(input_ids=ids).logits, before, rtol=0, atol=1e-5)
        model(input_ids=ids, labels=ids).loss.backward()
        grads = [p.grad for n, p in model.named_parameters() if "miss_block" in n]
        assert len(grads) == 6 and all(g is not None and g.abs().sum() > 0 for g in grads), variant
        base = model.unload()  # the 4-bit base without adapter layers, for the next variant


# ------------------------------------------------------------------------------------------ SmolLM2


@pytest.mark.assets
def test_smollm2_all_linear_targets_the_seven_projections(smollm2):
    model, tokenizer = smollm2
    config = BoneConfig(r=64, target_modules="all-linear")
    targets = check_bone_targets(model, config)
    assert len(targets) == 7 * model.config.num_hidden_layers
    assert not any(name.endswith("lm_head") for name, _, _ in targets)
    assert count_bone_parameters(model, config) == 64 * sum(out for _, _, out in targets)


# ------------------------------------------------------------------------------------------ recipe arguments


def _recipe_module():
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("bone_recipe_under_test", repo_root() / "recipes" / "bone.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "dora"}, "--method"),
        ({"variant": "row"}, "--variant"),
        ({"lr_schedule": "linear"}, "--lr_schedule"),
        ({"r": 0}, "--r"),
        ({"dropout": 1.0}, "--dropout"),
    ],
)
def test_recipe_rejects_bad_arguments(kwargs, match):
    recipe = _recipe_module()
    with pytest.raises(ValueError, match=match):
        recipe.BoneArguments(output_dir="unused", **kwargs).validate()


def test_recipe_layers_and_schedule():
    recipe = _recipe_module()
    assert recipe.parse_layers("22-24,29") == [22, 23, 24, 29]
    assert recipe.parse_layers("all") is None
    with pytest.raises(ValueError, match="--layers"):
        recipe.parse_layers("last4")
    args = recipe.BoneArguments(output_dir="unused", learning_rate=1.0, max_steps=10)
    assert recipe.lr_at(0, args) == 1.0 and recipe.lr_at(5, args) == pytest.approx(0.5)
