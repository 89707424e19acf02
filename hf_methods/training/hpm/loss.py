"""The losses of HPM (Wang et al., "Hard Patches Mining for Masked Image Modeling", CVPR 2023).

- [`patch_reconstruction_losses`]: the per-patch MSE ℓ_i of a masked autoencoder (the targets of the loss predictor);
- [`hard_patch_ranking_loss`] / [`HardPatchRankingLoss`]: the relative (pairwise ranking) objective that teaches the
  loss predictor which patches are harder, without regressing the loss values themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_reduction, reduce_loss


def patch_reconstruction_losses(
    predicted: torch.Tensor, target: torch.Tensor, *, norm_pix: bool = False
) -> torch.Tensor:
    """Per-patch reconstruction error ℓ_i = mean_k (x̂_ik − x_ik)², shape `(batch, num_patches)`.

    Args:
        predicted (`torch.Tensor` of shape `(batch, num_patches, patch_dim)`): the reconstructor's pixels.
        target (`torch.Tensor` of the same shape): the patchified image.
        norm_pix (`bool`): normalise each target patch by its own mean and variance (MAE's `norm_pix_loss`).
    """
    if predicted.shape != target.shape or predicted.dim() != 3:
        raise ValueError(
            f"predicted and target must both have shape (batch, num_patches, patch_dim), got {tuple(predicted.shape)}"
            f" and {tuple(target.shape)}"
        )
    if norm_pix:
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
    return (predicted - target).pow(2).mean(-1)


def _check_ranking_inputs(predicted_losses: torch.Tensor, patch_losses: torch.Tensor) -> None:
    if not isinstance(predicted_losses, torch.Tensor) or not predicted_losses.is_floating_point():
        raise TypeError("predicted_losses must be a floating-point tensor of shape (batch, num_patches)")
    if not isinstance(patch_losses, torch.Tensor) or not patch_losses.is_floating_point():
        raise TypeError("patch_losses must be a floating-point tensor of shape (batch, num_patches)")
    if predicted_losses.dim() != 2:
        raise ValueError(
            f"predicted_losses must be 2-D (batch, num_patches), got shape {tuple(predicted_losses.shape)}"
        )
    if patch_losses.shape != predicted_losses.shape:
        raise ValueError(
            f"patch_losses must have shape {tuple(predicted_losses.shape)} like predicted_losses, "
            f"got {tuple(patch_losses.shape)}"
        )
    if predicted_losses.shape[1] < 2:
        raise ValueError("predicted_losses needs at least 2 patches per image to form a pair")


def hard_patch_ranking_loss(
    predicted_losses: torch.Tensor, patch_losses: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """The relative loss-prediction objective of HPM, one value per image.

    For the masked patches i, j of one image, with predicted difficulties ŝ and (detached) reconstruction losses ℓ:

        L_pred = −1/|P| Σ_{i,j} ( 1[ℓ_j > ℓ_i] log σ(ŝ_j − ŝ_i) + 1[ℓ_j < ℓ_i] log(1 − σ(ŝ_j − ŝ_i)) ),

    where P = {(i, j): ℓ_i ≠ ℓ_j} are the valid (untied) ordered pairs. `patch_losses` is detached here, so the
    ranking loss never reaches the reconstructor through its targets.

    The official code (`forward_learning_loss(..., relative=True)`) divides the sum over the whole batch by the
    number of valid pairs in the whole batch; here each image is normalised by its own pairs and `"mean"` averages
    the images, which is the same whenever the images have equally many untied pairs (no exact ties). log σ is
    computed stably with `logsigmoid` where the official code adds 1e-6 inside the log.

    Args:
        predicted_losses (`torch.Tensor` of shape `(batch, num_patches)`): ŝ of the masked patches.
        patch_losses (`torch.Tensor` of shape `(batch, num_patches)`): ℓ of the same patches.
        reduction (`str`): `"mean"`, `"sum"` or `"none"` (one value per image; 0 for an image without valid pairs).
    """
    check_reduction(reduction)
    _check_ranking_inputs(predicted_losses, patch_losses)
    target = patch_losses.detach().to(predicted_losses.dtype)
    # [b, i, j] = ŝ_j − ŝ_i and ℓ_j vs ℓ_i
    difference = predicted_losses.unsqueeze(1) - predicted_losses.unsqueeze(2)
    harder = (target.unsqueeze(1) > target.unsqueeze(2)).to(predicted_losses.dtype)
    easier = (target.unsqueeze(1) < target.unsqueeze(2)).to(predicted_losses.dtype)
    # log(1 − σ(d)) = log σ(−d)
    pair_losses = -(harder * F.logsigmoid(difference) + easier * F.logsigmoid(-difference))
    valid = (harder + easier).sum(dim=(1, 2))
    per_image = pair_losses.sum(dim=(1, 2)) / valid.clamp_min(1)
    return reduce_loss(per_image, reduction)


class HardPatchRankingLoss(nn.Module):
    """[`hard_patch_ranking_loss`] as a module: `loss(predicted_losses, patch_losses)`.

    Args:
        reduction (`str`): `"mean"` (default), `"sum"` or `"none"`.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, predicted_losses: torch.Tensor, patch_losses: torch.Tensor) -> torch.Tensor:
        return hard_patch_ranking_loss(predicted_losses, patch_losses, reduction=self.reduction)
