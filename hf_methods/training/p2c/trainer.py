"""`P2CTrainer`: a `transformers.Trainer` for P2C's pairs, and `P2CPairCollator` to batch (and pad) them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from .loss import P2CLoss

PAIR_PREFIX = "pair_"
PREFERENCE_COLUMN = "preference"
SOFT_LABEL_COLUMN = "soft_labels"


def split_pair_batch(inputs: dict[str, Any]) -> tuple[dict, dict, dict]:
    """`(first, second, targets)` of a pair batch.

    A pair batch holds the first members' model inputs under their usual names (`input_ids`, `attention_mask`,
    `pixel_values`, ...), the second members' under the same names prefixed with `"pair_"`, and the targets
    `labels` (shared by both members), `preference` (1: x₁ ≻ x₂, 0: x₂ ≻ x₁, 2: tie) and optionally `soft_labels` /
    `pair_soft_labels` (vote fractions, for the soft-label consistency).
    """
    inputs = dict(inputs)
    targets = {}
    for name in ("labels", PREFERENCE_COLUMN, SOFT_LABEL_COLUMN, PAIR_PREFIX + SOFT_LABEL_COLUMN):
        if name in inputs:
            targets[name] = inputs.pop(name)
    second = {name[len(PAIR_PREFIX) :]: inputs.pop(name) for name in list(inputs) if name.startswith(PAIR_PREFIX)}
    return inputs, second, targets


def pair_loss_terms(model: nn.Module, inputs: dict[str, Any], loss_fn: P2CLoss) -> tuple[dict, Any, Any]:
    """Runs both members of a pair batch through `model` and returns `(loss_fn.components(...), out_1, out_2)`.

    The one code path of the Trainer, the recipe and the claim check.
    """
    first, second, targets = split_pair_batch(inputs)
    if "labels" not in targets:
        raise ValueError("a P2C batch needs a 'labels' column (the task label both members of a pair share)")
    if PREFERENCE_COLUMN not in targets:
        raise ValueError(f"a P2C batch needs a {PREFERENCE_COLUMN!r} column (1: x₁ ≻ x₂, 0: x₂ ≻ x₁, 2: tie)")
    if not second:
        raise ValueError(
            f"a P2C batch needs the second members' inputs as {PAIR_PREFIX!r}-prefixed columns (e.g. "
            f"'{PAIR_PREFIX}input_ids'); got only {sorted(first)}"
        )
    labels = targets["labels"]
    reward_labels = labels if loss_fn.needs_rewards else None
    out_1 = model(**first, reward_labels=reward_labels)
    out_2 = model(**second, reward_labels=reward_labels)
    terms = loss_fn.components(
        out_1.logits,
        labels,
        targets[PREFERENCE_COLUMN],
        out_2.logits,
        out_1.rewards,
        out_2.rewards,
        targets.get(SOFT_LABEL_COLUMN),
        targets.get(PAIR_PREFIX + SOFT_LABEL_COLUMN),
    )
    return terms, out_1, out_2


class P2CTrainer(Trainer):
    """`transformers.Trainer` that trains a [`P2CForSequenceClassification`] on same-label pairs with the P2C loss

        L = λ_cls · (½ CE(x₁) + ½ CE(x₂)) + λ_cons · L_cons + λ_pref · L_pref − λ_div · L_div

    ([`P2CLoss`]). Every batch is a pair batch (see [`split_pair_batch`]): the first members' inputs under their
    usual names, the second members' prefixed with `"pair_"`, `labels`, `preference` and, for
    `consistency="soft_label"`, `soft_labels` / `pair_soft_labels`. These columns are kept by the Trainer's column
    filter, so the default `remove_unused_columns=True` works; [`P2CPairCollator`] batches (and pads) such rows.
    The last batch's terms are kept in `trainer.last_terms` (floats) for logging.

    Args:
        lambda_cls, lambda_pref, lambda_cons, lambda_div, consistency: see [`P2CLoss`] (defaults 1, 1, 1, 0.1,
            `"preference"`: the official defaults).
        loss (`P2CLoss`, *optional*): a ready loss instead of the five arguments above.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = P2CTrainer(model=model, args=args, train_dataset=pairs, lambda_cons=1.0, lambda_div=0.1)
    >>> trainer.train()
    ```
    """

    def __init__(
        self,
        *args,
        lambda_cls: float = 1.0,
        lambda_pref: float = 1.0,
        lambda_cons: float = 1.0,
        lambda_div: float = 0.1,
        consistency: str = "preference",
        loss: P2CLoss | None = None,
        **kwargs,
    ):
        if loss is not None and not isinstance(loss, P2CLoss):
            raise TypeError(f"loss must be a P2CLoss, got {type(loss).__name__}")
        self.loss_fn = loss or P2CLoss(lambda_cls, lambda_pref, lambda_cons, lambda_div, consistency)
        super().__init__(*args, **kwargs)
        # the loss is a per-batch mean: let the Trainer divide it by the gradient accumulation steps
        self.model_accepts_loss_kwargs = False
        if self.args.label_names is None:
            # `find_labels` would also list the model's `reward_labels` argument, which batches do not carry
            self.label_names = ["labels"]
        self.last_terms: dict[str, float] = {}

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        columns = list(self._signature_columns)
        extra = [PAIR_PREFIX + c for c in columns] + [
            PREFERENCE_COLUMN,
            SOFT_LABEL_COLUMN,
            PAIR_PREFIX + SOFT_LABEL_COLUMN,
        ]
        self._signature_columns = list(dict.fromkeys(columns + extra))

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        terms, out_1, _ = pair_loss_terms(model, inputs, self.loss_fn)
        loss = terms["loss"].mean()
        self.last_terms = {name: value.detach().mean().item() for name, value in terms.items()}
        return (loss, out_1) if return_outputs else loss


class P2CPairCollator:
    """Batches pair rows: pads `input_ids`-style columns of each member with `tokenizer` (when given) and stacks the
    rest (`labels`, `preference`, soft labels, feature vectors) with `torch.utils.data.default_collate`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`, *optional*): pads the token columns of both members.
        pad_to_multiple_of (`int`, *optional*): passed to `tokenizer.pad`.
    """

    token_columns = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, tokenizer=None, pad_to_multiple_of: int | None = None):
        self.tokenizer, self.pad_to_multiple_of = tokenizer, pad_to_multiple_of

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("P2CPairCollator got an empty list of rows")
        batch: dict[str, torch.Tensor] = {}
        for prefix in ("", PAIR_PREFIX):
            names = [prefix + c for c in self.token_columns if prefix + c in rows[0]]
            if not names:
                continue
            if self.tokenizer is None:
                lengths = {len(row[prefix + "input_ids"]) for row in rows} if prefix + "input_ids" in rows[0] else {0}
                if len(lengths) > 1:
                    raise ValueError("token sequences of different lengths need a tokenizer to pad them")
                continue
            padded = self.tokenizer.pad(
                [{name[len(prefix) :]: row[name] for name in names} for row in rows],
                pad_to_multiple_of=self.pad_to_multiple_of,
                return_tensors="pt",
            )
            batch.update({prefix + name: value for name, value in padded.items()})
        rest = [{k: v for k, v in row.items() if k not in batch} for row in rows]
        batch.update(torch.utils.data.default_collate(rest))
        return batch


__all__ = ["P2CPairCollator", "P2CTrainer", "pair_loss_terms", "split_pair_batch"]
