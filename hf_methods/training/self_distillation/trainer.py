"""`SelfDistillationTrainer`: a `transformers.Trainer` that distils a model into itself for `k` steps.

Each step trains the student on `α · ℓ(f(x), y) + (1 − α) · ℓ(f(x), f_teacher(x))` (Borup & Andersen, NeurIPS 2021,
eq. 3), then the trained student, frozen, becomes the next step's teacher, as in the official loop
(`Kennethborup/self_distillation`, `self_distiller.py`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from hf_methods.common.distill import TeacherStudentTrainer

from .loss import OBJECTIVES, SelfDistillationLoss

__all__ = ["SelfDistillationTrainer", "parameter_norm_penalty"]


def parameter_norm_penalty(model: nn.Module) -> torch.Tensor:
    """`Σ_p ‖p‖₂` over the trainable parameter tensors (unsquared Frobenius norms, as the official training step)."""
    norms = [p.norm() for p in model.parameters() if p.requires_grad]
    return torch.stack(norms).sum() if norms else torch.zeros(())


class _NoTeacher(nn.Module):
    """Stands in for the teacher of a chain's first fit (trained on the labels alone); never called."""

    def forward(self, *args, **kwargs):  # pragma: no cover - teacher_outputs short-circuits it
        raise RuntimeError("the first fit of a self-distillation chain has no teacher")


class SelfDistillationTrainer(TeacherStudentTrainer):
    """Self-distillation with ground-truth weighting for `steps` steps, each a full `transformers.Trainer` run.

    Step `t` trains `model` with [`SelfDistillationLoss`] `α · ℓ(z, y) + (1 − α) · ℓ(z, z_teacher)` against the
    frozen teacher; when it ends, a frozen copy of the student becomes the teacher of step `t + 1`. Without a
    `teacher`, step 1 is the plain fit on the labels (the chain's initial model, as the first fit of the kernel
    analysis and of the official script). Every step gets a new optimizer and learning-rate schedule (the `Trainer`'s
    defaults from `args`). With `model_init`, each step starts from a freshly initialised student (the official
    script builds a new network per step; `Trainer` seeds `model_init` with `args.seed`, so each step starts from
    the same initial weights); without it, the student keeps its weights and goes on training from them.

    After `train()`, `distillation_history` holds one record per step (its training loss and, when an
    `eval_dataset` is given, the `evaluate()` metrics of the step's student), and `teacher` is the last step's
    teacher. Checkpoints inside a step work as usual; `resume_from_checkpoint` only applies to the first step.

    Args:
        teacher (`nn.Module`, *optional*): the initial teacher (e.g. a trained copy of the model). `None`: the first
            step fits the labels alone.
        alpha (`float` in `[0, 1]`, defaults to 0.5): weight of the ground-truth term.
        steps (`int`, defaults to 1): number of training runs in the chain (`>= 1`).
        objective (`str`, defaults to `"mse"`): `"mse"` (squared error between class probabilities, the official
            loss) or `"kl"` (cross-entropy plus temperature-scaled KL).
        temperature (`float`, defaults to 1.0): the KL temperature of `objective="kl"`.
        parameter_norm_coef (`float`, defaults to 0.0): adds `coef · Σ_p ‖p‖₂` (unsquared norms) to the loss, the
            official regulariser (1e-4 there); `TrainingArguments.weight_decay` is the usual alternative.
        *args, **kwargs: passed to `transformers.Trainer` (`model`, `args`, `train_dataset`, `model_init`, ...).
            The model must return `.logits`; the batches must carry integer `labels`.

    Example:

    ```python
    >>> trainer = SelfDistillationTrainer(model=model, alpha=0.5, steps=3, args=args, train_dataset=ds)
    >>> trainer.train()  # fit on the labels, then two rounds of distillation into the same architecture
    >>> trainer.distillation_history
    ```
    """

    def __init__(
        self,
        *args,
        teacher: nn.Module | None = None,
        alpha: float = 0.5,
        steps: int = 1,
        objective: str = "mse",
        temperature: float = 1.0,
        parameter_norm_coef: float = 0.0,
        **kwargs,
    ):
        if teacher is not None and not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be an nn.Module or None, got {type(teacher).__name__}")
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise TypeError(f"steps must be an int, got {type(steps).__name__}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if isinstance(parameter_norm_coef, bool) or not isinstance(parameter_norm_coef, (int, float)):
            raise TypeError(f"parameter_norm_coef must be a number, got {type(parameter_norm_coef).__name__}")
        if parameter_norm_coef < 0:
            raise ValueError(f"parameter_norm_coef must be >= 0, got {parameter_norm_coef}")
        self.loss_fn = SelfDistillationLoss(alpha=alpha, objective=objective, temperature=temperature)
        self.distillation_steps = steps
        self.parameter_norm_coef = float(parameter_norm_coef)
        self.distillation_history: list[dict[str, Any]] = []
        self.current_step = 0
        super().__init__(*args, teacher=teacher if teacher is not None else _NoTeacher(), **kwargs)
        if teacher is None:
            self.teacher = None

    @property
    def alpha(self) -> float:
        return self.loss_fn.alpha

    def teacher_outputs(self, inputs: dict[str, Any]):
        if self.teacher is None:
            return None
        return super().teacher_outputs(inputs)

    def distillation_loss(self, outputs, teacher_outputs, inputs: dict[str, Any]) -> torch.Tensor:
        labels = inputs.get("labels")
        if labels is None:
            raise ValueError("SelfDistillationTrainer needs a 'labels' column (class indices) in every batch")
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        teacher_logits = None
        if teacher_outputs is not None:
            teacher_logits = teacher_outputs["logits"] if isinstance(teacher_outputs, dict) else teacher_outputs[0]
        loss = self.loss_fn(logits, labels, teacher_logits)
        if self.parameter_norm_coef > 0:
            loss = loss + self.parameter_norm_coef * parameter_norm_penalty(self.model)
        return loss

    def _freeze_student_as_teacher(self) -> None:
        student = self.accelerator.unwrap_model(self.model)
        self.teacher = copy.deepcopy(student).eval().requires_grad_(False).to(self.args.device)

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None, **kwargs):
        """Runs the `steps` training runs of the chain; returns the last run's `TrainOutput`."""
        self.distillation_history = []
        output = None
        for step in range(self.distillation_steps):
            self.current_step = step
            if step > 0:
                self._freeze_student_as_teacher()
                self.optimizer, self.lr_scheduler = None, None  # a fresh optimizer and schedule per step
                resume_from_checkpoint = None
            output = super().train(
                resume_from_checkpoint=resume_from_checkpoint,
                trial=trial,
                ignore_keys_for_eval=ignore_keys_for_eval,
                **kwargs,
            )
            record: dict[str, Any] = {"step": step + 1, "has_teacher": self.teacher is not None}
            record["training_loss"] = output.training_loss
            if self.eval_dataset is not None:
                record.update(self.evaluate())
            self.distillation_history.append(record)
        return output
