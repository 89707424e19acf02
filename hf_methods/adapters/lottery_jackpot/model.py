"""Lottery-jackpot masks (Zhang et al., TPAMI 2023): a searched sparse mask over frozen pretrained weights.

Every covered weight W gets a learnable score tensor s and a binary mask m (a buffer). The forward uses `m ⊙ W`; the
backward is straight-through, so the score gradient is `∂L/∂s = ∂L/∂(m ⊙ W) ⊙ W`. The weights W never change. After
every optimizer step [`jackpot_swap`] applies the "short restriction" of the official code
(`zyxxmu/lottery-jackpots`, `utils/conv_type.py`): with τ the k-th smallest score (k = number of pruned weights),

    revive = {m = 0 ∧ s > τ},   drop = {m = 1 ∧ s ≤ τ},

and the two sets are exchanged only when they are non-empty and of equal size, so the count of kept weights stays
exact; otherwise the layer's mask is left as it is for that step. Scores start at 1 for kept and 0.99 for pruned
weights, so the initial mask is exactly the magnitude mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from hf_methods.common.masks import (
    PRUNABLE,
    bake,
    load_masks,
    magnitude_masks,
    prunable_modules,
    save_masks,
    topk_mask,
)

LAYERWISE = ("l1", "uniform")
KEPT_SCORE, PRUNED_SCORE = 1.0, 0.99


@dataclass
class JackpotMaskConfig:
    """Where and how much to prune before the jackpot search.

    Args:
        sparsity: fraction of the covered weights set to zero, in [0, 1).
        layerwise: `"l1"` ranks |W| of all covered layers together (one global threshold, the official
            `layerwise: l1`); `"uniform"` prunes the same fraction of every layer.
        exclude: substrings of module names left dense (the official code leaves the final classifier dense:
            `exclude=("classifier",)`).
        layer_sparsity: per-module overrides `{module name: sparsity}` (exact names); these layers are pruned on
            their own magnitude ranking and left out of the global one.
    """

    sparsity: float = 0.9
    layerwise: str = "l1"
    exclude: tuple[str, ...] = ()
    layer_sparsity: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.sparsity, bool) or not isinstance(self.sparsity, (int, float)):
            raise TypeError(f"sparsity must be a float in [0, 1), got {type(self.sparsity).__name__}")
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1) (the fraction of weights pruned), got {self.sparsity}")
        if self.layerwise not in LAYERWISE:
            raise ValueError(f"layerwise must be one of {LAYERWISE}, got {self.layerwise!r}")
        if isinstance(self.exclude, str):
            raise TypeError("exclude must be a tuple of module-name substrings, not a single string")
        self.exclude = tuple(self.exclude)
        if not isinstance(self.layer_sparsity, dict):
            raise TypeError(f"layer_sparsity must be a dict {{module name: sparsity}}, got {self.layer_sparsity!r}")
        for name, value in self.layer_sparsity.items():
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"layer_sparsity[{name!r}] must be in [0, 1), got {value!r}")


class JackpotMask(nn.Module):
    """Parametrization `weight = original ⊙ m` with a binary mask buffer `m` and learnable `scores` (same shape).

    The straight-through form `m + (s − stop_grad(s))` has the value of `m` exactly and passes the gradient of the
    masked weight, times W, to the scores.
    """

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        mask = mask.detach().bool()
        self.register_buffer("mask", mask.clone())
        self.scores = nn.Parameter(torch.where(mask, KEPT_SCORE, PRUNED_SCORE).float())
        self.num_kept = int(mask.sum())
        self.enabled = True

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return weight
        scores = self.scores.to(weight.dtype)
        return weight * (self.mask.to(weight.dtype) + (scores - scores.detach()))

    @torch.no_grad()
    def swap(self) -> int:
        """One short-restriction update of the mask; returns the number of weights revived (= dropped)."""
        num_pruned = self.mask.numel() - self.num_kept
        if num_pruned == 0 or self.num_kept == 0:
            return 0
        scores = self.scores.detach().flatten()
        tau = scores.kthvalue(num_pruned).values
        mask = self.mask.view(-1)
        revive = ~mask & (scores > tau)
        drop = mask & (scores <= tau)
        n_revive = int(revive.sum())
        if n_revive == 0 or n_revive != int(drop.sum()):
            return 0
        mask[revive] = True
        mask[drop] = False
        return n_revive


def _jackpot_modules(model: nn.Module) -> dict[str, JackpotMask]:
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, JackpotMask):
                    out[f"{name}.weight"] = p
    return out


def apply_jackpot_masks(model: nn.Module, config: JackpotMaskConfig) -> nn.Module:
    """Freezes every parameter of `model` and registers a [`JackpotMask`] on each `nn.Linear`/`nn.Conv1d`/`nn.Conv2d`
    weight not excluded by `config`, initialised to the magnitude mask of `config` (in place; returns the model).

    Only the scores are trainable afterwards (`requires_grad=True`); the pretrained weights stay bit-identical.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, JackpotMaskConfig):
        raise TypeError(f"config must be a JackpotMaskConfig, got {type(config).__name__}")
    if _jackpot_modules(model):
        raise ValueError("model already carries jackpot masks")
    modules = prunable_modules(model, PRUNABLE, config.exclude)
    unknown = sorted(set(config.layer_sparsity) - set(modules))
    if unknown:
        raise ValueError(f"layer_sparsity names modules that are not covered prunable layers: {unknown}")
    if not modules:
        raise ValueError("the model has no nn.Linear / nn.Conv1d / nn.Conv2d layer left to mask")
    masks: dict[str, torch.Tensor] = {}
    for name, value in config.layer_sparsity.items():
        masks[f"{name}.weight"] = topk_mask(modules[name].weight.detach().abs(), 1.0 - value)
    rest = [name for name in modules if name not in config.layer_sparsity]
    if rest:
        keep = 1.0 - config.sparsity
        scope = "global" if config.layerwise == "l1" else "layer"
        exclude = tuple(config.exclude) + tuple(config.layer_sparsity)
        if keep >= 1.0:
            masks.update({f"{n}.weight": torch.ones_like(modules[n].weight, dtype=torch.bool) for n in rest})
        else:
            masks.update(magnitude_masks(model, keep, scope=scope, exclude=exclude))
    for param in model.parameters():
        param.requires_grad_(False)
    for weight_name, mask in masks.items():
        module = modules[weight_name[: -len(".weight")]]
        parametrize.register_parametrization(module, "weight", JackpotMask(mask.to(module.weight.device)))
    return model


