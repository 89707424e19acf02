"""Robust self-supervised (RSS) losses (Saberi, Najafi, Heidari, Movasaghinia, Motahari & Khalaj, ICLR 2024).

The paper's robust loss for a transport cost `c` and a penalty `γ ≥ 0` is the Wasserstein-DRO dual

    φ_γ(x, y; θ) = sup_z  ℓ(z, y; θ) − γ·c(z, x),

and the RSS estimator adds a self-training term on `n` unlabelled, possibly out-of-domain inputs `x'_j`, each labelled
by the current model `h_θ(x') = sign(θᵀx')` (the class the model predicts):

    θ̂_RSS = argmin_θ  (1/m) Σ_i φ_γ(x_i, y_i; θ)  +  (λ/n) Σ_j φ_γ'(x'_j, h_θ(x'_j); θ).

Two ways to get φ are implemented:

- closed forms for a linear score `s = θᵀx` ([`linear_robust_ramp_loss`], [`linear_robust_zero_one_loss`],
  [`RobustRampLoss`]): the ramp `clip(1 − γ·y·s, 0, 1)` of the official simulation is exactly φ_γ of the 0-1 loss
  when moving an input by `‖z − x‖₂` costs `γ‖θ‖₂‖z − x‖₂`;
- for any model, a few steps of gradient ascent on `z` with the penalty `−γ‖z − x‖₂²` (the WRM inner maximisation of
  Sinha, Namkoong & Duchi, 2018; `hf_methods.common.adversarial.penalized_inner_max`), then the loss at the
  maximiser ([`robust_self_training_loss`] with `robust_loss="wrm"`).

Labels: the functional closed forms take the paper's labels `y ∈ {−1, +1}` and a 1-D score; the `nn.Module`
[`RobustRampLoss`] and the model-level objective take Hugging Face class indices `{0, 1}` (`y = 2·label − 1`) and
logits of shape `(batch, 2)` (score `logit₁ − logit₀`) or `(batch, 1)` (the score itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.adversarial import logits_of, penalized_inner_max
from hf_methods.common.checks import check_number, check_reduction, reduce_loss

ROBUST_LOSSES = ("wrm", "ramp")
COSTS = ("l2", "squared_l2")


# ----------------------------------------------------------------------------------------------------------- checks


def _check_float_tensor(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def _check_signed_labels(labels, scores: torch.Tensor) -> torch.Tensor:
    """Labels in {−1, +1} of shape `scores.shape`, as `scores`' dtype."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of ±1, got {type(labels).__name__}")
    if labels.shape != scores.shape:
        raise ValueError(f"labels must have shape {tuple(scores.shape)} to match scores, got {tuple(labels.shape)}")
    if labels.numel() and not bool(((labels == 1) | (labels == -1)).all()):
        raise ValueError("labels must be −1 or +1 (the paper's binary labels)")
    return labels.to(scores.dtype)


def binary_scores(logits: torch.Tensor) -> torch.Tensor:
    """The score `s` of a binary classifier: `logit₁ − logit₀` for `(batch, 2)` logits, the column of `(batch, 1)`.

    `s > 0` predicts class 1 (`y = +1`), `s < 0` class 0 (`y = −1`).
    """
    _check_float_tensor("logits", logits)
    if logits.dim() != 2 or logits.shape[1] not in (1, 2):
        raise ValueError(
            f"logits must have shape (batch, 2) (two classes) or (batch, 1) (a score), got {tuple(logits.shape)}"
        )
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]


