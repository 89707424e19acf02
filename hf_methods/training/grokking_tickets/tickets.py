"""Grokking tickets (Minegishi et al., "Grokking Tickets: Lottery Tickets Accelerate Grokking", TMLR 2025):
magnitude-pruned subnetworks of a network that has generalised, rewound to the network's initial weights.

The procedure of the official code (`gouki510/Grokking-Tickets`, `prune.py`):

1. train a dense network θ₀ → θ_T on modular arithmetic until it generalises;
2. keep the fraction `keep` of the weights with the largest |θ_T| over all masked matrices together (global
   magnitude pruning: one threshold, so each layer ends up with its own density);
3. rewind the kept weights to θ₀ and retrain with the mask fixed: m ⊙ θ₀ → m ⊙ θ'.

The controls: a random mask with the same per-layer densities ([`random_masks_like`]), a ticket taken from an
earlier checkpoint (memorisation), and a dense network whose weights are rescaled to the ticket's norm
([`match_weight_norm`]).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from hf_methods.common.masks import PRUNABLE, apply_masks, magnitude_masks, masks_of, prunable_modules


def grokking_ticket_masks(
    trained_model: nn.Module,
    keep: float = 0.4,
    *,
    scope: str = "global",
    include: Iterable[type] = PRUNABLE,
    exclude: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    r"""The ticket's masks: keep the `keep` fraction of largest |θ_T| of the trained (generalised) weights,

        m = 1[|θ_T| ≥ τ],   τ the ⌈keep·n⌉-th largest |θ_T| over all covered weights (`scope="global"`),

    or the same fraction of every layer (`scope="layer"`). `keep` is the fraction *kept*, as the official code's
    `sparsity`. If the trained model already carries masks, the magnitudes of its effective weights m ⊙ θ are used.

    Args:
        trained_model (`nn.Module`): the network after it has generalised.
        keep (`float`): the fraction of the covered weights kept, in (0, 1].
        scope (`str`): `"global"` (one threshold over all layers, the paper's choice) or `"layer"`.
        include, exclude: which modules are covered (default: every `nn.Linear` / `nn.Conv1d/2d`).

    Returns:
        `{"<module>.weight": bool tensor}`, exactly round(keep · n) weights kept.
    """
    if not isinstance(trained_model, nn.Module):
        raise TypeError(f"trained_model must be an nn.Module, got {type(trained_model).__name__}")
    masks = magnitude_masks(trained_model, keep, scope=scope, include=include, exclude=exclude)
    existing = masks_of(trained_model)
    if existing:  # a pruned weight has |m ⊙ θ| = 0 but `magnitude_masks` reads θ: rank the effective weights
        effective = copy.deepcopy(trained_model)
        modules = prunable_modules(effective, include, exclude)
        with torch.no_grad():
            for name, mask in existing.items():
                module = modules.get(name[: -len(".weight")])
                if module is not None:
                    module.parametrizations.weight.original.mul_(mask.to(module.parametrizations.weight.original))
        masks = magnitude_masks(effective, keep, scope=scope, include=include, exclude=exclude)
    return masks


def random_masks_like(masks: dict[str, torch.Tensor], *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random masks with exactly the same number of kept weights in every layer as `masks` (the paper's random
    control: same per-layer densities as the ticket, positions uniformly at random)."""
    if not isinstance(masks, dict) or not masks:
        raise ValueError("masks must be a non-empty dict {'<module>.weight': bool tensor}")
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, mask in masks.items():
        count = int(mask.bool().sum())
        flat = torch.zeros(mask.numel(), dtype=torch.bool)
        flat[torch.randperm(mask.numel(), generator=generator)[:count]] = True
        out[name] = flat.view(mask.shape).to(mask.device)
    return out


def rewind_ticket(initial_model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of the network at initialisation θ₀ carrying the fixed masks (`weight = θ₀ ⊙ m` through
    `torch.nn.utils.parametrize`); `initial_model` itself is left untouched. Train it as any model: the pruned
    weights get no gradient. [`hf_methods.common.masks.bake`] turns it into a plain model for `save_pretrained`."""
    if not isinstance(initial_model, nn.Module):
        raise TypeError(f"initial_model must be an nn.Module, got {type(initial_model).__name__}")
    if masks_of(initial_model):
        raise ValueError("initial_model already carries masks: pass the dense network at initialisation")
    return apply_masks(copy.deepcopy(initial_model), masks)


def find_grokking_ticket(
    trained_model: nn.Module,
    initial_model: nn.Module,
    keep: float = 0.4,
    *,
    scope: str = "global",
    exclude: Iterable[str] = (),
) -> nn.Module:
    """The grokking ticket in one call: [`grokking_ticket_masks`] of `trained_model` applied to a copy of
    `initial_model` ([`rewind_ticket`]). The two models must share their architecture (`initial_model` is the
    same network before training: keep a `copy.deepcopy` or its `state_dict` before training)."""
    masks = grokking_ticket_masks(trained_model, keep, scope=scope, exclude=exclude)
    return rewind_ticket(initial_model, masks)


def weight_norm(model: nn.Module, ord: int = 2, *, exclude: Iterable[str] = ()) -> float:
    """The L`ord` norm of all the (effective, masked) prunable weights of `model` taken together."""
    if ord not in (1, 2):
        raise ValueError(f"ord must be 1 or 2, got {ord!r}")
    weights = [m.weight.detach().flatten() for m in prunable_modules(model, exclude=exclude).values()]
    if not weights:
        raise ValueError("the model has no prunable weight to measure")
    return float(torch.linalg.vector_norm(torch.cat(weights), ord))


def match_weight_norm(
    model: nn.Module, reference: nn.Module, ord: int = 2, *, exclude: Iterable[str] = ()
) -> nn.Module:
    """A copy of `model` whose prunable weights are all multiplied by one factor so that their L`ord` norm equals
    that of `reference` (e.g. the dense initialisation rescaled to the ticket's norm: the paper's norm-matched dense
    control, `set_weight_ratio` in the official code)."""
    if masks_of(model):
        raise ValueError("model carries masks: match the norm of a dense network")
    target, current = weight_norm(reference, ord, exclude=exclude), weight_norm(model, ord, exclude=exclude)
    if current == 0:
        raise ValueError("model's weights are all zero: no factor matches a norm")
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for module in prunable_modules(scaled, exclude=exclude).values():
            module.weight.mul_(target / current)
    return scaled


__all__ = [
    "find_grokking_ticket",
    "grokking_ticket_masks",
    "match_weight_norm",
    "random_masks_like",
    "rewind_ticket",
    "weight_norm",
]