def jackpot_swap(model: nn.Module) -> int:
    """Applies [`JackpotMask.swap`] to every jackpot mask of `model`; returns the total number of weights swapped."""
    modules = _jackpot_modules(model)
    if not modules:
        raise ValueError("model carries no jackpot masks (call apply_jackpot_masks first)")
    return sum(p.swap() for p in modules.values())


def jackpot_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """`{"<module>.weight": bool mask}` of every jackpot mask of `model` (copies)."""
    return {name: p.mask.clone() for name, p in _jackpot_modules(model).items()}


def jackpot_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The frozen pretrained weights under the jackpot masks (copies), to check they never change."""
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            out[f"{name}.weight"] = module.parametrizations.weight.original.detach().clone()
    return out


def jackpot_sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of zeros of each jackpot mask and `"global"` over all of them, plus `"kept_fraction"`."""
    masks = jackpot_masks(model)
    if not masks:
        raise ValueError("model carries no jackpot masks")
    stats = {name: 1.0 - m.float().mean().item() for name, m in masks.items()}
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    stats["global"] = 1.0 - kept / total
    stats["kept_fraction"] = kept / total
    return stats


def save_jackpot_masks(model: nn.Module, folder: str | Path) -> Path:
    """Writes the masks (the adapter-only part) to `<folder>/masks.safetensors`; returns the path."""
    return save_masks(jackpot_masks(model), folder)


def bake_jackpot(model: nn.Module) -> nn.Module:
    """Removes the masks, writing `m ⊙ W` as plain weights (in place), so `save_pretrained` gives a vanilla model."""
    if not _jackpot_modules(model):
        raise ValueError("model carries no jackpot masks")
    return bake(model)


def load_jackpot_masks(model: nn.Module, masks: str | Path | dict[str, torch.Tensor]) -> nn.Module:
    """Registers saved jackpot masks (a folder / file from [`save_jackpot_masks`], or a mask dict) on a fresh copy
    of the pretrained model, frozen as [`apply_jackpot_masks`] leaves it (in place; returns the model)."""
    if not isinstance(masks, dict):
        masks = load_masks(masks)
    if _jackpot_modules(model):
        raise ValueError("model already carries jackpot masks")
    for weight_name, mask in masks.items():
        if not weight_name.endswith(".weight"):
            raise ValueError(f"mask names must end with '.weight', got {weight_name!r}")
        try:
            module = model.get_submodule(weight_name[: -len(".weight")])
        except AttributeError:
            raise ValueError(f"the model has no module for the mask {weight_name!r}") from None
        if tuple(mask.shape) != tuple(module.weight.shape):
            raise ValueError(
                f"mask {weight_name!r} has shape {tuple(mask.shape)}, the weight {tuple(module.weight.shape)}"
            )
    for param in model.parameters():
        param.requires_grad_(False)
    for weight_name, mask in masks.items():
        module = model.get_submodule(weight_name[: -len(".weight")])
        parametrize.register_parametrization(module, "weight", JackpotMask(mask.to(module.weight.device)))
    return model


@contextmanager
def disable_jackpot_masks(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block the model computes with its dense pretrained weights (the masks are bypassed)."""
    modules = list(_jackpot_modules(model).values())
    if not modules:
        raise ValueError("model carries no jackpot masks")
    try:
        for p in modules:
            p.enabled = False
        yield model
    finally:
        for p in modules:
            p.enabled = True
