"""Deep metric learning pieces shared by the metric-learning methods: pairs, base losses and retrieval metrics.

- [`pair_masks`]: the positive (same label, i ≠ j) and negative (different label) pairs of a batch;
- [`cosine_similarity_matrix`]: S_ij = ⟨e_i, e_j⟩ / (‖e_i‖‖e_j‖);
- base losses on a batch of embeddings: [`contrastive_loss`] and [`binomial_deviance_loss`];
- zero-shot evaluation: [`recall_at_k`] (leave-one-out nearest neighbours in cosine similarity) and
  [`clustering_nmi`] (k-means with scikit-learn, normalised mutual information with the labels).

Example:

```python
>>> loss = contrastive_loss(model(x), labels)
>>> recall_at_k(test_embeddings, test_labels, ks=(1, 2, 4, 8))
{1: 0.91, 2: 0.95, 4: 0.97, 8: 0.98}
```
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checks import reduce_loss


def _check(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 or not embeddings.is_floating_point():
        raise ValueError(
            f"embeddings must be a 2-D floating-point tensor (batch, dim), got {getattr(embeddings, 'shape', embeddings)}"
        )
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.shape != embeddings.shape[:1]:
        raise ValueError(
            f"labels must be an integer tensor of shape ({embeddings.shape[0]},), got {getattr(labels, 'shape', labels)}"
        )


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (batch, batch) masks: positives (same label, i ≠ j) and negatives (different labels)."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def cosine_similarity_matrix(embeddings: torch.Tensor) -> torch.Tensor:
    """S_ij = cos(e_i, e_j)."""
    normed = F.normalize(embeddings, dim=-1)
    return normed @ normed.T


def contrastive_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, *, margin: float = 0.5, reduction: str = "mean"
) -> torch.Tensor:
    """Contrastive loss on cosine similarities (Hadsell et al., 2006, in the form of Wang et al., 2020, XBM):

        ℓ_i = Σ_{j ∈ P(i)} (1 − S_ij) + Σ_{j ∈ N(i)} [S_ij − m]₊ ,   divided by the batch size under "mean".

    Returns the per-anchor ℓ_i under `reduction="none"`.
    """
    _check(embeddings, labels)
    sim = cosine_similarity_matrix(embeddings)
    pos, neg = pair_masks(labels)
    per_anchor = ((1 - sim) * pos).sum(1) + (F.relu(sim - margin) * neg).sum(1)
    return reduce_loss(per_anchor, reduction)


def binomial_deviance_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 0.5,
    negative_cost: float = 25.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Binomial deviance (Yi et al., 2014) on cosine similarities:

        ℓ_i = mean_{j∈P(i)} log(1 + exp(−α(S_ij − β))) + mean_{j∈N(i)} log(1 + exp(α·C(S_ij − β))),

    with C = `negative_cost` weighting the negatives (the usual 25 of the deviance loss). An anchor without
    positives (or negatives) in the batch contributes 0 for that term.
    """
    _check(embeddings, labels)
    sim = cosine_similarity_matrix(embeddings)
    pos, neg = pair_masks(labels)
    pos_term = (F.softplus(-alpha * (sim - beta)) * pos).sum(1) / pos.sum(1).clamp_min(1)
    neg_term = (F.softplus(alpha * negative_cost * (sim - beta)) * neg).sum(1) / neg.sum(1).clamp_min(1)
    return reduce_loss(pos_term + neg_term, reduction)


@torch.no_grad()
def recall_at_k(
    embeddings: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 2, 4, 8), *, chunk_size: int = 1024
) -> dict[int, float]:
    """Recall@K of retrieval within one set: the fraction of queries whose K nearest other items (cosine
    similarity, the query itself excluded) contain one of the same label."""
    _check(embeddings, labels)
    if not ks or any(not isinstance(k, int) or k < 1 or k >= len(labels) for k in ks):
        raise ValueError(f"ks must be ints in [1, {len(labels) - 1}], got {list(ks)}")
    normed = F.normalize(embeddings.float(), dim=-1)
    hits = {k: 0 for k in ks}
    k_max = max(ks)
    for start in range(0, len(normed), chunk_size):
        sim = normed[start : start + chunk_size] @ normed.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -float("inf")
        nearest = labels[sim.topk(k_max, dim=1).indices]
        match = nearest == labels[start : start + chunk_size, None]
        for k in ks:
            hits[k] += match[:, :k].any(1).sum().item()
    return {k: hits[k] / len(labels) for k in ks}


def clustering_nmi(embeddings: torch.Tensor, labels: torch.Tensor, *, seed: int = 0) -> float:
    """NMI between the labels and k-means clusters (k = number of labels) of the L2-normalised embeddings."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    _check(embeddings, labels)
    k = int(labels.unique().numel())
    if k < 2:
        raise ValueError("clustering_nmi needs at least 2 distinct labels")
    x = F.normalize(embeddings.detach().float(), dim=-1).cpu().numpy()
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    return float(normalized_mutual_info_score(labels.cpu().numpy(), clusters))
