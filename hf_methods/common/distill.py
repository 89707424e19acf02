"""Teacher–student training shared by the distillation methods: a `Trainer` base and the standard distillation losses.

- [`TeacherStudentTrainer`]: a `transformers.Trainer` that trains `model` (the student) next to a frozen `teacher`
  (kept in eval mode, never given to the optimizer, moved to the training device, left out of checkpoints);
  a subclass writes [`~TeacherStudentTrainer.distillation_loss`];
- [`soft_target_kl`]: Hinton et al.'s temperature-scaled KL between teacher and student distributions;
- [`attention_transfer_loss`]: Zagoruyko & Komodakis' attention transfer between intermediate activations.

Example:

```python
>>> class KDTrainer(TeacherStudentTrainer):
...     def distillation_loss(self, outputs, teacher_outputs, inputs):
...         return soft_target_kl(outputs.logits, teacher_outputs.logits, temperature=4.0)
>>> KDTrainer(model=student, teacher=teacher, args=args, train_dataset=ds).train()
```
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer

from .checks import reduce_loss


def soft_target_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, temperature: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)) per example (Hinton, Vinyals & Dean, 2015).

    The T² factor keeps the gradient scale independent of the temperature. Logits are `(batch, classes)`.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            "student_logits and teacher_logits must both be (batch, classes) of one shape, got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)
    return reduce_loss(kl * temperature**2, reduction)


def attention_map(activation: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Q = vec(Σ_c |A_c|^p) / ‖vec(Σ_c |A_c|^p)‖₂: an activation `(batch, channels, ...)` as a unit attention vector."""
    if activation.dim() < 2:
        raise ValueError(f"activation must be (batch, channels, ...), got shape {tuple(activation.shape)}")
    spatial = activation.abs().pow(p).sum(1) if activation.dim() > 2 else activation.abs().pow(p)
    return F.normalize(spatial.flatten(1), dim=1)


def attention_transfer_loss(
    student_activation: torch.Tensor, teacher_activation: torch.Tensor, *, p: float = 2.0, reduction: str = "mean"
) -> torch.Tensor:
    """‖Q_s − Q_t‖₂ per example between attention maps (Zagoruyko & Komodakis, 2017, eq. 2).

    For 4-D activations `(batch, channels, h, w)` the map sums |A|^p over channels; for 2-D features `(batch,
    features)` it is the normalised |A|^p itself; the teacher side is detached.
    """
    if student_activation.shape[0] != teacher_activation.shape[0]:
        raise ValueError("student_activation and teacher_activation must have the same batch size")
    q_student, q_teacher = attention_map(student_activation, p), attention_map(teacher_activation.detach(), p)
    if q_student.shape != q_teacher.shape:
        raise ValueError(
            f"the attention maps differ in size ({tuple(q_student.shape)} vs {tuple(q_teacher.shape)}): compare "
            "activations of the same spatial size"
        )
    return reduce_loss((q_student - q_teacher).norm(dim=1), reduction)


class TeacherStudentTrainer(Trainer):
    """A `transformers.Trainer` that trains the student `model` with a loss that also reads a frozen `teacher`.

    The teacher is put in eval mode with `requires_grad=False`, moved to the training device, and called under
    `torch.no_grad()` with the same batch (minus the columns in `teacher_ignore_columns`) in `compute_loss`; it is not
    part of the optimizer nor of the saved checkpoints. A subclass implements `distillation_loss(outputs,
    teacher_outputs, inputs)`; the batch's `labels` stay in `inputs` for it to use, and the student is called
    without them (so its own loss is not computed) unless `student_uses_labels=True`.

    Args:
        teacher (`nn.Module`): the frozen teacher (may be the student's own earlier copy, as in self-distillation).
        *args, **kwargs: passed to `transformers.Trainer`.
    """

    student_uses_labels = False
    teacher_ignore_columns: tuple[str, ...] = ("labels",)

    def __init__(self, *args, teacher: nn.Module, **kwargs):
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be an nn.Module, got {type(teacher).__name__}")
        super().__init__(*args, **kwargs)
        if teacher is self.model:
            raise ValueError("teacher must be a separate model (e.g. copy.deepcopy(model)), not the student itself")
        self.teacher = teacher.eval().requires_grad_(False).to(self.args.device)

    def model_inputs(self, inputs: dict[str, Any], *, for_teacher: bool = False) -> dict[str, Any]:
        """The batch without the columns the model (student or teacher) does not take."""
        if for_teacher:
            drop = set(self.teacher_ignore_columns)
        else:
            drop = set() if self.student_uses_labels else {"labels"}
        return {k: v for k, v in inputs.items() if k not in drop}

    @torch.no_grad()
    def teacher_outputs(self, inputs: dict[str, Any]):
        self.teacher.eval()
        return self.teacher(**self.model_inputs(inputs, for_teacher=True))

    def distillation_loss(self, outputs, teacher_outputs, inputs: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} must implement distillation_loss(outputs, teacher_outputs, inputs)"
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**self.model_inputs(inputs))
        loss = self.distillation_loss(outputs, self.teacher_outputs(inputs), inputs)
        return (loss, outputs) if return_outputs else loss
