"""Evaluating a classifier on in-memory tensors, in batches, without disturbing its training mode."""

from __future__ import annotations

import torch
from torch import nn

from .adversarial import logits_of


@torch.no_grad()
def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024, input_name: str = "pixel_values"
) -> float:
    """Top-1 accuracy `(1/n) Σ_i 1[argmax_k f(x_i)_k = y_i]` of `model` on `(x, y)`, in eval mode.

    Args:
        model (`nn.Module`): a classifier called as `model(**{input_name: batch})`, returning logits (a tensor, a
            tuple whose first element is the logits, or an output with `.logits`).
        x (`torch.Tensor`), y (`torch.Tensor` of shape `(n,)`): the inputs and integer labels.
        batch_size (`int`): examples per forward pass.
        input_name (`str`): the keyword the model takes its inputs under.

    The model's training mode is restored afterwards; an empty set has accuracy 0.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    was_training = model.training
    model.eval()
    try:
        correct = sum(
            (logits_of(model(**{input_name: x[i : i + batch_size]})).argmax(-1) == y[i : i + batch_size]).sum().item()
            for i in range(0, len(y), batch_size)
        )
    finally:
        model.train(was_training)
    return correct / max(len(y), 1)
