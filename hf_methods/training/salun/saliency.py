"""Gradient-based weight saliency of SalUn (Fan et al., ICLR 2024, Eqs. 4-5; official `Classification/generate_mask.py`).

The saliency of each weight is the magnitude of the gradient of the forgetting loss at the original model θ_o,

    g = | ∇_θ ℓ_f(θ; D_f) |_{θ = θ_o}        with ℓ_f = −ℓ_CE (the gradient-ascent loss on the forget set),

accumulated over all forget batches *before* taking the absolute value, and the saliency mask keeps the top
fraction of all weights ranked together (one global threshold γ, not one per layer):

    m_S = 1[g ≥ γ],   γ such that ⌊keep_ratio · #params⌋ entries are kept.

As in the official code, the mask covers every trainable parameter (biases included), the gradients are those of
the per-batch mean loss, summed over batches, and the model is in eval mode while they are computed. The masks are
dictionaries `{parameter name: bool tensor}`, the format of `hf_methods.common.masks`, so `save_masks`,
`load_masks` and `sparsity_stats` of that module store and summarise them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.adversarial import logits_of


def _check_keep_ratio(keep_ratio) -> float:
    if isinstance(keep_ratio, bool) or not isinstance(keep_ratio, (int, float)) or not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio must be a fraction in (0, 1] (the share of weights kept), got {keep_ratio!r}")
    return float(keep_ratio)


def _batches(forget, batch_size: int) -> Iterable:
    """Batches of `forget`: a pair of tensors `(inputs, labels)` (cut in order) or an iterable of batches."""
    if isinstance(forget, (tuple, list)) and len(forget) == 2 and all(isinstance(t, torch.Tensor) for t in forget):
        x, y = forget
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(
                f"forget: inputs and labels must have the same non-zero length, got {x.shape[0]} and {y.shape[0]}"
            )
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    if isinstance(forget, torch.Tensor) or not isinstance(forget, Iterable):
        raise TypeError(
            "forget must be a pair of tensors (inputs, labels) or an iterable of batches (a DataLoader), got "
            f"{type(forget).__name__}"
        )
    return forget


def _forward(model: nn.Module, batch, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of one batch: a mapping with a `labels` key (the rest are model kwargs) or `(inputs, labels)`."""
    if isinstance(batch, Mapping):
        if "labels" not in batch:
            raise ValueError(f"every forget batch needs a 'labels' key, got keys {sorted(batch)}")
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items() if k != "labels"}
        return logits_of(model(**inputs)), batch["labels"].to(device)
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return logits_of(model(batch[0].to(device))), batch[1].to(device)
    raise TypeError(f"a forget batch must be a mapping with 'labels' or a pair (inputs, labels), got {type(batch)}")


def weight_saliency(model: nn.Module, forget, *, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """g = |Σ_batches ∇_θ (−ℓ_CE(θ_o; batch))| for every trainable parameter of `model`.

    Gradients are taken with `torch.autograd.grad`, so the model's `.grad` fields, its weights and its train/eval mode
    are left as they were.

    Args:
        model (`nn.Module`): the original model θ_o (returns logits, or an output with `.logits`).
        forget: the forget set D_f: a pair of tensors `(inputs, labels)`, or an iterable of batches (mappings with a
            `labels` key whose other keys are model kwargs, or `(inputs, labels)` pairs), e.g. a `DataLoader`.
        batch_size (`int`): the batch size used to cut a pair of tensors.

    Returns:
        `dict[str, torch.Tensor]`: `{parameter name: saliency}` (float tensors of the parameters' shapes).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("the model has no trainable parameter to score")
    device = named[0][1].device
    totals = [torch.zeros_like(p) for _, p in named]
    was_training = model.training
    model.eval()  # as the official generate_mask.py
    seen = 0
    try:
        for batch in _batches(forget, batch_size):
            logits, labels = _forward(model, batch, device)
            forgetting_loss = -F.cross_entropy(logits, labels)  # ℓ_f: the gradient-ascent loss on D_f
            grads = torch.autograd.grad(forgetting_loss, [p for _, p in named], allow_unused=True)
            for total, grad in zip(totals, grads):
                if grad is not None:
                    total.add_(grad)
            seen += 1
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("forget has no batch: the forget set is empty")
    return {name: total.abs() for (name, _), total in zip(named, totals)}


def saliency_mask_from_scores(scores: Mapping[str, torch.Tensor], keep_ratio: float = 0.5) -> dict[str, torch.Tensor]:
    """The global top-`keep_ratio` mask of saliency scores: exactly ⌊keep_ratio · n⌋ entries are True, n being the
    number of entries over all tensors; ties are broken by position (parameter order, then flat index)."""
    keep_ratio = _check_keep_ratio(keep_ratio)
    if not scores:
        raise ValueError("scores is empty: nothing to rank")
    flat = torch.cat([s.detach().flatten().float() for s in scores.values()])
    count = int(keep_ratio * flat.numel())  # the official threshold index int(len · ratio), a floor
    if count < 1:
        raise ValueError(f"keep_ratio={keep_ratio} keeps no weight out of {flat.numel()}: raise it")
    # a stable sort of −g ranks the largest saliencies first, equal ones in order of position
    order = torch.sort(-flat, stable=True).indices
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    chosen[order[:count]] = True
    masks, start = {}, 0
    for name, s in scores.items():
        masks[name] = chosen[start : start + s.numel()].view(s.shape).to(s.device)
        start += s.numel()
    return masks


def compute_weight_saliency_mask(
    model: nn.Module, forget, keep_ratio: float = 0.5, *, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """SalUn's weight-saliency mask m_S = 1[|∇_θ ℓ_f(θ_o; D_f)| ≥ γ] (top `keep_ratio` of all weights, globally).

    Args:
        model (`nn.Module`): the original model (left untouched: weights, `.grad` and mode).
        forget: the forget set, as in [`weight_saliency`] (a pair of tensors or an iterable of batches).
        keep_ratio (`float`, *optional*, defaults to 0.5): the fraction of weights kept as salient (0.5 is the
            paper's default, `with_0.5.pt` in the official code).
        batch_size (`int`, *optional*, defaults to 64): the batch size used to cut a pair of tensors.

    Returns:
        `dict[str, torch.Tensor]`: `{parameter name: bool tensor}`, True for the salient weights SalUn updates.

    Example:

    ```python
    >>> mask = compute_weight_saliency_mask(model, (x_forget, y_forget), keep_ratio=0.5)
    >>> sum(int(m.sum()) for m in mask.values()) == int(0.5 * sum(p.numel() for p in model.parameters()))
    True
    ```
    """
    keep_ratio = _check_keep_ratio(keep_ratio)
    return saliency_mask_from_scores(weight_saliency(model, forget, batch_size=batch_size), keep_ratio)


__all__ = ["compute_weight_saliency_mask", "saliency_mask_from_scores", "weight_saliency"]
