"""`LDRTrainer`: a `transformers.Trainer` that trains any classifier returning `.logits` with an LDR-family loss."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .loss import ALDRKLLoss, needs_index


class LDRTrainer(ExtraStateCheckpointMixin, Trainer):
    """`transformers.Trainer` whose loss is `loss(logits, labels)` (or `loss(logits, labels, sample_idx)` for ALDR-KL).

    The model is called without `labels` and must return `.logits` of shape `(batch, num_classes)`; its own loss is
    ignored. For :class:`ALDRKLLoss` every training batch must carry a column `"sample_idx"` with each example's
    position in the training set (`[0, num_samples)`, stable across epochs: shuffling is fine, re-indexing is not).
    The Trainer drops columns the model's `forward` does not take, so ALDR needs
    `TrainingArguments(remove_unused_columns=False)`. The loss state (ALDR's `λ` buffer) is saved in every
    checkpoint and restored by `train(resume_from_checkpoint=...)`; under data parallelism the buffers are kept in
    sync with `accelerator.gather`. Evaluation with ALDR uses `λ_i = λ0` for every example (an evaluation example
    has no entry in the buffer) and leaves the buffer untouched.

    Args:
        loss (`nn.Module`): one of `LOSSES` (e.g. `LDRKLLoss()`, `ALDRKLLoss(num_samples=len(train_dataset))`).
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> args = TrainingArguments("out", remove_unused_columns=False, max_steps=100)
    >>> trainer = LDRTrainer(model=model, args=args, train_dataset=ds, loss=ALDRKLLoss(num_samples=len(ds)))
    >>> trainer.train()
    ```
    """

    index_column = "sample_idx"
    # the loss state (ALDR's λ buffer) travels with the checkpoints
    extra_state_file = "ldr_loss_state.pt"
    extra_state_description = "ALDR's λ buffer"
    loss_is_scaled_for_ga = False  # the losses are per-batch means

    def __init__(self, *args, loss: nn.Module, **kwargs):
        if not isinstance(loss, nn.Module):
            raise TypeError(f"loss must be an nn.Module (e.g. LDRKLLoss()), got {type(loss).__name__}")
        super().__init__(*args, **kwargs)
        self.loss_fn = loss
        if needs_index(loss) and self.args.remove_unused_columns:
            raise ValueError(
                f"{type(loss).__name__} reads the batch column {self.index_column!r}, which the Trainer removes: "
                "pass TrainingArguments(remove_unused_columns=False)"
            )

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
            raise ValueError("LDRTrainer needs a 'labels' column in every batch")
        sample_idx = inputs.pop(self.index_column, None)
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        self.loss_fn.to(logits.device)
        if not needs_index(self.loss_fn):
            loss = self.loss_fn(logits, labels)
        elif not model.training:
            loss = self.loss_fn.reference_loss(logits, labels)
        else:
            if sample_idx is None:
                raise ValueError(
                    f"{type(self.loss_fn).__name__} needs the batch column {self.index_column!r} (each example's "
                    "index in the training set); add it to the training set and set remove_unused_columns=False"
                )
            loss = self.loss_fn(logits, labels, sample_idx)
            if self.accelerator.num_processes > 1:
                self.loss_fn.sync(sample_idx, self.accelerator.gather)
        return (loss, outputs) if return_outputs else loss

    def extra_state_module(self) -> nn.Module:
        return self.loss_fn

    def extra_state_required(self) -> bool:
        return isinstance(self.loss_fn, ALDRKLLoss)


__all__ = ["LDRTrainer"]
