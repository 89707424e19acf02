"""`TangleNASTrainer`: gradient-based architecture search in a weight-entangled supernet inside `transformers.Trainer`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .entangled import SEARCH_MODES
from .loss import TangleNASSearchLoss

GRADIENT_MODES = tuple(mode for mode in SEARCH_MODES if mode != "discrete")

__all__ = ["TangleNASTrainer", "architecture_step"]


def architecture_step(
    model: nn.Module, inputs: dict[str, torch.Tensor], arch_optimizer: torch.optim.Optimizer, loss_fn: nn.Module
) -> torch.Tensor:
    """One first-order update of the architecture parameters β on one batch: β ← Adam(β, ∇_β L(w, β)).

    The gradient is taken with `torch.autograd.grad` with respect to β only, so the weights' `.grad` are untouched
    (the weight step that follows sees only its own batch). Returns the detached loss.
    """
    params = model.arch_parameters()
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    loss = loss_fn(model(**inputs).logits, labels)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for param, grad in zip(params, grads):
        param.grad = None if grad is None else grad.detach()
    arch_optimizer.step()
    arch_optimizer.zero_grad(set_to_none=True)
    return loss.detach()


class TangleNASTrainer(ExtraStateCheckpointMixin, Trainer):
    """`transformers.Trainer` that searches a weight-entangled supernet with a DARTS / DrNAS / GDAS rule.

    Each training step first updates the architecture parameters β (the model's `arch_parameters()`) with their own
    Adam optimiser on a batch of `arch_dataset` (bi-level, first order; the training batch itself when
    `arch_dataset` is `None`), then lets the Trainer update the weights on the training batch with β frozen. The
    weight optimiser (`args.optim`, schedule, clipping, ...) never sees β. The architecture optimiser's state is
    saved in every checkpoint and restored on resume; β themselves are model parameters. With gradient accumulation
    β takes one step per micro-batch. The architecture batches restart their (seeded) order when training resumes.

    Args:
        model: a supernet with `arch_parameters()`, `set_search_mode(mode, tau)` and a forward returning `.logits`
            (e.g. [`TangleNASConvNet`]).
        arch_lr (`float`, defaults to 3e-4), arch_weight_decay (`float`, defaults to 1e-3), arch_betas (defaults to
            (0.5, 0.999)): the Adam optimiser of β (the DARTS defaults).
        optimizer (`str`, defaults to `"darts"`): how α is made from β: `"darts"`, `"drnas"` or `"gdas"`.
        gdas_tau (`float`, *optional*): GDAS's Gumbel-softmax temperature (kept as configured when `None`).
        arch_dataset (*optional*): the data set of the architecture steps (the validation half of DARTS's split).
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = TangleNASTrainer(model=supernet, args=args, train_dataset=train, arch_dataset=val,
    ...                            arch_lr=3e-4, optimizer="darts")
    >>> trainer.train(); architecture = supernet.derive_architecture(); subnet = supernet.extract_subnet()
    ```
    """

    extra_state_file = "tanglenas_arch_optimizer.pt"
    extra_state_description = "the Adam state of the architecture parameters"

    def __init__(
        self,
        *args,
        arch_lr: float = 3e-4,
        arch_weight_decay: float = 1e-3,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        optimizer: str = "darts",
        gdas_tau: float | None = None,
        arch_dataset=None,
        **kwargs,
    ):
        if optimizer not in GRADIENT_MODES:
            raise ValueError(f"`optimizer` must be one of {GRADIENT_MODES}, got {optimizer!r}")
        if not (isinstance(arch_lr, (int, float)) and arch_lr > 0):
            raise ValueError(f"`arch_lr` must be > 0, got {arch_lr!r}")
        if not (isinstance(arch_weight_decay, (int, float)) and arch_weight_decay >= 0):
            raise ValueError(f"`arch_weight_decay` must be >= 0, got {arch_weight_decay!r}")
        model = kwargs.get("model", args[0] if args else None)
        if not callable(getattr(model, "arch_parameters", None)):
            raise TypeError(
                f"`model` must be a supernet with arch_parameters() (e.g. TangleNASConvNet), got {type(model).__name__}"
            )
        if not model.arch_parameters():
            raise ValueError("`model` has no architecture parameters: every choice has one candidate")
        super().__init__(*args, **kwargs)
        self.loss_fn = TangleNASSearchLoss()
        self.search_optimizer = optimizer
        self.model.set_search_mode(optimizer, gdas_tau)
        self.arch_optimizer = torch.optim.Adam(
            self.model.arch_parameters(), lr=arch_lr, betas=tuple(arch_betas), weight_decay=arch_weight_decay
        )
        self.arch_dataset = arch_dataset
        self._arch_iterator = None
        self._arch_epoch = 0

    # the weight optimiser must not hold β: hide them while the Trainer builds it
    def create_optimizer(self, *args, **kwargs):
        params = self.model.arch_parameters()
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        try:
            return super().create_optimizer(*args, **kwargs)
        finally:
            for p, flag in zip(params, flags):
                p.requires_grad_(flag)

    def _next_arch_batch(self):
        if self.arch_dataset is None:
            return None
        if self._arch_iterator is None:
            generator = torch.Generator().manual_seed(self.args.seed + 1_000_003 * self._arch_epoch)
            loader = torch.utils.data.DataLoader(
                self.arch_dataset,
                batch_size=self.args.per_device_train_batch_size,
                shuffle=True,
                generator=generator,
                collate_fn=self.data_collator,
            )
            self._arch_iterator = iter(loader)
        batch = next(self._arch_iterator, None)
        if batch is None:  # a new epoch of the architecture data
            self._arch_epoch += 1
            self._arch_iterator = None
            return self._next_arch_batch()
        return batch

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        arch_inputs = self._next_arch_batch()
        arch_inputs = self._prepare_inputs(inputs if arch_inputs is None else arch_inputs)
        model.train()
        supernet = self.accelerator.unwrap_model(model)
        self._last_arch_loss = architecture_step(supernet, arch_inputs, self.arch_optimizer, self.loss_fn)
        params = supernet.arch_parameters()
        for p in params:
            p.requires_grad_(False)
        try:
            return super().training_step(model, inputs, num_items_in_batch)
        finally:
            for p in params:
                p.requires_grad_(True)

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
            raise ValueError("TangleNASTrainer needs a 'labels' column in every batch")
        outputs = model(**inputs)
        loss = self.loss_fn(outputs.logits, labels)
        return (loss, outputs) if return_outputs else loss

    def extra_state_module(self):
        return self.arch_optimizer
