"""`SRATTrainer`: Separable Reweighted Adversarial Training as a `transformers.Trainer`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.adversarial import PGDConfig, logits_of, pgd_attack

from .loss import DeferredReweighting, SeparableReweightedATLoss
from .training import capture_features, feature_module_of


def _dataset_labels(dataset, label_column: str) -> list[int]:
    """The label of every example of a `datasets.Dataset` (its column) or a map-style torch dataset (item by item)."""
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:
        if label_column not in column_names:
            raise ValueError(f"train_dataset has no {label_column!r} column (columns: {column_names})")
        return [int(v) for v in dataset[label_column]]
    try:
        return [int(dataset[i][label_column]) for i in range(len(dataset))]
    except (KeyError, TypeError, IndexError) as err:
        raise ValueError(
            f"cannot read the labels of train_dataset (items need a {label_column!r} entry); pass class_counts="
        ) from err


class SRATTrainer(Trainer):
    r"""`transformers.Trainer` for Separable Reweighted Adversarial Training (Wang et al., 2021).

    Each training step replaces the batch's inputs by PGD adversarial examples `x' = PGD(x)` (`attack`, computed with
    the model in eval mode) and minimises the SRAT objective of [`SeparableReweightedATLoss`]

        L = (1/B) Σ_i [ w_{y_i}(epoch) · CE(f(x'_i), y_i) + λ · L_sep(h(x'_i)) ]

    on the model's logits and its penultimate features `h` (the input of the head `feature_module`, captured with a
    forward pre-hook, so any classifier with such a head works). The class weights follow deferred re-weighting:
    all ones before epoch `drw_start` (0-based, the Trainer's `state.epoch`), the class weights after.
    Evaluation (`trainer.evaluate`) reports the same objective on attacked evaluation inputs with the current weights.

    The model is called as `model(**{main_input: x})` with the batch's other columns left out; it must return
    `.logits`. Its own loss is ignored.

    Args:
        attack (`PGDConfig`): the training attack (e.g. `PGDConfig(eps=8/255, steps=10, step_size=2/255)`).
        class_weights (`str` or sequence of `float`, defaults to `"effective_num"`): `"effective_num"` (Cui et al.,
            with `beta`), `"inverse"`, `"none"` (plain AT + separation), or per-class weights.
        drw_start (`int`, defaults to 0): first epoch with the class weights (0: reweight from the start).
        beta (`float`, defaults to 0.9999): `β` of the effective-number weights.
        class_counts (sequence of `int`, *optional*): training examples per class; default: counted from the
            `label_column` of `train_dataset`.
        separation_weight (`float`, defaults to 1.0): `λ` (0 gives reweighted adversarial training).
        temperature (`float`, defaults to 0.1): `τ` of the separation loss.
        focal_gamma (`float`, defaults to 0.0): `γ` of a focal classification loss (0: cross-entropy).
        feature_module (`str`, defaults to `"classifier"`): the head whose input is the penultimate feature.
        label_column (`str`, defaults to `"labels"`): the batch column of the class labels.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = SRATTrainer(model=model, args=args, train_dataset=imbalanced_ds,
    ...                       attack=PGDConfig(eps=0.15, steps=5), class_weights="effective_num", drw_start=20)
    >>> trainer.train()
    ```
    """

    loss_is_scaled_for_ga = False  # the loss is a per-batch mean

    def __init__(
        self,
        *args,
        attack: PGDConfig,
        class_weights: str | Sequence[float] | torch.Tensor = "effective_num",
        drw_start: int = 0,
        beta: float = 0.9999,
        class_counts: Sequence[int] | None = None,
        separation_weight: float = 1.0,
        temperature: float = 0.1,
        focal_gamma: float = 0.0,
        feature_module: str = "classifier",
        label_column: str = "labels",
        **kwargs,
    ):
        if not isinstance(attack, PGDConfig):
            raise TypeError(f"attack must be a PGDConfig (e.g. PGDConfig(eps=0.15, steps=5)), got {attack!r}")
        super().__init__(*args, **kwargs)
        self.attack = attack
        self.label_column = label_column
        self.feature_module = feature_module
        model = self.accelerator.unwrap_model(self.model) if hasattr(self, "accelerator") else self.model
        feature_module_of(model, feature_module)  # fail now, not at the first step, when the head does not exist
        num_classes = getattr(getattr(model, "config", None), "num_labels", None)
        if isinstance(class_weights, str) and class_weights != "none" and class_counts is None:
            if self.train_dataset is None:
                raise ValueError(f"class_weights={class_weights!r} needs class_counts or a train_dataset")
            labels = _dataset_labels(self.train_dataset, label_column)
            num_classes = num_classes or max(labels) + 1
            class_counts = torch.bincount(torch.tensor(labels), minlength=num_classes).tolist()
        self.reweighting = DeferredReweighting(
            class_counts, class_weights, drw_start=drw_start, beta=beta, num_classes=num_classes
        )
        self.loss_fn = SeparableReweightedATLoss(
            separation_weight=separation_weight, temperature=temperature, focal_gamma=focal_gamma
        )
        self.main_input_name = getattr(model, "main_input_name", "pixel_values")
        self._term_sums = {"classification_loss": 0.0, "separation_loss": 0.0, "drw_active": 0.0}
        self._term_count = 0

    @property
    def current_epoch(self) -> int:
        """The 0-based epoch of the step being taken (from the Trainer's fractional `state.epoch`)."""
        return max(int(math.floor((self.state.epoch or 0.0) + 1e-9)), 0)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels = inputs.pop(self.label_column, None)
        if labels is None:
            raise ValueError(f"SRATTrainer needs a {self.label_column!r} column in every batch")
        if self.main_input_name not in inputs:
            raise ValueError(f"SRATTrainer needs the model input {self.main_input_name!r} in every batch")
        x = inputs.pop(self.main_input_name)

        def scores(adversarial: torch.Tensor):
            return logits_of(model(**{self.main_input_name: adversarial}))

        was_training = model.training
        model.eval()  # attack the model as it predicts (no dropout, frozen normalisation statistics)
        try:
            x_adv = pgd_attack(scores, x, labels, self.attack)
        finally:
            model.train(was_training)

        unwrapped = self.accelerator.unwrap_model(model)
        with capture_features(unwrapped, self.feature_module) as captured:
            outputs = model(**{self.main_input_name: x_adv})
        logits = logits_of(outputs)
        epoch = self.current_epoch
        weights = self.reweighting.weights_at(epoch)
        classification, separation = self.loss_fn.terms(logits, captured[-1], labels, weights)
        loss = (classification + self.loss_fn.separation_weight * separation).mean()
        if model.training:
            self._term_sums["classification_loss"] += classification.detach().mean().item()
            self._term_sums["separation_loss"] += separation.detach().mean().item()
            self._term_sums["drw_active"] += float(self.reweighting.is_active(epoch))
            self._term_count += 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Adds the mean classification and separation terms since the last log, and the fraction of those steps
        trained with the DRW class weights."""
        if "loss" in logs and self._term_count:
            for key, total in self._term_sums.items():
                logs[key] = round(total / self._term_count, 4)
            self._term_sums = dict.fromkeys(self._term_sums, 0.0)
            self._term_count = 0
        super().log(logs, start_time)


__all__ = ["SRATTrainer"]
