# Copyright 2025 The hf-methods contributors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Switching a transformers model to ACT and back: `apply_act`, `remove_act`, `act_calibrate`, `capture_attention`.

State lives in the model config, not in globals: `config.act_config` (the `ActConfig` as a dict) and
`config.attn_implementation = "act_eager"` (a plain attribute, so `config.json` carries it and `from_pretrained` of a
saved model selects the ACT attention again, provided `hf_methods.generation.act` was imported to register it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .attention import register_act_attention
from .configuration_act import ACT_ATTENTION_KEY, CONFIG_ATTRIBUTE, ActConfig

_PREVIOUS = "_act_previous_attn_implementation"
_ACT_KEYS = {"heads", "beta", "threshold", "threshold_mode", "prefill_only", "base_model_name_or_path"}

# registering is cheap and idempotent; doing it at import lets `from_pretrained` of a saved ACT model work
register_act_attention()


def attention_modules(model: nn.Module) -> list[tuple[int, nn.Module]]:
    """The `(layer_idx, module)` of every self-attention module that dispatches through `AttentionInterface`."""
    found = []
    for name, module in model.named_modules():
        if (
            type(module).__name__.endswith("Attention")
            and isinstance(getattr(module, "layer_idx", None), int)
            and hasattr(module, "config")
            and "cross" not in name.split(".")[-1].lower()
        ):
            found.append((module.layer_idx, module))
    return found


def _check_model(model) -> list[tuple[int, nn.Module]]:
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel):
        raise TypeError(f"model must be a transformers PreTrainedModel, got {type(model).__name__}")
    if getattr(model.config, "is_encoder_decoder", False):
        raise TypeError(f"model: ACT calibrates causal decoders; {type(model).__name__} is an encoder-decoder model")
    if not type(model)._can_set_attn_implementation():
        raise TypeError(
            f"model: {type(model).__name__} does not dispatch attention through transformers' AttentionInterface, so "
            "ACT's `act_eager` attention function cannot be plugged in (supported: Llama, Mistral, Qwen2, Gemma, ...)"
        )
    modules = attention_modules(model)
    if not modules:
        raise TypeError(f"model: found no attention module with a `layer_idx` in {type(model).__name__}")
    if any(getattr(m, "is_causal", True) is False for _, m in modules):
        raise TypeError(
            f"model: ACT calibrates causal self-attention; {type(model).__name__} has non-causal attention"
        )
    return modules


def _as_config(config=None, **kwargs) -> ActConfig:
    if config is None:
        return ActConfig(**kwargs)
    if kwargs.get("heads") is not None:
        raise ValueError("give either an ActConfig or `heads=` (with beta/threshold), not both")
    if isinstance(config, ActConfig):
        return config
    if isinstance(config, dict) and set(config) <= _ACT_KEYS:
        return ActConfig.from_dict(config)
    # a bare {layer: [heads]} dict or list of pairs: the shorthand act_calibrate(model, calibrated_heads)
    return ActConfig(heads=config, **{k: v for k, v in kwargs.items() if k != "heads"})


def _validate_heads(model, act: ActConfig, modules) -> None:
    layers = {idx: m for idx, m in modules}
    for layer, head in act.heads:
        if layer not in layers:
            raise ValueError(f"heads: layer {layer} does not exist (the model has attention layers {sorted(layers)})")
        n_heads = layers[layer].config.num_attention_heads
        if head >= n_heads:
            raise ValueError(f"heads: layer {layer} has {n_heads} query heads, got head {head}")


def _configs(model, modules) -> list:
    seen, out = set(), []
    for config in [model.config, *(m.config for _, m in modules)]:
        if id(config) not in seen:
            seen.add(id(config))
            out.append(config)
    return out


