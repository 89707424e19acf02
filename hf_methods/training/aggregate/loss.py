"""Bag-level, instance-level and interpolating losses for learning from aggregate responses.

Javanmard, Chen, Mirrokni, Badanidiyuru & Fu, "Learning from Aggregate responses: Instance Level versus Bag Level Loss
Functions" (ICLR 2024). The training set is split into bags `B_a`; only the aggregate response of each bag,
`ȳ_a = (1/k_a) Σ_{i∈B_a} y_i`, is released. With `f_i = f_θ(x_i)` and `f̄_a = (1/k_a) Σ_{i∈B_a} f_i`:

    bag loss          L_bag(θ)  = Σ_a (ȳ_a − f̄_a)²
    instance loss     L_inst(θ) = Σ_a Σ_{i∈B_a} (ȳ_a − f_i)²
    within-bag term   R(θ)      = Σ_a Σ_{i∈B_a} (f_i − f̄_a)²

Expanding the square around `f̄_a` (the cross term sums to zero within each bag) gives the paper's identity

    L_inst(θ) = Σ_a k_a (ȳ_a − f̄_a)² + R(θ)          (= k·L_bag + R for bags of equal size k),

so the instance loss is the bag loss plus a regulariser that pulls the predictions of a bag towards each other. The
interpolating estimator keeps the regulariser with a weight `ρ`:

    L_ρ(θ) = Σ_a k_a (ȳ_a − f̄_a)² + ρ · R(θ),

`ρ = 0` being the bag loss (unbiased, high variance) and `ρ = 1` the instance loss (biased, lower variance).

No official code was released; this module follows the paper's definitions. Sums are kept as written (the factor
`k_a` in front of the bag term matters for the identity and for the meaning of `ρ`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hf_methods.common.checks import check_reduction

MODES = ("bag", "instance", "interpolate")


# ----------------------------------------------------------------------------------------------------------- checks


def _check_rho(rho) -> float:
    if not isinstance(rho, (int, float)) or isinstance(rho, bool):
        raise TypeError(f"rho must be a number, got {type(rho).__name__}")
    if not (math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0 (0: bag loss, 1: instance loss), got {rho}")
    return float(rho)


def _check_mode(mode) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def check_bag_inputs(
    predictions: torch.Tensor, bag_ids: torch.Tensor, bag_targets: torch.Tensor, *, atol: float = 1e-5
) -> torch.Tensor:
    """Validates `(predictions, bag_ids, bag_targets)` and returns `predictions` as a 1-D tensor.

    - `predictions`: floating tensor of shape `(n,)` or `(n, 1)` (a regression head's output);
    - `bag_ids`: integer tensor of shape `(n,)`, the bag of every instance (any integers; they need not be
      contiguous or sorted);
    - `bag_targets`: floating tensor of shape `(n,)`, every instance carrying its bag's aggregate response `ȳ_a`,
      so it must be constant within each bag (up to `atol` times the response scale).
    """
    if not isinstance(predictions, torch.Tensor):
        raise TypeError(f"predictions must be a torch.Tensor, got {type(predictions).__name__}")
    if not isinstance(bag_ids, torch.Tensor):
        raise TypeError(f"bag_ids must be a torch.Tensor of integers, got {type(bag_ids).__name__}")
    if not isinstance(bag_targets, torch.Tensor):
        raise TypeError(f"bag_targets must be a torch.Tensor, got {type(bag_targets).__name__}")
    if not predictions.is_floating_point():
        raise TypeError(f"predictions must be a floating-point tensor, got dtype {predictions.dtype}")
    if predictions.dim() == 2 and predictions.shape[1] == 1:
        predictions = predictions.squeeze(1)
    if predictions.dim() != 1:
        raise ValueError(
            f"predictions must have shape (n,) or (n, 1) (one scalar prediction per instance), "
            f"got {tuple(predictions.shape)}"
        )
    n = predictions.shape[0]
    if n == 0:
        raise ValueError("predictions must hold at least one instance, got an empty tensor")
    if bag_ids.is_floating_point() or bag_ids.is_complex() or bag_ids.dtype == torch.bool:
        raise TypeError(f"bag_ids must be an integer tensor, got dtype {bag_ids.dtype}")
    if bag_ids.shape != (n,):
        raise ValueError(f"bag_ids must have shape ({n},) to match predictions, got {tuple(bag_ids.shape)}")
    if not bag_targets.is_floating_point():
        raise TypeError(f"bag_targets must be a floating-point tensor, got dtype {bag_targets.dtype}")
    if bag_targets.shape != (n,):
        raise ValueError(
            f"bag_targets must have shape ({n},): each instance carries its bag's aggregate response, "
            f"got {tuple(bag_targets.shape)}"
        )
    if not torch.isfinite(bag_targets).all():
        raise ValueError("bag_targets must be finite")
    # every instance of a bag must carry the same aggregate response
    inverse, sizes = _bag_index(bag_ids)
    targets = bag_targets.detach().to(torch.float64)
    first = torch.zeros(sizes.shape[0], dtype=torch.float64, device=targets.device)
    first.scatter_(0, inverse, targets)  # one (arbitrary) member's value per bag
    spread = (targets - first[inverse]).abs().max().item()
    scale = 1.0 + targets.abs().max().item()
    if spread > atol * scale:
        raise ValueError(
            f"bag_targets must be equal within each bag (the bag's aggregate response ȳ_a), but they differ by up to "
            f"{spread:.3g} inside a bag"
        )
    return predictions


def _bag_index(bag_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(inverse, sizes)`: each instance's bag as an index in `[0, num_bags)` and the size `k_a` of every bag."""
    _, inverse, sizes = torch.unique(bag_ids, return_inverse=True, return_counts=True)
    return inverse, sizes


def bag_means(values: torch.Tensor, bag_ids: torch.Tensor) -> torch.Tensor:
    """Per instance, the mean of `values` over its bag: `(f̄_{a(i)})_i` (differentiable in `values`)."""
    inverse, sizes = _bag_index(bag_ids)
    sums = torch.zeros(sizes.shape[0], dtype=values.dtype, device=values.device).index_add(0, inverse, values)
    return (sums / sizes.to(values.dtype))[inverse]


# ----------------------------------------------------------------------------------------------------------- terms


def bag_level_loss(predictions: torch.Tensor, bag_ids: torch.Tensor, bag_targets: torch.Tensor) -> torch.Tensor:
    """`L_bag = Σ_a (ȳ_a − f̄_a)²`: one term per bag, the bag's aggregate prediction against its aggregate response."""
    predictions = check_bag_inputs(predictions, bag_ids, bag_targets)
    inverse, sizes = _bag_index(bag_ids)
    per_instance = (bag_targets.to(predictions.dtype) - bag_means(predictions, bag_ids)) ** 2
    # each bag's squared error appears k_a times in `per_instance`: divide by k_a to count it once
    return (per_instance / sizes.to(predictions.dtype)[inverse]).sum()


def instance_level_loss(predictions: torch.Tensor, bag_ids: torch.Tensor, bag_targets: torch.Tensor) -> torch.Tensor:
    """`L_inst = Σ_a Σ_{i∈B_a} (ȳ_a − f_i)²`: every instance's prediction against its bag's aggregate response."""
    predictions = check_bag_inputs(predictions, bag_ids, bag_targets)
    return ((bag_targets.to(predictions.dtype) - predictions) ** 2).sum()


def within_bag_variance(predictions: torch.Tensor, bag_ids: torch.Tensor) -> torch.Tensor:
    """`R = Σ_a Σ_{i∈B_a} (f_i − f̄_a)²`: the spread of the predictions inside each bag (needs no response)."""
    if not isinstance(predictions, torch.Tensor) or not predictions.is_floating_point():
        raise TypeError("predictions must be a floating-point torch.Tensor")
    if predictions.dim() == 2 and predictions.shape[1] == 1:
        predictions = predictions.squeeze(1)
    return ((predictions - bag_means(predictions, bag_ids)) ** 2).sum()


def aggregate_response_loss(
    predictions: torch.Tensor,
    bag_ids: torch.Tensor,
    bag_targets: torch.Tensor,
    mode: str = "interpolate",
    rho: float = 0.3,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The interpolating loss `L_ρ` per instance (functional form of :class:`AggregateResponseLoss`).

    The per-instance value is

        ℓ_i = (ȳ_a − f̄_a)² + ρ · (f_i − f̄_a)²        for i ∈ B_a,

    so that `Σ_i ℓ_i = Σ_a k_a (ȳ_a − f̄_a)² + ρ·R = L_ρ` (`reduction="sum"`). `mode="bag"` is `ρ = 0`
    (`Σ_i ℓ_i = Σ_a k_a (ȳ_a − f̄_a)²`, i.e. `k·L_bag` for bags of size k; its mean over instances is the mean over
    bags of `(ȳ_a − f̄_a)²`), `mode="instance"` is `ρ = 1` (`ℓ_i = (ȳ_a − f_i)²` after the identity, so its sum is
    `L_inst`), and `mode="interpolate"` uses `rho`.

    Args:
        predictions (`torch.Tensor` of shape `(n,)` or `(n, 1)`): `f_θ(x_i)` for every instance of the batch.
        bag_ids (`torch.LongTensor` of shape `(n,)`): the bag of every instance. A batch must hold whole bags: the
            bag means are taken over the instances present.
        bag_targets (`torch.Tensor` of shape `(n,)`): the aggregate response `ȳ_a` of each instance's bag.
        mode (`str`, defaults to `"interpolate"`): `"bag"`, `"instance"` or `"interpolate"`.
        rho (`float`, defaults to 0.3): the weight `ρ ≥ 0` of the within-bag term (used by `"interpolate"` only).
        reduction (`str`, defaults to `"mean"`): `"mean"` (`L_ρ / n`), `"sum"` (`L_ρ`) or `"none"` (the `ℓ_i`).
    """
    mode = _check_mode(mode)
    rho = 0.0 if mode == "bag" else 1.0 if mode == "instance" else _check_rho(rho)
    check_reduction(reduction)
    predictions = check_bag_inputs(predictions, bag_ids, bag_targets)
    mean_prediction = bag_means(predictions, bag_ids)
    loss = (bag_targets.to(predictions.dtype) - mean_prediction) ** 2
    if rho:
        loss = loss + rho * (predictions - mean_prediction) ** 2
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class AggregateResponseLoss(nn.Module):
    r"""Squared loss for learning from aggregate responses: bag-level, instance-level or interpolating.

    For bags `B_a` of sizes `k_a` with aggregate responses `ȳ_a` and predictions `f_i`, `f̄_a = mean_{i∈B_a} f_i`:

        L_ρ(θ) = Σ_a k_a (ȳ_a − f̄_a)²  +  ρ · Σ_a Σ_{i∈B_a} (f_i − f̄_a)²
               = k · L_bag(θ)          +  ρ · R(θ)                     (bags of equal size k)

    with `L_inst = k·L_bag + R` (Javanmard et al., ICLR 2024): `ρ = 0` is the bag loss, `ρ = 1` the instance loss
    `Σ_a Σ_i (ȳ_a − f_i)²`, and `0 < ρ < 1` the interpolating estimator, which trades the bag loss's variance against
    the instance loss's bias. The loss returns one value per instance, `(ȳ_a − f̄_a)² + ρ (f_i − f̄_a)²`, whose sum is
    `L_ρ`; `reduction="mean"` divides by the number of instances. A batch must contain whole bags (see
    :class:`BagCollator`); the per-instance values depend on the other members of the bag, so the loss is defined
    over the batch, not example by example.

    Args:
        mode (`str`, defaults to `"interpolate"`): `"bag"` (`ρ = 0`), `"instance"` (`ρ = 1`) or `"interpolate"`.
        rho (`float`, defaults to 0.3): `ρ ≥ 0` for `mode="interpolate"` (ignored by the other modes).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss_fn = AggregateResponseLoss(mode="interpolate", rho=0.1)
    >>> loss = loss_fn(model(x).logits.squeeze(-1), bag_ids, bag_targets)
    ```
    """

    def __init__(self, mode: str = "interpolate", rho: float = 0.3, reduction: str = "mean"):
        super().__init__()
        self.mode = _check_mode(mode)
        self.rho = _check_rho(rho)
        self.reduction = check_reduction(reduction)

    @property
    def effective_rho(self) -> float:
        """The weight of the within-bag term actually used: 0 (bag), 1 (instance) or `rho` (interpolate)."""
        return {"bag": 0.0, "instance": 1.0}.get(self.mode, self.rho)

    def forward(self, predictions: torch.Tensor, bag_ids: torch.Tensor, bag_targets: torch.Tensor) -> torch.Tensor:
        return aggregate_response_loss(
            predictions, bag_ids, bag_targets, mode="interpolate", rho=self.effective_rho, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, rho={self.effective_rho}, reduction={self.reduction!r}"


__all__ = [
    "MODES",
    "AggregateResponseLoss",
    "aggregate_response_loss",
    "bag_level_loss",
    "bag_means",
    "check_bag_inputs",
    "instance_level_loss",
    "within_bag_variance",
]
