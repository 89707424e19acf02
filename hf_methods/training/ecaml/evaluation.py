"""Base metric losses by name and the zero-shot evaluation metrics (Recall@K, NMI), without importing transformers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from hf_methods.common.metric_learning import binomial_deviance_loss, clustering_nmi, contrastive_loss, recall_at_k

#: Base metric losses by name: `loss(embeddings, labels, **kwargs)` returning a scalar.
METRIC_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "binomial_deviance": binomial_deviance_loss,
    "contrastive": contrastive_loss,
}


def resolve_metric_loss(metric_loss: str | Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A base metric loss from its name in `METRIC_LOSSES`, or a callable `(embeddings, labels) -> scalar` as is."""
    if callable(metric_loss):
        return metric_loss
    if not isinstance(metric_loss, str) or metric_loss not in METRIC_LOSSES:
        raise ValueError(f"metric_loss must be one of {sorted(METRIC_LOSSES)} or a callable, got {metric_loss!r}")
    return METRIC_LOSSES[metric_loss]


def retrieval_metrics(
    embeddings: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 2, 4, 8), *, seed: int = 0
) -> dict[str, float]:
    """`{"recall@k": ..., "nmi": ...}` of a set of embeddings (leave-one-out retrieval, k-means NMI)."""
    ks = [k for k in ks if k < len(labels)]
    metrics = {f"recall@{k}": v for k, v in recall_at_k(embeddings, labels, ks).items()} if ks else {}
    if labels.unique().numel() >= 2:
        metrics["nmi"] = clustering_nmi(embeddings, labels, seed=seed)
    return metrics


__all__ = ["METRIC_LOSSES", "resolve_metric_loss", "retrieval_metrics"]
