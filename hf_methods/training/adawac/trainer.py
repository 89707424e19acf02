"""`AdaWACTrainer`: a `transformers.Trainer` that trains a segmentation model with AdaWAC on two augmented views."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .loss import AdaWACLoss


def _logits_and_latent(outputs) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(outputs, dict):
        return outputs["logits"], outputs.get("latent")
    return outputs[0], (outputs[1] if len(outputs) > 1 else None)


class AdaWACTrainer(ExtraStateCheckpointMixin, Trainer):
    """`transformers.Trainer` whose training loss is :class:`AdaWACLoss` on two augmented views of each sample.

    Every training batch must carry:

    - `pixel_values` and `pixel_values_2`: two augmented views of the same images (e.g. made by
      `TwoViewCollator(PhotometricAugmentation())` of this module's `data`);
    - `labels` (and `labels_2` when the augmentation moves pixels; `labels` is used for both views otherwise);
    - `sample_idx`: each sample's position in the training set, `[0, num_samples)`, stable across epochs.

    The model is called as `model(pixel_values=..., return_latent=True)` and must return `logits` `(batch, C, H, W)`
    and the `latent` the consistency term compares (e.g. :class:`TinyUNetForSegmentation`); its own loss is
    ignored. The Trainer drops batch columns the model's `forward` does not take, so pass
    `TrainingArguments(remove_unused_columns=False)`. Evaluation uses the ERM objective `λ_dice·Dice + (1−λ_dice)·CE`
    on `pixel_values` (an evaluation sample has no β) and leaves β alone. The β buffer is saved in every checkpoint
    and restored by `train(resume_from_checkpoint=...)`; under data parallelism it is synchronised with
    `accelerator.gather` after each step.

    Args:
        loss (`AdaWACLoss`): the loss, built with `num_samples=len(train_dataset)`.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> args = TrainingArguments("out", remove_unused_columns=False, max_steps=100)
    >>> trainer = AdaWACTrainer(model=unet, args=args, train_dataset=ds, data_collator=TwoViewCollator(aug),
    ...                         loss=AdaWACLoss(num_samples=len(ds), lr_w=8.0))
    >>> trainer.train()
    ```
    """

    index_column = "sample_idx"
    second_view_column = "pixel_values_2"
    # the β buffer travels with the checkpoints
    extra_state_file = "adawac_loss_state.pt"
    extra_state_description = "AdaWAC's β"
    loss_is_scaled_for_ga = False  # AdaWAC's loss is a per-batch mean

    def __init__(self, *args, loss: AdaWACLoss, **kwargs):
        if not isinstance(loss, AdaWACLoss):
            raise TypeError(f"loss must be an AdaWACLoss, got {type(loss).__name__}")
        super().__init__(*args, **kwargs)
        self.loss_fn = loss
        if self.args.remove_unused_columns:
            raise ValueError(
                f"AdaWACTrainer reads the batch columns {self.index_column!r} and {self.second_view_column!r}, which "
                "the Trainer removes: pass TrainingArguments(remove_unused_columns=False)"
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
            raise ValueError("AdaWACTrainer needs a 'labels' column (the segmentation masks) in every batch")
        labels_2 = inputs.pop("labels_2", labels)
        view_2 = inputs.pop(self.second_view_column, None)
        sample_idx = inputs.pop(self.index_column, None)
        self.loss_fn.to(labels.device)
        if not model.training:  # evaluation: the ERM objective on the first view, β untouched
            outputs = model(**inputs)
            logits, _ = _logits_and_latent(outputs)
            loss = self.loss_fn.supervised_loss(logits, labels)
            return (loss, outputs) if return_outputs else loss
        if sample_idx is None:
            raise ValueError(
                f"AdaWACTrainer needs the batch column {self.index_column!r} (each sample's index in the training set);"
                " add it to the training set and set remove_unused_columns=False"
            )
        if view_2 is None:
            raise ValueError(
                f"AdaWACTrainer needs a second augmented view {self.second_view_column!r} in every training batch "
                "(e.g. data_collator=TwoViewCollator(PhotometricAugmentation()))"
            )
        outputs = model(**inputs, return_latent=True)
        outputs_2 = model(**{**inputs, "pixel_values": view_2}, return_latent=True)
        logits, latent = _logits_and_latent(outputs)
        logits_2, latent_2 = _logits_and_latent(outputs_2)
        if latent is None or latent_2 is None:
            raise ValueError(
                f"{type(model).__name__} returned no latent for return_latent=True: AdaWAC's consistency term needs "
                "the model to expose one (outputs.latent)"
            )
        loss = self.loss_fn(logits, logits_2, latent, latent_2, labels, labels_2, sample_idx)
        if self.accelerator.num_processes > 1:
            self.loss_fn.sync(sample_idx, self.accelerator.gather)
        return (loss, outputs) if return_outputs else loss

    def extra_state_module(self) -> nn.Module:
        return self.loss_fn


__all__ = ["AdaWACTrainer"]
