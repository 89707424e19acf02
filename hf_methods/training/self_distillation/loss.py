"""The self-distillation objective with ground-truth weighting (Borup & Andersen, NeurIPS 2021, eq. 3 and section 6).

The student's outputs are pulled towards a mix of the labels and the teacher's outputs:

    L(θ) = α · ℓ(f_θ(x), y) + (1 − α) · ℓ(f_θ(x), f_teacher(x)).

In the kernel analysis ℓ is the squared error on real-valued outputs; the official network experiments
(`Kennethborup/self_distillation`, `self_distiller.py`) apply it to class probabilities:
`α · MSE(softmax(z), onehot(y)) + (1 − α) · MSE(softmax(z), softmax(z_teacher))`, the mean taken over classes
(`objective="mse"`, the default). `objective="kl"` is the usual classification variant
`α · CE(z, y) + (1 − α) · T² · KL(softmax(z_teacher/T) ‖ softmax(z/T))` (the KL is `soft_target_kl` of
`hf_methods.common.distill`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_reduction
from hf_methods.common.distill import soft_target_kl

__all__ = ["OBJECTIVES", "SelfDistillationLoss", "self_distillation_loss"]

OBJECTIVES = ("mse", "kl")


def _check_number(value, name: str, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"[{low:g}, {high:g}]" if high is not None else f"> {low:g}"
        raise ValueError(f"{name} must be in {bound}, got {value}")
    return float(value)


def _check_inputs(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor (batch, num_classes)")
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (batch, num_classes), got shape {tuple(logits.shape)}")
    if logits.shape[1] < 2:
        raise ValueError(f"logits need at least 2 classes, got {logits.shape[1]}")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError("labels must be an integer tensor of class indices (batch,)")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},) to match logits, got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(
            f"labels must lie in [0, {logits.shape[1] - 1}], got values in [{labels.min()}, {labels.max()}]"
        )
    if teacher_logits is not None:
        if not isinstance(teacher_logits, torch.Tensor) or not teacher_logits.is_floating_point():
            raise TypeError("teacher_logits must be a floating-point tensor (batch, num_classes)")
        if teacher_logits.shape != logits.shape:
            raise ValueError(
                f"teacher_logits must have the shape of logits {tuple(logits.shape)}, got {tuple(teacher_logits.shape)}"
            )


def self_distillation_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    *,
    alpha: float = 0.5,
    objective: str = "mse",
    temperature: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """`α · ℓ(z, y) + (1 − α) · ℓ(z, z_teacher)` per example.

    - `objective="mse"` (the official loss): `ℓ(z, y) = (1/K) Σ_k (softmax(z)_k − 1[k = y])²` and
      `ℓ(z, z_t) = (1/K) Σ_k (softmax(z)_k − softmax(z_t)_k)²`;
    - `objective="kl"`: `ℓ(z, y) = −log softmax(z)_y` and `ℓ(z, z_t) = T² · KL(softmax(z_t/T) ‖ softmax(z/T))`.

    The teacher's logits are detached. Without a teacher (`teacher_logits=None`, the first fit of a chain) the loss
    is the label term alone, whatever `α`.

    Args:
        logits (`torch.Tensor (batch, K)`): the student's logits.
        labels (`torch.LongTensor (batch,)`): class indices.
        teacher_logits (`torch.Tensor (batch, K)`, *optional*): the frozen teacher's logits.
        alpha (`float` in `[0, 1]`): weight of the ground-truth term.
        objective (`str`): `"mse"` or `"kl"`.
        temperature (`float > 0`): softening of the `"kl"` distillation term (ignored by `"mse"`).
        reduction (`str`): `"mean"`, `"sum"` or `"none"` (one value per example).
    """
    alpha = _check_number(alpha, "alpha", 0.0, 1.0)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    check_reduction(reduction)
    _check_inputs(logits, labels, teacher_logits)
    if objective == "mse":
        probs = logits.softmax(dim=-1)
        label_term = (probs - F.one_hot(labels, logits.shape[1]).to(probs)).pow(2).mean(dim=-1)
    else:
        label_term = F.cross_entropy(logits, labels, reduction="none")
    if teacher_logits is None:
        losses = label_term
    else:
        teacher_logits = teacher_logits.detach().to(logits.dtype)
        if objective == "mse":
            teacher_term = (probs - teacher_logits.softmax(dim=-1)).pow(2).mean(dim=-1)
        else:
            teacher_term = soft_target_kl(logits, teacher_logits, temperature=temperature, reduction="none")
        losses = alpha * label_term + (1.0 - alpha) * teacher_term
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


class SelfDistillationLoss(nn.Module):
    """[`self_distillation_loss`] as a module: `loss(logits, labels, teacher_logits=None)`.

    `L = α · ℓ(z, y) + (1 − α) · ℓ(z, z_teacher)`, with `ℓ` the squared error between class probabilities
    (`objective="mse"`, the official choice) or cross-entropy / temperature-scaled KL (`objective="kl"`).

    Args:
        alpha (`float` in `[0, 1]`, defaults to 0.5): weight of the ground-truth term.
        objective (`str`, defaults to `"mse"`): `"mse"` or `"kl"`.
        temperature (`float`, defaults to 1.0): the KL's temperature `T` (`objective="kl"` only).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss_fn = SelfDistillationLoss(alpha=0.5)
    >>> loss = loss_fn(student_logits, labels, teacher_logits)
    ```
    """

    def __init__(self, alpha: float = 0.5, objective: str = "mse", temperature: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.alpha = _check_number(alpha, "alpha", 0.0, 1.0)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0):
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        check_reduction(reduction)
        self.objective, self.temperature, self.reduction = objective, float(temperature), reduction

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self_distillation_loss(
            logits,
            labels,
            teacher_logits,
            alpha=self.alpha,
            objective=self.objective,
            temperature=self.temperature,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, objective={self.objective!r}, temperature={self.temperature}"
