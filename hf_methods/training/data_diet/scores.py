"""EL2N and GraNd, the per-example scores of Paul, Ganguli & Dziugaite (NeurIPS 2021), for any classifier.

- [`el2n_scores`] / [`EL2NScore`]: the L2 norm of the error vector from logits and labels;
- [`compute_el2n`]: EL2N of a model on every example of a `datasets.Dataset`;
- [`compute_grand`]: GraNd, the norm of each example's loss gradient over all trainable parameters, with
  `torch.func.vmap(grad(...))` (one vectorised backward pass per batch instead of one per example).

Both scores are computed with the model in evaluation mode (no dropout, batch norm on its running statistics), as the
official code (`mansheej/data_diet`, `data_diet/scores.py`) applies the network with `train=False`; the model's mode
is restored afterwards.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.adversarial import logits_of
from hf_methods.common.checks import check_logits_labels


def el2n_scores(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""EL2N, the L2 norm of the error vector, one value per example:

    $$\mathrm{EL2N}(x, y) = \lVert \mathrm{softmax}(f_\theta(x)) - e_y \rVert_2$$

    where $e_y$ is the one-hot vector of the label (the official `get_lord_error_fn(..., ord=2)`). It lies in
    $[0, \sqrt 2)$: near 0 for an example the network already fits confidently, near $\sqrt 2$ for one it confidently
    assigns to another class (a mislabelled example, early in training).

    Args:
        logits (`torch.Tensor` of shape `(batch, num_classes)`): unnormalised scores.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices in `[0, num_classes)`.

    Returns:
        `torch.Tensor` of shape `(batch,)`, differentiable with respect to `logits`.
    """
    check_logits_labels(logits, labels)
    error = torch.softmax(logits, dim=-1) - F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return torch.linalg.vector_norm(error, ord=2, dim=-1)


class EL2NScore(nn.Module):
    """[`el2n_scores`] as a module with a `reduction` (`"none"` gives one score per example).

    EL2N is the square root of the multi-class Brier score, so it is also a (bounded, noise-tolerant) training
    objective; data pruning uses its per-example values.

    Args:
        reduction (`str`, *optional*, defaults to `"none"`): `"none"`, `"mean"` or `"sum"`.
    """

    def __init__(self, reduction: str = "none"):
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scores = el2n_scores(logits, labels)
        if self.reduction == "mean":
            return scores.mean()
        if self.reduction == "sum":
            return scores.sum()
        return scores


# ------------------------------------------------------------------------------------------- model on a data set


def model_input_names(model: nn.Module, columns: list[str], label_column: str) -> list[str]:
    """The data set columns the model's `forward` takes by name (what `Trainer` keeps), without the label column."""
    parameters = inspect.signature(model.forward).parameters
    names = [c for c in columns if c in parameters and c != label_column]
    if not names:
        raise ValueError(
            f"dataset has no column the model's forward takes (columns {columns}, forward takes {list(parameters)})"
        )
    return names


def _check_dataset(dataset, label_column: str, batch_size: int):
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
    if label_column not in dataset.column_names:
        raise ValueError(f"label_column {label_column!r} is not a column of dataset (columns {dataset.column_names})")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def iterate_batches(
    model: nn.Module, dataset, *, batch_size: int = 256, label_column: str = "labels"
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Yields `(model inputs, labels)` of consecutive slices of `dataset`, as tensors on the model's device."""
    _check_dataset(dataset, label_column, batch_size)
    names = model_input_names(model, dataset.column_names, label_column)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    table = dataset.with_format("torch", columns=[*names, label_column])
    for start in range(0, len(dataset), batch_size):
        batch = table[start : start + batch_size]
        inputs = {
            k: (batch[k].to(device, dtype) if batch[k].is_floating_point() else batch[k].to(device)) for k in names
        }
        yield inputs, batch[label_column].to(device)


class _EvalMode:
    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


@torch.no_grad()
def compute_el2n(model: nn.Module, dataset, *, batch_size: int = 256, label_column: str = "labels") -> torch.Tensor:
    """EL2N of `model` on every example of `dataset` (in order), as a CPU tensor of shape `(len(dataset),)` in the
    model's dtype.

    Args:
        model (`nn.Module`): a classifier whose `forward` takes the data set's input columns by name (e.g.
            `pixel_values`) and returns logits (a tensor, `.logits` or `[0]`).
        dataset (`datasets.Dataset`): the examples to score, with an integer label column.
        batch_size (`int`, *optional*, defaults to 256): examples per forward pass.
        label_column (`str`, *optional*, defaults to `"labels"`): the column holding the labels.
    """
    scores = []
    with _EvalMode(model):
        for inputs, labels in iterate_batches(model, dataset, batch_size=batch_size, label_column=label_column):
            scores.append(el2n_scores(logits_of(model(**inputs)), labels).cpu())
    return torch.cat(scores) if scores else torch.zeros(0, dtype=next(model.parameters()).dtype)


def compute_grand(
    model: nn.Module,
    dataset,
    *,
    batch_size: int = 256,
    label_column: str = "labels",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""GraNd of `model` on every example of `dataset`: the norm of the example's loss gradient,

    $$\mathrm{GraNd}(x, y) = \lVert \nabla_\theta\, \ell_{\mathrm{CE}}(f_\theta(x), y) \rVert_2$$

    over *all* trainable parameters θ (the official `get_grad_norm_fn` flattens the per-example Jacobian of every
    parameter). Per-example gradients come from `torch.func.vmap(torch.func.grad(loss of one example))` over the
    batch, each example run through `torch.func.functional_call` as a batch of one; no `.grad` is touched.

    Args:
        model (`nn.Module`): see [`compute_el2n`]. Parameters with `requires_grad=False` are left out.
        dataset (`datasets.Dataset`): the examples to score.
        batch_size (`int`, *optional*, defaults to 256): examples per vectorised call.
        label_column (`str`, *optional*, defaults to `"labels"`): the column holding the labels.
        chunk_size (`int`, *optional*): passed to `vmap` to bound memory (per-example gradients of `chunk_size`
            examples at a time); `None` vectorises the whole batch.

    Returns:
        CPU tensor of shape `(len(dataset),)`, in the model's dtype.
    """
    from torch.func import functional_call, grad, vmap

    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameter: GraNd is a gradient norm over trainable parameters")
    frozen = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def example_loss(trainable, inputs, label):
        one = {k: v.unsqueeze(0) for k, v in inputs.items()}  # a batch of one example
        logits = logits_of(functional_call(model, (trainable, frozen, buffers), args=(), kwargs=one))
        return F.cross_entropy(logits, label.unsqueeze(0))

    per_example_grad = vmap(grad(example_loss), in_dims=(None, 0, 0), chunk_size=chunk_size)
    scores = []
    with _EvalMode(model):
        for inputs, labels in iterate_batches(model, dataset, batch_size=batch_size, label_column=label_column):
            with torch.no_grad():  # one plain forward: clear errors for bad labels before the vectorised pass
                check_logits_labels(logits_of(model(**inputs)), labels)
            grads = per_example_grad(params, inputs, labels)
            squared = sum(g.flatten(start_dim=1).pow(2).sum(dim=1) for g in grads.values())
            scores.append(squared.sqrt().cpu())
    return torch.cat(scores) if scores else torch.zeros(0, dtype=next(model.parameters()).dtype)


__all__ = ["EL2NScore", "compute_el2n", "compute_grand", "el2n_scores", "iterate_batches", "model_input_names"]
