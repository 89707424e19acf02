"""Metrix (Metric Mix): mixup of examples and of pair targets for deep metric learning (Venkataramanan, Psomas et al.,
ICLR 2022).

A metric-learning loss sees an anchor `a` with its positives `P(a)` (same class) and negatives `N(a)`. The paper
writes the usual losses in one form, on the cosine similarity `s(a, x)`:

    ℓ(a) = τ( σ⁺( Σ_{p ∈ P(a)} ρ⁺(s(a, p)) ) + σ⁻( Σ_{n ∈ N(a)} ρ⁻(s(a, n)) ) )

and mixup adds interpolated examples `u = λ·x + (1 − λ)·x'` whose *pair label* with the anchor is interpolated too:
`u` is "λ-positive" and "(1 − λ)-negative". With `U(a)` the mixed examples of anchor `a` (each with its λ and a
weight `w`), the Metrix loss replaces the two sums by label-weighted sums over `U(a)`:

    ℓ̃(a) = τ( σ⁺( Σ_{(u,λ,w) ∈ U(a)} w·λ·ρ⁺(s(a, u)) ) + σ⁻( Σ_{(u,λ,w) ∈ U(a)} w·(1 − λ)·ρ⁻(s(a, u)) ) )

and training minimises `L = mean_a ℓ(a) + weight · mean_a ℓ̃(a)`. Two bases are implemented here:

- `"contrastive"` (σ, τ identities; the shared [`contrastive_loss`] of hf-methods): ρ⁺(s) = 1 − s, ρ⁻(s) = [s − m]₊;
- `"multisimilarity"` (Wang et al., 2019): σ⁺(x) = log(1 + x)/β with ρ⁺(s) = exp(−β(s − m)), σ⁻(x) = log(1 + x)/γ
  with ρ⁻(s) = exp(γ(s − m)); see [`multi_similarity_loss`].

Which mixed examples an anchor sees follows the official code (`billpsomas/Metrix_ICLR22`, `mixup/utils.py`,
`train.py`): one λ ~ Beta(α, α) per step (α = 2) and, with probability 1/2 each,

- *positive-negative* pairs: anchor `a` meets `λ·x_p + (1 − λ)·x_n` for its positives `p` and negatives `n`
  (weight `weight` = 0.4);
- *anchor-negative* pairs: an anchor with no positive in the batch meets `λ·x_a + (1 − λ)·x_n` for its negatives `n`
  (weight 0.3 when embeddings are mixed, 0.4 when inputs or features are).

This module holds the embedding-level pieces; mixing inputs or intermediate features needs the model and lives in
[`MetrixTrainer`] (`trainer.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import REDUCTIONS, check_number, reduce_loss
from hf_methods.common.metric_learning import contrastive_loss, cosine_similarity_matrix, pair_masks

BASES = ("contrastive", "multisimilarity")
LEVELS = ("input", "feature", "embedding")
PAIRINGS = ("random", "positive_negative", "anchor_negative")

#: The official weights of the Metrix term: positive-negative pairs, and anchor-negative pairs per mixing level.
POSITIVE_NEGATIVE_WEIGHT = 0.4
ANCHOR_NEGATIVE_WEIGHT = {"input": 0.4, "feature": 0.4, "embedding": 0.3}


# ----------------------------------------------------------------------------------------------------------- checks


def _check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_embeddings_labels(embeddings, labels) -> None:
    """Raises a `TypeError`/`ValueError` naming the argument for anything but (batch, dim) floats and (batch,) ints."""
    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if not embeddings.is_floating_point():
        raise TypeError(f"embeddings must be a floating-point tensor, got dtype {embeddings.dtype}")
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be 2-D (batch, dim), got shape {tuple(embeddings.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be an integer tensor of class ids, got dtype {labels.dtype}")
    if labels.shape != embeddings.shape[:1]:
        raise ValueError(
            f"labels must have shape ({embeddings.shape[0]},) to match embeddings, got {tuple(labels.shape)}"
        )


def default_anchor_negative_weight(level: str, weight: float) -> float:
    """The official anchor-negative weight: 0.3 at the embedding level; at the input/feature level, `weight`."""
    return ANCHOR_NEGATIVE_WEIGHT["embedding"] if level == "embedding" else weight


# ----------------------------------------------------------------------------------------------------------- base


def multi_similarity_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    positive_scale: float = 2.0,
    negative_scale: float = 50.0,
    margin: float = 0.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """Multi-similarity loss (Wang et al., CVPR 2019) on cosine similarities, without its pair mining:

        ℓ(a) = (1/β) log(1 + Σ_{p ∈ P(a)} exp(−β (s_ap − m))) + (1/γ) log(1 + Σ_{n ∈ N(a)} exp(γ (s_an − m)))

    with β = `positive_scale` (2), γ = `negative_scale` (50) and m = `margin` (0.5), the defaults of
    pytorch-metric-learning's `MultiSimilarityLoss` used by the official Metrix code. `reduction="none"` returns ℓ(a).
    """
    check_embeddings_labels(embeddings, labels)
    _check_choice("reduction", reduction, REDUCTIONS)
    sim = cosine_similarity_matrix(embeddings)
    pos, neg = pair_masks(labels)
    pos_sum = (torch.exp(-positive_scale * (sim - margin)) * pos).sum(1)
    neg_sum = (torch.exp(negative_scale * (sim - margin)) * neg).sum(1)
    per_anchor = torch.log1p(pos_sum) / positive_scale + torch.log1p(neg_sum) / negative_scale
    return reduce_loss(per_anchor, reduction)


def base_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    base: str = "contrastive",
    *,
    margin: float = 0.5,
    positive_scale: float = 2.0,
    negative_scale: float = 50.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """The clean loss of a base: the shared `contrastive_loss` or [`multi_similarity_loss`]."""
    _check_choice("base", base, BASES)
    if base == "contrastive":
        check_embeddings_labels(embeddings, labels)
        return contrastive_loss(embeddings, labels, margin=margin, reduction=reduction)
    return multi_similarity_loss(
        embeddings,
        labels,
        positive_scale=positive_scale,
        negative_scale=negative_scale,
        margin=margin,
        reduction=reduction,
    )


# ----------------------------------------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class MixPlan:
    """Which mixes one Metrix step makes: anchor `anchor[i]` meets `λ·x[first[i]] + (1 − λ)·x[second[i]]`.

    Attributes:
        anchor, first, second (`torch.LongTensor` of shape `(M,)`): batch positions; `second` is always a negative
            of the anchor, `first` a positive (`positive_negative`) or the anchor itself (`anchor_negative`).
        weight (`torch.Tensor` of shape `(M,)`): the weight `w` of each mix in its anchor's sums.
        pairing (`str`): `"positive_negative"` or `"anchor_negative"`.
        batch_size (`int`): the number of anchors.
    """

    anchor: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    weight: torch.Tensor
    pairing: str
    batch_size: int

    def __len__(self) -> int:
        return int(self.anchor.numel())


def _hardest(neg: torch.Tensor, similarity: torch.Tensor, top_k: int) -> torch.Tensor:
    """The `top_k` negatives of each anchor with the largest similarity (fewer when it has fewer negatives)."""
    k = min(top_k, neg.shape[1])
    scores = similarity.masked_fill(~neg, -float("inf"))
    keep = torch.zeros_like(neg)
    keep.scatter_(1, scores.topk(k, dim=1).indices, True)
    return keep & neg


def mix_plan(
    labels: torch.Tensor, pairing: str, *, similarity: torch.Tensor | None = None, top_k: int | None = None
) -> MixPlan:
    """The mixes of one step for the batch labels, built from the shared `pair_masks`.

    - `positive_negative`: every triple `(a, p, n)` with `p ∈ P(a)`, `n ∈ N(a)`, with weight `1/|P(a)|`: each
      negative of `a` is mixed once with a positive, averaged over the positives. (The official code always takes
      the anchor's first positive in batch order; averaging over all of them gives the same number of mixes per
      anchor and a loss that does not depend on the batch order.)
    - `anchor_negative`: for every anchor *without* a positive in the batch, the pairs `(a, a, n)`, `n ∈ N(a)`,
      weight 1 (anchors with positives take no part in this branch, as in the official code).

    `top_k` keeps only the `top_k` hardest negatives of each anchor (largest `similarity`, e.g. the cosine
    similarities of the clean embeddings); the official input-level mixing uses `top_k = 1`.
    """
    _check_choice("pairing", pairing, PAIRINGS[1:])
    pos, neg = pair_masks(labels)
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k must be an int >= 1 or None, got {top_k!r}")
        if similarity is None or similarity.shape != neg.shape:
            raise ValueError(f"top_k needs a similarity matrix of shape {tuple(neg.shape)}")
        neg = _hardest(neg, similarity, top_k)
    n_pos = pos.sum(1)
    if pairing == "positive_negative":
        anchor, first, second = (pos[:, :, None] & neg[:, None, :]).nonzero(as_tuple=True)
        weight = 1.0 / n_pos[anchor].to(torch.float64)
    else:
        anchor, second = (neg & (n_pos == 0)[:, None]).nonzero(as_tuple=True)
        first = anchor
        weight = torch.ones(anchor.shape, dtype=torch.float64, device=labels.device)
    return MixPlan(anchor, first, second, weight, pairing, len(labels))


def sample_lambda(alpha: float, rng: np.random.Generator | None = None) -> float:
    """λ ~ Beta(α, α) (the official `mixup_data`), from `rng` or numpy's global generator."""
    return float((rng or np.random).beta(alpha, alpha))


