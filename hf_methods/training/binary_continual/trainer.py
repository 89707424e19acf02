"""`ContinualVCLTrainer`: a `transformers.Trainer` that learns a list of tasks in order with a KL memory term."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from .training import PRIORS, FieldPrior, continual_beta, default_kl_weight, evaluate


class ContinualVCLTrainer(Trainer):
    r"""
    Variational continual learning of a [`VariationalBinaryMLP`] over `tasks`, one `Trainer.train()` per task.

    The loss of a training batch is

        L(θ) = CE(Gaussian-field logits, labels) + λ_KL · Σ_weights KL(q_θ ‖ q_θp),

    with θp the fields of the previous task (`prior="previous_task"`, the paper), the fields before the last
    optimiser step (`prior="streaming"`, the official code) or no KL at all (`prior="none"`). The inverse temperature
    is annealed over the whole run, not per task: during global epoch e of E_total = len(tasks) × num_train_epochs,
    β = β_max·tanh(0.1 + 2·(e + 1)/E_total) (the model's `config.beta_schedule`).

    Each task starts a fresh optimiser and learning-rate schedule from `args` (use `adam_beta2=0.99`,
    `learning_rate=0.01` and `lr_scheduler_type="constant"` for the paper's Adam); the official code keeps one Adam
    across tasks (the plain loop `train_continual` does that). Resuming from a checkpoint restarts the current task's
    `Trainer` state only: use `recipes/binary_continual.py` for resumable runs.

    Args:
        tasks (`list` of datasets): training sets with `pixel_values` and `labels`, in the order they are learned.
        prior (`str`, defaults to `"previous_task"`): one of `"previous_task"`, `"streaming"`, `"none"`.
        kl_weight (`float`, *optional*): λ_KL; default `default_kl_weight`: 1 / `per_device_train_batch_size` for the
            streaming prior (as the official code), 1 / len(first task) for the previous-task prior (the per-example
            ELBO).
        eval_tasks (`list` of `(x, y)` tensor pairs, *optional*): after each task, the mean-field accuracy on each is
            appended to `self.accuracy_matrix`.
        *args, **kwargs: passed to `transformers.Trainer` (`train_dataset` is set from `tasks`).

    Example:

    ```python
    >>> trainer = ContinualVCLTrainer(model=model, args=args, tasks=[ds1, ds2, ds3], prior="previous_task")
    >>> trainer.train()
    ```
    """

    def __init__(
        self,
        *args,
        tasks: list,
        prior: str = "previous_task",
        kl_weight: float | None = None,
        eval_tasks: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        **kwargs,
    ):
        if not isinstance(tasks, (list, tuple)) or len(tasks) == 0:
            raise ValueError("tasks must be a non-empty list of training datasets, one per task")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if kl_weight is not None and (not math.isfinite(kl_weight) or kl_weight < 0):
            raise ValueError(f"kl_weight must be a finite number >= 0, got {kl_weight}")
        if "train_dataset" in kwargs:
            raise ValueError("pass the training data as tasks=[...], not train_dataset")
        super().__init__(*args, train_dataset=tasks[0], **kwargs)
        if not hasattr(self.model, "fields") or not hasattr(self.model, "set_beta"):
            raise TypeError(f"model must be a VariationalBinaryMLP (fields θ and β), got {type(self.model).__name__}")
        if self.args.max_steps > 0:
            raise ValueError("ContinualVCLTrainer trains num_train_epochs per task: leave max_steps at -1")
        self.tasks = list(tasks)
        self.field_prior = FieldPrior(prior)
        if kl_weight is None:
            kl_weight = default_kl_weight(prior, self.args.per_device_train_batch_size, len(self.tasks[0]))
        self.kl_weight = float(kl_weight)
        self.eval_tasks = eval_tasks
        self.current_task = 0
        self.accuracy_matrix: list[list[float]] = []

    @property
    def epochs_per_task(self) -> int:
        return max(1, math.ceil(self.args.num_train_epochs))

    def current_beta(self) -> float:
        """β of the current (task, epoch) under the model's schedule."""
        epoch = min(int(self.state.epoch or 0), self.epochs_per_task - 1)
        total = len(self.tasks) * self.epochs_per_task
        return continual_beta(self.model.config, self.current_task * self.epochs_per_task + epoch, total)

    def train(self, *args, **kwargs):
        """Trains on every task in order; returns the last task's `TrainOutput`."""
        output = None
        for index, dataset in enumerate(self.tasks):
            self.current_task, self.train_dataset = index, dataset
            self.optimizer, self.lr_scheduler = None, None  # a fresh optimiser and schedule per task
            output = super().train(*args, **kwargs)
            self.field_prior.end_task(self.model)
            if self.eval_tasks is not None:
                device = next(self.model.parameters()).device
                row = [evaluate(self.model, x.to(device), y.to(device), "mean") for x, y in self.eval_tasks]
                self.accuracy_matrix.append(row)
        return output

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("ContinualVCLTrainer needs a 'labels' column in every batch")
        unwrapped = self.accelerator.unwrap_model(model)
        if model.training:
            unwrapped.set_beta(self.current_beta())
        outputs = model(pixel_values=inputs["pixel_values"], labels=labels)
        loss = outputs.loss
        if model.training:
            kl = self.field_prior.kl(unwrapped, unwrapped.beta) if self.kl_weight > 0 else None
            if kl is not None:
                loss = loss + self.kl_weight * kl
            self.field_prior.observe(unwrapped)
        return (loss, outputs) if return_outputs else loss


__all__ = ["ContinualVCLTrainer"]
