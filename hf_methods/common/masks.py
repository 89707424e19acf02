"""Weight masks and reparameterizations shared by the pruning, supermask and reparameterization methods.

Masks are dictionaries `{"<module path>.weight": bool tensor}` over the weights of the prunable modules
(`nn.Linear`, `nn.Conv1d/2d` by default). They are applied with `torch.nn.utils.parametrize`, so the module keeps
its original weight (under `parametrizations.weight.original`) and computes `weight = original * mask` on the fly;
[`bake`] removes every parametrization and writes the effective weights as plain tensors, so a saved model is
vanilla (`save_pretrained` / `from_pretrained` without hf-methods).

- [`prunable_modules`]: the modules a mask may cover;
- [`magnitude_masks`]: keep the largest |w|, globally or per layer, with an exact count;
- [`topk_mask`]: the exact-count mask of a score tensor; [`TopKStraightThrough`]: the same with the identity
  gradient (edge-popup, Ramanujan et al., 2020), for learned scores;
- [`FixedMask`] and [`ScoreMask`]: parametrizations (a fixed mask; a learned-score mask of fixed density);
- [`apply_masks`], [`bake`], [`masks_of`]: register, remove and read back the masks;
- [`sparsity_stats`]: the fraction of zeros per layer and overall; [`save_masks`] / [`load_masks`]: safetensors.

Example:

```python
>>> masks = magnitude_masks(model, keep=0.1, scope="global")
>>> apply_masks(model, masks)          # model now computes with 90% of its weights zeroed
>>> sparsity_stats(model)["global"]    # 0.9
>>> bake(model); model.save_pretrained("out")
```
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
MASKS_FILE = "masks.safetensors"


def prunable_modules(
    model: nn.Module, include: Iterable[type] = PRUNABLE, exclude: Iterable[str] = ()
) -> dict[str, nn.Module]:
    """`{name: module}` of the modules of the given types, minus those whose name contains one of `exclude`."""
    include, exclude = tuple(include), tuple(exclude)
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, include) and not any(part in name for part in exclude)
    }


def _weight(module: nn.Module) -> torch.Tensor:
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def _check_keep(keep: float) -> None:
    if not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be a fraction in (0, 1] (the fraction of weights kept), got {keep!r}")


def _count(numel: int, keep: float) -> int:
    return max(1, int(round(keep * numel)))


def topk_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """The boolean mask of the round(keep · numel) largest scores (at least one), ties broken by position."""
    _check_keep(keep)
    flat = scores.detach().flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.topk(_count(flat.numel(), keep)).indices] = True
    return mask.view_as(scores)


def magnitude_masks(
    model: nn.Module,
    keep: float,
    *,
    scope: str = "global",
    include: Iterable[type] = PRUNABLE,
    exclude: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    """Masks keeping the largest-magnitude weights: `scope="global"` ranks all covered weights together (one
    threshold), `"layer"` keeps the same fraction of each layer. Exactly round(keep · n) weights are kept."""
    _check_keep(keep)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    modules = prunable_modules(model, include, exclude)
    if not modules:
        raise ValueError(f"the model has no module of the types {[t.__name__ for t in include]} to mask")
    weights = {f"{name}.weight": _weight(module).detach().abs() for name, module in modules.items()}
    if scope == "layer":
        return {name: topk_mask(w, keep) for name, w in weights.items()}
    flat = torch.cat([w.flatten() for w in weights.values()])
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    chosen[flat.topk(_count(flat.numel(), keep)).indices] = True
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = chosen[start : start + w.numel()].view_as(w)
        start += w.numel()
    return masks


class TopKStraightThrough(torch.autograd.Function):
    """Forward: the exact top-k mask of the scores (as floats); backward: the incoming gradient unchanged."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, keep: float) -> torch.Tensor:
        return topk_mask(scores, keep).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output, None