def signed_labels(labels, batch_size: int) -> torch.Tensor:
    """Class indices `{0, 1}` of shape `(batch_size,)` as the paper's `y = 2·label − 1 ∈ {−1, +1}`."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor of class indices 0/1, got dtype {labels.dtype}")
    if labels.shape != (batch_size,):
        raise ValueError(f"labels must have shape ({batch_size},) to match logits, got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > 1):
        raise ValueError(
            f"labels must lie in [0, 2) (binary class indices), got range [{int(labels.min())}, {int(labels.max())}]"
        )
    return 2 * labels.long() - 1


# ----------------------------------------------------------------------------------------------------------- closed forms


def linear_robust_ramp_loss(
    scores: torch.Tensor, labels: torch.Tensor | None = None, gamma: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    r"""The robust loss of the official Gaussian-mixture simulation for a linear score `s = θᵀx`.

        labelled    (y ∈ {−1, +1}):   φ_γ(x, y; θ)         = clip(1 − γ·y·θᵀx, 0, 1)
        unlabelled  (y = sign(θᵀx)):  φ_γ(x, h_θ(x); θ)    = clip(1 − γ·|θᵀx|, 0, 1)

    This is exactly `sup_z 1[y θᵀz ≤ 0] − γ‖θ‖₂·‖z − x‖₂`: the cheapest way to make `z` misclassified moves `x`
    along `−yθ` by `yθᵀx/‖θ‖₂`, which costs `γ·yθᵀx` (see [`linear_robust_zero_one_loss`] with `cost="l2"` and
    penalty `γ‖θ‖₂`). Its gradient is `−γ·y·x` inside the band `0 < y·θᵀx < 1/γ` and zero outside. With
    `labels=None` the label is the model's own prediction, recomputed from the current `θ` at every call, and the
    gradient of `|θᵀx|` is the gradient with that pseudo-label held fixed.

    Args:
        scores (`torch.Tensor` of shape `(batch,)`): the scores `θᵀx`.
        labels (`torch.Tensor` of shape `(batch,)`, *optional*): labels in `{−1, +1}`; `None` for the self-training
            term (pseudo-labels `sign(θᵀx)`).
        gamma (`float`, defaults to 1.0): `γ ≥ 0`, the slope of the ramp (the transport penalty per unit of score).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.
    """
    _check_float_tensor("scores", scores)
    if scores.dim() != 1:
        raise ValueError(f"scores must be 1-D (batch,), got shape {tuple(scores.shape)}")
    gamma = check_number("gamma", gamma, low=0)
    check_reduction(reduction)
    margins = scores.abs() if labels is None else _check_signed_labels(labels, scores) * scores
    return reduce_loss(torch.clamp(1.0 - gamma * margins, min=0.0, max=1.0), reduction)


def linear_robust_zero_one_loss(
    margins: torch.Tensor, weight_norm: float | torch.Tensor, gamma: float, cost: str = "squared_l2"
) -> torch.Tensor:
    r"""The exact robust 0-1 loss `φ_γ = sup_z 1[y θᵀz ≤ 0] − γ·c(z, x)` of a linear classifier, per example.

    Moving `x` by `t ≥ 0` along `−yθ/‖θ‖` lowers the margin `m = y θᵀx` by `t‖θ‖`; no other direction does better.
    So the sup is either `0` (leave `x`) or `1 − γ·c` at the distance `t* = m/‖θ‖` to the decision boundary:

        m ≤ 0:   φ_γ = 1
        m > 0:   φ_γ = max(0, 1 − γ·m/‖θ‖)          for c(z, x) = ‖z − x‖₂          (`cost="l2"`)
                 φ_γ = max(0, 1 − γ·(m/‖θ‖)²)       for c(z, x) = ‖z − x‖₂²         (`cost="squared_l2"`)

    With `cost="l2"` and the penalty `γ‖θ‖` this is the ramp of [`linear_robust_ramp_loss`]. (At `m = t‖θ‖` the
    moved point lies on the boundary, where `1[yθᵀz ≤ 0] = 1`: the sup is attained.)

    Args:
        margins (`torch.Tensor`): the margins `y·θᵀx`, any shape.
        weight_norm (`float` or `torch.Tensor`): `‖θ‖₂ > 0` (a tensor broadcasts against `margins`).
        gamma (`float`): the transport penalty `γ ≥ 0`.
        cost (`str`, defaults to `"squared_l2"`): `"l2"` or `"squared_l2"`.
    """
    _check_float_tensor("margins", margins)
    gamma = check_number("gamma", gamma, low=0)
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    norm = torch.as_tensor(weight_norm, dtype=margins.dtype, device=margins.device)
    if not bool((norm > 0).all()):
        raise ValueError(f"weight_norm must be > 0, got {weight_norm}")
    distance = margins.clamp_min(0.0) / norm
    transport = distance if cost == "l2" else distance.square()
    return torch.where(margins <= 0, torch.ones_like(margins), (1.0 - gamma * transport).clamp_min(0.0))


class RobustRampLoss(nn.Module):
    r"""[`linear_robust_ramp_loss`] on a binary classifier's logits, with Hugging Face class indices.

        φ_γ = clip(1 − γ·y·s, 0, 1),     s = logit₁ − logit₀ (or the single logit),  y = 2·label − 1,

    and, without labels, the self-training form `clip(1 − γ·|s|, 0, 1)` (pseudo-label `sign(s)` from the current
    model). For a linear model `s = θᵀx` it is the robust 0-1 loss of the official simulation (see
    [`linear_robust_ramp_loss`]); for any other model it is the same ramp surrogate on the model's score.

    Args:
        gamma (`float`, defaults to 1.0): the slope `γ ≥ 0` (the band `0 < y·s < 1/γ` gets a gradient).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss = RobustRampLoss(gamma=2.0)(logits, labels)       # labelled term: logits (batch, 2), labels in {0, 1}
    >>> loss_u = RobustRampLoss(gamma=0.5)(logits_unlabeled)   # self-training term on unlabelled inputs
    ```
    """

    def __init__(self, gamma: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.gamma = check_number("gamma", gamma, low=0)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        scores = binary_scores(logits)
        signed = None if labels is None else signed_labels(labels, scores.shape[0])
        return linear_robust_ramp_loss(scores, signed, self.gamma, self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


# ----------------------------------------------------------------------------------------------------------- any model


PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_per_sample(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy, the default `ℓ` of the WRM inner maximisation."""
    return F.cross_entropy(logits, labels.long(), reduction="none")


def pseudo_labels(logits: torch.Tensor) -> torch.Tensor:
    """`h_θ(x')`: the predicted class (argmax of `(batch, K)` logits; `s > 0` for a single score), detached."""
    logits = logits.detach()
    if logits.dim() == 2 and logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=-1)


