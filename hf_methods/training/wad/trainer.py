"""`WADTrainer`: Weight-Aware Distillation (Du et al., ICCV 2023) as a `transformers.Trainer`.

The trainer takes a labelled and an unlabelled `datasets.Dataset`, a student (`model`, any classifier returning
`.logits`) and a frozen teacher (any module mapping the same inputs to features), and runs WAD's rounds:

1. the teacher's features of the current labelled groups are the reference of every class;
2. the student trains for one `Trainer.train()` (the `TrainingArguments` budget is one round) on
   `mean_l CE(g(x), y) + mean_u w(u)·CE(g(u), ŷ(u))`, each unlabelled batch labelled and weighted by the teacher
   (`prototype_pseudo_labels`), each step also drawing a labelled batch of the same size;
3. after round `t` the `α_t = α(1 − t/T)²` fraction of the remaining unlabelled pool on which the student agrees best
   with the teacher moves, with its pseudo-labels, into the labelled groups.

There are `T + 1` rounds (`rounds = T`), each with a fresh optimizer, as in the official `distillation_main.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.adversarial import logits_of
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.checks import check_number
from hf_methods.common.distill import TeacherStudentTrainer

from .knowledge import MODES, class_similarity_scores, promotion_fraction, pseudo_labels_and_weights, select_reliable
from .loss import weighted_pseudo_label_loss


def features_of(output) -> torch.Tensor:
    """The feature matrix `(batch, dim)` in a teacher's output.

    A tensor is used as it is (a 3-D one is averaged over its second axis); a `ModelOutput` gives its
    `pooler_output`, else its `last_hidden_state` (token-averaged when 3-D), else its `logits`; a tuple its first item.
    """
    if isinstance(output, (tuple, list)) and not hasattr(output, "keys"):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        for key in ("pooler_output", "last_hidden_state", "logits"):
            value = output.get(key) if hasattr(output, "get") else getattr(output, key, None)
            if value is not None:
                output = value
                break
        else:
            raise TypeError(
                f"cannot read features from a teacher output of type {type(output).__name__}: return a tensor or an "
                "output with pooler_output / last_hidden_state / logits"
            )
    if output.dim() == 3:
        output = output.mean(dim=1)
    if output.dim() != 2:
        raise ValueError(f"teacher features must be (batch, dim), got shape {tuple(output.shape)}")
    return output


def dataset_column(dataset, column: str, name: str) -> torch.Tensor:
    """A column of a `datasets.Dataset` (or a dict of tensors) as one tensor."""
    import datasets

    if isinstance(dataset, datasets.Dataset):
        if column not in dataset.column_names:
            raise ValueError(f"{name} has no column {column!r} (columns: {dataset.column_names})")
        values = dataset.select_columns([column]).with_format("torch")[:][column]
        return values if isinstance(values, torch.Tensor) else torch.stack(list(values))
    raise TypeError(f"{name} must be a datasets.Dataset, got {type(dataset).__name__}")


class WADTrainer(TeacherStudentTrainer):
    """`transformers.Trainer` for Weight-Aware Distillation under class-distribution mismatch.

    Args:
        model (`nn.Module`): the student, called as `model(**{input_column: x})` and returning `.logits` over the
            known classes.
        args (`TrainingArguments`): the budget and optimiser of ONE round (`max_steps` or epochs over the current
            unlabelled pool); `per_device_train_batch_size` is both the labelled and the unlabelled batch size.
        labeled_dataset (`datasets.Dataset`): columns `input_column` and `label_column` (classes `0..C-1`, each
            present).
        unlabeled_dataset (`datasets.Dataset`): column `input_column` (other columns are ignored, e.g. held-out
            ground truth).
        teacher (`nn.Module`): the frozen feature extractor (a contrastively pre-trained encoder, any HF vision
            encoder): `teacher(**{input_column: x})` returns a feature tensor or an output read by [`features_of`].
        rounds (`int`, defaults to 5): `T`, the rounds over which the promotion fraction decays (`T + 1` rounds run).
        alpha (`float`, defaults to 0.1): the initial promotion fraction `α`.
        power (`float`, defaults to 2.0): the power of the polynomial decay of `α_t`.
        similarity (`str`, defaults to `"nearest"`): `"nearest"` (official code) or `"prototype"`; see
            `class_similarity_scores`.
        uniform_weights (`bool`, defaults to `False`): use `w ≡ 1` (naive pseudo-labelling from the same teacher: the
            ablation of the weights).
        augment (`Callable`, *optional*): applied to the student's training inputs (labelled and unlabelled), e.g.
            a weak augmentation; the teacher always sees the clean inputs.
        input_column, label_column (`str`): the column names (default `"pixel_values"`, `"labels"`).
        feature_batch_size (`int`, defaults to 1024): batch size of the teacher and student passes over whole pools.
        **kwargs: passed to `transformers.Trainer` (not `train_dataset`, which the trainer builds each round).

    After `train()`, `history` holds one record per round (pool sizes, promoted count, mean weight) and
    `promoted_index` / `promoted_labels` the unlabelled positions moved to the labelled groups and their
    pseudo-labels. `train(resume_from_checkpoint=...)` is not supported (a round's pools are rebuilt in memory).

    Example:

    ```python
    >>> args = TrainingArguments("out", max_steps=200, per_device_train_batch_size=32, learning_rate=5e-4)
    >>> trainer = WADTrainer(student, args, labeled_dataset=labelled, unlabeled_dataset=unlabelled,
    ...                      teacher=encoder, rounds=5, alpha=0.1)
    >>> trainer.train()
    ```
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        args=None,
        *,
        labeled_dataset,
        unlabeled_dataset,
        teacher: nn.Module,
        rounds: int = 5,
        alpha: float = 0.1,
        power: float = 2.0,
        similarity: str = "nearest",
        uniform_weights: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        input_column: str = "pixel_values",
        label_column: str = "labels",
        feature_batch_size: int = 1024,
        **kwargs,
    ):
        if "train_dataset" in kwargs:
            raise ValueError("WADTrainer builds its train_dataset itself: pass labeled_dataset and unlabeled_dataset")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
        self.alpha = check_number("alpha", alpha, low=0, high=1)
        self.power = check_number("power", power, low=0, low_open=True)
        if similarity not in MODES:
            raise ValueError(f"similarity must be one of {MODES}, got {similarity!r}")
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be callable, got {type(augment).__name__}")
        if isinstance(feature_batch_size, bool) or not isinstance(feature_batch_size, int) or feature_batch_size < 1:
            raise ValueError(f"feature_batch_size must be an int >= 1, got {feature_batch_size!r}")
        x_labelled = dataset_column(labeled_dataset, input_column, "labeled_dataset").float()
        y_labelled = dataset_column(labeled_dataset, label_column, "labeled_dataset")
        x_unlabelled = dataset_column(unlabeled_dataset, input_column, "unlabeled_dataset").float()
        if y_labelled.is_floating_point() or y_labelled.dim() != 1:
            raise ValueError(f"labeled_dataset[{label_column!r}] must hold integer class indices")
        if len(x_unlabelled) == 0:
            raise ValueError("unlabeled_dataset is empty")
        if x_labelled.shape[1:] != x_unlabelled.shape[1:]:
            raise ValueError(
                f"labeled_dataset and unlabeled_dataset inputs differ in shape: {tuple(x_labelled.shape[1:])} vs "
                f"{tuple(x_unlabelled.shape[1:])}"
            )
        self.num_classes = int(y_labelled.max()) + 1 if len(y_labelled) else 0
        counts = torch.bincount(y_labelled.long(), minlength=self.num_classes) if len(y_labelled) else y_labelled
        if self.num_classes < 2 or int(y_labelled.min()) < 0 or (counts == 0).any():
            raise ValueError(
                f"labeled_dataset[{label_column!r}] must hold every class 0..C-1 (C >= 2) at least once, got counts "
                f"{counts.tolist()}"
            )
        self.x_labelled, self.y_labelled, self.x_unlabelled = x_labelled, y_labelled.long(), x_unlabelled
        self.rounds, self.similarity, self.uniform_weights = rounds, similarity, bool(uniform_weights)
        self.augment, self.feature_batch_size = augment, feature_batch_size
        self.input_column, self.label_column = input_column, label_column
        self.unlabelled_index = torch.arange(len(x_unlabelled))
        self.promoted_index = torch.zeros(0, dtype=torch.long)
        self.promoted_labels = torch.zeros(0, dtype=torch.long)
        self.history: list[dict[str, float]] = []
        self.round = 0
        self._reference: tuple[torch.Tensor, torch.Tensor] | None = None
        self._labelled_batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        super().__init__(
            model=model,
            args=args,
            teacher=teacher,
            train_dataset=TensorDictDataset(**{input_column: x_unlabelled}),
            data_collator=collate_batch,
            **kwargs,
        )

    # -------------------------------------------------------------------------------------------- pools and knowledge
    @property
    def labelled_pool(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current labelled groups: the given labelled examples plus the promoted ones with their pseudo-labels."""
        x = torch.cat([self.x_labelled, self.x_unlabelled[self.promoted_index]])
        return x, torch.cat([self.y_labelled, self.promoted_labels])

    @torch.no_grad()
    def teacher_features(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher features of a pool of inputs, in batches, on the training device."""
        self.teacher.eval()
        chunks = [
            features_of(self.teacher(**{self.input_column: part.to(self.args.device)}))
            for part in x.split(self.feature_batch_size)
        ]
        return torch.cat(chunks)

    def refresh_reference(self) -> None:
        """Recomputes the teacher features of the current labelled groups (the class references)."""
        x, y = self.labelled_pool
        self._reference = (self.teacher_features(x), y.to(self.args.device))

    def knowledge(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pseudo-labels and weights (`w ≡ 1` with `uniform_weights`) for teacher features against the references."""
        if self._reference is None:
            self.refresh_reference()
        reference, labels = self._reference
        scores = class_similarity_scores(
            features, reference, labels, num_classes=self.num_classes, mode=self.similarity
        )
        pseudo_labels, weights = pseudo_labels_and_weights(scores)
        return pseudo_labels, torch.ones_like(weights) if self.uniform_weights else weights

    def generate_knowledge(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Pseudo-labels and weights of the whole remaining unlabelled pool (in `unlabelled_index` order)."""
        return self.knowledge(self.teacher_features(self.x_unlabelled[self.unlabelled_index]))

    def _labelled_batch_iterator(self, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.labelled_pool
        generator = torch.Generator().manual_seed(seed)
        size = self._train_batch_size
        while True:
            for batch in torch.randperm(len(y), generator=generator).split(size):
                yield x[batch], y[batch]

    # -------------------------------------------------------------------------------------------- the Trainer hooks
    def get_train_dataloader(self):
        generator = torch.Generator().manual_seed(self.args.seed + self.round)
        loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_size=self._train_batch_size,
            shuffle=True,
            generator=generator,
            collate_fn=collate_batch,
            drop_last=self.args.dataloader_drop_last,
        )
        return self.accelerator.prepare(loader)

    def _student_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.augment is not None and model.training:
            x = self.augment(x)
        return logits_of(model(**{self.input_column: x}))

    def distillation_loss(self, outputs, teacher_outputs, inputs: dict[str, Any]) -> torch.Tensor:
        """The unlabelled term `mean_u w(u)·CE(g(u), ŷ(u))`, the teacher's knowledge computed on this batch."""
        pseudo_labels, weights = self.knowledge(features_of(teacher_outputs))
        return weighted_pseudo_label_loss(logits_of(outputs), pseudo_labels, weights)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        x = inputs[self.input_column]
        if not model.training:  # evaluation: plain cross-entropy on the batch's own labels
            outputs = model(**{self.input_column: x})
            loss = F.cross_entropy(logits_of(outputs), inputs[self.label_column].long())
            return (loss, outputs) if return_outputs else loss
        if self._labelled_batches is None:
            self._labelled_batches = self._labelled_batch_iterator(self.args.seed)
        x_l, y_l = next(self._labelled_batches)
        labelled_loss = F.cross_entropy(self._student_logits(model, x_l.to(x.device)), y_l.to(x.device))
        outputs = model(**{self.input_column: self.augment(x) if self.augment is not None else x})
        teacher_outputs = self.teacher_outputs({self.input_column: x})
        loss = labelled_loss + self.distillation_loss(outputs, teacher_outputs, inputs)
        return (loss, outputs) if return_outputs else loss

    def model_inputs(self, inputs: dict[str, Any], *, for_teacher: bool = False) -> dict[str, Any]:
        return {self.input_column: inputs[self.input_column]}

    # -------------------------------------------------------------------------------------------- the rounds
    @torch.no_grad()
    def promote(self, fraction: float) -> torch.Tensor:
        """Moves `int(fraction · |pool|)` unlabelled examples (smallest student CE against the teacher's
        pseudo-label) into the labelled groups; returns their positions in the unlabelled dataset."""
        pool = self.unlabelled_index
        count = int(fraction * len(pool))
        if count == 0:
            return pool[:0]
        pseudo_labels, _ = self.generate_knowledge()
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        logits = torch.cat(
            [
                logits_of(model(**{self.input_column: part.to(self.args.device)}))
                for part in self.x_unlabelled[pool].split(self.feature_batch_size)
            ]
        )
        model.train(was_training)
        chosen = select_reliable(logits, pseudo_labels, count).cpu()
        keep = torch.ones(len(pool), dtype=torch.bool)
        keep[chosen] = False
        self.promoted_index = torch.cat([self.promoted_index, pool[chosen]])
        self.promoted_labels = torch.cat([self.promoted_labels, pseudo_labels.cpu()[chosen]])
        self.unlabelled_index = pool[keep]
        return pool[chosen]

    def train(self, resume_from_checkpoint=None, trial=None, **kwargs):
        """Runs the `rounds + 1` WAD rounds (one `Trainer.train()` each); returns the last round's `TrainOutput`."""
        if resume_from_checkpoint:
            raise ValueError(
                "WADTrainer does not resume from a checkpoint (its pools live in memory); use recipes/wad.py, "
                "whose checkpoints carry the pools"
            )
        output = None
        for t in range(1, self.rounds + 2):
            if len(self.unlabelled_index) == 0:
                break
            self.round = t
            self.refresh_reference()
            self.train_dataset = TensorDictDataset(**{self.input_column: self.x_unlabelled[self.unlabelled_index]})
            self._labelled_batches = self._labelled_batch_iterator(self.args.seed + t)
            self.optimizer, self.lr_scheduler = None, None  # a fresh optimiser each round, as in the official code
            _, weights = self.generate_knowledge()
            output = super().train(trial=trial, **kwargs)
            promoted = self.promote(promotion_fraction(t, self.alpha, self.rounds, self.power))
            self.history.append(
                {
                    "round": t,
                    "labelled": len(self.y_labelled) + len(self.promoted_labels) - len(promoted),
                    "unlabelled": len(self.unlabelled_index) + len(promoted),
                    "mean_weight": float(weights.mean()),
                    "promoted": len(promoted),
                    "train_loss": float(output.training_loss),
                }
            )
        return output


__all__ = ["WADTrainer", "dataset_column", "features_of"]
