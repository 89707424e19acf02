"""The ShrinkMatch shrink loss and the FixMatch consistency loss (Yang et al., ICCV 2023; Sohn et al., NeurIPS 2020).

FixMatch keeps an unlabelled sample only when the top-1 probability of its weakly augmented view passes a threshold
`τ` (0.95). ShrinkMatch also learns from the *uncertain* samples: it removes the classes most confused with the top-1
class until the top-1 confidence in the remaining ("shrunk") class space passes `τ`, and enforces consistency between
weak and strong views inside that space.

For an uncertain sample (max_k p_k < τ) with weak-view probabilities sorted in decreasing order
`p_(1) ≥ p_(2) ≥ … ≥ p_(C)` (ranks counted from 1, as in the paper):

    conf(c) = p_(1) / (p_(1) + Σ_{k ≥ c} p_(k)),        c ∈ {3, …, C}          (ranks 2 … c−1 removed)
    c*      = min{c : conf(c) ≥ τ}      (c* = C when no c passes)
    S       = {(1)} ∪ {(k) : k ≥ c*}                                           (the shrunk class space)
    ℓ_shrink = p_(1) · 1[conf(c*) ≥ τ] · ( −log softmax_S(z^aux)_{(1)} )

with `z^aux` the strong-view logits of the auxiliary head. The code below counts ranks from 0, so the official code's
`c ∈ {2, …, C−1}` (0-based) is the paper's `c ∈ {3, …, C}`; the exported `cutoff` is the 0-based rank of the first kept
class after the top-1 one (the official `removed_class_idx`). Because the tail sums `Σ_{k ≥ c} p_(k)` only shrink as
`c` grows, `conf(c)` is non-decreasing in `c`, so the smallest passing `c` is the first `True` of a vectorised
comparison; the official code (`LiheYoung/ShrinkMatch`, `CIFAR/shrinkmatch.py`, `shrink_loss`) finds it with a
Python loop over samples and `c`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, reduce_loss

__all__ = [
    "FixMatchConsistencyLoss",
    "ShrinkLoss",
    "ShrunkClassSpace",
    "fixmatch_consistency_loss",
    "shrink_class_space",
    "shrink_loss",
]

#: how far a row of weak-view probabilities may sum away from 1 before it is refused (logits passed by mistake)
PROBABILITY_SUM_TOLERANCE = 1e-3


def _check_probs(probs_weak, name: str = "probs_weak") -> torch.Tensor:
    if not isinstance(probs_weak, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of probabilities, got {type(probs_weak).__name__}")
    if not probs_weak.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {probs_weak.dtype}")
    if probs_weak.dim() != 2:
        raise ValueError(f"{name} must be 2-D (batch, num_classes), got shape {tuple(probs_weak.shape)}")
    if probs_weak.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 classes, got {probs_weak.shape[1]}")
    if probs_weak.numel():
        sums = probs_weak.sum(dim=1)
        worst = int((sums - 1).abs().argmax())
        bad_sum = not abs(sums[worst].item() - 1) <= PROBABILITY_SUM_TOLERANCE  # NaN fails too
        if bad_sum or bool((probs_weak < 0).any()):
            raise ValueError(
                f"{name} must hold probabilities: rows >= 0 that sum to 1 (the softmax of the weak-view logits, not "
                f"the logits); got values in [{probs_weak.min().item():.4g}, {probs_weak.max().item():.4g}] and a row "
                f"summing to {sums[worst].item():.4g}"
            )
    return probs_weak


def _check_logits(logits, probs_weak: torch.Tensor, name: str = "logits_strong") -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.shape != probs_weak.shape:
        raise ValueError(
            f"{name} must have the shape of probs_weak {tuple(probs_weak.shape)}, got {tuple(logits.shape)}"
        )
    return logits


def _check_threshold(threshold) -> float:
    return check_number("threshold", threshold, low=0, high=1, low_open=True)


@dataclass
class ShrunkClassSpace:
    """What [`shrink_class_space`] decides for each sample of a batch (all detached).

    Attributes:
        top_class (`torch.LongTensor` `(B,)`): the weak-view top-1 class, the target inside the shrunk space.
        top_probability (`torch.Tensor` `(B,)`): `p_(1)`, the first reweighting factor.
        uncertain (`torch.BoolTensor` `(B,)`): `p_(1) < τ` (FixMatch would drop the sample).
        cutoff (`torch.LongTensor` `(B,)`): 0-based rank of the first kept class after the top-1 one: ranks
            `1 … cutoff−1` are removed (the official `removed_class_idx`); 1 for certain samples (nothing removed).
        sub_confidence (`torch.Tensor` `(B,)`): `conf(c*)`, the top-1 confidence in the shrunk space (`p_(1)` for
            certain samples).
        passed (`torch.BoolTensor` `(B,)`): uncertain and `conf(c*) ≥ τ` (the sample gets a shrink loss).
        keep (`torch.BoolTensor` `(B, C)`): the shrunk class space, in the original class order.
        weight (`torch.Tensor` `(B,)`): `p_(1) · 1[passed]`, the per-sample factor of the shrink loss.
    """

    top_class: torch.Tensor
    top_probability: torch.Tensor
    uncertain: torch.Tensor
    cutoff: torch.Tensor
    sub_confidence: torch.Tensor
    passed: torch.Tensor
    keep: torch.Tensor
    weight: torch.Tensor


@torch.no_grad()
def shrink_class_space(probs_weak: torch.Tensor, threshold: float = 0.95) -> ShrunkClassSpace:
    r"""Shrinks the class space of every uncertain sample until its top-1 confidence passes `threshold` (vectorised).

        conf(c) = p_(1) / (p_(1) + Σ_{k ≥ c} p_(k)),   c* = min{c ∈ {2, …, C−1} (0-based) : conf(c) ≥ τ}

    computed for all samples and all `c` at once from reverse cumulative sums of the sorted probabilities. A sample
    for which no `c` passes ends at `c* = C−1` (top-1 and the least likely class kept) with weight 0, as in the
    official loop. With two classes nothing can be removed and every weight is 0.

    Args:
        probs_weak (`torch.Tensor` `(B, C)`): weak-view probabilities (treated as constants).
        threshold (`float`, defaults to 0.95): `τ ∈ (0, 1]`.

    Returns:
        [`ShrunkClassSpace`].
    """
    probs = _check_probs(probs_weak).detach()
    tau = _check_threshold(threshold)
    batch, num_classes = probs.shape
    sorted_probs, order = probs.sort(dim=1, descending=True, stable=True)
    top = sorted_probs[:, 0]
    uncertain = top < tau
    # tail[:, c] = Σ_{k ≥ c} p_(k) (0-based ranks)
    tail = sorted_probs.flip(1).cumsum(1).flip(1)
    cutoff = torch.ones(batch, dtype=torch.long, device=probs.device)
    sub_confidence = top.clone()
    if num_classes >= 3:
        candidates = top[:, None] / (top[:, None] + tail[:, 2:])  # conf(c) for c = 2 … C−1
        passes = candidates >= tau
        first = passes.to(torch.uint8).argmax(dim=1)  # index of the first True (0 when none)
        chosen = torch.where(passes.any(dim=1), first, torch.full_like(first, num_classes - 3))
        cutoff = torch.where(uncertain, chosen + 2, cutoff)
        sub_confidence = torch.where(uncertain, candidates.gather(1, chosen[:, None])[:, 0], sub_confidence)
        passed = uncertain & (sub_confidence >= tau)
    else:
        passed = torch.zeros_like(uncertain)
    ranks = torch.arange(num_classes, device=probs.device)
    keep_ranked = (ranks[None, :] == 0) | (ranks[None, :] >= cutoff[:, None])
    keep = torch.zeros_like(keep_ranked).scatter(1, order, keep_ranked)
    weight = top * passed.to(top.dtype)
    return ShrunkClassSpace(
        top_class=order[:, 0],
        top_probability=top,
        uncertain=uncertain,
        cutoff=cutoff,
        sub_confidence=sub_confidence,
        passed=passed,
        keep=keep,
        weight=weight,
    )


def shrink_loss(
    probs_weak: torch.Tensor,
    logits_strong: torch.Tensor,
    threshold: float = 0.95,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The ShrinkMatch loss of a batch of unlabelled samples.

        ℓ_b = p_(1) · 1[p_(1) < τ] · 1[conf(c*) ≥ τ] · ( −z_{(1)} + log Σ_{k ∈ S_b} exp z_k )

    with `S_b` the shrunk class space of sample b ([`shrink_class_space`]) and `z` its strong-view logits of the
    auxiliary head. Certain samples (`p_(1) ≥ τ`, FixMatch's job) contribute 0. `reduction="mean"` divides the sum by
    the whole batch size `B` (certain samples included), exactly as the official `loss_u_shrink / B`; the training
    objective multiplies it by the running ratio of certain samples (the second reweighting, see
    [`ShrinkMatchTrainer`]).

    Args:
        probs_weak (`torch.Tensor` `(B, C)`): weak-view probabilities of the main head (detached: targets only).
        logits_strong (`torch.Tensor` `(B, C)`): strong-view logits of the auxiliary head (gradients flow here).
        threshold (`float`, defaults to 0.95): the confidence threshold `τ`.
        reduction (`str`, defaults to `"mean"`): `"mean"` (sum / B), `"sum"` or `"none"` (one loss per sample).

    Example:

    ```python
    >>> loss = shrink_loss(probs_weak.detach(), aux_logits_strong, threshold=0.95)
    ```
    """
    check_reduction(reduction)
    space = shrink_class_space(probs_weak, threshold)
    logits = _check_logits(logits_strong, probs_weak)
    masked = logits.masked_fill(~space.keep, float("-inf"))
    target_logit = logits.gather(1, space.top_class[:, None])[:, 0]
    cross_entropy = torch.logsumexp(masked, dim=1) - target_logit
    loss = cross_entropy * space.weight.to(logits.dtype)
    return reduce_loss(loss, reduction)


