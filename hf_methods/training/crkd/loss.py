"""Class-relation knowledge distillation (CrKD; Gu, Zhang, Xu & He, ICCV 2023) and the UNO discovery objective it is
added to.

In novel class discovery a model trained on the *known* classes describes each *novel* sample by its class relation,
the distribution over known classes it predicts for it. CrKD keeps that relation alive during discovery by
distilling it from the frozen known-class model (the teacher) into the known-class head of the model being trained,
weighting each unlabelled sample by how much the trained model itself places it among the known classes:

    p_old(x) = softmax(z_old(x) / τ / T)                 teacher's known-class logits z_old
    p_new(x) = softmax(z_new[:C_k](x) / τ / T)            student's known-class logits
    w(x)     = Σ_{c < C_k} softmax(z_new(x) / τ / T)_c     student's mass on the known classes (all C_k + C_n logits)
    ω(x)     = w(x) / mean_{x' ∈ batch} w(x')             normalised to mean 1 over the batch (and views, heads)
    L_kd     = mean_x  ω(x) · T² · Σ_c −p_old,c(x) log p_new,c(x)

with τ = 0.1 the temperature of the cosine logits and T = 4 the distillation temperature. This follows
`model/losses.py:KD` of the official code (`kleinzcy/Cr-KD-NCD`), including that ω is computed from the student's
logits *without* a stop-gradient. The discovery objective is UNO's swapped prediction (`rKD.py:swapped_prediction`):
each view's targets (one-hot labels for labelled samples, Sinkhorn–Knopp assignments over the novel logits for
unlabelled ones) supervise the other view's predictions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, reduce_loss


def _check_mask(mask, batch_size: int, name: str = "unlabeled_mask") -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of booleans, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean tensor, got dtype {mask.dtype}")
    if mask.shape != (batch_size,):
        raise ValueError(f"{name} must have shape ({batch_size},) (one flag per sample), got {tuple(mask.shape)}")
    return mask


def _check_relation_inputs(teacher_logits, logits) -> int:
    for name, value in (("teacher_logits", teacher_logits), ("logits", logits)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        if value.dim() < 2:
            raise ValueError(f"{name} must be (..., batch, classes), got shape {tuple(value.shape)}")
    num_known = teacher_logits.shape[-1]
    if teacher_logits.shape[:-1] != logits.shape[:-1]:
        raise ValueError(
            "teacher_logits and logits must agree in every dimension but the last (..., batch), got "
            f"{tuple(teacher_logits.shape)} and {tuple(logits.shape)}"
        )
    if num_known < 2:
        raise ValueError(f"teacher_logits must have at least 2 known classes, got {num_known}")
    if logits.shape[-1] <= num_known:
        raise ValueError(
            f"logits must hold the {num_known} known-class logits followed by at least one novel-class logit, got "
            f"{logits.shape[-1]} classes"
        )
    return num_known


def known_class_weights(
    logits: torch.Tensor, num_known_classes: int, *, kd_temperature: float = 4.0, temperature: float = 0.1
) -> torch.Tensor:
    """The un-normalised CrKD gate `w = Σ_{c < C_k} softmax(logits / τ / T)_c` (shape `logits.shape[:-1]`).

    `logits` holds the known-class logits first, then the novel ones. The gate is the model's probability that a
    sample belongs to a known class; CrKD divides it by its batch mean (see [`class_relation_kd_loss`]).
    """
    probs = F.softmax(logits / temperature / kd_temperature, dim=-1)
    return probs[..., :num_known_classes].sum(-1)


def class_relation_kd_loss(
    teacher_logits: torch.Tensor,
    logits: torch.Tensor,
    unlabeled_mask: torch.Tensor | None = None,
    *,
    kd_temperature: float = 4.0,
    temperature: float = 0.1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The class-relation distillation loss of CrKD on the unlabelled samples of a batch.

        p_old = softmax(z_old / τ / T),  p_new = softmax(z[:C_k] / τ / T),  w = Σ_{c<C_k} softmax(z / τ / T)_c
        ω = w / mean(w),   L_kd(x) = ω(x) · T² · Σ_c −p_old,c(x) · log p_new,c(x)

    Args:
        teacher_logits (`torch.Tensor` of shape `(..., batch, C_k)`): the frozen known-class model's known-class
            logits (detached here). Leading dimensions (views, heads) are allowed and must match `logits`.
        logits (`torch.Tensor` of shape `(..., batch, C_k + C_n)`): the trained model's logits, the `C_k`
            known-class logits first, then the novel-class ones.
        unlabeled_mask (`torch.BoolTensor` of shape `(batch,)`, *optional*): which samples are unlabelled; only they
            are distilled (the official code's `~mask_lab`). `None` distils every sample.
        kd_temperature (`float`, defaults to 4.0): the distillation temperature `T > 0` (`kd_temperature`).
        temperature (`float`, defaults to 0.1): the logit temperature `τ > 0` of the cosine-prototype heads.
        reduction (`str`, defaults to `"mean"`): `"none"` gives one value per unlabelled sample (averaged over the
            leading dimensions); `"mean"` their mean (the official value); `"sum"` their sum.

    The weights ω are normalised by their mean over every leading dimension and every unlabelled sample, so the loss
    of a sample depends on the rest of the batch through that mean (the ω of the batch average to 1).
    """
    num_known = _check_relation_inputs(teacher_logits, logits)
    kd_temperature = check_number("kd_temperature", kd_temperature, low=0, low_open=True)
    temperature = check_number("temperature", temperature, low=0, low_open=True)
    check_reduction(reduction)
    if unlabeled_mask is not None:
        _check_mask(unlabeled_mask, logits.shape[-2])
        teacher_logits = teacher_logits[..., unlabeled_mask, :]
        logits = logits[..., unlabeled_mask, :]
    if logits.shape[-2] == 0:
        raise ValueError("class_relation_kd_loss needs at least one unlabelled sample (unlabeled_mask is all False)")
    scale = temperature * kd_temperature
    p_old = F.softmax(teacher_logits.detach() / scale, dim=-1)
    log_p_new = F.log_softmax(logits[..., :num_known] / scale, dim=-1)
    weights = known_class_weights(logits, num_known, kd_temperature=kd_temperature, temperature=temperature)
    weights = weights / weights.mean()  # no stop-gradient, as in the official KD()
    per_sample = (-(p_old * log_p_new).sum(-1) * kd_temperature**2 * weights).reshape(-1, logits.shape[-2]).mean(0)
    return reduce_loss(per_sample, reduction)


