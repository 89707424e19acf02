"""The random-label unlearning objective of SalUn (Fan et al., ICLR 2024), on logits.

SalUn updates only the salient weights θ_s = m ⊙ θ (see [`compute_weight_saliency_mask`]) with the objective

    min_{θ_s}  E_{(x, y) ∈ D_f, y' ≠ y} [ℓ_CE(θ; x, y')]  +  α · E_{(x, y) ∈ D_r} [ℓ_CE(θ; x, y)]

(Eq. 6 of the paper): the forget examples D_f are fitted to random labels y', the retain examples D_r to their true
labels. The loss here computes that objective for a batch holding forget and/or retain examples; the random labels
are drawn by the caller ([`draw_random_labels`]), so the loss itself is deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_reduction

RANDOM_LABEL_MODES = ("uniform", "other")


def _check_inputs(logits: torch.Tensor, labels: torch.Tensor, random_labels: torch.Tensor, is_forget: torch.Tensor):
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (batch, num_classes), got {getattr(logits, 'shape', type(logits))}")
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(f"logits must have at least 2 classes, got {num_classes}")
    for name, tensor in (("labels", labels), ("random_labels", random_labels)):
        if not isinstance(tensor, torch.Tensor) or tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
            raise TypeError(
                f"{name} must be an integer tensor of class indices, got {getattr(tensor, 'dtype', tensor)}"
            )
        if tensor.shape != logits.shape[:1]:
            raise ValueError(f"{name} must have shape ({logits.shape[0]},), got {tuple(tensor.shape)}")
        if tensor.numel() and (tensor.min() < 0 or tensor.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}), got values in [{tensor.min()}, {tensor.max()}]")
    if not isinstance(is_forget, torch.Tensor) or is_forget.dtype != torch.bool:
        raise TypeError(
            f"is_forget must be a bool tensor (True for forget examples), got {getattr(is_forget, 'dtype', is_forget)}"
        )
    if is_forget.shape != logits.shape[:1]:
        raise ValueError(f"is_forget must have shape ({logits.shape[0]},), got {tuple(is_forget.shape)}")


def salun_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    random_labels: torch.Tensor,
    is_forget: torch.Tensor,
    *,
    retain_weight: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Per-example SalUn objective: ℓ_CE(f(x_i), y'_i) for a forget example, α · ℓ_CE(f(x_i), y_i) for a retain one.

    Args:
        logits (`torch.Tensor` of shape `(batch, num_classes)`): the model's scores f(x).
        labels (`torch.LongTensor` of shape `(batch,)`): the true labels y (used for retain examples).
        random_labels (`torch.LongTensor` of shape `(batch,)`): the random labels y' (used for forget examples).
        is_forget (`torch.BoolTensor` of shape `(batch,)`): True where the example belongs to the forget set D_f.
        retain_weight (`float`): α ≥ 0, the weight of the retain term.
        reduction (`str`): `"mean"` (over the batch), `"sum"` or `"none"` (one value per example).
    """
    _check_inputs(logits, labels, random_labels, is_forget)
    check_reduction(reduction)
    if not retain_weight >= 0:
        raise ValueError(f"retain_weight must be >= 0 (α of the retain term), got {retain_weight!r}")
    targets = torch.where(is_forget, random_labels, labels)
    per_example = F.cross_entropy(logits, targets, reduction="none")
    # α in the loss's own dtype (a float32 α would round 0.7 differently from a float64 one)
    weights = torch.full_like(per_example, float(retain_weight)).masked_fill(is_forget, 1.0)
    per_example = per_example * weights
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


class SalUnLoss(nn.Module):
    """The SalUn random-label objective as a module: `loss(logits, labels, random_labels, is_forget)`.

    ℓ_i = ℓ_CE(f(x_i), y'_i) if x_i ∈ D_f (y' a random label), α · ℓ_CE(f(x_i), y_i) if x_i ∈ D_r.

    Args:
        retain_weight (`float`, *optional*, defaults to 1.0): α, the weight of the retain term (the official code
            runs a forget pass then a retain pass with the same loss, i.e. α = 1).
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.
    """

    def __init__(self, retain_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        if not (isinstance(retain_weight, (int, float)) and retain_weight >= 0):
            raise ValueError(f"retain_weight must be a number >= 0 (α of the retain term), got {retain_weight!r}")
        self.retain_weight = float(retain_weight)
        self.reduction = reduction

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, random_labels: torch.Tensor, is_forget: torch.Tensor
    ) -> torch.Tensor:
        return salun_loss(
            logits, labels, random_labels, is_forget, retain_weight=self.retain_weight, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"retain_weight={self.retain_weight}, reduction={self.reduction!r}"


def draw_random_labels(
    labels: torch.Tensor, num_classes: int, *, mode: str = "uniform", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random labels y' for forget examples.

    Args:
        labels (`torch.LongTensor`): the true labels y (their shape and, for `mode="other"`, their values are used).
        num_classes (`int`): K ≥ 2.
        mode (`str`): `"uniform"`: y' uniform over the K classes, so y' may equal y (the official code's CIFAR-10 /
            SVHN path); `"other"`: y' uniform over the K − 1 classes other than y (the paper's y' ≠ y).
        generator (`torch.Generator`, *optional*): a CPU generator (the draw is made on CPU, then moved to `labels`'
            device, so it is reproducible across devices).
    """
    if not (isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 2):
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if mode not in RANDOM_LABEL_MODES:
        raise ValueError(f"mode must be one of {RANDOM_LABEL_MODES}, got {mode!r}")
    if mode == "uniform":
        drawn = torch.randint(0, num_classes, tuple(labels.shape), generator=generator)
    else:
        # y' = y + s (mod K) with s uniform in {1, ..., K-1}: uniform over the classes other than y
        shift = torch.randint(1, num_classes, tuple(labels.shape), generator=generator)
        drawn = (labels.cpu() + shift) % num_classes
    return drawn.to(labels.device)


__all__ = ["RANDOM_LABEL_MODES", "SalUnLoss", "draw_random_labels", "salun_loss"]