def fixmatch_consistency_loss(
    probs_weak: torch.Tensor,
    logits_strong: torch.Tensor,
    threshold: float = 0.95,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""FixMatch's unlabelled loss, with the soft pseudo-labels of the ShrinkMatch code:

        ℓ_b = 1[max_k p_k ≥ τ] · ( −Σ_k p_k log softmax(z)_k )

    `p` the weak-view probabilities (detached), `z` the strong-view logits of the main head. `reduction="mean"`
    divides by the whole batch size (masked samples included), as FixMatch and the official code do. FixMatch's paper
    uses the hard label `argmax p`; the official ShrinkMatch code uses the soft `p`, which differs from it only by the
    small mass left off the top class of a sample whose `max p ≥ τ`.

    Args:
        probs_weak (`torch.Tensor` `(B, C)`): weak-view probabilities (targets only).
        logits_strong (`torch.Tensor` `(B, C)`): strong-view logits.
        threshold (`float`, defaults to 0.95): `τ`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.
    """
    check_reduction(reduction)
    probs = _check_probs(probs_weak).detach()
    logits = _check_logits(logits_strong, probs)
    tau = _check_threshold(threshold)
    mask = (probs.max(dim=1).values >= tau).to(logits.dtype)
    loss = -(probs.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(dim=1) * mask
    return reduce_loss(loss, reduction)


class ShrinkLoss(nn.Module):
    r"""[`shrink_loss`] as a module: `ShrinkLoss(threshold)(logits, probs_weak)`.

        ℓ_b = p_(1) · 1[p_(1) < τ] · 1[conf(c*) ≥ τ] · CE_{S_b}(z_b, (1)),
        conf(c) = p_(1) / (p_(1) + Σ_{k ≥ c} p_(k)),  c* the smallest passing c,  S_b = {(1)} ∪ {(k) : k ≥ c*}

    Args:
        threshold (`float`, defaults to 0.95): `τ`.
        reduction (`str`, defaults to `"mean"`): `"mean"` (sum / B), `"sum"` or `"none"`.
    """

    def __init__(self, threshold: float = 0.95, reduction: str = "mean"):
        super().__init__()
        self.threshold = _check_threshold(threshold)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, probs_weak: torch.Tensor) -> torch.Tensor:
        """`logits`: strong-view logits of the auxiliary head; `probs_weak`: weak-view probabilities (targets)."""
        return shrink_loss(probs_weak, logits, self.threshold, self.reduction)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


class FixMatchConsistencyLoss(nn.Module):
    r"""[`fixmatch_consistency_loss`] as a module: `FixMatchConsistencyLoss(threshold)(logits, probs_weak)`.

    ℓ_b = 1[max_k p_k ≥ τ] · ( −Σ_k p_k log softmax(z_b)_k )
    """

    def __init__(self, threshold: float = 0.95, reduction: str = "mean"):
        super().__init__()
        self.threshold = _check_threshold(threshold)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, probs_weak: torch.Tensor) -> torch.Tensor:
        return fixmatch_consistency_loss(probs_weak, logits, self.threshold, self.reduction)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"
