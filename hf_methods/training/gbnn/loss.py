"""The three losses gradient-boosted neural networks minimise, with the pieces boosting needs from each.

Each loss is an `nn.Module` called on the boosted scores F (`logits`) and the labels, and also gives the boosting
algorithm of "Sequential Training of Neural Networks with Gradient Boosting" (Emami & Martínez-Muñoz) its

- initial constant F_0 = argmin_c Σ_i L(y_i, c) (`initial_score`),
- pseudo-residuals r_i = −∂L(y_i, F)/∂F at the current scores (`pseudo_residuals`),
- Newton step ρ̂ along a new learner's outputs f (`newton_step`),

as in the official code (`GAA-UAM/GBNN`, `gbnn/GBNN.py`: `squared_loss`, `log_exponential_loss`,
`multi_class_loss`). The boosting pieces work on encoded float64 targets of shape `(n, m)` (see `encode_labels`) and
scores of the same shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_reduction, reduce_loss


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point torch.Tensor, got {type(logits).__name__}.")
    if logits.dim() not in (1, 2):
        raise ValueError(f"logits must be 1-D (batch,) or 2-D (batch, outputs), got shape {tuple(logits.shape)}.")
    return logits if logits.dim() == 2 else logits.unsqueeze(-1)


def _check_class_labels(labels, batch: int, num_classes: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor of class indices, got {getattr(labels, 'dtype', labels)}.")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},) to match the logits, got {tuple(labels.shape)}.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got values in [{labels.min()}, {labels.max()}].")
    return labels


class BoostingLoss(nn.Module):
    """Base class: `forward(logits, labels)` is the loss; the other methods are what gradient boosting needs."""

    objective: str = ""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def encode_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Float64 targets `(n, m)` the boosting pieces work on."""
        raise NotImplementedError

    def initial_score(self, y: torch.Tensor) -> torch.Tensor:
        """F_0 `(m,)`, the constant that minimises the average loss."""
        raise NotImplementedError

    def pseudo_residuals(self, y: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """r = −∂L/∂F at `scores` `(n, m)`."""
        raise NotImplementedError

    def newton_step(self, y: torch.Tensor, residuals: torch.Tensor, f: torch.Tensor) -> float:
        """ρ̂, one Newton step of the loss along the new learner's outputs `f` `(n, m)`."""
        raise NotImplementedError


class GBNNSquaredLoss(BoostingLoss):
    r"""
    Squared loss of GBNN regression, L(y, F) = Σ_k (y_k − F_k)² per example:

        F_0 = mean(y),   r = y − F,   ρ̂ = 1

    (the learner is fitted to r by least squares, so its outputs need no rescaling).

    Args:
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` over examples.
    """

    objective = "squared"

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scores = _check_logits(logits)
        if not isinstance(labels, torch.Tensor) or not labels.is_floating_point():
            raise TypeError(
                f"labels must be a floating-point tensor of targets, got {getattr(labels, 'dtype', labels)}."
            )
        target = labels if labels.dim() == 2 else labels.unsqueeze(-1)
        if target.shape != scores.shape:
            raise ValueError(
                f"labels must have the shape of the logits {tuple(logits.shape)}, got {tuple(labels.shape)}."
            )
        return reduce_loss((target.to(scores.dtype) - scores).pow(2).sum(-1), self.reduction)

    def encode_labels(self, labels: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(labels, dtype=torch.float64)
        return y if y.dim() == 2 else y.reshape(-1, 1)

    def initial_score(self, y: torch.Tensor) -> torch.Tensor:
        return y.mean(0)

    def pseudo_residuals(self, y: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return y - scores

    def newton_step(self, y: torch.Tensor, residuals: torch.Tensor, f: torch.Tensor) -> float:
        return 1.0


class GBNNLogExponentialLoss(BoostingLoss):
    r"""
    Log-exponential loss of GBNN binary classification, with labels y ∈ {−1, +1} (class 1 is +1):

        L(y, F) = log(1 + e^{−2yF}),   so that p(y = +1 | x) = σ(2F),
        F_0 = ½ log((1 + ȳ) / (1 − ȳ)),   r = 2y / (1 + e^{2yF}),
        ρ̂ = Σ_i r_i f_i / Σ_i r_i f_i² (2y_i − r_i).

    Called as `loss(logits, labels)` with `logits` the scores F `(batch,)` or `(batch, 1)` and integer `labels` in
    {0, 1}.

    Args:
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` over examples.
    """

    objective = "log_exponential"

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scores = _check_logits(logits)
        if scores.shape[-1] != 1:
            raise ValueError(f"logits must hold one score per example, got shape {tuple(logits.shape)}.")
        labels = _check_class_labels(labels, scores.shape[0], 2)
        sign = 2.0 * labels.to(scores.dtype) - 1.0
        # log(1 + e^{−2yF}) = softplus(−2yF), stable for large |F|
        return reduce_loss(F.softplus(-2.0 * sign * scores[:, 0]), self.reduction)

    def encode_labels(self, labels: torch.Tensor) -> torch.Tensor:
        labels = torch.as_tensor(labels)
        return (2.0 * labels.to(torch.float64) - 1.0).reshape(-1, 1)

    def initial_score(self, y: torch.Tensor) -> torch.Tensor:
        mean = y.mean(0)
        if not bool((mean.abs() < 1).all()):
            raise ValueError("the log_exponential loss needs both classes among the training labels.")
        return 0.5 * torch.log((1 + mean) / (1 - mean))

    def pseudo_residuals(self, y: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        # 2y / (1 + e^{2yF}) = 2y σ(−2yF), without overflow
        return 2.0 * y * torch.sigmoid(-2.0 * y * scores)

    def newton_step(self, y: torch.Tensor, residuals: torch.Tensor, f: torch.Tensor) -> float:
        numerator = (residuals * f).sum()
        denominator = (residuals * f * f * (2.0 * y - residuals)).sum()
        return _safe_ratio(numerator, denominator)


class GBNNMultinomialLoss(BoostingLoss):
    r"""
    Softmax cross-entropy of GBNN multi-class classification, with one-hot targets Y and p = softmax(F):

        L(Y, F) = −Σ_k Y_k F_k + log Σ_k e^{F_k},   F_0 = 0,   r = Y − p,
        ρ̂ = −Σ_{i,k} f_ik (Y_ik − p_ik) / Σ_{i,k} f_ik² p_ik (p_ik − 1).

    Called as `loss(logits, labels)` with `logits` `(batch, K)` and integer `labels` in [0, K − 1].

    Args:
        num_labels (`int`): number of classes K (>= 2).
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` over examples.
    """

    objective = "multinomial"

    def __init__(self, num_labels: int, reduction: str = "mean"):
        super().__init__(reduction)
        if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}.")
        self.num_labels = num_labels

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scores = _check_logits(logits)
        if scores.shape[-1] != self.num_labels:
            raise ValueError(
                f"logits must have num_labels={self.num_labels} columns, got shape {tuple(logits.shape)}."
            )
        labels = _check_class_labels(labels, scores.shape[0], self.num_labels)
        return reduce_loss(F.cross_entropy(scores, labels, reduction="none"), self.reduction)

    def encode_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(torch.as_tensor(labels).long(), self.num_labels).to(torch.float64)

    def initial_score(self, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros(y.shape[1], dtype=y.dtype)

    def pseudo_residuals(self, y: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return y - torch.softmax(scores, dim=-1)

    def newton_step(self, y: torch.Tensor, residuals: torch.Tensor, f: torch.Tensor) -> float:
        p = y - residuals
        numerator = -(f * (y - p)).sum()
        denominator = (f * f * p * (p - 1)).sum()
        return _safe_ratio(numerator, denominator)


def _safe_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float:
    """numerator / denominator, or 0 (no step) when the learner's outputs are all zero."""
    value = float(numerator / denominator) if float(denominator) != 0.0 else 0.0
    return value if math.isfinite(value) else 0.0


def boosting_loss_for(objective: str, num_labels: int = 2, reduction: str = "mean") -> BoostingLoss:
    """The loss of `objective` (`"squared"`, `"log_exponential"` or `"multinomial"`)."""
    if objective == "squared":
        return GBNNSquaredLoss(reduction)
    if objective == "log_exponential":
        return GBNNLogExponentialLoss(reduction)
    if objective == "multinomial":
        return GBNNMultinomialLoss(num_labels, reduction)
    raise ValueError(f"objective must be 'squared', 'log_exponential' or 'multinomial', got {objective!r}.")
