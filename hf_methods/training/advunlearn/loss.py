"""The objectives of AdvUnlearn (Zhang et al., NeurIPS 2024): the ESD erasing loss and the utility-retaining loss.

Erased Stable Diffusion (ESD, Gandikota et al., ICCV 2023) trains the model so that, conditioned on the concept c_p,
it predicts the noise of the *negatively guided* frozen model:

    ε*(z_t, t) = ε_orig(z_t, t, c₀) − η · (ε_orig(z_t, t, c_p) − ε_orig(z_t, t, c₀)),
    L_u(θ) = ‖ε_θ(z_t, t, c) − ε*(z_t, t)‖²,

with c₀ the empty prompt and η the negative guidance (1 in the official code). AdvUnlearn feeds the adversarial
condition c = c(δ ⊕ c_p) found by a soft-prompt attack and adds the retain regulariser on prompts that must survive:

    L_r(θ) = ‖ε_θ(z_t, t, c_r) − ε_orig(z_t, t, c_r)‖²,     L = L_u + γ · L_r.

Both are mean squared errors over the noise prediction of each sample, as `torch.nn.MSELoss` in the official code
(`train-scripts/utils/get_loss.py`), with one value per sample for `reduction="none"`.
"""

from __future__ import annotations

import torch
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, reduce_loss

__all__ = ["ESDLoss", "esd_loss", "esd_target", "retain_loss"]


def _check_predictions(**tensors: torch.Tensor) -> None:
    shape = None
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise TypeError(f"{name} must be a float tensor, got {type(tensor).__name__}")
        if tensor.dim() < 2:
            raise ValueError(f"{name} must have a batch dimension, shaped (batch, ...), got {tuple(tensor.shape)}")
        if shape is None:
            shape = tensor.shape
        elif tensor.shape != shape:
            names = ", ".join(tensors)
            raise ValueError(f"{names} must share one shape, got {[tuple(t.shape) for t in tensors.values()]}")


def esd_target(unconditional: torch.Tensor, concept: torch.Tensor, negative_guidance: float = 1.0) -> torch.Tensor:
    """ε* = ε_orig(c₀) − η · (ε_orig(c_p) − ε_orig(c₀)): the frozen model guided *away* from the concept.

    Args:
        unconditional: ε_orig(z_t, t, c₀), the frozen model's prediction for the empty prompt.
        concept: ε_orig(z_t, t, c_p), its prediction for the concept prompt.
        negative_guidance: η ≥ 0 (0: the target is the unconditional prediction).
    """
    _check_predictions(unconditional=unconditional, concept=concept)
    check_number("negative_guidance", negative_guidance, low=0.0)
    return unconditional - negative_guidance * (concept - unconditional)


def esd_loss(
    prediction: torch.Tensor,
    unconditional: torch.Tensor,
    concept: torch.Tensor,
    *,
    negative_guidance: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """L_u = ‖ε_θ(z_t, t, c) − ε*‖², averaged over each sample's elements; the targets carry no gradient.

    Args:
        prediction: ε_θ(z_t, t, c) of the model being erased (gradients flow into it).
        unconditional, concept: the frozen model's predictions for c₀ and c_p (see [`esd_target`]).
        negative_guidance: η of [`esd_target`].
        reduction: "mean", "sum" or "none" (one value per sample).
    """
    check_reduction(reduction)
    _check_predictions(prediction=prediction, unconditional=unconditional, concept=concept)
    target = esd_target(unconditional.detach(), concept.detach(), negative_guidance)
    per_sample = (prediction - target.to(prediction.dtype)).pow(2).flatten(1).mean(dim=1)
    return reduce_loss(per_sample, reduction)


def retain_loss(prediction: torch.Tensor, original: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """L_r = ‖ε_θ(z_t, t, c_r) − ε_orig(z_t, t, c_r)‖² on retain prompts (per-sample mean; the target is detached)."""
    check_reduction(reduction)
    _check_predictions(prediction=prediction, original=original)
    per_sample = (prediction - original.detach().to(prediction.dtype)).pow(2).flatten(1).mean(dim=1)
    return reduce_loss(per_sample, reduction)


class ESDLoss(nn.Module):
    """The ESD erasing loss as a module: `ESDLoss(negative_guidance=1.0)(prediction, unconditional, concept)`.

        L_u = ‖ε_θ(z_t, t, c) − [ε_orig(z_t, t, c₀) − η (ε_orig(z_t, t, c_p) − ε_orig(z_t, t, c₀))]‖²

    Args:
        negative_guidance (`float`): η ≥ 0 (1 in the official code).
        reduction (`str`): "mean", "sum" or "none" (one value per sample).
    """

    def __init__(self, negative_guidance: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.negative_guidance = check_number("negative_guidance", negative_guidance, low=0.0)
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, unconditional: torch.Tensor, concept: torch.Tensor) -> torch.Tensor:
        return esd_loss(
            prediction, unconditional, concept, negative_guidance=self.negative_guidance, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"negative_guidance={self.negative_guidance:g}, reduction={self.reduction!r}"