@dataclass
class RSSLossOutput:
    """The RSS objective of one step and its parts.

    Attributes:
        loss (`torch.Tensor`): `labeled_loss + λ·unlabeled_loss` (differentiable).
        labeled_loss (`torch.Tensor`): `(1/m) Σ φ_γ(x_i, y_i; θ)`.
        unlabeled_loss (`torch.Tensor` or `None`): `(1/n) Σ φ_γ'(x'_j, h_θ(x'_j); θ)` (None without unlabelled inputs
            or with `λ = 0`).
        pseudo_labels (`torch.Tensor` or `None`): the class indices `h_θ(x')` used for the unlabelled inputs.
    """

    loss: torch.Tensor
    labeled_loss: torch.Tensor
    unlabeled_loss: torch.Tensor | None = None
    pseudo_labels: torch.Tensor | None = None


def _check_options(robust_loss: str, inner_steps: int, inner_step_size: float) -> None:
    if robust_loss not in ROBUST_LOSSES:
        raise ValueError(f"robust_loss must be one of {ROBUST_LOSSES}, got {robust_loss!r}")
    if not isinstance(inner_steps, int) or isinstance(inner_steps, bool) or inner_steps < 1:
        raise ValueError(f"inner_steps must be an int >= 1, got {inner_steps!r}")
    if not (isinstance(inner_step_size, (int, float)) and inner_step_size > 0 and math.isfinite(inner_step_size)):
        raise ValueError(f"inner_step_size must be a finite number > 0, got {inner_step_size!r}")


