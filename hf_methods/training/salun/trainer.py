"""`SalUnTrainer`: saliency-masked random-label unlearning (SalUn, Fan et al., ICLR 2024) as a `transformers.Trainer`.

One epoch of the official classification code (`Classification/unlearn/RL.py`, CIFAR-10 / SVHN path) is a pass
over the forget set D_f with random labels followed by a pass over the retain set D_r with the true labels, each a
cross-entropy step with SGD. With a saliency mask m, after every backward pass the gradients are multiplied by m,
and after every optimiser step the weights outside the mask are put back exactly to their values θ_0 before
unlearning and their momentum buffers are zeroed (`_restore_masked_params`): masking the gradient alone would let
momentum and weight decay move them. Without a mask the same trainer is plain random-label unlearning (RL).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.adversarial import logits_of

from .loss import RANDOM_LABEL_MODES, SalUnLoss, draw_random_labels

SCHEDULES = ("sequential", "mixed")
Split = tuple[torch.Tensor, torch.Tensor]


def _check_split(split, name: str) -> Split:
    if not (isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(t, torch.Tensor) for t in split)):
        raise TypeError(f"{name} must be a pair of tensors (inputs, labels), got {type(split).__name__}")
    x, y = split
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"{name}: inputs and labels must have the same non-zero length, got {x.shape[0]} and {y.shape[0]}"
        )
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dim() != 1:
        raise TypeError(
            f"{name}: labels must be a 1-D integer tensor of class indices, got {y.dtype} {tuple(y.shape)}"
        )
    return x, y


def frozen_values(model: nn.Module, mask: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """θ_0: a copy of every parameter that has weights outside the mask (the values they must keep)."""
    return {name: param.detach().clone() for name, param in model.named_parameters() if not bool(mask[name].all())}


@torch.no_grad()
def mask_gradients(model: nn.Module, mask: Mapping[str, torch.Tensor]) -> None:
    """∇θ ← m ⊙ ∇θ for every parameter with a gradient (the official `_apply_mask_to_grads`)."""
    for name, param in model.named_parameters():
        if param.grad is not None:
            param.grad.mul_(mask[name].to(param.grad.dtype))


@torch.no_grad()
def restore_masked_weights(
    model: nn.Module,
    mask: Mapping[str, torch.Tensor],
    theta0: Mapping[str, torch.Tensor],
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """θ ← m ⊙ θ + (1 − m) ⊙ θ_0 exactly, and the optimiser state (SGD momentum, Adam moments) zeroed outside the mask
    (the official `_restore_masked_params`): weight decay and momentum would otherwise move the frozen weights."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper holds the state in the raw one
    for name, param in model.named_parameters():
        frozen = theta0.get(name)
        if frozen is None:
            continue
        keep = mask[name]
        param.copy_(torch.where(keep, param, frozen))
        if optimizer is not None:
            for value in optimizer.state.get(param, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    value.mul_(keep.to(value.dtype))


class UnlearningDataset(torch.utils.data.Dataset):
    """The forget examples (indices `[0, num_forget)`, `is_forget=True`) followed by the retain examples.

    Items are `{input_name: x, "labels": y, "is_forget": bool}`; `__getitems__` returns a collated batch.
    """

    def __init__(self, forget: Split, retain: Split, input_name: str = "pixel_values"):
        (xf, yf), (xr, yr) = _check_split(forget, "forget_dataset"), _check_split(retain, "retain_dataset")
        if xf.shape[1:] != xr.shape[1:]:
            raise ValueError(
                f"forget_dataset and retain_dataset inputs differ in shape: {tuple(xf.shape[1:])} vs {tuple(xr.shape[1:])}"
            )
        self.input_name = input_name
        self.num_forget, self.num_retain = len(yf), len(yr)
        self.x = torch.cat([xf, xr])
        self.y = torch.cat([yf, yr]).long()
        self.is_forget = torch.arange(len(self.y)) < self.num_forget

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {self.input_name: self.x[i], "labels": self.y[i], "is_forget": self.is_forget[i]}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {self.input_name: self.x[idx], "labels": self.y[idx], "is_forget": self.is_forget[idx]}


def _collate(batch):
    """`UnlearningDataset.__getitems__` already returns a collated batch."""
    return batch


class ForgetRetainBatchSampler(torch.utils.data.Sampler):
    """Batches of an [`UnlearningDataset`], reshuffled every epoch from `(seed, epoch)`.

    `schedule="sequential"` (the official CIFAR-10 / SVHN loop): all forget batches, then all retain batches, each
    part in a fresh random order, so no batch mixes the two. `schedule="mixed"` (the official CIFAR-100 path): the
    union shuffled together.
    """

    def __init__(
        self, num_forget: int, num_retain: int, batch_size: int, *, seed: int = 0, schedule: str = "sequential"
    ):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.num_forget, self.num_retain, self.batch_size = num_forget, num_retain, batch_size
        self.seed, self.schedule, self.epoch = seed, schedule, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _cut(self, indices: torch.Tensor) -> list[list[int]]:
        return [chunk.tolist() for chunk in indices.split(self.batch_size)]

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.schedule == "mixed":
            batches = self._cut(torch.randperm(self.num_forget + self.num_retain, generator=generator))
        else:
            forget = torch.randperm(self.num_forget, generator=generator)
            retain = self.num_forget + torch.randperm(self.num_retain, generator=generator)
            batches = self._cut(forget) + self._cut(retain)
        self.epoch += 1  # a loader iterated again without set_epoch still reshuffles
        return iter(batches)

    def __len__(self) -> int:
        if self.schedule == "mixed":
            return -(-(self.num_forget + self.num_retain) // self.batch_size)
        return -(-self.num_forget // self.batch_size) + -(-self.num_retain // self.batch_size)


class SalUnTrainer(Trainer):
    """Random-label unlearning restricted to a weight-saliency mask (SalUn); `mask=None` gives plain RL.

    The objective (Eq. 6 of the paper), over the trainable weights θ_s = m ⊙ θ only:

        min_{θ_s}  E_{(x, y) ∈ D_f} ℓ_CE(θ; x, y')  +  α · E_{(x, y) ∈ D_r} ℓ_CE(θ; x, y),   y' a random label.

    The trainer works on a copy of `model` by default (`copy_model=True`), so the original model is left untouched;
    [`unlearn`] trains and returns the unlearned copy (also `trainer.model`). The training set is built from
    `forget_dataset` and `retain_dataset`; pass no `train_dataset`.

    Args:
        model (`nn.Module`): the original model θ_o (a classifier returning logits or an output with `.logits`).
        args (`TrainingArguments`): as for `Trainer`. The official recipe is SGD with momentum (pass
            `optimizers=(torch.optim.SGD(...), None)` or `optim="sgd"`), a constant learning rate and no gradient
            clipping (`max_grad_norm=0`); see `hf_methods.training.salun.training.unlearning_arguments`.
        forget_dataset (`(inputs, labels)`): the forget set D_f, a pair of tensors.
        retain_dataset (`(inputs, labels)`): the retain set D_r, a pair of tensors.
        mask (`dict[str, torch.Tensor]`, *optional*): `{parameter name: mask}` from
            [`compute_weight_saliency_mask`] (non-zero = salient, trained); parameters the mask does not name are
            frozen. `None` trains every weight (random-label unlearning without saliency).
        num_classes (`int`, *optional*): K for the random labels (default: the width of the model's logits).
        random_labels (`str`, *optional*, defaults to `"uniform"`): `"uniform"` draws y' among all K classes, as the
            official CIFAR-10 code (y' may equal y); `"other"` draws y' ≠ y, as the paper's equation.
        retain_weight (`float`, *optional*, defaults to 1.0): α, the weight of the retain term.
        schedule (`str`, *optional*, defaults to `"sequential"`): `"sequential"`: each epoch is a forget pass then a
            retain pass (official CIFAR-10 loop); `"mixed"`: forget and retain examples shuffled together.
        input_name (`str`, *optional*): the model's input keyword (default: `model.main_input_name` or
            `"pixel_values"`).
        copy_model (`bool`, *optional*, defaults to `True`): unlearn a deep copy of `model` (False: in place).
        **kwargs: passed to `transformers.Trainer` (e.g. `optimizers`, `callbacks`).

    Example:

    ```python
    >>> mask = compute_weight_saliency_mask(model, (x_forget, y_forget), keep_ratio=0.5)
    >>> trainer = SalUnTrainer(model, args, forget_dataset=(x_forget, y_forget), retain_dataset=(x_retain, y_retain),
    ...                        mask=mask, num_classes=10)
    >>> unlearned = trainer.unlearn()  # `model` itself is unchanged
    ```
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        args=None,
        *,
        forget_dataset: Split,
        retain_dataset: Split,
        mask: Mapping[str, torch.Tensor] | None = None,
        num_classes: int | None = None,
        random_labels: str = "uniform",
        retain_weight: float = 1.0,
        schedule: str = "sequential",
        input_name: str | None = None,
        copy_model: bool = True,
        **kwargs,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module (the model to unlearn), got {type(model).__name__}")
        if kwargs.get("train_dataset") is not None:
            raise ValueError(
                "SalUnTrainer builds its training set from forget_dataset and retain_dataset: pass no train_dataset"
            )
        kwargs.pop("train_dataset", None)
        if random_labels not in RANDOM_LABEL_MODES:
            raise ValueError(f"random_labels must be one of {RANDOM_LABEL_MODES}, got {random_labels!r}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if num_classes is not None and not (
            isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 2
        ):
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        loss_fn = SalUnLoss(retain_weight=retain_weight)  # validates retain_weight
        input_name = input_name or getattr(model, "main_input_name", None) or "pixel_values"
        dataset = UnlearningDataset(forget_dataset, retain_dataset, input_name=input_name)
        if num_classes is not None and int(dataset.y.max()) >= num_classes:
            raise ValueError(f"labels must lie in [0, num_classes={num_classes}), got a label {int(dataset.y.max())}")
        if copy_model:
            model = copy.deepcopy(model)
        named = dict(model.named_parameters())
        checked_mask = None if mask is None else self._check_mask(mask, named)
        kwargs.setdefault("data_collator", _collate)
        super().__init__(model=model, args=args, train_dataset=dataset, **kwargs)
        self.loss_fn = loss_fn
        self.num_classes = num_classes
        self.random_labels = random_labels
        self.schedule = schedule
        self.label_generator = torch.Generator().manual_seed(self.args.seed)
        # θ_0 of the weights outside the mask (after the Trainer placed the model on its device)
        self.mask: dict[str, torch.Tensor] | None = None
        self._theta0: dict[str, torch.Tensor] = {}
        if checked_mask is not None:
            self.mask = {
                name: checked_mask[name].to(param.device)
                if name in checked_mask
                else torch.zeros_like(param, dtype=torch.bool)
                for name, param in self.model.named_parameters()
            }
            self._theta0 = frozen_values(self.model, self.mask)
        self._hooked_optimizer = None

    @staticmethod
    def _check_mask(mask, named: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
        if not isinstance(mask, Mapping):
            raise TypeError(f"mask must be a dict {{parameter name: tensor}}, got {type(mask).__name__}")
        checked = {}
        for name, value in mask.items():
            if name not in named:
                raise ValueError(f"mask names {name!r}, which is not a parameter of the model")
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(named[name].shape):
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"mask[{name!r}] must be a tensor of shape {tuple(named[name].shape)}, got {shape}")
            checked[name] = value.detach() != 0
        return checked

    # ---------------------------------------------------------------------------------------------- data
    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        dataset = self.train_dataset
        sampler = ForgetRetainBatchSampler(
            dataset.num_forget,
            dataset.num_retain,
            self._train_batch_size,
            seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
            schedule=self.schedule,
        )
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=self.data_collator)
        return self.accelerator.prepare(loader)

    # ---------------------------------------------------------------------------------------------- loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels, is_forget = inputs.pop("labels", None), inputs.pop("is_forget", None)
        if labels is None or is_forget is None:
            raise ValueError("SalUnTrainer needs 'labels' and 'is_forget' in every batch (built from its datasets)")
        outputs = model(**inputs)
        logits = logits_of(outputs)
        num_classes = self.num_classes or logits.shape[-1]
        random_labels = draw_random_labels(
            labels, num_classes, mode=self.random_labels, generator=self.label_generator
        )
        loss = self.loss_fn(logits, labels, random_labels, is_forget)
        return (loss, outputs) if return_outputs else loss

    # ---------------------------------------------------------------------------------------------- the mask
    def training_step(self, model: nn.Module, inputs, num_items_in_batch=None) -> torch.Tensor:
        """The usual step, then ∇θ ← m ⊙ ∇θ (before clipping and the optimiser step)."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.mask is not None:
            mask_gradients(self.model, self.mask)
        return loss

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        if self.mask is not None and self._hooked_optimizer is not optimizer:
            raw = getattr(optimizer, "optimizer", optimizer)  # an accelerate-wrapped optimizer steps the raw one
            raw.register_step_post_hook(
                lambda opt, args, kwargs: restore_masked_weights(self.model, self.mask, self._theta0, opt)
            )
            self._hooked_optimizer = optimizer
        return optimizer

    # ---------------------------------------------------------------------------------------------- entry
    def unlearn(self, **train_kwargs) -> nn.Module:
        """Runs `train(**train_kwargs)` and returns the unlearned model (the trainer's copy of the original)."""
        self.train(**train_kwargs)
        return self.model


__all__ = [
    "ForgetRetainBatchSampler",
    "SalUnTrainer",
    "UnlearningDataset",
    "frozen_values",
    "mask_gradients",
    "restore_masked_weights",
]
