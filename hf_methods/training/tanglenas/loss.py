"""The search objective of TangleNAS: cross-entropy of the weight-superimposed supernet.

TangleNAS (Sukthanker et al., AutoML 2024) keeps the bi-level objective of DARTS and changes only how the supernet
computes (one forward pass with superimposed weights, see `entangled.py`):

    min_β  L_val(w*(β), β),   w*(β) = argmin_w L_train(w, β),   L(w, β) = (1/n) Σ_i −log softmax(f(x_i; W_mix(w, α(β))))_{y_i}

Both levels use this loss on the supernet's logits; first-order alternation (one step on β with a validation batch,
one on w with a training batch) approximates the bi-level problem, as in the official code's default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_reduction, reduce_loss

__all__ = ["TangleNASSearchLoss", "supernet_cross_entropy"]


def supernet_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """ℓ_i = −log softmax(f(x_i; W_mix))_{y_i}: the per-example loss of both levels of the search.

    Args:
        logits (`torch.Tensor` of shape `(batch, num_classes)`): the supernet's scores under the current α.
        labels (`torch.Tensor` of shape `(batch,)`): integer classes.
        reduction (`str`): `"mean"`, `"sum"` or `"none"`.
    """
    check_reduction(reduction)
    check_logits_labels(logits, labels)
    return reduce_loss(F.cross_entropy(logits, labels, reduction="none"), reduction)


class TangleNASSearchLoss(nn.Module):
    """[`supernet_cross_entropy`] as a module (the loss [`TangleNASTrainer`] minimises for w and for β)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return supernet_cross_entropy(logits, labels, self.reduction)
