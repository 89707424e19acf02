"""Argument checks and loss reductions shared by the loss functions, so every method words the same mistake the same way.

- [`check_logits_labels`]: `(batch, num_classes)` floating logits and integer class labels in range;
- [`check_number`]: a finite real number within bounds;
- [`check_reduction`] / [`reduce_loss`]: the `"mean" | "sum" | "none"` reductions of `torch.nn` losses.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

#: The reductions of `torch.nn` losses; `"none"` keeps one value per example.
REDUCTIONS = ("mean", "sum", "none")

_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_reduction(reduction: str) -> str:
    """Returns `reduction` if it is one of [`REDUCTIONS`], else raises `ValueError`."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-example losses reduced as `torch.nn` does: their mean, their sum, or unchanged (`"none"`)."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    check_reduction(reduction)  # "none", or a mistake named in the error
    return loss


def check_logits_labels(
    logits: torch.Tensor, labels: torch.Tensor, *, logits_name: str = "logits", labels_name: str = "labels"
) -> int:
    """Validates the scores and class labels of a K-class problem and returns K.

    Args:
        logits (`torch.Tensor` of shape `(batch, K)`): floating-point scores, `K >= 2`.
        labels (`torch.Tensor` of shape `(batch,)`): integer class indices in `[0, K)`.
        logits_name, labels_name (`str`): the argument names the error messages use.

    Raises:
        `TypeError`: a non-tensor, non-floating logits or non-integer labels.
        `ValueError`: a wrong shape, fewer than two classes or a label out of range.
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{logits_name} must be a torch.Tensor, got {type(logits).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{labels_name} must be a torch.Tensor, got {type(labels).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"{logits_name} must be 2-D (batch, num_classes), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"{logits_name} must be a floating-point tensor, got dtype {logits.dtype}")
    if labels.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"{labels_name} must be an integer tensor of class indices, got dtype {labels.dtype}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"{labels_name} must have shape ({logits.shape[0]},) to match {logits_name}, got {tuple(labels.shape)}"
        )
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(f"{logits_name} must have at least 2 classes, got {num_classes}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{labels_name} must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
        )
    return num_classes


def check_number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Returns `value` as a float if it is a finite real number within the given bounds.

    Args:
        name (`str`): the argument name the error messages use.
        value: the value to check (a Python or numpy real number; booleans are refused).
        low, high (`float`, *optional*): the bounds; `None` leaves that side open to infinity.
        low_open, high_open (`bool`): exclude the bound itself (e.g. `low=0, low_open=True` means `> 0`).

    Raises:
        `TypeError`: not a real number.
        `ValueError`: not finite, or out of bounds.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high or not math.isfinite(value):
        if high is None:
            bound = f"{'>' if low_open else '>='} {low:g}" if low is not None else ""
        elif low is None:
            bound = f"{'<' if high_open else '<='} {high:g}"
        else:
            bound = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number {bound}".rstrip() + f", got {value}")
    return value


def check_positive_int(name: str, value) -> int:
    """Returns `value` if it is an integer ≥ 1 (Python or numpy; booleans are refused), else raises naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_sample_idx(
    sample_idx: torch.Tensor, batch_size: int, num_samples: int, *, matches: str = "logits"
) -> torch.Tensor:
    """Validates per-example indices into a state of `num_samples` entries (a loss's running per-example buffer) and
    returns them as int64.

    Raises:
        `TypeError`: not an integer tensor.
        `ValueError`: not of shape `(batch_size,)` (the batch of `matches`), or an index outside `[0, num_samples)`.
    """
    if not isinstance(sample_idx, torch.Tensor):
        raise TypeError(f"sample_idx must be a torch.Tensor of integers, got {type(sample_idx).__name__}")
    if sample_idx.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"sample_idx must be an integer tensor, got dtype {sample_idx.dtype}")
    if tuple(sample_idx.shape) != (batch_size,):
        raise ValueError(
            f"sample_idx must have shape ({batch_size},) to match {matches}, got {tuple(sample_idx.shape)}"
        )
    if sample_idx.numel() and (int(sample_idx.min()) < 0 or int(sample_idx.max()) >= num_samples):
        raise ValueError(
            f"sample_idx must lie in [0, num_samples={num_samples}), "
            f"got range [{int(sample_idx.min())}, {int(sample_idx.max())}]"
        )
    return sample_idx.long()
