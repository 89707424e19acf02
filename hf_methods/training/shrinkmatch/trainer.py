"""`ShrinkMatchTrainer` (and `FixMatchTrainer`, the same trainer with the shrink term off) on `transformers.Trainer`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin
from hf_methods.common.checks import check_number
from hf_methods.common.ema import EMACallback, ema_teacher

from .objective import ShrinkMatchState, augment_views, default_views, ssl_step, step_generator, unlabeled_indices

__all__ = ["FixMatchTrainer", "ShrinkMatchTrainer", "fetch_column"]


def fetch_column(dataset, indices: list[int], column: str) -> torch.Tensor:
    """`column` of the examples `indices` of a `datasets.Dataset` (any format) or a torch `Dataset` of dicts."""
    many = getattr(dataset, "__getitems__", None)
    try:
        if hasattr(dataset, "column_names"):  # datasets.Dataset: one batched read
            values = dataset[indices][column]
        elif many is not None:
            batch = many(indices)
            values = batch[column] if isinstance(batch, dict) else [item[column] for item in batch]
        else:
            values = [dataset[i][column] for i in indices]
    except KeyError:
        names = getattr(dataset, "column_names", None) or sorted(dataset[indices[0]])
        raise ValueError(f"unlabeled_dataset has no column {column!r} (got {names}); set input_name=") from None
    if isinstance(values, torch.Tensor):
        return values
    if values and isinstance(values[0], torch.Tensor):
        return torch.stack(values)
    return torch.as_tensor(values)


class ShrinkMatchTrainer(ExtraStateCheckpointMixin, Trainer):
    r"""ShrinkMatch (Yang et al., ICCV 2023) as a `transformers.Trainer`; `shrink=False` gives FixMatch.

    Each step draws a labelled batch from `train_dataset` (the Trainer's own loader, weakly augmented here) and
    `mu` times as many unlabelled samples from `unlabeled_dataset`, makes a weak and a strong view of each with
    `weak_augment` / `strong_augment` (default: the presets of `hf_methods.common.augment`), and minimises

        L = L_x + λ_u · L_u + λ_u · r̄ · (1/B) Σ_b p_(1),b · 1[uncertain, conf_b(c*) ≥ τ] · CE_{S_b}(z^aux_b, (1)_b)

    (see [`ssl_step`], [`shrink_loss`]). The model must be an [`AuxHeadWrapper`] (for `shrink=True`); only its main
    classifier is used at evaluation. An EMA copy of the model (`ema_momentum`, default 0.999, through
    `hf_methods.common.ema`) is updated after every optimizer step and is the model the paper evaluates
    (`trainer.ema_model`). The running certain-sample ratio `r̄`, the alignment queue and the EMA weights are saved in
    every checkpoint and restored on resume; unlabelled batches and augmentations depend only on `(args.seed, step)`,
    so a resumed run draws the same ones.

    The logs add `labeled_loss`, `unlabeled_loss`, `shrink_loss`, `certain_ratio` (FixMatch's mask ratio),
    `shrunk_ratio` (uncertain samples that got a shrink loss), `gradient_fraction`, `certain_ratio_ema` and
    `mean_cutoff` (mean 0-based rank of the first kept class of the uncertain samples), averaged over the logging
    interval.

    Args:
        unlabeled_dataset: the unlabelled inputs (a `datasets.Dataset` or a torch `Dataset` of dicts with the column
            `input_name`; labels, if present, are ignored).
        threshold (`float`, defaults to 0.95): the confidence threshold `τ`.
        lambda_u (`float`, defaults to 1.0): `λ_u`.
        mu (`int`, defaults to 7): unlabelled samples per labelled sample in a step.
        shrink (`bool`, defaults to `True`): the ShrinkMatch term; `False` trains FixMatch.
        ratio_reweighting (`bool`, defaults to `True`): multiply the shrink term by `r̄`.
        ratio_momentum (`float`, defaults to 0.999): momentum of `r̄`.
        distribution_alignment (`bool`, defaults to `False`): align the weak-view probabilities (official `--DA`).
        weak_augment, strong_augment (*optional*): `f(images, generator=) -> images` on `(B, C, H, W)` batches.
        image_shape (`tuple`, *optional*): `(C, H, W)` to view flat inputs as images for the augmentations.
        ema_momentum (`float` or `None`, defaults to 0.999): momentum of the EMA model; `None` keeps none.
        input_name (`str`, *optional*): the model's input column (default `model.main_input_name`).
        *args, **kwargs: passed to `transformers.Trainer` (`train_dataset`: the labelled examples with `labels`).

    Example:

    ```python
    >>> trainer = ShrinkMatchTrainer(
    ...     model=AuxHeadWrapper(backbone), args=args, train_dataset=labeled, unlabeled_dataset=unlabeled,
    ...     image_shape=(1, 8, 8),
    ... )
    >>> trainer.train()
    >>> accuracy(trainer.ema_model, x_test, y_test)
    ```
    """

    extra_state_file = "shrinkmatch_state.pt"
    extra_state_description = "ShrinkMatch's running certain-sample ratio, alignment queue and EMA model"
    loss_is_scaled_for_ga = False  # the objective is a per-batch mean
    _shrink_default = True

    def __init__(
        self,
        *args,
        unlabeled_dataset,
        threshold: float = 0.95,
        lambda_u: float = 1.0,
        mu: int = 7,
        shrink: bool | None = None,
        ratio_reweighting: bool = True,
        ratio_momentum: float = 0.999,
        distribution_alignment: bool = False,
        weak_augment: Callable[..., torch.Tensor] | None = None,
        strong_augment: Callable[..., torch.Tensor] | None = None,
        image_shape: tuple[int, int, int] | None = None,
        ema_momentum: float | None = 0.999,
        input_name: str | None = None,
        **kwargs,
    ):
        self.threshold = check_number("threshold", threshold, low=0, high=1, low_open=True)
        self.lambda_u = check_number("lambda_u", lambda_u, low=0)
        if isinstance(mu, bool) or not isinstance(mu, int) or mu < 1:
            raise ValueError(f"mu must be an int >= 1 (unlabelled samples per labelled one), got {mu!r}")
        self.mu = mu
        self.shrink = self._shrink_default if shrink is None else bool(shrink)
        self.ratio_reweighting = bool(ratio_reweighting)
        self.distribution_alignment = bool(distribution_alignment)
        default_weak, default_strong = default_views()
        for name, fn in (("weak_augment", weak_augment), ("strong_augment", strong_augment)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable f(images, generator=...) -> images, got {type(fn).__name__}")
        self.weak_augment = weak_augment or default_weak
        self.strong_augment = strong_augment or default_strong
        if image_shape is not None and (len(tuple(image_shape)) != 3 or min(image_shape) < 1):
            raise ValueError(f"image_shape must be (channels, height, width), got {image_shape!r}")
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        if unlabeled_dataset is None or not hasattr(unlabeled_dataset, "__getitem__"):
            raise TypeError(
                f"unlabeled_dataset must be a datasets.Dataset (or an indexable dataset of dicts), "
                f"got {type(unlabeled_dataset).__name__}"
            )
        if len(unlabeled_dataset) == 0:
            raise ValueError("unlabeled_dataset is empty: pass at least one unlabelled example")
        self.unlabeled_dataset = unlabeled_dataset
        super().__init__(*args, **kwargs)
        if not self.label_names:  # AuxHeadWrapper.forward takes **kwargs, so the Trainer cannot see its "labels"
            self.label_names = ["labels"]
        model = self.model
        if self.shrink and not isinstance(getattr(model, "head_aux", None), nn.Module):
            raise TypeError(
                "ShrinkMatchTrainer trains the shrink loss on an auxiliary head: wrap the classifier with "
                "AuxHeadWrapper(model) (or pass shrink=False for FixMatch)"
            )
        num_labels = getattr(model, "num_labels", None) or getattr(getattr(model, "config", None), "num_labels", None)
        if num_labels is None:
            raise ValueError("cannot read num_labels from the model: give it a config or wrap it with AuxHeadWrapper")
        self.input_name = input_name or getattr(model, "main_input_name", None) or "pixel_values"
        self.unlabeled_batch_size = self.mu * self.args.per_device_train_batch_size
        if self.shrink and self.unlabeled_batch_size < 2:
            raise ValueError("the auxiliary head's batch norm needs >= 2 unlabelled samples per step: raise mu")
        self.ssl_state = ShrinkMatchState(int(num_labels), ratio_momentum).to(self.args.device)
        self.ema = None if ema_momentum is None else ema_teacher(model, ema_momentum)
        if self.ema is not None:
            self.add_callback(EMACallback(self.ema))
        self._micro_steps = 0
        self._logged: dict[str, list[float]] = {}

    # ----------------------------------------------------------------------------------------------- pieces
    @property
    def ema_model(self) -> nn.Module:
        """The EMA-averaged model (the one the paper evaluates); the trained model when `ema_momentum=None`."""
        return self.model if self.ema is None else self.ema.module

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = [self.input_name, "labels", "label", "label_ids"]

    def extra_state_module(self) -> nn.Module:
        modules = {"state": self.ssl_state}
        if self.ema is not None:
            modules["ema"] = self.ema
        return nn.ModuleDict(modules)

    def extra_state_required(self) -> bool:
        return True

    def unlabeled_views(self, step: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """Weak and strong views of the unlabelled samples of (micro-)step `step` on this process."""
        num_processes, rank = self.accelerator.num_processes, self.accelerator.process_index
        indices = unlabeled_indices(
            step, len(self.unlabeled_dataset), self.unlabeled_batch_size * num_processes, self.args.seed
        )
        indices = indices[rank * self.unlabeled_batch_size : (rank + 1) * self.unlabeled_batch_size]
        x = fetch_column(self.unlabeled_dataset, indices.tolist(), self.input_name).to(device=device, dtype=dtype)
        generator = step_generator(self.args.seed * 1009 + rank, step)
        weak = augment_views(x, self.weak_augment, image_shape=self.image_shape, generator=generator)
        strong = augment_views(x, self.strong_augment, image_shape=self.image_shape, generator=generator)
        return weak, strong, generator

    # ----------------------------------------------------------------------------------------------- objective
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
            raise ValueError(f"{type(self).__name__} needs a 'labels' column in every labelled batch")
        if self.input_name not in inputs:
            raise ValueError(
                f"the labelled batch has no model input {self.input_name!r} (got {sorted(inputs)}); set input_name="
            )
        x = inputs[self.input_name]
        if not model.training:  # evaluation: cross-entropy of the main classifier on the clean inputs
            outputs = model(**{self.input_name: x}, aux_start=None) if self._wrapped(model) else model(**inputs)
            loss = F.cross_entropy(outputs["logits"], labels)
            return (loss, outputs) if return_outputs else loss
        accumulation = self.args.gradient_accumulation_steps
        step = self.state.global_step * accumulation + self._micro_steps % accumulation
        self._micro_steps += 1
        weak, strong, generator = self.unlabeled_views(step, x.device, x.dtype)
        x_weak = augment_views(x, self.weak_augment, image_shape=self.image_shape, generator=generator)
        out = ssl_step(
            model,
            x_weak,
            labels,
            weak,
            strong,
            state=self.ssl_state,
            threshold=self.threshold,
            lambda_u=self.lambda_u,
            shrink=self.shrink,
            ratio_reweighting=self.ratio_reweighting,
            distribution_alignment=self.distribution_alignment,
            gather=self.accelerator.gather if self.accelerator.num_processes > 1 else None,
            input_name=self.input_name,
        )
        for key in (
            "labeled_loss",
            "unlabeled_loss",
            "shrink_loss",
            "certain_ratio",
            "shrunk_ratio",
            "gradient_fraction",
            "certain_ratio_ema",
            "mean_cutoff",
        ):
            if key in ("shrink_loss", "shrunk_ratio", "mean_cutoff") and not self.shrink:
                continue
            self._logged.setdefault(key, []).append(getattr(out, key))
        return (out.loss, {"logits": out.logits_labeled}) if return_outputs else out.loss

    @staticmethod
    def _wrapped(model: nn.Module) -> bool:
        return isinstance(getattr(model, "head_aux", None), nn.Module)

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs:
            for key, values in self._logged.items():
                if values:
                    logs[key] = sum(values) / len(values)
                values.clear()
        super().log(logs, *args, **kwargs)


class FixMatchTrainer(ShrinkMatchTrainer):
    """FixMatch (Sohn et al., NeurIPS 2020): [`ShrinkMatchTrainer`] with the shrink term off (`shrink=False`).

    Same data, views, soft pseudo-labels, EMA model and logs, so a comparison with ShrinkMatch changes one switch.
    The model may be a plain classifier or an [`AuxHeadWrapper`] (its auxiliary head is then unused).
    """

    _shrink_default = False

    def __init__(self, *args, **kwargs):
        if kwargs.get("shrink"):
            raise ValueError("FixMatchTrainer has no shrink term: use ShrinkMatchTrainer for shrink=True")
        kwargs["shrink"] = False
        super().__init__(*args, **kwargs)
