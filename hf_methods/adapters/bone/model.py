"""Early checks and helpers around `peft.get_peft_model` for Bone (PEFT's MiSS).

PEFT rejects some Bone set-ups only while it is already replacing layers (so the model is left half-adapted), or not
at all until a forward pass crashes. [`check_bone_targets`] resolves the layers a config targets *without touching
any weight* and raises a clear error for:

- `"bat"` with a targeted layer whose `in_features` or `out_features` is not a multiple of `r`
  (PEFT: "The weight matrix must be fully divisible into [r, r] blocks." after earlier layers were replaced);
- `r > in_features` (PEFT 0.21 requires `r <= in_features`), and `"mini"` with `out_features % mini_r != 0`;
- targets that are not `torch.nn.Linear` (optionally quantized): GPT-2 style `Conv1D`, `Embedding`, `Conv2d`, ...;
- `"bat"` on a forward-only quantized layer (GPTQ, AWQ, EETQ, ...): Bat rebuilds the weight every forward and needs
  to dequantize it;
- a second adapter of a different variant on a layer that already holds a MiSS adapter: peft 0.21.2 keeps one
  `miss_fn` per layer (from the first adapter), so the second one crashes in forward with a shape error.

[`get_bone_model`] and [`add_bone_adapter`] run these checks, then call PEFT, then keep every bitsandbytes 4-bit
layer of the model in bitsandbytes' standard weight layout ([`keep_4bit_weights_dequantizable`]).

Why the last step: on CPUs with AVX512-BF16 (recent Xeons, AMD Zen 4), bitsandbytes >= 0.49 repacks a 4-bit weight
*in place* into a layout of its own the first time the layer runs in inference mode (eval, no gradient), and from then
on `bitsandbytes.functional.dequantize_4bit` (which PEFT uses to read the base weight) returns a scrambled matrix. The
`"bat"` variant computes `x (W + ΔW)ᵀ` from that dequantized `W` on every forward, so after one evaluation pass of
the base model its output was wrong (logits 0.77 away from the base on a tiny Llama at init, where ΔW = 0); merging
or unmerging any variant would also write a scrambled weight back. The repacked layers also run outside autograd,
so no gradient reached the adapters below them. Restoring the standard layout and switching the repacking off makes
every dequantization read the right `W` and every layer differentiable again. The base layers then compute in the
compute dtype (fp32 here) instead of bitsandbytes' fused bf16 CPU kernel, whose bf16 inputs shift the output of one
layer by about 1e-3.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

from torch import nn

from .config import bone_variant


def _unwrap(model: nn.Module) -> nn.Module:
    from peft import PeftModel

    return model.base_model.model if isinstance(model, PeftModel) else model


def _resolved_targets(model: nn.Module, config) -> list[tuple[str, nn.Module]]:
    """`(name, module)` of every module `config` targets in `model` (a plain model or a PeftModel), in order."""
    from peft.tuners.tuners_utils import BaseTunerLayer, _maybe_include_all_linear_layers, check_target_module_exists
    from peft.utils import TRANSFORMERS_MODELS_TO_MISS_TARGET_MODULES_MAPPING

    inner = _unwrap(model)
    config = copy.deepcopy(config)
    if config.target_modules is None:
        model_type = getattr(getattr(inner, "config", None), "model_type", None)
        if model_type not in TRANSFORMERS_MODELS_TO_MISS_TARGET_MODULES_MAPPING:
            raise ValueError(
                f"`target_modules` must be given: PEFT has no default MiSS targets for model type {model_type!r}"
            )
        config.target_modules = set(TRANSFORMERS_MODELS_TO_MISS_TARGET_MODULES_MAPPING[model_type])
    config = _maybe_include_all_linear_layers(config, inner)
    tuner_prefixes: list[str] = []
    targets = []
    for name, module in inner.named_modules():
        if any(name.startswith(p + ".") for p in tuner_prefixes):
            continue  # inside an existing adapter layer (its base_layer, miss_block, ...)
        if isinstance(module, BaseTunerLayer):
            tuner_prefixes.append(name)
        if name and check_target_module_exists(config, name):
            targets.append((name, module))
    if not targets:
        raise ValueError(f"`target_modules`={config.target_modules!r} matches no module of the model")
    return targets


def _in_out(base: nn.Module) -> tuple[int, int]:
    from peft.tuners.tuners_utils import _get_in_out_features

    if isinstance(base, nn.Linear):
        return base.in_features, base.out_features
    return _get_in_out_features(base)


def check_bone_targets(model: nn.Module, config, adapter_name: str = "default") -> list[tuple[str, int, int]]:
    """Checks that `config` (a `MissConfig`, e.g. from [`BoneConfig`]) can be applied to `model`; touches no weight.

    Args:
        model (`torch.nn.Module`): a base model, or a `PeftModel` that will get one more adapter.
        config (`peft.MissConfig`): the adapter configuration.
        adapter_name (`str`, *optional*, defaults to `"default"`): name the adapter will get.

    Returns:
        `list[tuple[str, int, int]]`: `(module name, in_features, out_features)` of every targeted layer.

    Raises:
        `TypeError` for a config that is not a `MissConfig` or a targeted layer that is not a (quantized) Linear;
        `ValueError` for block sizes that do not fit a layer, a forward-only quantized layer with `"bat"`, or a layer
        that already holds a MiSS adapter of another variant.
    """
    from peft import MissConfig
    from peft.tuners.miss.layer import MissLayer
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils import resolve_quantization_backend

    if not isinstance(config, MissConfig):
        raise TypeError(f"`config` must be a peft.MissConfig (build it with BoneConfig), got {type(config).__name__}")
    variant = bone_variant(config)
    r = config.r
    shapes = []
    for name, module in _resolved_targets(model, config):
        base = module.get_base_layer() if isinstance(module, BaseTunerLayer) else module
        if isinstance(module, BaseTunerLayer) and not isinstance(module, MissLayer):
            raise TypeError(f"`target_modules` selects {name}, which already holds a {type(module).__name__} adapter")
        backend = resolve_quantization_backend(base)  # None for a plain Linear; bnb layers subclass nn.Linear
        if not isinstance(base, nn.Linear) and (backend is None or backend.layer_type != "linear"):
            raise TypeError(
                f"`target_modules` selects {name} of type {type(base).__name__}: Bone/MiSS supports only "
                "torch.nn.Linear (optionally quantized), not GPT-2 style Conv1D, Embedding or Conv layers"
            )
        in_f, out_f = _in_out(base)
        if r > in_f:
            raise ValueError(f"`r`={r} must be <= in_features of every targeted layer; {name} has {in_f}")
        if variant == "bat":
            if in_f % r or out_f % r:
                raise ValueError(
                    f"`r`={r} must divide in_features and out_features of every layer for variant='bat' (the weight "
                    f"is cut into r×r blocks); {name} is {out_f}×{in_f} (out×in)"
                )
            if backend is not None and not backend.supports_merge:
                raise ValueError(
                    f"`variant`='bat' needs to dequantize {name} on every forward, but its quantization backend "
                    f"{getattr(backend, 'backend_name', type(backend).__name__)!r} is forward-only; use "
                    "variant='bone' or 'mini'"
                )
        if variant == "mini" and out_f % config.mini_r:
            raise ValueError(f"`mini_r`={config.mini_r} must divide out_features; {name} has {out_f}")
        if isinstance(module, MissLayer):
            if adapter_name in module.miss_block:
                raise ValueError(f"`adapter_name` {adapter_name!r} already exists on {name}")
            if len(module.miss_block) and _layer_variant(module) != variant:
                raise ValueError(
                    f"`variant`={variant!r} differs from the {_layer_variant(module)!r} adapter already on {name}: "
                    "peft 0.21.2 applies one MiSS mode per layer (from its first adapter), so mixing variants on "
                    "one layer would crash in forward; target other layers or use the same variant"
                )
        shapes.append((name, in_f, out_f))
    return shapes


def _layer_variant(layer) -> str:
    mode = getattr(layer, "miss_fn", True)
    return mode if mode in ("bat", "mini") else "bone"


def get_bone_model(model: nn.Module, config, adapter_name: str = "default", efficient_bat: bool = True, **kwargs: Any):
    """`peft.get_peft_model(model, config, adapter_name, **kwargs)` after [`check_bone_targets`].

    With `efficient_bat=True` (the default) every `"bat"` layer runs through [`BatLinearFunction`]: the same output
    and gradients as PEFT's `MissLinear` (to float round-off), but the adapted weight `W'` is never kept for backward
    (see `bat.py`). Only the layers' class changes, so the saved adapter is PEFT's; `efficient_bat=False` keeps PEFT's
    forward. Other variants are unaffected.

    Pass `autocast_adapter_dtype=False` for a bf16 base to keep Bat in bf16 as in the official code (PEFT upcasts
    adapter weights to fp32 by default, which materialises each adapted weight in fp32 on every Bat forward).
    """
    from peft import get_peft_model

    from .bat import enable_efficient_bat

    check_bone_targets(model, config, adapter_name)
    peft_model = get_peft_model(model, config, adapter_name=adapter_name, **kwargs)
    keep_4bit_weights_dequantizable(peft_model)
    enable_efficient_bat(peft_model, efficient_bat)
    return peft_model


def add_bone_adapter(model, adapter_name: str, config, efficient_bat: bool = True):
    """Adds a second (third, ...) Bone adapter to a MiSS `PeftModel`, refusing a different variant on shared layers.

    Returns the same `PeftModel`; the new adapter is added but not activated (as `PeftModel.add_adapter`).
    `efficient_bat` switches every MiSS layer of the model to (or away from) the efficient Bat path, as in
    [`get_bone_model`].
    """
    from peft import PeftModel
    from peft.utils import PeftType

    from .bat import enable_efficient_bat

    if not isinstance(model, PeftModel) or model.peft_type != PeftType.MISS:
        raise TypeError(f"`model` must be a PeftModel with a MiSS/Bone adapter, got {type(model).__name__}")
    check_bone_targets(model, config, adapter_name)
    model.add_adapter(adapter_name, config)
    keep_4bit_weights_dequantizable(model)
    enable_efficient_bat(model, efficient_bat)
    return model


def keep_4bit_weights_dequantizable(model: nn.Module) -> int:
    """Keeps every bitsandbytes 4-bit layer of `model` in bitsandbytes' standard layout (and so differentiable).

    bitsandbytes (>= 0.49) repacks a 4-bit weight in place for its fused AVX512-BF16 CPU kernel on the first
    inference-mode forward, and from then on uses that kernel for the layer whatever the mode. Two things then go
    wrong for an adapter: `dequantize_4bit` does not understand the layout, so PEFT's `"bat"` forward, merge and
    unmerge read a scrambled `W`; and the kernel is called outside autograd, so no gradient flows back through the
    layer to the adapters below it. For each 4-bit layer this function restores the standard layout if the weight
    was repacked (the absmax scales come back rounded to bf16, about 0.3% of a block's scale) and turns the repacking
    off (`support_avx512bf16_for_cpu = False`): the layer computes `x · dequantize(W)ᵀ` in its compute dtype from
    then on. Called by [`get_bone_model`] and [`add_bone_adapter`]; call it yourself after
    `peft.get_peft_model(model, BoneConfig(...))` or `PeftModel.from_pretrained` on a 4-bit base.

    Returns:
        `int`: the number of 4-bit layers handled.
    """
    handled, restored = 0, []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if type(weight).__name__ != "Params4bit":
            continue
        state = getattr(weight, "quant_state", None)
        if getattr(state, "packing_format_for_cpu", False):
            try:
                from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse as unpack
            except ImportError as err:  # a bitsandbytes that packs but no longer ships the inverse
                raise RuntimeError(
                    f"{name}: bitsandbytes repacked this 4-bit weight for its CPU kernel and offers no way back, so "
                    "PEFT's dequantization (used by variant 'bat' on every forward, and by merge) would read a "
                    "scrambled weight; add the Bone adapter before running the 4-bit model in eval mode"
                ) from err
            weight.data, weight.quant_state = unpack(weight.data, state)
            restored.append(name)
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
        handled += 1
    if restored:
        warnings.warn(
            f"{len(restored)} bitsandbytes 4-bit layer(s) (e.g. {restored[0]}) had been repacked in place for the "
            "AVX512-BF16 CPU kernel by an earlier inference pass; their standard layout is restored (scales rounded "
            "to bf16) and the repacking is off, so Bone reads the right weight and gradients flow through them. "
            "Their outputs now come from the fp32 path and differ from the fused bf16 kernel's by bf16 rounding.",
            stacklevel=2,
        )
    return handled


def count_bone_parameters(model: nn.Module, config) -> int:
    """Trainable parameters the adapter will add, from the layer shapes only (works on a `meta`-device model).

    `"bat"`: `(d/r)·r·r = d·r` per layer; `"bone"`: `r·d`; `"mini"`: `r·mini_r`.
    """
    variant = bone_variant(config)
    total = 0
    for _, _, out_f in check_bone_targets(model, config):
        total += config.r * (config.mini_r if variant == "mini" else out_f)
    return total


def matched_lora_rank(model: nn.Module, config, num_parameters: int | None = None) -> int:
    """The LoRA rank whose parameter count `Σ rank·(in + out)` over the layers `config` targets is closest to
    `num_parameters` (default: the Bone adapter's own count, [`count_bone_parameters`]).

    The paper compares Bone r=64 (87.0M on LLaMA2-7B) with LoRA/PiSSA r=36 (89.9M) in this way.
    """
    if num_parameters is None:
        num_parameters = count_bone_parameters(model, config)
    if num_parameters <= 0:
        raise ValueError(f"`num_parameters` must be > 0, got {num_parameters}")
    per_rank = sum(i + o for _, i, o in check_bone_targets(model, config))
    return max(1, round(num_parameters / per_rank))


__all__ = [
    "add_bone_adapter",
    "check_bone_targets",
    "count_bone_parameters",
    "get_bone_model",
    "keep_4bit_weights_dequantizable",
    "matched_lora_rank",
]
