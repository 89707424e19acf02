"""Forward hooks on a transformers causal LM's MLP sublayer: harvest its inputs/outputs, splice a transcoder, ablate.

A transcoder reads what enters the MLP of one layer (the post-LayerNorm residual stream: `ln_2` in GPT-2,
`post_attention_layernorm` in Llama) and imitates what the MLP writes back. Both are the positional input and the
output of the MLP module, so every hook here sits on that module (`block.mlp`), found by [`find_mlp`] for GPT-2,
GPT-J/NeoX, Llama/Mistral/Qwen/SmolLM2-style models (any model whose decoder blocks have an `mlp` attribute).
No transformer_lens: plain `torch.nn.Module` forward hooks, removed on exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = [
    "SpliceFidelity",
    "attach_transcoder",
    "decoder_blocks",
    "find_mlp",
    "harvest_mlp_activations",
    "lm_cross_entropy",
    "mlp_zero_ablation",
    "splice",
    "splice_fidelity",
]

# where the list of decoder blocks lives, relative to the base model (`model.base_model`)
_BLOCK_LISTS = ("h", "layers", "blocks", "decoder.layers")


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a transformers causal LM (`transformer.h` of GPT-2, `model.layers` of Llama, ...)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module (a transformers causal LM), got {type(model).__name__}.")
    for root in (getattr(model, "base_model", model), model):
        for path in _BLOCK_LISTS:
            module = root
            for name in path.split("."):
                module = getattr(module, name, None)
            if isinstance(module, nn.ModuleList) and len(module) > 0:
                return module
    raise ValueError(
        f"`model` ({type(model).__name__}) has no list of decoder blocks at any of {_BLOCK_LISTS} of its base model."
    )


def find_mlp(model: nn.Module, layer: int) -> nn.Module:
    """The MLP sublayer (`block.mlp`) of decoder block `layer` (negative indices count from the end)."""
    blocks = decoder_blocks(model)
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise TypeError(f"`layer` must be an int, got {type(layer).__name__}.")
    if not -len(blocks) <= layer < len(blocks):
        raise ValueError(f"`layer` must be in [{-len(blocks)}, {len(blocks) - 1}] for this model, got {layer}.")
    mlp = getattr(blocks[layer], "mlp", None)
    if not isinstance(mlp, nn.Module):
        raise ValueError(f"decoder block {layer} of `model` has no `mlp` submodule to hook.")
    return mlp


def _mlp_input(args: tuple, kwargs: dict) -> torch.Tensor:
    if args:
        return args[0]
    for name in ("hidden_states", "x", "input"):
        if name in kwargs:
            return kwargs[name]
    raise RuntimeError("could not find the MLP input among the hooked call's arguments")


def _check_transcoder(transcoder, mlp_width: int | None = None):
    if not (isinstance(transcoder, nn.Module) and hasattr(transcoder, "encode") and hasattr(transcoder, "config")):
        raise TypeError(f"`transcoder` must be a TranscoderModel, got {type(transcoder).__name__}.")
    return transcoder


def attach_transcoder(model: nn.Module, layer: int, transcoder) -> torch.utils.hooks.RemovableHandle:
    r"""
    Replaces the output of the MLP of decoder block `layer` by the transcoder's imitation ŷ = W_decᵀ z + b_dec_out of
    it, computed from the MLP's own input (a forward hook; the MLP still runs). Call `.remove()` on the returned handle
    to restore the model, or use [`splice`].

    Args:
        model (`torch.nn.Module`): a transformers causal LM (GPT-2, Llama, SmolLM2, ...).
        layer (`int`): index of the decoder block whose MLP is replaced.
        transcoder ([`TranscoderModel`]): a transcoder with `d_in`/`d_out` equal to the model's hidden size.

    Returns:
        `torch.utils.hooks.RemovableHandle`.
    """
    transcoder = _check_transcoder(transcoder)
    mlp = find_mlp(model, layer)

    def hook(module, args, kwargs, output):
        x = _mlp_input(args, kwargs)
        if x.shape[-1] != transcoder.config.d_in or output.shape[-1] != transcoder.config.d_out:
            raise ValueError(
                f"`transcoder` maps {transcoder.config.d_in} → {transcoder.config.d_out} features but the MLP of layer "
                f"{layer} maps {x.shape[-1]} → {output.shape[-1]}."
            )
        return transcoder(x.to(transcoder.dtype)).mlp_output.to(output.dtype)

    return mlp.register_forward_hook(hook, with_kwargs=True)


@contextlib.contextmanager
def splice(model: nn.Module, layer: int, transcoder) -> Iterator[nn.Module]:
    """Context manager: inside it, the MLP of block `layer` of `model` is replaced by `transcoder` (see
    [`attach_transcoder`]); the hook is removed on exit, even after an error.

    ```python
    with splice(gpt2, layer=1, transcoder=tc):
        spliced_loss = gpt2(input_ids, labels=input_ids).loss
    ```
    """
    handle = attach_transcoder(model, layer, transcoder)
    try:
        yield model
    finally:
        handle.remove()


@contextlib.contextmanager
def mlp_zero_ablation(model: nn.Module, layer: int) -> Iterator[nn.Module]:
    """Context manager: inside it, the MLP of block `layer` writes zeros (the baseline of the splicing evaluation)."""
    mlp = find_mlp(model, layer)
    handle = mlp.register_forward_hook(lambda module, args, output: torch.zeros_like(output))
    try:
        yield model
    finally:
        handle.remove()


class _StopForward(Exception):
    """Raised by the harvesting hook once the hooked layer ran, so later layers and the LM head are skipped."""


def _batches(input_ids, attention_mask, batch_size):
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.is_floating_point():
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ValueError(f"`input_ids` must be an integer tensor of shape (batch, seq_len), got {shape}.")
    if attention_mask is not None and (
        not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape
    ):
        raise ValueError("`attention_mask` must be a tensor with the shape of `input_ids`.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    for start in range(0, input_ids.shape[0], batch_size):
        ids = input_ids[start : start + batch_size]
        mask = None if attention_mask is None else attention_mask[start : start + batch_size]
        yield ids, mask


@torch.no_grad()
def harvest_mlp_activations(
    model: nn.Module,
    input_ids: torch.Tensor,
    layer: int,
    *,
    attention_mask: torch.Tensor | None = None,
    batch_size: int = 32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (input, output) pairs of the MLP of block `layer` on every non-padding token, with a forward hook.

    The forward pass stops right after the hooked MLP (later blocks and the LM head never run).

    Args:
        model (`torch.nn.Module`): a transformers causal LM.
        input_ids (`torch.LongTensor` of shape `(batch, seq_len)`): token sequences.
        layer (`int`): index of the decoder block.
        attention_mask (`torch.Tensor` of shape `(batch, seq_len)`, *optional*): tokens with 0 are skipped.
        batch_size (`int`, *optional*, defaults to 32): sequences per forward pass.

    Returns:
        `tuple(torch.FloatTensor)`: MLP inputs `(n_tokens, d_in)` and MLP outputs `(n_tokens, d_out)`, in float32 on
        the CPU, tokens in row-major (sequence, position) order.
    """
    mlp = find_mlp(model, layer)
    captured: dict[str, torch.Tensor] = {}

    def hook(module, args, kwargs, output):
        captured["inputs"], captured["outputs"] = _mlp_input(args, kwargs), output
        raise _StopForward

    inputs, outputs = [], []
    device = next(model.parameters()).device
    handle = mlp.register_forward_hook(hook, with_kwargs=True)
    try:
        for ids, mask in _batches(input_ids, attention_mask, batch_size):
            try:
                model(input_ids=ids.to(device), attention_mask=None if mask is None else mask.to(device))
            except _StopForward:
                pass
            keep = torch.ones(ids.shape, dtype=torch.bool) if mask is None else mask.bool().cpu()
            inputs.append(captured["inputs"].float().cpu()[keep])
            outputs.append(captured["outputs"].float().cpu()[keep])
    finally:
        handle.remove()
    return torch.cat(inputs), torch.cat(outputs)


