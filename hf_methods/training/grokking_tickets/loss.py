"""The squared-error loss to one-hot answers used to train the quadratic modular-arithmetic network."""

from __future__ import annotations

import torch
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_reduction, reduce_loss


def one_hot_mse_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Squared error between the scores and the one-hot code of the label, averaged over the `K` classes:

        ℓ_i = (1/K) Σ_k (f_k(x_i) − 1[k = y_i])².

    With `reduction="mean"` this is `F.mse_loss(logits, one_hot(labels))`, the loss of the quadratic-network grokking
    experiments (Gromov, 2023; Doshi et al., 2023, `d-doshi/Grokking`).

    Args:
        logits (`torch.Tensor` of shape `(batch, K)`): the scores f(x_i).
        labels (`torch.Tensor` of shape `(batch,)`): integer classes in `[0, K)`.
        reduction (`str`): `"mean"` | `"sum"` | `"none"` over the examples.
    """
    check_reduction(reduction)
    num_classes = check_logits_labels(logits, labels)
    target = nn.functional.one_hot(labels.long(), num_classes).to(logits.dtype)
    return reduce_loss((logits - target).pow(2).mean(dim=1), reduction)


class OneHotMSELoss(nn.Module):
    r"""[`one_hot_mse_loss`] as a module: ℓ_i = (1/K) Σ_k (f_k(x_i) − 1[k = y_i])².

    Args:
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"` | `"sum"` | `"none"` over the examples.

    Example:

    ```python
    >>> loss = OneHotMSELoss()(logits, labels)   # == F.mse_loss(logits, F.one_hot(labels, K).float())
    ```
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return one_hot_mse_loss(logits, labels, self.reduction)


__all__ = ["OneHotMSELoss", "one_hot_mse_loss"]
