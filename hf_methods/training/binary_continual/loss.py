"""The KL term of variational continual learning in field space (Li, Huang, Zou & Huang, 2023).

With q_θ(w) = exp(βθw)/(2cosh βθ) on w ∈ {±1} and the prior q_θp of the same form (same β), per weight

    KL(q_θ ‖ q_θp) = Σ_w q_θ(w) log(q_θ(w)/q_θp(w)) = β·m·(θ − θp) − log cosh(βθ) + log cosh(βθp),   m = tanh(βθ),

whose gradient is ∂KL/∂θ = β²·σ²(θ)·(θ − θp) with σ² = 1 − m² (the update of the official code).
"""

from __future__ import annotations

import math

import torch
from torch import nn

REDUCTIONS = ("mean", "sum", "none")


def log_cosh(x: torch.Tensor) -> torch.Tensor:
    """log cosh(x) = |x| + log1p(exp(−2|x|)) − log 2, finite for any |x|."""
    a = x.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


def _check_fields(field: torch.Tensor, prior_field: torch.Tensor, beta) -> None:
    if not isinstance(field, torch.Tensor) or not torch.is_floating_point(field):
        raise TypeError("field must be a float tensor")
    if not isinstance(prior_field, torch.Tensor) or not torch.is_floating_point(prior_field):
        raise TypeError("prior_field must be a float tensor")
    if prior_field.shape != field.shape:
        raise ValueError(
            f"prior_field must have the shape of field {tuple(field.shape)}, got {tuple(prior_field.shape)}"
        )
    b = float(beta) if not isinstance(beta, torch.Tensor) else float(beta.detach())
    if not b > 0 or not math.isfinite(b):
        raise ValueError(f"beta must be finite and > 0, got {b}")


def bernoulli_field_kl(
    field: torch.Tensor, prior_field: torch.Tensor, beta: float | torch.Tensor, *, reduction: str = "sum"
) -> torch.Tensor:
    """KL(q_θ ‖ q_θp) = β·tanh(βθ)·(θ − θp) − log cosh(βθ) + log cosh(βθp), element-wise, then reduced.

    Args:
        field (`torch.Tensor`): the fields θ (gradients flow to it).
        prior_field (`torch.Tensor`): the prior's fields θp, same shape (treated as a constant).
        beta (`float`): the inverse temperature β > 0 shared by both distributions.
        reduction (`str`): `"none"`: one value per row (dim 0), the KL summed over the row's weights (per output
            unit for a weight matrix; per element for a vector); `"sum"`: their sum (the KL of the whole factorised
            distribution); `"mean"`: their mean over the rows.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    _check_fields(field, prior_field, beta)
    prior_field = prior_field.detach()
    kl = (
        beta * torch.tanh(beta * field) * (field - prior_field) - log_cosh(beta * field) + log_cosh(beta * prior_field)
    )
    if kl.dim() == 0:
        return kl
    per_row = kl.reshape(kl.shape[0], -1).sum(dim=1)
    if reduction == "sum":
        return per_row.sum()
    return per_row.mean() if reduction == "mean" else per_row


def bernoulli_field_kl_grad(field: torch.Tensor, prior_field: torch.Tensor, beta: float) -> torch.Tensor:
    """The closed-form gradient ∂KL/∂θ = β²·(1 − tanh²(βθ))·(θ − θp) (the official code's `KL` update)."""
    _check_fields(field, prior_field, beta)
    m = torch.tanh(beta * field)
    return beta**2 * (1.0 - m * m) * (field - prior_field)


class BernoulliFieldKL(nn.Module):
    """`nn.Module` form of [`bernoulli_field_kl`]: `BernoulliFieldKL(beta)(field, prior_field)`.

    Args:
        beta (`float`, defaults to 1.0): inverse temperature β > 0 (a call may override it with `beta=`).
        reduction (`str`, defaults to `"sum"`): `"sum"`, `"mean"` or `"none"` (one value per row).
    """

    def __init__(self, beta: float = 1.0, reduction: str = "sum"):
        super().__init__()
        if not beta > 0 or not math.isfinite(beta):
            raise ValueError(f"beta must be finite and > 0, got {beta}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.beta, self.reduction = float(beta), reduction

    def forward(self, field: torch.Tensor, prior_field: torch.Tensor, beta: float | None = None) -> torch.Tensor:
        return bernoulli_field_kl(field, prior_field, self.beta if beta is None else beta, reduction=self.reduction)


def model_kl(model: nn.Module, prior_fields: list[torch.Tensor], beta: float | torch.Tensor) -> torch.Tensor:
    """Σ over the layers of `model.fields()` of KL(q_θ ‖ q_θp) (summed over every weight)."""
    fields = list(model.fields())
    if len(prior_fields) != len(fields):
        raise ValueError(f"prior_fields must hold {len(fields)} tensors (one per layer), got {len(prior_fields)}")
    return sum(bernoulli_field_kl(f, p, beta, reduction="sum") for f, p in zip(fields, prior_fields))


__all__ = ["BernoulliFieldKL", "bernoulli_field_kl", "bernoulli_field_kl_grad", "log_cosh", "model_kl"]
