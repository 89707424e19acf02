"""MHIM-MIL's consistency loss between the student's and the momentum teacher's bag features (Tang et al., ICCV 2023).

The teacher sees the whole bag, the student the bag with its hard-mined mask applied; the student's bag feature is
pulled towards the teacher's sharpened one with a soft-target cross-entropy over the feature dimensions
(`SoftTargetCrossEntropy_v2` of the official code, `DearCaat/MHIM-MIL`, branch `v1`, `modules/mhim.py`):

    L_cons = Σ_d − softmax(z_t / τ_t)_d · log softmax(z_s / τ_s)_d,     τ_t = 0.1, τ_s = 1

and the student's objective is `L = CE(student logits, y) + α · L_cons`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, reduce_loss


def mhim_consistency_loss(
    student_features: torch.Tensor,
    teacher_features: torch.Tensor,
    *,
    teacher_temperature: float = 0.1,
    student_temperature: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Soft-target cross-entropy of the student's bag features against the teacher's sharpened ones.

        L_cons(b) = Σ_d − softmax(z_t(b) / τ_t)_d · log softmax(z_s(b) / τ_s)_d

    Args:
        student_features (`torch.Tensor` of shape `(batch, hidden)`): the student's bag features (masked bags).
        teacher_features (`torch.Tensor` of shape `(batch, hidden)`): the teacher's bag features (whole bags);
            detached here, the teacher gets no gradient.
        teacher_temperature (`float`, defaults to 0.1): `τ_t > 0` (`temp_t`).
        student_temperature (`float`, defaults to 1.0): `τ_s > 0` (`temp_s`).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (one value per bag).
    """
    for name, value in (("student_features", student_features), ("teacher_features", teacher_features)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {type(value).__name__}")
        if value.dim() != 2:
            raise ValueError(f"{name} must be 2-D (batch, hidden), got shape {tuple(value.shape)}")
    if teacher_features.shape != student_features.shape:
        raise ValueError(
            f"teacher_features must have the shape of student_features {tuple(student_features.shape)}, "
            f"got {tuple(teacher_features.shape)}"
        )
    teacher_temperature = check_number("teacher_temperature", teacher_temperature, low=0, low_open=True)
    student_temperature = check_number("student_temperature", student_temperature, low=0, low_open=True)
    check_reduction(reduction)
    target = F.softmax(teacher_features.detach() / teacher_temperature, dim=-1)
    per_bag = -(target * F.log_softmax(student_features / student_temperature, dim=-1)).sum(-1)
    return reduce_loss(per_bag, reduction)


class MHIMConsistencyLoss(nn.Module):
    r"""[`mhim_consistency_loss`] as a module: `Σ_d −softmax(z_t/τ_t)_d · log softmax(z_s/τ_s)_d` per bag.

    Args:
        teacher_temperature (`float`, defaults to 0.1): `τ_t`.
        student_temperature (`float`, defaults to 1.0): `τ_s`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.
    """

    def __init__(self, teacher_temperature: float = 0.1, student_temperature: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.teacher_temperature = check_number("teacher_temperature", teacher_temperature, low=0, low_open=True)
        self.student_temperature = check_number("student_temperature", student_temperature, low=0, low_open=True)
        self.reduction = check_reduction(reduction)

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return mhim_consistency_loss(
            student_features,
            teacher_features,
            teacher_temperature=self.teacher_temperature,
            student_temperature=self.student_temperature,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"teacher_temperature={self.teacher_temperature}, student_temperature={self.student_temperature}"


__all__ = ["MHIMConsistencyLoss", "mhim_consistency_loss"]
