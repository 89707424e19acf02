"""`AggregateTrainer`: a `transformers.Trainer` that fits a regression model to bag-level aggregate responses."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from .loss import AggregateResponseLoss

BAG_COLUMNS = ["bag_targets", "bag_ids"]


class AggregateTrainer(Trainer):
    """`transformers.Trainer` whose loss is `AggregateResponseLoss(predictions, bag_ids, bag_targets)`.

    Every batch must carry `bag_ids` and `bag_targets` for whole bags, which :class:`BagCollator` produces (pass it as
    `data_collator`). The model is called without them (and without any individual `labels`, which are dropped) and
    must return a regression output `.logits` of shape `(batch,)` or `(batch, 1)`; its own loss is ignored. The bag
    columns are registered as the Trainer's `label_names`, so they survive `remove_unused_columns` and evaluation
    reports the same bag loss.

    Args:
        loss (`AggregateResponseLoss`, *optional*): defaults to `AggregateResponseLoss(mode="interpolate", rho=0.3)`.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = AggregateTrainer(
    ...     model=model, args=args, train_dataset=bags, data_collator=BagCollator(bag_size=10),
    ...     loss=AggregateResponseLoss(mode="interpolate", rho=0.1),
    ... )
    >>> trainer.train()
    ```
    """

    loss_is_scaled_for_ga = False  # the loss is a per-batch mean

    def __init__(self, *args, loss: AggregateResponseLoss | None = None, **kwargs):
        loss = AggregateResponseLoss() if loss is None else loss
        if not isinstance(loss, AggregateResponseLoss):
            raise TypeError(f"loss must be an AggregateResponseLoss, got {type(loss).__name__}")
        super().__init__(*args, **kwargs)
        self.loss_fn = loss
        if self.args.label_names is None:
            self.label_names = list(BAG_COLUMNS)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        bag_ids = inputs.pop("bag_ids", None)
        bag_targets = inputs.pop("bag_targets", None)
        inputs.pop("labels", None)  # individual responses never reach the model or the loss
        if bag_ids is None or bag_targets is None:
            raise ValueError(
                "AggregateTrainer needs 'bag_ids' and 'bag_targets' in every batch: pass data_collator=BagCollator(...)"
            )
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        predictions = logits.squeeze(-1) if logits.dim() == 2 else logits
        loss = self.loss_fn(predictions, bag_ids, bag_targets.to(predictions.dtype))
        return (loss, outputs) if return_outputs else loss


__all__ = ["AggregateTrainer"]