class ClassRelationKDLoss(nn.Module):
    r"""[`class_relation_kd_loss`] as a module: `ω(x) · T² · CE(p_old(x), p_new(x))` on the unlabelled samples.

        p_old = softmax(z_old / τ / T),  p_new = softmax(z[:C_k] / τ / T),  ω = w / mean(w),
        w = Σ_{c<C_k} softmax(z / τ / T)_c

    Args:
        kd_temperature (`float`, defaults to 4.0): `T`.
        temperature (`float`, defaults to 0.1): `τ`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss = ClassRelationKDLoss()(teacher_known_logits, logits, unlabeled_mask)
    ```
    """

    def __init__(self, kd_temperature: float = 4.0, temperature: float = 0.1, reduction: str = "mean"):
        super().__init__()
        self.kd_temperature = check_number("kd_temperature", kd_temperature, low=0, low_open=True)
        self.temperature = check_number("temperature", temperature, low=0, low_open=True)
        self.reduction = check_reduction(reduction)

    def forward(self, teacher_logits, logits, unlabeled_mask=None):
        return class_relation_kd_loss(
            teacher_logits,
            logits,
            unlabeled_mask,
            kd_temperature=self.kd_temperature,
            temperature=self.temperature,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"kd_temperature={self.kd_temperature}, temperature={self.temperature}"


def swapped_prediction_loss(logits: torch.Tensor, targets: torch.Tensor, *, temperature: float = 0.1) -> torch.Tensor:
    r"""UNO's swapped prediction, one value per head: each view's targets supervise every other view.

        L_h = 1 / (V (V − 1)) · Σ_v Σ_{v' ≠ v}  mean_i  −Σ_c t_{v,h,i,c} · log softmax(z_{v',h,i} / τ)_c

    Args:
        logits (`torch.Tensor` of shape `(views, heads, batch, classes)`): the logits of every view and head.
        targets (`torch.Tensor` of the same shape): soft targets (rows sum to 1), e.g. one-hot labels and
            Sinkhorn–Knopp assignments.
        temperature (`float`, defaults to 0.1): `τ`.

    Returns the loss of each head, shape `(heads,)` (the official code tracks the best head with it).
    """
    if logits.dim() != 4 or targets.shape != logits.shape:
        raise ValueError(
            "logits and targets must both be (views, heads, batch, classes), got "
            f"{tuple(logits.shape)} and {tuple(getattr(targets, 'shape', ()))}"
        )
    views = logits.shape[0]
    if views < 2:
        raise ValueError(f"swapped prediction needs at least 2 views, got {views}")
    log_probs = F.log_softmax(logits / temperature, dim=-1)
    total = logits.new_zeros(logits.shape[1])
    for view in range(views):
        for other in range(views):
            if other != view:
                total = total + (-(targets[view] * log_probs[other]).sum(-1)).mean(-1)
    return total / (views * (views - 1))


__all__ = ["ClassRelationKDLoss", "class_relation_kd_loss", "known_class_weights", "swapped_prediction_loss"]
