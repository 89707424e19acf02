"""`HPMTrainer`: a `transformers.Trainer` that pre-trains [`HPMForPreTraining`] with hard patches mining.

Each step follows the official `engine_pretrain.py`: an EMA copy of the model (the teacher) predicts ŝ for every
patch of the *unmasked* batch, the mask takes the α_t-share of the masked patches from the predicted-hardest ones,
and the model is trained on L = L_rec + w · L_pred. After every optimizer step the teacher moves towards the model
with a momentum that ramps from `teacher_momentum_start` to `teacher_momentum_end` over the first
`momentum_ramp_fraction` of the training (official: 0.999 → 0.9999 over the first 100 of 800 epochs).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from transformers import Trainer, TrainerCallback

from hf_methods.common.checks import check_number

from .modeling_hpm import HPMForPreTraining, easy_to_hard_ratio


def teacher_momentum(progress: float, start: float, end: float, ramp_fraction: float) -> float:
    """EMA momentum at `progress` ∈ [0, 1] of the training: linear from `start` to `end` over `ramp_fraction`."""
    if ramp_fraction <= 0:
        return end
    return start + (end - start) * min(1.0, progress / ramp_fraction)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """θ_teacher ← m · θ_teacher + (1 − m) · θ_student for every parameter and floating buffer."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.lerp_(s.detach().to(t.device), 1.0 - momentum)
    for t, s in zip(teacher.buffers(), student.buffers()):
        if t.is_floating_point():
            t.lerp_(s.detach().to(t.device), 1.0 - momentum)


class HPMTeacherCallback(TrainerCallback):
    """Moves the trainer's EMA teacher towards the model after every optimizer step (momentum schedule above)."""

    def __init__(self, trainer: HPMTrainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        trainer = self.trainer
        progress = state.global_step / max(state.max_steps, 1)
        momentum = teacher_momentum(
            progress, trainer.teacher_momentum_start, trainer.teacher_momentum_end, trainer.momentum_ramp_fraction
        )
        unwrapped = trainer.accelerator.unwrap_model(model)
        ema_update(trainer.teacher, unwrapped, momentum)


class HPMTrainer(Trainer):
    """Pre-trains an [`HPMForPreTraining`] with masks mined by its EMA teacher (hard patches mining).

    The batches hold `pixel_values` only. The epoch t of α_t = max_hard_ratio · (t + 1)/T is the trainer's current
    epoch (T = the run's number of epochs, `ceil(state.num_train_epochs)`). The teacher is a frozen deep copy of the
    model, kept on the model's device and not saved with checkpoints.

    Args:
        teacher_momentum_start, teacher_momentum_end (`float`): the EMA momentum schedule's ends, in [0, 1).
        momentum_ramp_fraction (`float`): the share of training over which the momentum ramps, in [0, 1].
        mine_hard_patches (`bool`): `False` masks at random (an MAE that still trains the loss predictor).
        **kwargs: the arguments of `transformers.Trainer`.
    """

    def __init__(
        self,
        *args,
        teacher_momentum_start: float = 0.999,
        teacher_momentum_end: float = 0.9999,
        momentum_ramp_fraction: float = 0.125,
        mine_hard_patches: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not isinstance(self.model, HPMForPreTraining):
            raise TypeError(f"model must be an HPMForPreTraining, got {type(self.model).__name__}")
        self.teacher_momentum_start = check_number(
            "teacher_momentum_start", teacher_momentum_start, low=0, high=1, high_open=True
        )
        self.teacher_momentum_end = check_number(
            "teacher_momentum_end", teacher_momentum_end, low=0, high=1, high_open=True
        )
        self.momentum_ramp_fraction = check_number("momentum_ramp_fraction", momentum_ramp_fraction, low=0, high=1)
        self.mine_hard_patches = bool(mine_hard_patches)
        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.add_callback(HPMTeacherCallback(self))

    def current_hard_ratio(self) -> float:
        """α_t of the current epoch."""
        total = max(1, math.ceil(self.state.num_train_epochs or 1))
        epoch = min(int(self.state.epoch or 0), total - 1)
        return easy_to_hard_ratio(epoch, total, self.model.config.max_hard_ratio)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "pixel_values" not in inputs:
            raise ValueError("HPMTrainer batches must hold 'pixel_values'")
        pixel_values = inputs["pixel_values"]
        if not self.mine_hard_patches:
            outputs = model(pixel_values=pixel_values)
        else:
            if next(self.teacher.parameters()).device != pixel_values.device:
                self.teacher.to(pixel_values.device)
            with torch.no_grad():
                predicted = self.teacher.predict_patch_losses(pixel_values)  # on the unmasked images
            outputs = model(
                pixel_values=pixel_values, predicted_losses=predicted, hard_ratio=self.current_hard_ratio()
            )
        loss = outputs.loss
        return (loss, outputs) if return_outputs else loss
