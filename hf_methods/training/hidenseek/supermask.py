"""HideNseek's sign supermask: a learned sign in {−1, +1} times the kept, frozen weight magnitudes.

After server-side pruning (mask m) the weights stay frozen at their initial values w₀. Each client learns real
scores s, and the layer computes with

    w = m ⊙ sign(s) ⊙ |w₀|,

sign taken with a straight-through gradient (∂sign(s)/∂s := 1), so ∂L/∂s = m ⊙ |w₀| ⊙ ∂L/∂w. Only sign(s) of the
kept entries matters, hence one bit per kept weight to communicate. Compared with a binary {0, 1} supermask over the
same frozen weights, a sign mask can also *invert* a weight, which the paper credits for faster convergence.

The mask is a `torch.nn.utils.parametrize` parametrization ([`SignSupermask`]): the module keeps w₀ under
`parametrizations.weight.original`, and [`export_dense`] bakes the effective weights into plain tensors, so the
saved model loads with plain transformers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "SignStraightThrough",
    "SignSupermask",
    "apply_sign_supermasks",
    "export_dense",
    "sign_supermasks",
]


class SignStraightThrough(torch.autograd.Function):
    """Forward: sign(s) with sign(0) = +1 (a weight is never zeroed by its sign); backward: the gradient unchanged."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor) -> torch.Tensor:
        return torch.where(scores >= 0, torch.ones_like(scores), -torch.ones_like(scores))

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output


class SignSupermask(nn.Module):
    """Parametrization `weight = mask ⊙ sign(scores) ⊙ |original|` with learnable `scores` (straight-through sign).

    Args:
        mask: the kept weights (bool, the weight's shape); a buffer, saved with the model.
        scores: the initial real scores (the weight's shape); their sign is the sign mask.
    """

    def __init__(self, mask: torch.Tensor, scores: torch.Tensor):
        super().__init__()
        if not isinstance(mask, torch.Tensor) or not isinstance(scores, torch.Tensor):
            raise TypeError("mask and scores must be tensors")
        if mask.shape != scores.shape:
            raise ValueError(f"mask has shape {tuple(mask.shape)} but scores have shape {tuple(scores.shape)}")
        self.register_buffer("mask", mask.detach().bool().clone())
        self.scores = nn.Parameter(scores.detach().clone().float())

    def signs(self) -> torch.Tensor:
        """sign(scores) in {−1, +1} (no gradient)."""
        return SignStraightThrough.apply(self.scores.detach())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        signs = SignStraightThrough.apply(self.scores).to(weight.dtype)
        return self.mask.to(weight.dtype) * signs * weight.abs()


def _original(module: nn.Module) -> torch.Tensor:
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def apply_sign_supermasks(
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    scores: dict[str, torch.Tensor] | None = None,
    *,
    freeze: bool = True,
) -> nn.Module:
    """Registers a [`SignSupermask`] on every weight named in `masks` (in place; returns the model).

    Args:
        model: the network whose weights are w₀ (e.g. freshly initialised and pruned by `synflow_prune`).
        masks: `{"<module>.weight": bool tensor}`.
        scores: initial scores per weight; default sign(w₀), so the masked model starts as m ⊙ w₀.
        freeze: make every other parameter (w₀, biases, ...) non-trainable, leaving only the scores to learn.
    """
    if not isinstance(masks, dict) or not masks:
        raise ValueError("masks must be a non-empty dict {'<module>.weight': bool tensor}")
    scores = scores or {}
    unknown = sorted(set(scores) - set(masks))
    if unknown:
        raise ValueError(f"scores name weights without a mask: {unknown}")
    targets = {}
    for name, mask in masks.items():
        if not isinstance(name, str) or not name.endswith(".weight"):
            raise ValueError(f"mask names must end with '.weight', got {name!r}")
        try:
            module = model.get_submodule(name[: -len(".weight")])
        except AttributeError:
            raise ValueError(f"the model has no module {name[: -len('.weight')]!r} for the mask {name!r}") from None
        weight = _original(module)
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(weight.shape):
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask {name!r} has shape {shape}, the weight {tuple(weight.shape)}")
        init = scores.get(name)
        if init is None:
            init = torch.where(weight.detach() >= 0, 1.0, -1.0)
        elif tuple(init.shape) != tuple(weight.shape):
            raise ValueError(f"scores {name!r} have shape {tuple(init.shape)}, the weight {tuple(weight.shape)}")
        targets[name] = (module, mask.to(weight.device), init.to(weight.device))
    if freeze:
        for param in model.parameters():
            param.requires_grad_(False)
    for module, mask, init in targets.values():
        parametrize.register_parametrization(module, "weight", SignSupermask(mask, init))
        module.parametrizations.weight.original.requires_grad_(False)
    return model


def sign_supermasks(model: nn.Module) -> dict[str, SignSupermask]:
    """`{"<module>.weight": SignSupermask}` of the model, in module order."""
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, SignSupermask):
                    out[f"{name}.weight"] = p
    return out


def export_dense(model: nn.Module) -> nn.Module:
    """A copy of the model with the effective weights m ⊙ sign(s) ⊙ |w₀| written as plain tensors.

    The copy has no parametrization left, so `save_pretrained` writes a vanilla checkpoint that
    `from_pretrained` loads without hf-methods; every parameter is trainable again. The model itself is unchanged.
    """
    supermasks = sign_supermasks(model)
    if not supermasks:
        raise ValueError("the model carries no SignSupermask: apply_sign_supermasks first")
    # A deep copy of a parametrized module shares its generated `Parametrized...` class, and removing the copy's
    # parametrizations would delete the property from that shared class (breaking the original). So: take the
    # parametrizations off the original (keeping w0), copy the now plain model, and put them back.
    effective, lists = {}, {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            effective[name] = module.weight.detach().clone()
            lists[name] = list(module.parametrizations.weight)
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    try:
        dense = copy.deepcopy(model)
    finally:
        for name, parametrizations in lists.items():
            module = model.get_submodule(name)
            for parametrization in parametrizations:
                parametrize.register_parametrization(module, "weight", parametrization)
            module.parametrizations.weight.original.requires_grad_(False)
    with torch.no_grad():
        for name, weight in effective.items():
            dense.get_submodule(name).weight.copy_(weight)
    for param in dense.parameters():
        param.requires_grad_(True)
    return dense
