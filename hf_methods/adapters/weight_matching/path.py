"""The linear path between two models as a reparameterisation of chosen weights.

[`add_merge_partner`] registers, with `torch.nn.utils.parametrize`, on every chosen weight `W` of a model

    W(t) = (1 − t) W + t W_partner,

where `W_partner` is the matching weight of a second model (typically permuted to the first by [`weight_matching`],
so that the path is the one whose barrier the P37 paper studies) kept as a buffer, and `t` a scalar per weight,
optionally learnable (a per-layer merging coefficient trained on data). The model keeps its class and its forward;
[`merge_partner_disabled`] gives back the original weights exactly, and [`bake_merge_partner`] writes `W(t)` into
plain parameters, so the merged model saves and reloads with plain transformers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.utils import parametrize


class LinearPathMerge(nn.Module):
    """Parametrization `W ↦ (1 − t) W + t W_partner` (computed as `W + t (W_partner − W)`).

    Args:
        partner (`torch.Tensor`): `W_partner`, same shape as the weight (stored as the buffer `partner`).
        t (`float`): initial position on the path, `0` = the model's own weight, `1` = the partner's.
        learnable (`bool`): whether `t` (the parameter `t`) receives gradients.
    """

    def __init__(self, partner: torch.Tensor, t: float = 0.5, learnable: bool = False):
        super().__init__()
        self.register_buffer("partner", partner.detach().clone())
        self.t = nn.Parameter(torch.tensor(float(t), dtype=partner.dtype), requires_grad=learnable)
        self.enabled = True

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return weight
        return weight + self.t.to(weight.dtype) * (self.partner.to(weight.dtype) - weight)


def _path_modules(model: nn.Module):
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name, plist in module.parametrizations.items():
                if any(isinstance(p, LinearPathMerge) for p in plist):
                    yield module, name, plist


def add_merge_partner(
    model: nn.Module,
    partner,
    t: float = 0.5,
    *,
    parameters: Sequence[str] | None = None,
    learnable_t: bool = False,
) -> nn.Module:
    """Puts `model` on the linear path towards `partner`: each chosen weight becomes `(1 − t) W + t W_partner`.

    Args:
        model (`torch.nn.Module`): modified in place and returned.
        partner (`torch.nn.Module` or `dict[str, torch.Tensor]`): a model of the same architecture (e.g.
            `apply_permutation(model_b, weight_matching(model, model_b))`), or its tensors by parameter name.
        t (`float`, *optional*, defaults to 0.5): initial position, in `[0, 1]`.
        parameters (`list[str]`, *optional*): parameter names to merge; default every floating parameter. Tied
            parameters (one tensor under two names) are refused: merging one name would untie them.
        learnable_t (`bool`, *optional*, defaults to `False`): make each `t` a trainable parameter.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(partner, nn.Module):
        partner_tensors = {name: p.detach() for name, p in partner.named_parameters()}
    elif isinstance(partner, Mapping):
        partner_tensors = dict(partner)
    else:
        raise TypeError(f"`partner` must be a torch.nn.Module or a dict of tensors, got {type(partner).__name__}")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"`t` must be a number in [0, 1], got {t!r}")
    params = dict(model.named_parameters())
    if parameters is None:
        names = [name for name, p in params.items() if p.is_floating_point()]
    elif isinstance(parameters, str) or not isinstance(parameters, Sequence) or not parameters:
        raise ValueError("`parameters` must be a non-empty list of parameter names")
    else:
        names = list(parameters)
    owners: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(p), []).append(name)
    for name in names:
        if name not in params:
            raise ValueError(f"`parameters`: the model has no parameter {name!r}")
        if len(owners[id(params[name])]) > 1:
            raise ValueError(
                f"`parameters`: {name!r} is tied to {owners[id(params[name])]}; merging it would untie them"
            )
        if name not in partner_tensors or partner_tensors[name].shape != params[name].shape:
            got = tuple(partner_tensors[name].shape) if name in partner_tensors else "missing"
            raise ValueError(f"`partner` must have {name!r} of shape {tuple(params[name].shape)}, got {got}")
    for name in names:
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        partner_tensor = partner_tensors[name].to(device=params[name].device, dtype=params[name].dtype)
        parametrize.register_parametrization(module, attr, LinearPathMerge(partner_tensor, t, learnable_t))
    return model


@contextmanager
def merge_partner_disabled(model: nn.Module):
    """Within the block, every merged weight is the model's own `W` again (exactly); restored on exit."""
    found = [p for _, _, plist in _path_modules(model) for p in plist if isinstance(p, LinearPathMerge)]
    previous = [p.enabled for p in found]
    for p in found:
        p.enabled = False
    try:
        yield model
    finally:
        for p, state in zip(found, previous):
            p.enabled = state


def bake_merge_partner(model: nn.Module) -> nn.Module:
    """Writes `W(t)` into plain parameters and removes the parametrizations (in place; returns `model`)."""
    for module, name, _ in list(_path_modules(model)):
        parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return model


__all__ = ["LinearPathMerge", "add_merge_partner", "bake_merge_partner", "merge_partner_disabled"]
