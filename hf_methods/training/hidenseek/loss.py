"""The HideNseek client objective: the cross-entropy of the sign-supermasked network on the client's data.

Client n minimises, over its scores s only (the weights w₀ and the server's mask m are frozen),

    L_n(s) = (1/|D_n|) Σ_{(x, y)∈D_n} CE(f(x; m ⊙ sign(s) ⊙ |w₀|), y),

the gradient reaching s through the straight-through sign (`SignSupermask`). As a loss on logits it is the
cross-entropy; the method lives in the parametrization of the logits, not in a new loss.
"""

from __future__ import annotations

import torch
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_reduction, reduce_loss

__all__ = ["HideNseekClientLoss"]


class HideNseekClientLoss(nn.Module):
    """CE(logits, y) per example, reduced: the local objective L_n(s) above when the logits come from the masked net.

    Args:
        reduction: `"mean"` (the client's objective), `"sum"` or `"none"` (one value per example).
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_logits_labels(logits, labels)
        per_example = nn.functional.cross_entropy(logits, labels, reduction="none")
        return reduce_loss(per_example, self.reduction)