@torch.no_grad()
def lm_cross_entropy(
    model: nn.Module, input_ids: torch.Tensor, *, attention_mask: torch.Tensor | None = None, batch_size: int = 32
) -> float:
    """Mean next-token cross-entropy (nats) of `model` over all predicted tokens of `input_ids` (padding skipped)."""
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for ids, mask in _batches(input_ids, attention_mask, batch_size):
        ids = ids.to(device)
        mask = None if mask is None else mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = ids[:, 1:]
        losses = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        keep = torch.ones_like(targets, dtype=torch.bool) if mask is None else mask[:, 1:].bool()
        total += losses[keep].sum().item()
        count += int(keep.sum())
    return total / max(count, 1)


@dataclass
class SpliceFidelity:
    """LM cross-entropy with the MLP of one layer intact, replaced by a transcoder, and zero-ablated.

    `ce_increase_fraction` = (spliced − clean) / (ablated − clean): 0 is a perfect replacement, 1 no better than
    deleting the MLP (the official evaluation reports 1 minus this as the "CE loss score").
    """

    clean_ce: float
    spliced_ce: float
    ablated_ce: float

    @property
    def ce_increase_fraction(self) -> float:
        return (self.spliced_ce - self.clean_ce) / (self.ablated_ce - self.clean_ce)

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "ce_increase_fraction": self.ce_increase_fraction}


def splice_fidelity(
    model: nn.Module,
    transcoder,
    input_ids: torch.Tensor,
    layer: int,
    *,
    attention_mask: torch.Tensor | None = None,
    batch_size: int = 32,
) -> SpliceFidelity:
    """Evaluates how faithfully `transcoder` replaces the MLP of block `layer` (see [`SpliceFidelity`])."""
    kwargs = dict(attention_mask=attention_mask, batch_size=batch_size)
    clean = lm_cross_entropy(model, input_ids, **kwargs)
    with splice(model, layer, transcoder):
        spliced = lm_cross_entropy(model, input_ids, **kwargs)
    with mlp_zero_ablation(model, layer):
        ablated = lm_cross_entropy(model, input_ids, **kwargs)
    return SpliceFidelity(clean_ce=clean, spliced_ce=spliced, ablated_ce=ablated)
