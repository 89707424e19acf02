"""The weight compander (Cakaj, Mehnert & Yang, IJCNN 2023) as a `torch.nn.utils.parametrize` reparameterization.

Every weight `v` of the covered modules is trained as a free parameter and the module computes with

    w = WC(v; α, β)

where WC is an odd, monotone, saturating function with slope > 1 at the origin: large weights are compressed (|w| is
bounded, no single weight dominates) and small ones expanded (pushed away from zero, more weights take part). α and β
are per-layer scalars, optionally learned jointly with the weights (the paper's extension that avoids a search).

The closed form is pluggable (`COMPANDERS`). The default, `"tanh"`, is w = α · tanh(β · v / α): bound α, slope β at
the origin. It is a reconstruction with the paper's stated properties, not a transcription of the paper's equation
(the paper has no public code); pass `compander=` with another registered name or your own callable to change it.

[`remove_weight_compander`] bakes w into plain weights, so `save_pretrained` writes a vanilla checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import parametrize


def tanh_compander(v: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w = α · tanh(β · v / α): odd, monotone, |w| < α, dw/dv = β at v = 0 (expands small weights when β > 1)."""
    return alpha * torch.tanh(beta * v / alpha)


def arctan_compander(v: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w = (2α/π) · arctan(π β v / (2α)): odd, monotone, |w| < α, dw/dv = β at v = 0; a slower (algebraic) saturation."""
    return (2.0 * alpha / math.pi) * torch.atan(math.pi * beta * v / (2.0 * alpha))


COMPANDERS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "tanh": tanh_compander,
    "arctan": arctan_compander,
}

DEFAULT_MODULES = (nn.Linear, nn.Conv2d)


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _resolve(compander) -> Callable:
    if callable(compander):
        return compander
    if isinstance(compander, str) and compander in COMPANDERS:
        return COMPANDERS[compander]
    raise ValueError(
        f"compander must be one of {sorted(COMPANDERS)} or a callable (v, alpha, beta) -> w, got {compander!r}"
    )


class WeightCompander(nn.Module):
    """The parametrization `weight = WC(original; α, β)` of one module (α, β scalars of that layer).

    Args:
        alpha (`float`): the bound of |w| (the compander saturates at ±α).
        beta (`float`): the slope at the origin (β > 1 expands small weights).
        learnable (`bool`): when True α and β are `nn.Parameter`s trained with the weights; otherwise buffers.
        compander (`str` or callable): a name in `COMPANDERS` or `fn(v, alpha, beta) -> w`.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 2.0, learnable: bool = True, compander="tanh"):
        super().__init__()
        alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
        self.fn = _resolve(compander)
        self.compander = compander if isinstance(compander, str) else getattr(compander, "__name__", "custom")
        self.learnable = bool(learnable)
        self.enabled = True  # False: the identity (see `disable_weight_compander`)
        # α, β are stored through their logarithm so they stay positive under any gradient step
        log_alpha, log_beta = torch.tensor(math.log(alpha)), torch.tensor(math.log(beta))
        if self.learnable:
            self.log_alpha, self.log_beta = nn.Parameter(log_alpha), nn.Parameter(log_beta)
        else:
            self.register_buffer("log_alpha", log_alpha)
            self.register_buffer("log_beta", log_beta)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    @property
    def beta(self) -> torch.Tensor:
        return self.log_beta.exp()

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return original
        alpha, beta = self.alpha.to(original.dtype), self.beta.to(original.dtype)
        return self.fn(original, alpha, beta)

    def extra_repr(self) -> str:
        return f"compander={self.compander!r}, alpha={self.alpha.item():.4g}, beta={self.beta.item():.4g}, learnable={self.learnable}"


@dataclass
class WeightCompanderConfig:
    """The settings of [`get_weight_compander_model`] (the PEFT-shaped entry point).

    Args:
        modules (`tuple[type, ...]`): the module types whose `weight` is reparameterised.
        alpha (`float`): initial bound α of every layer.
        beta (`float`): initial slope β at the origin of every layer.
        learnable (`bool`): learn α, β per layer.
        compander (`str`): a name in `COMPANDERS`.
        exclude (`tuple[str, ...]`): skip modules whose qualified name contains one of these strings (e.g. a tied
            `lm_head`).
    """

    modules: tuple = DEFAULT_MODULES
    alpha: float = 1.0
    beta: float = 2.0
    learnable: bool = True
    compander: str = "tanh"
    exclude: tuple = field(default_factory=tuple)

    def __post_init__(self):
        _positive("alpha", self.alpha)
        _positive("beta", self.beta)
        _resolve(self.compander)
        _check_modules(self.modules)


def _check_modules(modules) -> tuple[type, ...]:
    modules = tuple(modules) if isinstance(modules, Iterable) and not isinstance(modules, type) else (modules,)
    if not modules or not all(isinstance(m, type) and issubclass(m, nn.Module) for m in modules):
        raise TypeError(f"modules must be nn.Module subclasses (e.g. (nn.Linear, nn.Conv2d)), got {modules!r}")
    return modules