class FixedMask(nn.Module):
    """Parametrization `weight = original * mask` with a fixed boolean mask (a buffer, saved with the model)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().bool().clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask.to(weight.dtype)


class ScoreMask(nn.Module):
    """Parametrization `weight = original * topk(scores, keep)` with learnable `scores` (straight-through gradient),
    so exactly round(keep · numel) weights are active at every step (edge-popup)."""

    def __init__(self, scores: torch.Tensor, keep: float):
        super().__init__()
        _check_keep(keep)
        self.keep = float(keep)
        self.scores = nn.Parameter(scores.detach().clone().float())

    def mask(self) -> torch.Tensor:
        return topk_mask(self.scores, self.keep)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * TopKStraightThrough.apply(self.scores, self.keep).to(weight.dtype)


def _module_of(model: nn.Module, weight_name: str) -> nn.Module:
    if not weight_name.endswith(".weight"):
        raise ValueError(f"mask names must end with '.weight', got {weight_name!r}")
    try:
        return model.get_submodule(weight_name[: -len(".weight")])
    except AttributeError:
        raise ValueError(
            f"the model has no module {weight_name[: -len('.weight')]!r} for the mask {weight_name!r}"
        ) from None


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Register a [`FixedMask`] on each masked weight (in place; returns the model). Checks names and shapes."""
    for name, mask in masks.items():
        module = _module_of(model, name)
        if tuple(mask.shape) != tuple(_weight(module).shape):
            raise ValueError(f"mask {name!r} has shape {tuple(mask.shape)}, the weight {tuple(_weight(module).shape)}")
        parametrize.register_parametrization(module, "weight", FixedMask(mask.to(_weight(module).device)))
    return model


def apply_score_masks(model: nn.Module, scores: dict[str, torch.Tensor], keep: float) -> nn.Module:
    """Register a learnable [`ScoreMask`] of density `keep` on each weight named in `scores` (in place)."""
    for name, score in scores.items():
        module = _module_of(model, name)
        if tuple(score.shape) != tuple(_weight(module).shape):
            raise ValueError(
                f"scores {name!r} have shape {tuple(score.shape)}, the weight {tuple(_weight(module).shape)}"
            )
        parametrize.register_parametrization(module, "weight", ScoreMask(score.to(_weight(module).device), keep))
    return model


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current boolean mask of every weight carrying a [`FixedMask`] or [`ScoreMask`]."""
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, FixedMask):
                    out[f"{name}.weight"] = p.mask.clone()
                elif isinstance(p, ScoreMask):
                    out[f"{name}.weight"] = p.mask()
    return out


def bake(model: nn.Module) -> nn.Module:
    """Remove every parametrization, writing the effective (masked / reparameterized) weights as plain tensors.

    Safe on a `copy.deepcopy` of a parametrized model: the copy shares its modules' generated `Parametrized*` class
    with the original, and removing a parametrization deletes the tensor's property from that class, so each module
    gets its own copy of the class first (the original keeps working).
    """
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            cls = module.__class__
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for tensor_name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=True)
    return model


def sparsity_stats(model_or_masks: nn.Module | dict[str, torch.Tensor]) -> dict[str, float]:
    """The fraction of zeros of each masked weight (or, for a model without masks, of each prunable weight), and
    `"global"` over all of them."""
    if isinstance(model_or_masks, dict):
        tensors = {name: m.bool() for name, m in model_or_masks.items()}
    else:
        tensors = masks_of(model_or_masks) or {
            f"{name}.weight": module.weight.detach() != 0 for name, module in prunable_modules(model_or_masks).items()
        }
    if not tensors:
        raise ValueError("nothing to measure: no masks and no prunable weights")
    stats = {name: 1.0 - t.float().mean().item() for name, t in tensors.items()}
    kept = sum(int(t.sum()) for t in tensors.values())
    stats["global"] = 1.0 - kept / sum(t.numel() for t in tensors.values())
    return stats


def save_masks(masks: dict[str, torch.Tensor], folder: str | Path) -> Path:
    """Write the masks to `<folder>/masks.safetensors` (as uint8) and return the path."""
    from safetensors.torch import save_file

    path = Path(folder) / MASKS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: m.bool().to(torch.uint8).contiguous() for name, m in masks.items()}, str(path))
    return path


def load_masks(folder_or_file: str | Path) -> dict[str, torch.Tensor]:
    """Read masks written by [`save_masks`] (a folder or the file itself)."""
    from safetensors.torch import load_file

    path = Path(folder_or_file)
    path = path / MASKS_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no mask file at {path}")
    return {name: t.bool() for name, t in load_file(str(path)).items()}
