"""UNO-style novel class discovery with CrKD's class-relation distillation, as a `transformers.Trainer`.

- [`crkd_discovery_loss`]: one discovery step's objective on a batch of labelled and unlabelled samples (the body of
  the official `train_discover` loop, `kleinzcy/Cr-KD-NCD`, `rKD.py`), shared by the Trainer and plain-torch loops;
- [`CrKDNCDTrainer`]: the Trainer subclass; it takes the labelled (known-class) dataset as `train_dataset` and the
  unlabelled (novel-class) one as `unlabeled_dataset`, mixes them into one shuffled set (as the official loader
  does), draws two augmented views per batch, and trains the model with the swapped-prediction loss plus
  `alpha` × the CrKD loss against the frozen `teacher` (the known-class model the student started from);
- [`NoiseShiftAugment`]: the default view generator, random shifts and Gaussian noise (8×8 digits have no room for
  the official multi-crop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.augment import random_noise, random_translate
from hf_methods.common.checks import check_number
from hf_methods.common.clustering import sinkhorn_knopp
from hf_methods.common.distill import TeacherStudentTrainer

from .loss import class_relation_kd_loss, known_class_weights, swapped_prediction_loss

LABELED_MASK = "labeled_mask"


class NoiseShiftAugment:
    """A random view of a batch: shifted by up to `max_shift` pixels, then Gaussian noise of `noise_std`.

    Takes images `(B, C, H, W)` or flat features `(B, C·H·W)` (reshaped with `image_shape`, by default one square
    channel when the feature count is a square, e.g. 64 → 1×8×8) and returns the same shape.

    Args:
        max_shift (`int`, defaults to 1): largest shift in pixels (±1 pixel on 8×8 digits).
        noise_std (`float`, defaults to 0.05): standard deviation of the additive noise (values clipped to [0, 1]).
        image_shape (`tuple[int, int, int]`, *optional*): `(C, H, W)` of flat inputs.
    """

    def __init__(self, max_shift: int = 1, noise_std: float = 0.05, image_shape: tuple[int, int, int] | None = None):
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
        self.max_shift = max_shift
        self.noise_std = check_number("noise_std", noise_std, low=0)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)

    def _shape(self, features: int) -> tuple[int, int, int]:
        if self.image_shape is not None:
            return self.image_shape
        side = int(round(features**0.5))
        if side * side != features:
            raise ValueError(
                f"cannot view {features} features as a square image: pass image_shape=(C, H, W) to NoiseShiftAugment"
            )
        return (1, side, side)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        images = x if x.dim() == 4 else x.reshape(len(x), *self._shape(x.shape[-1]))
        out = random_translate(images, self.max_shift, generator=generator)
        out = random_noise(out, self.noise_std, generator=generator)
        return out.reshape(x.shape)


@dataclass
class DiscoveryLoss:
    """The terms of one discovery step: `loss = cluster.mean() + alpha · kd`.

    `cluster` is the swapped-prediction loss of each novel head `(num_heads,)`; `kd` the CrKD loss (0 when
    `alpha = 0` or when the batch has no unlabelled sample); `kd_weight_mean` the mean of the normalised weights ω
    over the batch (1 up to round-off; `None` when no distillation ran).
    """

    loss: torch.Tensor
    cluster: torch.Tensor
    kd: torch.Tensor
    kd_weight_mean: float | None = None


def crkd_discovery_loss(
    model: nn.Module,
    teacher: nn.Module | None,
    views: list[torch.Tensor],
    labels: torch.Tensor,
    labeled_mask: torch.Tensor,
    *,
    alpha: float = 0.1,
    kd_temperature: float = 4.0,
    temperature: float = 0.1,
    sinkhorn_epsilon: float = 0.05,
    sinkhorn_iterations: int = 3,
) -> DiscoveryLoss:
    r"""UNO's swapped-prediction objective plus `alpha` × CrKD on one batch seen through several views.

        targets: one-hot(y) on the C_k known classes for labelled samples; Sinkhorn–Knopp(z_novel) on the C_n novel
                 classes for unlabelled ones (per view and head; ε = 0.05, 3 iterations)
        L = mean_h L_swap,h + α · L_kd(teacher known logits, [z_known ‖ z_novel,h], unlabelled samples)

    Args:
        model: a model whose output has `known_logits (B, C_k)` and `novel_logits (H, B, C_n)` ([`CrKDNCDModel`]).
        teacher: the frozen known-class model (its `known_logits` are used, computed without gradients); may be
            `None` when `alpha == 0` (plain UNO).
        views: at least two augmented views of the same batch.
        labels (`(B,)`): known-class labels of the labelled samples (any value on unlabelled ones).
        labeled_mask (`(B,)` bool): which samples are labelled.
        alpha, kd_temperature, temperature, sinkhorn_epsilon, sinkhorn_iterations: see [`CrKDNCDTrainer`].
    """
    if not isinstance(labeled_mask, torch.Tensor) or labeled_mask.dtype != torch.bool:
        raise TypeError("labeled_mask must be a boolean tensor (True for labelled samples)")
    if len(views) < 2:
        raise ValueError(f"views must hold at least 2 augmented views, got {len(views)}")
    if alpha > 0 and teacher is None:
        raise ValueError("alpha > 0 needs a teacher (the frozen known-class model)")
    outputs = [model(pixel_values=view) for view in views]
    known = torch.stack([o.known_logits for o in outputs])  # (V, B, C_k)
    novel = torch.stack([o.novel_logits for o in outputs])  # (V, H, B, C_n)
    num_views, num_heads = novel.shape[:2]
    num_known = known.shape[-1]
    logits = torch.cat([known.unsqueeze(1).expand(-1, num_heads, -1, -1), novel], dim=-1)  # (V, H, B, C_k + C_n)

    unlabeled = ~labeled_mask
    targets = torch.zeros_like(logits)
    if labeled_mask.any():
        labeled_labels = labels[labeled_mask]
        if int(labeled_labels.min()) < 0 or int(labeled_labels.max()) >= num_known:
            raise ValueError(f"labels of labelled samples must lie in [0, {num_known})")
        targets[:, :, labeled_mask, :num_known] = F.one_hot(labeled_labels.long(), num_known).to(targets)
    if unlabeled.any():
        for view in range(num_views):
            for head in range(num_heads):
                targets[view, head, unlabeled, num_known:] = sinkhorn_knopp(
                    novel[view, head, unlabeled].detach(), epsilon=sinkhorn_epsilon, iterations=sinkhorn_iterations
                ).to(targets)
    cluster = swapped_prediction_loss(logits, targets, temperature=temperature)

    kd, weight_mean = logits.new_zeros(()), None
    if alpha > 0 and unlabeled.any():
        with torch.no_grad():
            teacher_known = torch.stack([teacher(pixel_values=view).known_logits for view in views])
        teacher_known = teacher_known.unsqueeze(1).expand(-1, num_heads, -1, -1)
        kd = class_relation_kd_loss(
            teacher_known, logits, unlabeled, kd_temperature=kd_temperature, temperature=temperature
        )
        with torch.no_grad():
            w = known_class_weights(
                logits[:, :, unlabeled], num_known, kd_temperature=kd_temperature, temperature=temperature
            )
            weight_mean = (w / w.mean()).mean().item()
    return DiscoveryLoss(loss=cluster.mean() + alpha * kd, cluster=cluster, kd=kd, kd_weight_mean=weight_mean)


def mix_labeled_unlabeled(labeled, unlabeled, *, input_column: str = "pixel_values", label_column: str = "labels"):
    """One `datasets.Dataset` of both sets with a boolean `labeled_mask` column (unlabelled labels set to -1).

    Only `input_column` is read from `unlabeled` (ground-truth labels it may carry for evaluation are dropped).
    """
    from datasets import Dataset, Value, concatenate_datasets

    for name, data in (("train_dataset", labeled), ("unlabeled_dataset", unlabeled)):
        if not isinstance(data, Dataset):
            raise TypeError(f"{name} must be a datasets.Dataset, got {type(data).__name__}")
        if input_column not in data.column_names:
            raise ValueError(f"{name} has no column {input_column!r} (columns: {data.column_names})")
    if label_column not in labeled.column_names:
        raise ValueError(f"train_dataset (the labelled set) has no column {label_column!r}")
    if len(unlabeled) == 0:
        raise ValueError("unlabeled_dataset is empty: novel class discovery needs unlabelled samples")
    lab = labeled.select_columns([input_column, label_column]).with_format(None)
    lab = lab.cast_column(label_column, Value("int64")).add_column(LABELED_MASK, [True] * len(lab))
    unl = unlabeled.select_columns([input_column]).with_format(None)
    unl = unl.add_column(label_column, [-1] * len(unl)).add_column(LABELED_MASK, [False] * len(unl))
    unl = unl.cast(lab.features)
    return concatenate_datasets([lab, unl]).with_format("torch")


class CrKDNCDTrainer(TeacherStudentTrainer):
    r"""Novel class discovery (UNO) with class-relation knowledge distillation (CrKD, Gu et al., ICCV 2023).

    Every batch mixes labelled samples of the known classes and unlabelled samples of the novel ones. Two augmented
    views go through the model; each novel head's targets on unlabelled samples are Sinkhorn–Knopp assignments of its
    logits, labelled samples get one-hot targets on the known classes, and each view's targets supervise the other
    view (swapped prediction, temperature τ). On unlabelled samples the known-class head is distilled towards the
    frozen teacher's class relation, `alpha` × [`class_relation_kd_loss`]. Before each step the prototypes are
    renormalised, and each head's clustering loss is added to the model's `head_losses` buffer: the model predicts
    novel clusters with its best head (`model.best_head`), as the official code picks its reported head.

    Args:
        model ([`CrKDNCDModel`]): the network to train, initialised from the known-class model (its novel heads new).
        teacher (`nn.Module`): the frozen known-class model (frozen, moved to the device and not saved by the base
            class [`~hf_methods.common.distill.TeacherStudentTrainer`]).
        train_dataset (`datasets.Dataset`): the labelled set, with `pixel_values` and `labels` (known classes
            `0..C_k-1`).
        unlabeled_dataset (`datasets.Dataset`): the unlabelled set, with `pixel_values` (other columns are ignored).
        alpha (`float`, defaults to 0.1): weight of the CrKD loss (the official CIFAR value); `0` gives plain UNO.
        kd_temperature (`float`, defaults to 4.0): distillation temperature `T`.
        temperature (`float`, defaults to 0.1): logit temperature `τ` of the swapped prediction and of CrKD.
        sinkhorn_epsilon (`float`, defaults to 0.05), sinkhorn_iterations (`int`, defaults to 3): Sinkhorn–Knopp.
        num_views (`int`, defaults to 2): augmented views per batch.
        augment (`callable`, *optional*): `augment(pixel_values, generator) -> view`; defaults to
            [`NoiseShiftAugment`] (±1-pixel shifts and Gaussian noise of 0.05). Views are drawn from a generator seeded
            with `args.seed` (its state is not checkpointed: a resumed run draws other views).
        *args, **kwargs: passed to `transformers.Trainer`.
    """

    student_uses_labels = False
    teacher_ignore_columns = ("labels", LABELED_MASK)

    def __init__(
        self,
        *args,
        teacher: nn.Module,
        unlabeled_dataset=None,
        alpha: float = 0.1,
        kd_temperature: float = 4.0,
        temperature: float = 0.1,
        sinkhorn_epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        num_views: int = 2,
        augment=None,
        **kwargs,
    ):
        self.alpha = check_number("alpha", alpha, low=0)
        self.kd_temperature = check_number("kd_temperature", kd_temperature, low=0, low_open=True)
        self.temperature = check_number("temperature", temperature, low=0, low_open=True)
        self.sinkhorn_epsilon = check_number("sinkhorn_epsilon", sinkhorn_epsilon, low=0, low_open=True)
        if (
            isinstance(sinkhorn_iterations, bool)
            or not isinstance(sinkhorn_iterations, int)
            or sinkhorn_iterations < 1
        ):
            raise ValueError(f"sinkhorn_iterations must be a positive integer, got {sinkhorn_iterations!r}")
        if isinstance(num_views, bool) or not isinstance(num_views, int) or num_views < 2:
            raise ValueError(
                f"num_views must be an integer >= 2 (swapped prediction needs two views), got {num_views!r}"
            )
        if augment is not None and not callable(augment):
            raise TypeError(
                f"augment must be callable as augment(pixel_values, generator), got {type(augment).__name__}"
            )
        self.sinkhorn_iterations = sinkhorn_iterations
        self.num_views = num_views
        self.augment = augment if augment is not None else NoiseShiftAugment()
        train_dataset = kwargs.pop("train_dataset", None)
        if train_dataset is None or unlabeled_dataset is None:
            raise ValueError(
                "CrKDNCDTrainer needs train_dataset (labelled, known classes) and unlabeled_dataset (novel classes)"
            )
        kwargs["train_dataset"] = mix_labeled_unlabeled(train_dataset, unlabeled_dataset)
        super().__init__(*args, teacher=teacher, **kwargs)
        self.view_generator = torch.Generator().manual_seed(self.args.seed)
        self.last_kd_weight_mean: float | None = None

    def _set_signature_columns_if_needed(self):
        # the model's forward takes pixel_values/labels only; keep the labelled/unlabelled flag for compute_loss
        super()._set_signature_columns_if_needed()
        if LABELED_MASK not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, LABELED_MASK]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if LABELED_MASK not in inputs:
            raise ValueError(f"the batch has no {LABELED_MASK!r} column: build the trainer with unlabeled_dataset")
        unwrapped = self.accelerator.unwrap_model(model)
        if model.training:
            unwrapped.normalize_prototypes()
        pixel_values = inputs["pixel_values"]
        views = [
            self.augment(pixel_values.cpu(), self.view_generator).to(pixel_values.device)
            for _ in range(self.num_views)
        ]
        terms = crkd_discovery_loss(
            model,
            self.teacher if self.alpha > 0 else None,
            views,
            inputs["labels"],
            inputs[LABELED_MASK].bool(),
            alpha=self.alpha,
            kd_temperature=self.kd_temperature,
            temperature=self.temperature,
            sinkhorn_epsilon=self.sinkhorn_epsilon,
            sinkhorn_iterations=self.sinkhorn_iterations,
        )
        if model.training:
            unwrapped.head_losses += terms.cluster.detach().to(unwrapped.head_losses)
            self.last_kd_weight_mean = terms.kd_weight_mean
        if return_outputs:
            return terms.loss, model(pixel_values=pixel_values)
        return terms.loss


__all__ = ["CrKDNCDTrainer", "DiscoveryLoss", "NoiseShiftAugment", "crkd_discovery_loss", "mix_labeled_unlabeled"]