def sample_pairing(rng: np.random.Generator | None = None) -> str:
    """`positive_negative` or `anchor_negative` with probability 1/2 each (the official `random.randint(0, 1)`)."""
    return "positive_negative" if (rng or np.random).random() < 0.5 else "anchor_negative"


# ----------------------------------------------------------------------------------------------------------- Metrix


def mixed_pair_loss(
    anchor_embeddings: torch.Tensor,
    mixed_embeddings: torch.Tensor,
    lam: float,
    *,
    margin: float = 0.5,
) -> torch.Tensor:
    """The contrastive loss of each (anchor, mixed example) pair with the interpolated pair label λ:

        c(a, u) = λ·(1 − s(a, u)) + (1 − λ)·[s(a, u) − m]₊

    λ = 1 gives the positive-pair term of the contrastive loss, λ = 0 its negative-pair term.
    """
    sim = F.cosine_similarity(anchor_embeddings, mixed_embeddings, dim=-1)
    return lam * (1 - sim) + (1 - lam) * F.relu(sim - margin)


def metrix_term(
    anchor_embeddings: torch.Tensor,
    mixed_embeddings: torch.Tensor,
    plan: MixPlan,
    lam: float,
    *,
    base: str = "contrastive",
    margin: float = 0.5,
    positive_scale: float = 2.0,
    negative_scale: float = 50.0,
) -> torch.Tensor:
    """The per-anchor Metrix loss ℓ̃(a) (shape `(batch,)`) for mixed examples already embedded.

    Args:
        anchor_embeddings (`torch.Tensor` of shape `(M, D)`): the clean embedding of `plan.anchor[i]`.
        mixed_embeddings (`torch.Tensor` of shape `(M, D)`): the embedding of the i-th mix (mixed inputs, features
            or embeddings).
        plan (`MixPlan`): the mixes and their weights.
        lam (`float`): the interpolation factor λ (also the mixes' "positive-ness").

    For `"contrastive"` ℓ̃(a) = Σ_i w_i·c(a, u_i) with `c` of [`mixed_pair_loss`]; for `"multisimilarity"`
    ℓ̃(a) = (1/β) log(1 + Σ_i w_i λ e^{−β(s_i − m)}) + (1/γ) log(1 + Σ_i w_i (1 − λ) e^{γ(s_i − m)}). An anchor with no
    mix gets 0.
    """
    dtype = anchor_embeddings.dtype
    weight = plan.weight.to(device=anchor_embeddings.device, dtype=dtype)
    index = plan.anchor.to(anchor_embeddings.device)

    def per_anchor(values: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(plan.batch_size, dtype=dtype, device=anchor_embeddings.device)
        return out.index_add(0, index, weight * values)

    if base == "contrastive":
        return per_anchor(mixed_pair_loss(anchor_embeddings, mixed_embeddings, lam, margin=margin))
    _check_choice("base", base, BASES)
    sim = F.cosine_similarity(anchor_embeddings, mixed_embeddings, dim=-1)
    pos_sum = per_anchor(lam * torch.exp(-positive_scale * (sim - margin)))
    neg_sum = per_anchor((1 - lam) * torch.exp(negative_scale * (sim - margin)))
    return torch.log1p(pos_sum) / positive_scale + torch.log1p(neg_sum) / negative_scale


def mix_embeddings(embeddings: torch.Tensor, plan: MixPlan, lam: float) -> torch.Tensor:
    """`u_i = λ·e[first_i] + (1 − λ)·e[second_i]` (the official `mixup_data` on embeddings)."""
    first, second = plan.first.to(embeddings.device), plan.second.to(embeddings.device)
    return lam * embeddings[first] + (1 - lam) * embeddings[second]


def metrix_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    base: str = "contrastive",
    level: str = "embedding",
    alpha: float = 2.0,
    weight: float = 0.4,
    *,
    anchor_negative_weight: float | None = None,
    pairing: str = "random",
    lam: float | None = None,
    margin: float = 0.5,
    positive_scale: float = 2.0,
    negative_scale: float = 50.0,
    reduction: str = "mean",
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    r"""The Metrix term at the embedding level, to add to the clean base loss:

        weight_b · (1/B) Σ_a ℓ̃(a),   ℓ̃(a) = τ(σ⁺(Σ_{U(a)} w·λ·ρ⁺(s(a,u))) + σ⁻(Σ_{U(a)} w·(1 − λ)·ρ⁻(s(a,u))))

    with the mixed embeddings `u = λ·e_x + (1 − λ)·e_n` of [`mix_plan`] and `weight_b` = `weight` for
    positive-negative pairs, `anchor_negative_weight` for anchor-negative ones.

    Args:
        embeddings (`torch.Tensor` of shape `(batch, dim)`): the clean embeddings (normalised or not: the loss
            uses cosine similarities).
        labels (`torch.LongTensor` of shape `(batch,)`): class ids.
        base (`str`, defaults to `"contrastive"`): `"contrastive"` or `"multisimilarity"`.
        level (`str`, defaults to `"embedding"`): only `"embedding"` here; inputs and features are mixed by
            [`MetrixTrainer`], which needs the model.
        alpha (`float`, defaults to 2.0): λ ~ Beta(α, α).
        weight (`float`, defaults to 0.4): weight of the positive-negative term.
        anchor_negative_weight (`float`, *optional*): weight of the anchor-negative term (official: 0.3 at the
            embedding level).
        pairing (`str`, defaults to `"random"`): `"positive_negative"`, `"anchor_negative"`, or `"random"` (one of
            the two with probability 1/2, the official choice).
        lam (`float`, *optional*): a fixed λ in [0, 1] instead of a Beta draw.
        margin, positive_scale, negative_scale: the base loss's margin m and the multi-similarity scales β, γ.
        reduction (`str`, defaults to `"mean"`): `"mean"` (over the B anchors), `"sum"` or `"none"` (the weighted
            ℓ̃(a) of every anchor).
        rng (`numpy.random.Generator`, *optional*): source of λ and of the pairing (numpy's global one if None).

    Example:

    ```python
    >>> loss = contrastive_loss(emb, y) + metrix_loss(emb, y, level="embedding", alpha=2.0, weight=0.4)
    ```
    """
    check_embeddings_labels(embeddings, labels)
    _check_choice("base", base, BASES)
    _check_choice("level", level, LEVELS)
    if level != "embedding":
        raise ValueError(
            f"level={level!r} mixes {level}s, which needs the model: use MetrixTrainer(level={level!r}) or "
            "metrix_step_loss(model, ...); metrix_loss mixes embeddings only (level='embedding')"
        )
    alpha = check_number("alpha", alpha, low=0.0, low_open=True)
    weight = check_number("weight", weight, low=0.0)
    if anchor_negative_weight is None:
        anchor_negative_weight = default_anchor_negative_weight(level, weight)
    anchor_negative_weight = check_number("anchor_negative_weight", anchor_negative_weight, low=0.0)
    _check_choice("pairing", pairing, PAIRINGS)
    if lam is not None:
        lam = check_number("lam", lam, low=0.0, high=1.0)
    check_number("margin", margin)
    check_number("positive_scale", positive_scale, low=0.0, low_open=True)
    check_number("negative_scale", negative_scale, low=0.0, low_open=True)
    _check_choice("reduction", reduction, REDUCTIONS)

    if pairing == "random":
        pairing = sample_pairing(rng)
    if lam is None:
        lam = sample_lambda(alpha, rng)
    plan = mix_plan(labels, pairing)
    mixed = mix_embeddings(embeddings, plan, lam)
    per_anchor = metrix_term(
        embeddings[plan.anchor.to(embeddings.device)],
        mixed,
        plan,
        lam,
        base=base,
        margin=margin,
        positive_scale=positive_scale,
        negative_scale=negative_scale,
    )
    branch_weight = weight if pairing == "positive_negative" else anchor_negative_weight
    return reduce_loss(branch_weight * per_anchor, reduction)


class MetrixLoss(nn.Module):
    r"""The Metrix objective: the clean base loss plus the weighted Metrix term,

        L = (1/B) Σ_a [ ℓ(a) + weight_b · ℓ̃(a) ]

    where ℓ is the base loss (the shared `contrastive_loss`, or [`multi_similarity_loss`]) and ℓ̃ the same loss on
    mixed examples with interpolated pair labels (see [`metrix_loss`] and the module docstring). λ ~ Beta(α, α) and
    the pairing are drawn from the module's own numpy generator, seeded by `seed`; its state is part of
    `state_dict()` (so a checkpoint restores the draws exactly).

    At `level="embedding"` the module is a complete loss: `loss(embeddings, labels)`. At `level="input"` or
    `"feature"` it holds the settings and the generator for [`MetrixTrainer`] / [`metrix_step_loss`], which embed
    the mixed inputs or features with the model; calling it directly then raises.

    Args:
        base (`str`, defaults to `"contrastive"`): `"contrastive"` or `"multisimilarity"`.
        level (`str`, defaults to `"embedding"`): `"input"`, `"feature"` or `"embedding"`.
        alpha (`float`, defaults to 2.0): λ ~ Beta(α, α).
        weight (`float`, defaults to 0.4): weight of the positive-negative Metrix term.
        anchor_negative_weight (`float`, *optional*): weight of the anchor-negative term (default: 0.3 at the
            embedding level, `weight` at the input and feature levels, as in the official code).
        pairing (`str`, defaults to `"random"`): `"random"`, `"positive_negative"` or `"anchor_negative"`.
        lam (`float`, *optional*): a fixed λ instead of Beta draws (for tests and ablations).
        top_k (`int`, *optional*): mix only the `top_k` hardest negatives of each anchor (default: 1 at the input
            level, as in the official code; all negatives otherwise).
        margin (`float`, defaults to 0.5): margin m of the base loss.
        positive_scale, negative_scale (`float`, defaults to 2.0 and 50.0): β and γ of the multi-similarity base.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (per anchor).
        seed (`int`, *optional*): seed of the generator (None: fresh entropy).

    Example:

    ```python
    >>> loss_fn = MetrixLoss(base="contrastive", alpha=2.0, weight=0.4, seed=0)
    >>> loss = loss_fn(model(x).logits, labels)
    ```
    """

    def __init__(
        self,
        base: str = "contrastive",
        level: str = "embedding",
        alpha: float = 2.0,
        weight: float = POSITIVE_NEGATIVE_WEIGHT,
        anchor_negative_weight: float | None = None,
        pairing: str = "random",
        lam: float | None = None,
        top_k: int | None = None,
        margin: float = 0.5,
        positive_scale: float = 2.0,
        negative_scale: float = 50.0,
        reduction: str = "mean",
        seed: int | None = None,
    ):
        super().__init__()
        self.base = _check_choice("base", base, BASES)
        self.level = _check_choice("level", level, LEVELS)
        self.alpha = check_number("alpha", alpha, low=0.0, low_open=True)
        self.weight = check_number("weight", weight, low=0.0)
        if anchor_negative_weight is None:
            anchor_negative_weight = default_anchor_negative_weight(level, self.weight)
        self.anchor_negative_weight = check_number("anchor_negative_weight", anchor_negative_weight, low=0.0)
        self.pairing = _check_choice("pairing", pairing, PAIRINGS)
        self.lam = None if lam is None else check_number("lam", lam, low=0.0, high=1.0)
        if top_k is None and level == "input":
            top_k = 1
        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(f"top_k must be an int >= 1 or None, got {top_k!r}")
        self.top_k = top_k
        self.margin = check_number("margin", margin)
        self.positive_scale = check_number("positive_scale", positive_scale, low=0.0, low_open=True)
        self.negative_scale = check_number("negative_scale", negative_scale, low=0.0, low_open=True)
        self.reduction = _check_choice("reduction", reduction, REDUCTIONS)
        self.rng = np.random.default_rng(seed)

    # ---------------------------------------------------------------------------------------------- pieces
    def draw(self) -> tuple[str, float]:
        """The pairing and λ of one step (from the module's generator unless fixed)."""
        pairing = sample_pairing(self.rng) if self.pairing == "random" else self.pairing
        lam = sample_lambda(self.alpha, self.rng) if self.lam is None else self.lam
        return pairing, lam

    def branch_weight(self, pairing: str) -> float:
        return self.weight if pairing == "positive_negative" else self.anchor_negative_weight

    def clean_loss(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The base loss ℓ(a) of every anchor, shape `(batch,)`."""
        return base_loss(
            embeddings,
            labels,
            self.base,
            margin=self.margin,
            positive_scale=self.positive_scale,
            negative_scale=self.negative_scale,
            reduction="none",
        )

    def plan(self, labels: torch.Tensor, pairing: str, embeddings: torch.Tensor | None = None) -> MixPlan:
        """The mixes of a step; with `top_k`, the hardest negatives by cosine similarity of the (clean) embeddings."""
        similarity = None
        if self.top_k is not None:
            if embeddings is None:
                raise ValueError("top_k needs the clean embeddings to find the hardest negatives")
            similarity = cosine_similarity_matrix(embeddings.detach())
        return mix_plan(labels, pairing, similarity=similarity, top_k=self.top_k)

    def mixed_loss(
        self, anchor_embeddings: torch.Tensor, mixed_embeddings: torch.Tensor, plan: MixPlan, lam: float
    ) -> torch.Tensor:
        """`weight_b · ℓ̃(a)` of every anchor, shape `(batch,)`."""
        per_anchor = metrix_term(
            anchor_embeddings,
            mixed_embeddings,
            plan,
            lam,
            base=self.base,
            margin=self.margin,
            positive_scale=self.positive_scale,
            negative_scale=self.negative_scale,
        )
        return self.branch_weight(plan.pairing) * per_anchor

    def reduce(self, per_anchor: torch.Tensor) -> torch.Tensor:
        return reduce_loss(per_anchor, self.reduction)

    # ---------------------------------------------------------------------------------------------- forward
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.level != "embedding":
            raise ValueError(
                f"MetrixLoss(level={self.level!r}) mixes {self.level}s and needs the model: pass it to "
                "MetrixTrainer(loss=...) or metrix_step_loss(model, batch, loss_fn)"
            )
        check_embeddings_labels(embeddings, labels)
        pairing, lam = self.draw()
        plan = self.plan(labels, pairing, embeddings)
        anchors = embeddings[plan.anchor.to(embeddings.device)]
        mixed = self.mixed_loss(anchors, mix_embeddings(embeddings, plan, lam), plan, lam)
        return self.reduce(self.clean_loss(embeddings, labels) + mixed)

    # ---------------------------------------------------------------------------------------------- state
    def get_extra_state(self) -> dict:
        """The generator's state travels in `state_dict()` (plain Python data)."""
        return {"bit_generator": self.rng.bit_generator.state}

    def set_extra_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["bit_generator"]

    def extra_repr(self) -> str:
        return (
            f"base={self.base!r}, level={self.level!r}, alpha={self.alpha}, weight={self.weight}, "
            f"anchor_negative_weight={self.anchor_negative_weight}, pairing={self.pairing!r}, top_k={self.top_k}"
        )


__all__ = [
    "BASES",
    "LEVELS",
    "PAIRINGS",
    "MetrixLoss",
    "MixPlan",
    "base_loss",
    "metrix_loss",
    "metrix_term",
    "mix_embeddings",
    "mix_plan",
    "mixed_pair_loss",
    "multi_similarity_loss",
    "sample_lambda",
    "sample_pairing",
]
