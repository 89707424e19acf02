"""Server-side, data-free pruning at initialisation with SynFlow (Tanaka et al., 2020), as HideNseek uses it.

HideNseek (Vallapuram et al., 2022) prunes the randomly initialised global model once, on the server, before any
client trains: no data is needed, so the clients never pay for pruning. The saliency is SynFlow's *synaptic flow*:
with every parameter replaced by its absolute value and an all-ones input, the network output summed,

    R = 1ᵀ (∏_l |W_l|) 1,        S(θ) = |θ ⊙ ∂R/∂θ|,

and the lowest-scoring weights are removed over n iterations whose kept fraction follows the exponential schedule
ρ_k = ρ^{k/n} (k = 1..n), the scores recomputed on the masked network each time. Re-scoring after each small cut is
what keeps every layer connected at extreme sparsity (one-shot pruning to ρ can empty a layer: *layer collapse*).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from hf_methods.common.adversarial import logits_of
from hf_methods.common.masks import PRUNABLE, bake, prunable_modules

#: Element-wise modules SynFlow's linearised copy replaces by identities (R is defined on the linear network; on a
#: ReLU network with an all-ones input they are identities anyway).
ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.Softplus,
    nn.Dropout,
)

__all__ = ["ELEMENTWISE", "layer_densities", "synflow_prune", "synflow_scores"]


def _check_density(density) -> float:
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0.0 < density <= 1.0:
        raise ValueError(f"density must be a fraction in (0, 1] (the fraction of weights kept), got {density!r}")
    return float(density)


def _linearised_copy(model: nn.Module, include: tuple, exclude: tuple) -> tuple[nn.Module, dict[str, nn.Parameter]]:
    """A float64 copy with |θ| everywhere, biases zeroed, activations and dropout replaced by identities."""
    clone = bake(copy.deepcopy(model)).double().eval()
    for name, module in list(clone.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, ELEMENTWISE):
                setattr(module, child_name, nn.Identity())
    with torch.no_grad():
        for name, param in clone.named_parameters():
            param.requires_grad_(False)
            # R = 1ᵀ(∏|W_l|)1 has no bias paths: biases are zeroed so only the weights' synaptic flow is scored.
            if name.endswith("bias"):
                param.zero_()
            else:
                param.abs_()
    weights = {f"{name}.weight": module.weight for name, module in prunable_modules(clone, include, exclude).items()}
    for weight in weights.values():
        weight.requires_grad_(True)
    return clone, weights


def _input_shape(model: nn.Module, input_shape, modules: dict[str, nn.Module]) -> tuple[int, ...]:
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"input_shape must be a tuple of positive sizes (batch first), got {input_shape!r}")
        return shape
    size = getattr(getattr(model, "config", None), "input_size", None)
    if size is None:
        first = next(iter(modules.values()))
        if not isinstance(first, nn.Linear):
            raise ValueError(
                "input_shape is needed for a model whose first prunable module is not nn.Linear "
                "(e.g. input_shape=(1, 3, 32, 32) for a convolutional network)"
            )
        size = first.in_features
    return (1, int(size))


def _weight_shape(module: nn.Module) -> torch.Size:
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original.shape
    return module.weight.shape


class _SynFlow:
    """The linearised float64 copy of a model, reused across SynFlow iterations (the model itself is untouched)."""

    def __init__(self, model: nn.Module, include: tuple, exclude: tuple, input_shape, input_name: str | None):
        modules = prunable_modules(model, include, exclude)
        if not modules:
            raise ValueError(f"the model has no module of the types {[t.__name__ for t in include]} to prune")
        self.shape = _input_shape(model, input_shape, modules)
        self.clone, self.weights = _linearised_copy(model, include, exclude)
        self.magnitudes = {name: w.detach().clone() for name, w in self.weights.items()}
        self.input_name = input_name

    def scores(self, masks: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        masks = masks or {}
        unknown = sorted(set(masks) - set(self.weights))
        if unknown:
            raise ValueError(f"masks name weights that are not prunable: {unknown}")
        with torch.no_grad():
            for name, weight in self.weights.items():
                weight.copy_(self.magnitudes[name])
                weight.grad = None
                if name in masks:
                    mask = masks[name]
                    if tuple(mask.shape) != tuple(weight.shape):
                        raise ValueError(
                            f"mask {name!r} has shape {tuple(mask.shape)}, the weight {tuple(weight.shape)}"
                        )
                    weight.mul_(mask.to(weight.device, torch.float64))
        device = next(iter(self.weights.values())).device
        ones = torch.ones(self.shape, dtype=torch.float64, device=device)
        output = self.clone(**{self.input_name: ones}) if self.input_name else self.clone(ones)
        logits_of(output).sum().backward()  # R = 1ᵀ(∏_l |W_l ⊙ M_l|)1
        return {name: (w.grad * w).detach().abs() for name, w in self.weights.items()}


def synflow_scores(
    model: nn.Module,
    masks: dict[str, torch.Tensor] | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    include: Iterable[type] = PRUNABLE,
    exclude: Iterable[str] = (),
    input_name: str | None = None,
) -> dict[str, torch.Tensor]:
    """SynFlow saliencies S = |θ ⊙ ∂R/∂θ| of the prunable weights, R = 1ᵀ(∏_l |W_l ⊙ M_l|)1 (float64).

    Works on a copy (the model's weights and their signs are untouched) and uses no data: the input is all ones.

    Args:
        model: the network (its `Linear` / `Conv` weights are scored).
        masks: current masks `{"<module>.weight": bool tensor}` (pruned weights score 0); `None`: nothing pruned.
        input_shape: the all-ones input's shape, batch first; default `(1, config.input_size)` or `(1, in_features)`
            of the first prunable `nn.Linear`.
        include, exclude: which modules count as prunable (see `hf_methods.common.masks.prunable_modules`).
        input_name: keyword to pass the input under (default: positional).
    """
    return _SynFlow(model, tuple(include), tuple(exclude), input_shape, input_name).scores(masks)


def synflow_prune(
    model: nn.Module,
    density: float,
    iterations: int = 100,
    *,
    input_shape: Sequence[int] | None = None,
    include: Iterable[type] = PRUNABLE,
    exclude: Iterable[str] = (),
    input_name: str | None = None,
) -> dict[str, torch.Tensor]:
    """Iterative SynFlow masks keeping a global fraction `density` of the prunable weights (data-free).

    Iteration k = 1..n keeps the round(ρ^{k/n} · N) highest [`synflow_scores`] among the weights still kept (a
    global ranking over all layers); the last one keeps exactly round(ρ · N) (at least one). The model itself is not
    modified: apply the masks with `apply_sign_supermasks` or `hf_methods.common.masks.apply_masks`.

    Args:
        model: the (freshly initialised) network.
        density: ρ, the fraction of weights kept, in (0, 1].
        iterations: n, the number of prune-and-rescore iterations (SynFlow's default is 100; 1 is one-shot).
        input_shape, include, exclude, input_name: see [`synflow_scores`].

    Returns:
        `{"<module>.weight": bool tensor}` for every prunable weight.
    """
    density = _check_density(density)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    include, exclude = tuple(include), tuple(exclude)
    synflow = _SynFlow(model, include, exclude, input_shape, input_name)
    modules = prunable_modules(model, include, exclude)
    masks = {f"{name}.weight": torch.ones(_weight_shape(module), dtype=torch.bool) for name, module in modules.items()}
    total = sum(m.numel() for m in masks.values())
    names = list(masks)
    for k in range(1, iterations + 1):
        keep = max(1, int(round(density ** (k / iterations) * total)))
        scores = synflow.scores(masks)
        flat = torch.cat([torch.where(masks[n], scores[n], torch.full_like(scores[n], -1.0)).flatten() for n in names])
        chosen = torch.zeros_like(flat, dtype=torch.bool)
        chosen[torch.argsort(flat, descending=True, stable=True)[:keep]] = True  # ties: the first positions
        start = 0
        for n in names:
            size = masks[n].numel()
            masks[n] = chosen[start : start + size].view_as(masks[n]).cpu()
            start += size
    return masks


def layer_densities(masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """The fraction of weights each mask keeps (0 means the layer collapsed)."""
    return {name: float(mask.float().mean()) for name, mask in masks.items()}
