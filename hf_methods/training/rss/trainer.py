"""`RobustSelfSupervisedTrainer`: a `transformers.Trainer` that trains with the RSS objective on labelled and unlabelled data."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import Trainer, default_data_collator

from .loss import ROBUST_LOSSES, robust_self_training_loss
from .training import unlabeled_batch_indices


def _number(name: str, value, *, positive: bool) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not ((value > 0 if positive else value >= 0) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return float(value)


class RobustSelfSupervisedTrainer(Trainer):
    r"""Robust self-supervised (RSS) training (Saberi et al., ICLR 2024) as a `transformers.Trainer`.

    Every training step minimises

        (1/m) Σ_i φ_γ(x_i, y_i; θ)  +  (λ/n) Σ_j φ_γ'(x'_j, h_θ(x'_j); θ),     φ_γ(x, y; θ) = sup_z ℓ(z, y; θ) − γ·c(z, x)

    on a batch of `train_dataset` (labelled) and a batch of `unlabeled_dataset` (unlabelled, possibly out of domain).
    The pseudo-labels `h_θ(x')` are the model's own predictions, recomputed from the current weights at every step.
    See [`robust_self_training_loss`] for the two forms of φ:

    - `robust_loss="wrm"` (default): `ℓ` = `loss_fn` (per-sample cross-entropy by default) at the maximiser of
      `ℓ(z) − γ‖z − x‖₂²`, found by `inner_steps` of gradient ascent (`hf_methods.common.adversarial.penalized_inner_max`);
    - `robust_loss="ramp"`: the closed form of a binary linear score, `clip(1 − γ·y·s, 0, 1)` and
      `clip(1 − γ'·|s|, 0, 1)` (the official Gaussian-mixture simulation); the model returns `(batch, 2)` logits or one
      score `(batch, 1)`, and the labels are 0/1.

    The model is called as `model(**{input_name: x})` (other batch fields are not passed) and must return logits (a `ModelOutput` with `.logits`, a dict
    or a tuple). Items of `unlabeled_dataset` need only the `input_name` field (any label column is ignored). Which
    unlabelled examples a step uses depends only on `args.seed` and the step (see [`unlabeled_batch_indices`]), so a
    run resumed from a checkpoint sees the same unlabelled batches; under data parallelism each process takes its
    share of the step's batch. Evaluation reports the labelled robust term only. The logs add `labeled_loss` and
    `unlabeled_loss` (averaged over the logging interval) next to `loss`.

    Args:
        unlabeled_dataset: the unlabelled inputs `x'_j` (a `datasets.Dataset` or a torch `Dataset` of dicts).
        gamma (`float`, defaults to 1.0): `γ`, the transport penalty of the labelled term.
        gamma_unlabeled (`float`, defaults to 0.5): `γ'`, the transport penalty of the unlabelled term.
        lam (`float`, defaults to 1.0): `λ ≥ 0`, the weight of the unlabelled term (0: robust ERM).
        robust_loss (`str`, defaults to `"wrm"`): `"wrm"` or `"ramp"`.
        loss_fn (*optional*): `(logits, labels) -> per-sample losses` of `"wrm"` (default cross-entropy).
        inner_steps (`int`, defaults to 15), inner_step_size (`float`, defaults to 0.1): the ascent of `"wrm"`.
        input_clamp (`tuple[float, float]`, *optional*): the valid input range of the ascent (None: unbounded).
        unlabeled_batch_size (`int`, *optional*): unlabelled examples per step and process (default: the labelled
            `per_device_train_batch_size`).
        input_name (`str`, *optional*): the model's input field (default: `model.main_input_name`, else
            `"pixel_values"`).
        *args, **kwargs: passed to `transformers.Trainer` (`train_dataset` holds the labelled examples with a
            `"labels"` column).

    Example:

    ```python
    >>> trainer = RobustSelfSupervisedTrainer(
    ...     model=model, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled,
    ...     gamma=1.0, gamma_unlabeled=0.5, lam=1.0,
    ... )
    >>> trainer.train()
    ```
    """

    loss_is_scaled_for_ga = False  # the objective is a per-batch mean

    def __init__(
        self,
        *args,
        unlabeled_dataset,
        gamma: float = 1.0,
        gamma_unlabeled: float = 0.5,
        lam: float = 1.0,
        robust_loss: str = "wrm",
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        inner_steps: int = 15,
        inner_step_size: float = 0.1,
        input_clamp: tuple[float, float] | None = None,
        unlabeled_batch_size: int | None = None,
        input_name: str | None = None,
        **kwargs,
    ):
        if robust_loss not in ROBUST_LOSSES:
            raise ValueError(f"robust_loss must be one of {ROBUST_LOSSES}, got {robust_loss!r}")
        strict = robust_loss == "wrm"
        self.gamma = _number("gamma", gamma, positive=strict)
        self.gamma_unlabeled = _number("gamma_unlabeled", gamma_unlabeled, positive=strict)
        self.lam = _number("lam", lam, positive=False)
        self.robust_loss = robust_loss
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(
                f"loss_fn must be callable (logits, labels) -> per-sample losses, got {type(loss_fn).__name__}"
            )
        self.loss_fn = loss_fn
        if not isinstance(inner_steps, int) or isinstance(inner_steps, bool) or inner_steps < 1:
            raise ValueError(f"inner_steps must be an int >= 1, got {inner_steps!r}")
        self.inner_steps = inner_steps
        self.inner_step_size = _number("inner_step_size", inner_step_size, positive=True)
        if input_clamp is not None and (len(input_clamp) != 2 or not input_clamp[0] < input_clamp[1]):
            raise ValueError(f"input_clamp must be (low, high) with low < high, got {input_clamp!r}")
        self.input_clamp = None if input_clamp is None else (float(input_clamp[0]), float(input_clamp[1]))
        if unlabeled_dataset is None or not hasattr(unlabeled_dataset, "__getitem__"):
            raise TypeError(
                f"unlabeled_dataset must be an indexable data set of examples, got {type(unlabeled_dataset).__name__}"
            )
        if len(unlabeled_dataset) == 0:
            raise ValueError("unlabeled_dataset is empty: pass at least one unlabelled example")
        self.unlabeled_dataset = unlabeled_dataset
        super().__init__(*args, **kwargs)
        if unlabeled_batch_size is None:
            unlabeled_batch_size = self.args.per_device_train_batch_size
        if (
            not isinstance(unlabeled_batch_size, int)
            or isinstance(unlabeled_batch_size, bool)
            or unlabeled_batch_size < 1
        ):
            raise ValueError(f"unlabeled_batch_size must be an int >= 1, got {unlabeled_batch_size!r}")
        self.unlabeled_batch_size = unlabeled_batch_size
        self.input_name = input_name or getattr(self.model, "main_input_name", None) or "pixel_values"
        self._micro_steps = 0
        self._logged_parts: dict[str, list[float]] = {"labeled_loss": [], "unlabeled_loss": []}

    # ------------------------------------------------------------------------------------------- unlabelled batches
    def _fetch(self, indices: list[int]) -> dict[str, Any]:
        dataset = self.unlabeled_dataset
        many = getattr(dataset, "__getitems__", None)
        items = many(indices) if many is not None else [dataset[i] for i in indices]
        if isinstance(items, dict):  # a data set that returns a collated batch
            items = [{k: v[j] for k, v in items.items()} for j in range(len(indices))]
        try:
            return default_data_collator([{self.input_name: item[self.input_name]} for item in items])
        except KeyError:
            raise ValueError(
                f"unlabeled_dataset items must have the model input field {self.input_name!r} "
                f"(got fields {sorted(items[0]) if items else []}); set input_name= to the right one"
            ) from None

    def unlabeled_batch(self, step: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The unlabelled inputs of (micro-)step `step` on this process."""
        indices = unlabeled_batch_indices(
            step,
            len(self.unlabeled_dataset),
            self.unlabeled_batch_size * self.accelerator.num_processes,
            seed=self.args.seed,
            process_index=self.accelerator.process_index,
            num_processes=self.accelerator.num_processes,
        )
        batch = self._fetch(indices.tolist())[self.input_name]
        return batch.to(device=device, dtype=dtype)

    # ------------------------------------------------------------------------------------------- objective
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
            raise ValueError("RobustSelfSupervisedTrainer needs a 'labels' column in every labelled batch")
        if self.input_name not in inputs:
            raise ValueError(
                f"the labelled batch has no model input {self.input_name!r} (got {sorted(inputs)}); "
                "set input_name= to the right field"
            )
        x = inputs.pop(self.input_name)

        def forward(z: torch.Tensor):  # the input only: the inner maximisation moves it, other fields would not match
            return model(**{self.input_name: z})

        unlabeled = None
        if model.training and self.lam > 0:
            accumulation = self.args.gradient_accumulation_steps
            step = self.state.global_step * accumulation + self._micro_steps % accumulation
            self._micro_steps += 1
            unlabeled = self.unlabeled_batch(step, x.device, x.dtype)
        out = robust_self_training_loss(
            forward,
            x,
            labels,
            unlabeled,
            gamma=self.gamma,
            gamma_unlabeled=self.gamma_unlabeled,
            lam=self.lam,
            robust_loss=self.robust_loss,
            loss_fn=self.loss_fn,
            inner_steps=self.inner_steps,
            inner_step_size=self.inner_step_size,
            clamp=self.input_clamp,
        )
        if model.training:
            self._logged_parts["labeled_loss"].append(out.labeled_loss.detach().item())
            if out.unlabeled_loss is not None:
                self._logged_parts["unlabeled_loss"].append(out.unlabeled_loss.detach().item())
        if return_outputs:
            return out.loss, forward(x)
        return out.loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs:
            for key, values in self._logged_parts.items():
                if values:
                    logs[key] = sum(values) / len(values)
                values.clear()
        super().log(logs, *args, **kwargs)


__all__ = ["RobustSelfSupervisedTrainer"]