def compander_modules(model: nn.Module) -> dict[str, nn.Module]:
    """`{name: module}` of the modules whose weight carries a [`WeightCompander`]."""
    return {
        name: module
        for name, module in model.named_modules()
        if parametrize.is_parametrized(module, "weight")
        and any(isinstance(p, WeightCompander) for p in module.parametrizations.weight)
    }


def apply_weight_compander(
    model: nn.Module,
    modules: Iterable[type] = DEFAULT_MODULES,
    *,
    alpha: float = 1.0,
    beta: float = 2.0,
    learnable: bool = True,
    compander="tanh",
    exclude: Iterable[str] = (),
) -> nn.Module:
    """Reparameterise, in place, the weight of every module of the given types as w = WC(v; α, β) and return `model`.

    The current weight becomes the free parameter v (`parametrizations.weight.original`), as in the paper, where WC is
    applied to ordinarily initialised weights. Biases are left alone. Tied weights shared with a module that is not
    covered (a tied `lm_head`) must be excluded, since parametrizing one side unties them.

    Args:
        model (`nn.Module`): any PyTorch / transformers model.
        modules (`tuple[type, ...]`): the module types to cover.
        alpha, beta, learnable, compander: see [`WeightCompander`].
        exclude (`Iterable[str]`): skip modules whose qualified name contains one of these strings.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    types = _check_modules(modules)
    if isinstance(exclude, str):
        raise TypeError(f"exclude must be an iterable of name fragments, not a single string ({exclude!r})")
    exclude = tuple(exclude)
    _positive("alpha", alpha), _positive("beta", beta), _resolve(compander)
    if compander_modules(model):
        raise ValueError("model already has a weight compander; call remove_weight_compander(model) first")
    targets = [
        module
        for name, module in model.named_modules()
        if isinstance(module, types)
        and isinstance(getattr(module, "weight", None), torch.Tensor)
        and not any(part in name for part in exclude)
    ]
    if not targets:
        raise ValueError(f"modules={types!r} (exclude={exclude!r}) matches no module with a weight in the model")
    for module in targets:
        wc = WeightCompander(alpha, beta, learnable, compander).to(module.weight.device)
        parametrize.register_parametrization(module, "weight", wc)
    return model


@contextmanager
def disable_weight_compander(model: nn.Module):
    """Within this context every compander of `model` is the identity (w = v), e.g. to compare with the raw weights."""
    companders = [
        p
        for m in compander_modules(model).values()
        for p in m.parametrizations.weight
        if isinstance(p, WeightCompander)
    ]
    if not companders:
        raise ValueError("model has no weight compander to disable (apply_weight_compander was not called)")
    previous = [wc.enabled for wc in companders]
    try:
        for wc in companders:
            wc.enabled = False
        yield model
    finally:
        for wc, was in zip(companders, previous):
            wc.enabled = was


def remove_weight_compander(model: nn.Module) -> nn.Module:
    """Bake w = WC(v; α, β) into plain weights and drop the parametrization (and α, β); returns `model`.

    After this the state dict has the base model's keys only, so `save_pretrained` → `from_pretrained` of the base
    class reloads it without hf-methods.
    """
    found = compander_modules(model)
    if not found:
        raise ValueError("model has no weight compander to remove (apply_weight_compander was not called)")
    for module in found.values():
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model


def get_weight_compander_model(model: nn.Module, config: WeightCompanderConfig) -> nn.Module:
    """PEFT-shaped entry point: `apply_weight_compander(model, **config)`; [`merge_and_unload`] bakes it."""
    if not isinstance(config, WeightCompanderConfig):
        raise TypeError(f"config must be a WeightCompanderConfig, got {type(config).__name__}")
    return apply_weight_compander(
        model,
        config.modules,
        alpha=config.alpha,
        beta=config.beta,
        learnable=config.learnable,
        compander=config.compander,
        exclude=config.exclude,
    )


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Alias of [`remove_weight_compander`] under PEFT's name: fold the compander into the weights."""
    return remove_weight_compander(model)


def compander_values(model: nn.Module) -> dict[str, dict[str, float]]:
    """`{module name: {"alpha": α, "beta": β}}` of every compander (to log the learned values)."""
    out = {}
    for name, module in compander_modules(model).items():
        wc = next(p for p in module.parametrizations.weight if isinstance(p, WeightCompander))
        out[name] = {"alpha": float(wc.alpha.detach()), "beta": float(wc.beta.detach())}
    return out


def near_zero_fraction(
    model: nn.Module, modules: Iterable[type] = DEFAULT_MODULES, *, relative: float = 0.01
) -> float:
    """The fraction of (effective) weights with |w| < relative · max|w| of their layer, over the given module types."""
    types = _check_modules(modules)
    if not 0.0 < relative < 1.0:
        raise ValueError(f"relative must be in (0, 1), got {relative!r}")
    small = total = 0
    for module in model.modules():
        if isinstance(module, types) and isinstance(getattr(module, "weight", None), torch.Tensor):
            w = module.weight.detach().abs()
            small += int((w < relative * w.max()).sum())
            total += w.numel()
    if total == 0:
        raise ValueError(f"modules={types!r} matches no weight in the model")
    return small / total