def robust_self_training_loss(
    model: Callable,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    unlabeled_inputs: torch.Tensor | None = None,
    *,
    gamma: float = 1.0,
    gamma_unlabeled: float = 0.5,
    lam: float = 1.0,
    robust_loss: str = "wrm",
    loss_fn: PerSampleLoss | None = None,
    inner_steps: int = 15,
    inner_step_size: float = 0.1,
    clamp: tuple[float, float] | None = None,
) -> RSSLossOutput:
    r"""The RSS objective `(1/m) Σ φ_γ(x_i, y_i; θ) + (λ/n) Σ φ_γ'(x'_j, h_θ(x'_j); θ)` for any classifier.

    - `robust_loss="wrm"`: `φ_γ(x, y) ≈ ℓ(f(x*), y)` with `x* ≈ argmax_z ℓ(f(z), y) − γ‖z − x‖₂²`, found by
      `inner_steps` of gradient ascent from `z = x` (`penalized_inner_max`; the gradient with respect to θ is taken at
      the fixed maximiser, by Danskin's theorem). `ℓ` is `loss_fn` (per-sample cross-entropy by default), the
      pseudo-labels `h_θ(x')` are the model's predicted classes on the clean unlabelled inputs, recomputed at every
      call and held fixed (no gradient) inside the step.
    - `robust_loss="ramp"`: the closed form of a binary linear score ([`RobustRampLoss`]):
      `clip(1 − γ·y·s, 0, 1)` on labelled and `clip(1 − γ'·|s|, 0, 1)` on unlabelled inputs; no inner loop.

    Args:
        model: a callable from an input tensor to scores (a tensor, a `ModelOutput` with `.logits`, ...).
        inputs (`torch.Tensor`): labelled inputs `x_i`, batch first.
        labels (`torch.Tensor`): their class indices (`{0, 1}` for `"ramp"`).
        unlabeled_inputs (`torch.Tensor`, *optional*): the unlabelled inputs `x'_j` (None: labelled term only).
        gamma (`float`): `γ > 0` for the labelled term (`≥ 0` for `"ramp"`).
        gamma_unlabeled (`float`): `γ' > 0` for the unlabelled term (`≥ 0` for `"ramp"`).
        lam (`float`): the weight `λ ≥ 0` of the unlabelled term.
        robust_loss (`str`): `"wrm"` or `"ramp"`.
        loss_fn (*optional*): `(logits, labels) -> per-sample losses` for `"wrm"` (default per-sample cross-entropy).
        inner_steps (`int`), inner_step_size (`float`): the ascent of `"wrm"`.
        clamp (`tuple[float, float]`, *optional*): valid input range for the ascent (`None`: unbounded).
    """
    _check_options(robust_loss, inner_steps, inner_step_size)
    _check_float_tensor("inputs", inputs)
    positive = robust_loss == "wrm"
    gamma = check_number("gamma", gamma, low=0, low_open=positive)
    gamma_unlabeled = check_number("gamma_unlabeled", gamma_unlabeled, low=0, low_open=positive)
    lam = check_number("lam", lam, low=0)
    if unlabeled_inputs is not None:
        _check_float_tensor("unlabeled_inputs", unlabeled_inputs)
        if unlabeled_inputs.shape[1:] != inputs.shape[1:]:
            raise ValueError(
                f"unlabeled_inputs must have the feature shape of inputs {tuple(inputs.shape[1:])}, "
                f"got {tuple(unlabeled_inputs.shape[1:])}"
            )
    use_unlabeled = unlabeled_inputs is not None and lam > 0 and unlabeled_inputs.shape[0] > 0

    def scores_of(x: torch.Tensor) -> torch.Tensor:
        return logits_of(model(x))

    if robust_loss == "ramp":
        labeled = RobustRampLoss(gamma)(scores_of(inputs), labels)
        if not use_unlabeled:
            return RSSLossOutput(labeled, labeled)
        logits_u = scores_of(unlabeled_inputs)
        unlabeled = RobustRampLoss(gamma_unlabeled)(logits_u)
        return RSSLossOutput(labeled + lam * unlabeled, labeled, unlabeled, pseudo_labels(logits_u))

    loss_fn = loss_fn or cross_entropy_per_sample
    if not isinstance(labels, torch.Tensor) or labels.shape[:1] != inputs.shape[:1]:
        raise ValueError(f"labels must be a tensor with one entry per input ({inputs.shape[0]}), got {labels!r}")

    def robust_term(x: torch.Tensor, y: torch.Tensor, penalty: float) -> torch.Tensor:
        x_star = penalized_inner_max(
            scores_of, x, y, penalty, steps=inner_steps, step_size=inner_step_size, loss_fn=loss_fn, clamp=clamp
        )
        losses = loss_fn(scores_of(x_star), y)
        if losses.dim() != 1 or losses.shape[0] != x.shape[0]:
            raise ValueError(f"loss_fn must return one loss per sample (shape ({x.shape[0]},)), got {losses.shape}")
        return losses.mean()

    labeled = robust_term(inputs, labels, gamma)
    if not use_unlabeled:
        return RSSLossOutput(labeled, labeled)
    with torch.no_grad():
        guessed = pseudo_labels(scores_of(unlabeled_inputs))
    unlabeled = robust_term(unlabeled_inputs, guessed, gamma_unlabeled)
    return RSSLossOutput(labeled + lam * unlabeled, labeled, unlabeled, guessed)


__all__ = [
    "COSTS",
    "ROBUST_LOSSES",
    "RSSLossOutput",
    "RobustRampLoss",
    "binary_scores",
    "cross_entropy_per_sample",
    "linear_robust_ramp_loss",
    "linear_robust_zero_one_loss",
    "pseudo_labels",
    "robust_self_training_loss",
    "signed_labels",
]