def apply_act(model, config: ActConfig | dict | None = None, **kwargs):
    """Switches `model` to ACT attention with `config` (in place); returns the model.

    Args:
        model (`PreTrainedModel`): a transformers decoder whose attention dispatches through `AttentionInterface`.
        config (`ActConfig`, *optional*): the heads and settings; or pass `heads=`, `beta=`, `threshold=`,
            `prefill_only=` as keywords. A bare `{layer: [heads]}` dict or list of pairs is accepted as `heads`.

    Raises:
        TypeError: the model is not a supported causal decoder.
        ValueError: a head or layer index is out of range.

    The settings are stored in `model.config` (`act_config` and `attn_implementation`), so `save_pretrained` writes
    them to `config.json` and `from_pretrained` restores a calibrated model (after `import hf_methods.generation.act`).
    """
    act = _as_config(config, **kwargs)
    modules = _check_model(model)
    _validate_heads(model, act, modules)
    register_act_attention()
    current = model.config._attn_implementation
    if current != ACT_ATTENTION_KEY and not hasattr(model, _PREVIOUS):
        setattr(model, _PREVIOUS, current)
    for cfg in _configs(model, modules):
        setattr(cfg, CONFIG_ATTRIBUTE, act.to_dict())
    model.config.attn_implementation = ACT_ATTENTION_KEY
    model.set_attn_implementation(ACT_ATTENTION_KEY)
    for _, module in modules:  # sub-configs not reached by set_attn_implementation
        if module.config._attn_implementation != ACT_ATTENTION_KEY:
            module.config._attn_implementation_internal = ACT_ATTENTION_KEY
    return model


def get_act_config(model) -> ActConfig | None:
    """The `ActConfig` stored on `model.config`, or None when the model is not calibrated."""
    raw = getattr(model.config, CONFIG_ATTRIBUTE, None)
    return ActConfig.from_dict(raw) if raw else None


def remove_act(model, attn_implementation: str | None = None):
    """Undoes `apply_act`: removes the ACT settings and restores the previous attention implementation.

    Args:
        attn_implementation (`str`, *optional*): the implementation to switch to; defaults to the one the model used
            before `apply_act`, or `"sdpa"` (`"eager"` where SDPA is unsupported) for a model loaded calibrated.
    """
    modules = _check_model(model)
    previous = attn_implementation or getattr(model, _PREVIOUS, None)
    if previous is None or previous == ACT_ATTENTION_KEY:
        previous = "sdpa" if getattr(model, "_supports_sdpa", False) else "eager"
    for cfg in _configs(model, modules):
        if hasattr(cfg, CONFIG_ATTRIBUTE):
            delattr(cfg, CONFIG_ATTRIBUTE)
    if "attn_implementation" in model.config.__dict__:
        del model.config.attn_implementation
    model.set_attn_implementation(previous)
    for _, module in modules:
        module.config._attn_implementation_internal = model.config._attn_implementation
        if hasattr(module, "_act_parsed"):
            del module._act_parsed
    if hasattr(model, _PREVIOUS):
        delattr(model, _PREVIOUS)
    return model


@contextmanager
def act_calibrate(model, config: ActConfig | dict | None = None, **kwargs) -> Iterator:
    """Context manager: ACT attention with `config` inside the block, the model's previous state after it.

    ```python
    with act_calibrate(model, ActConfig(heads={5: [0, 3]}, beta=0.4, threshold=0.1)):
        logits = model(**inputs).logits
    with act_calibrate(model, heads=[(5, 0), (5, 3)]):  # the same, as keywords
        ...
    ```
    """
    previous = get_act_config(model)
    previous_impl = model.config._attn_implementation
    had_previous_attr = hasattr(model, _PREVIOUS)
    apply_act(model, config, **kwargs)
    try:
        yield model
    finally:
        if previous is not None:
            apply_act(model, previous)
        else:
            remove_act(model, attn_implementation=previous_impl)
            if had_previous_attr:
                setattr(model, _PREVIOUS, previous_impl)


@contextmanager
def capture_attention(model, layers=None) -> Iterator[dict[int, torch.Tensor]]:
    """Records the post-softmax (post-calibration) attention `[B, H, Q, K]` of `layers` during the forwards inside.

    Uses the eager path when the model runs SDPA/flash (which return no weights), then restores it.

    ```python
    with capture_attention(model, layers=[3, 4]) as maps:
        model(**inputs)
    maps[3].shape  # [B, H, Q, K]
    ```
    """
    modules = _check_model(model)
    wanted = None if layers is None else {int(layer) for layer in layers}
    maps: dict[int, torch.Tensor] = {}
    handles = []

    def hook(module, args, output):
        if isinstance(output, tuple) and len(output) > 1 and output[1] is not None:
            maps[module.layer_idx] = output[1].detach()

    for idx, module in modules:
        if wanted is None or idx in wanted:
            handles.append(module.register_forward_hook(hook))
    impl = model.config._attn_implementation
    switched = impl not in ("eager", ACT_ATTENTION_KEY)
    if switched:
        model.set_attn_implementation("eager")
    try:
        yield maps
    finally:
        for h in handles:
            h.remove()
        if switched:
            model.set_attn_implementation(impl)


__all__ = ["act_calibrate", "apply_act", "attention_modules", "capture_attention", "get_act_config", "remove_act"]
