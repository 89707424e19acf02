"""Exponential-moving-average ("momentum") teachers, on PyTorch's `AveragedModel`.

θ_teacher ← m · θ_teacher + (1 − m) · θ_student after every optimizer step (Mean Teacher, BYOL, MoCo, the momentum
teachers of semi-supervised and multiple-instance methods). [`ema_teacher`] builds the teacher as a
`torch.optim.swa_utils.AveragedModel` with `get_ema_multi_avg_fn(m)` (a deep copy, frozen, buffers such as batch-norm
statistics averaged too by default); [`EMACallback`] updates it inside `transformers.Trainer` after each step.

Example:

```python
>>> teacher = ema_teacher(model, momentum=0.999)
>>> trainer = Trainer(model=model, ..., callbacks=[EMACallback(teacher)])   # or teacher.update_parameters(model)
>>> teacher.module(**batch)                                                  # the averaged network
```
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from transformers import TrainerCallback

from hf_methods.common.checks import check_number


def ema_teacher(model: nn.Module, momentum: float = 0.999, *, use_buffers: bool = True) -> AveragedModel:
    """A frozen EMA copy of `model` with momentum m ∈ [0, 1) (`update_parameters(model)` applies one update)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    m = check_number("momentum", momentum, low=0, high=1, high_open=True)
    teacher = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(m), use_buffers=use_buffers)
    teacher.requires_grad_(False)
    return teacher


class EMACallback(TrainerCallback):
    """Updates an [`ema_teacher`] from the trained model after every optimizer step of a `transformers.Trainer`."""

    def __init__(self, teacher: AveragedModel):
        if not isinstance(teacher, AveragedModel):
            raise TypeError("teacher must be built with ema_teacher (a torch.optim.swa_utils.AveragedModel)")
        self.teacher = teacher

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is not None:
            with torch.no_grad():
                self.teacher.update_parameters(model)
