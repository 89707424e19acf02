"""The weighted distillation objective of WAD (Du et al., ICCV 2023).

The student is trained on a labelled batch `B_l` and an unlabelled batch `B_u` at each step:

    L = (1/|B_l|) Σ_{(x, y) ∈ B_l} CE(g(x), y)  +  (1/|B_u|) Σ_{u ∈ B_u} w(u) · CE(g(u), ŷ(u))

with `ŷ(u)` and `w(u)` the teacher's pseudo-label and weight (see `knowledge.py`). The unlabelled term is divided by
the batch size, not by the sum of the weights, as in the official `Solver.backbone_classifier`
(`RUC-DWBI-ML/research`, `WAD-master/SSL/train/train.py`): small weights shrink the whole term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_reduction, reduce_loss


def _check_weights(weights, batch_size: int) -> torch.Tensor:
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"weights must be a torch.Tensor of shape ({batch_size},), got {type(weights).__name__}")
    if not weights.is_floating_point():
        raise TypeError(f"weights must be a floating-point tensor, got dtype {weights.dtype}")
    if tuple(weights.shape) != (batch_size,):
        raise ValueError(f"weights must have shape ({batch_size},) to match logits, got {tuple(weights.shape)}")
    if not torch.isfinite(weights).all():
        raise ValueError("weights must be finite")
    return weights


def weighted_pseudo_label_loss(
    logits: torch.Tensor, pseudo_labels: torch.Tensor, weights: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """`w(u) · CE(g(u), ŷ(u))` per unlabelled example (functional form of [`WADLoss`]).

    Args:
        logits (`torch.Tensor` of shape `(batch, C)`): the student's logits on the unlabelled batch.
        pseudo_labels (`torch.LongTensor` of shape `(batch,)`): the teacher's pseudo-labels `ŷ` in `[0, C)`.
        weights (`torch.Tensor` of shape `(batch,)`): the weights `w` (used as constants: no gradient reaches them).
        reduction (`str`, defaults to `"mean"`): `"mean"` (divided by the batch size, as in the official code),
            `"sum"` or `"none"`.
    """
    return _weighted_ce(logits, pseudo_labels, weights, reduction, labels_name="pseudo_labels")


def _weighted_ce(logits, labels, weights, reduction: str, *, labels_name: str) -> torch.Tensor:
    check_logits_labels(logits, labels, labels_name=labels_name)
    weights = _check_weights(weights, logits.shape[0])
    check_reduction(reduction)
    loss = weights.detach().to(logits.dtype) * F.cross_entropy(logits, labels.long(), reduction="none")
    return reduce_loss(loss, reduction)


def wad_objective(
    labelled_logits: torch.Tensor,
    labels: torch.Tensor,
    unlabelled_logits: torch.Tensor,
    pseudo_labels: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """`L = mean_l CE(g(x), y) + mean_u w(u)·CE(g(u), ŷ(u))`, the student's loss at one step (a scalar)."""
    check_logits_labels(labelled_logits, labels)
    return F.cross_entropy(labelled_logits, labels.long()) + weighted_pseudo_label_loss(
        unlabelled_logits, pseudo_labels, weights
    )


class WADLoss(nn.Module):
    r"""The unlabelled term of WAD: the teacher's pseudo-labels, each example weighted by its teacher margin.

        ℓ(u) = w(u) · CE(g(u), ŷ(u)),      w(u) = s_(1)(u) − s_(2)(u),   ŷ(u) = argmax_c s_c(u)

    Called as `loss(logits, labels, weights)` with `labels` the pseudo-labels. With every weight equal to 1 it is the
    plain cross-entropy on pseudo-labels (naive pseudo-labelling).

    Args:
        reduction (`str`, defaults to `"mean"`): `"mean"` (divided by the batch size), `"sum"` or `"none"`.

    Example:

    ```python
    >>> yhat, w = prototype_pseudo_labels(teacher(x_u), teacher(x_l), y_l)
    >>> loss = F.cross_entropy(student(x_l), y_l) + WADLoss()(student(x_u), yhat, w)
    ```
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return _weighted_ce(logits, labels, weights, self.reduction, labels_name="labels")

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


__all__ = ["WADLoss", "wad_objective", "weighted_pseudo_label_loss"]
