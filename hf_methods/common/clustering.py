"""Clustering pieces of discovery and self-labelling methods: balanced Sinkhorn–Knopp assignments and the
Hungarian-matched clustering accuracy.

- [`sinkhorn_knopp`] (Cuturi, 2013; as used by SwAV and UNO): soft assignments Q of B samples to K clusters from
  scores, Q ∝ exp(scores/ε), alternately normalised so that every cluster receives B/K samples and every sample one
  unit of mass; returned with rows summing to 1;
- [`cluster_accuracy`]: the accuracy of cluster ids against class labels under the best one-to-one matching
  (`scipy.optimize.linear_sum_assignment` on the contingency table), the metric of novel-class discovery.

Example:

```python
>>> targets = sinkhorn_knopp(novel_logits.detach(), epsilon=0.05, iterations=3)   # pseudo-labels, rows sum to 1
>>> cluster_accuracy(novel_logits.argmax(-1), novel_labels)
```
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.common.checks import check_number


def sinkhorn_knopp(scores: torch.Tensor, *, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Balanced soft assignments `(B, K)` of the samples to the clusters (rows sum to 1).

    Starts from Q = exp(scores / ε)ᵀ / Σ, then `iterations` times rescales the rows (clusters) to 1/K and the
    columns (samples) to 1/B; returns B·Qᵀ. Computed in float64 with the scores shifted by their maximum.
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or not scores.is_floating_point():
        raise TypeError("scores must be a 2-D float tensor (samples, clusters)")
    eps = check_number("epsilon", epsilon, low=0, low_open=True)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    s = scores.detach().to(torch.float64)
    q = torch.exp((s - s.max()) / eps).T  # (K, B)
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True) * k
        q /= q.sum(dim=0, keepdim=True) * b
    return (q * b).T.to(scores.dtype)


def cluster_accuracy(predictions, labels) -> float:
    """max over one-to-one maps π of (1/n) Σ_i 1[π(prediction_i) = label_i] (Hungarian matching)."""
    from scipy.optimize import linear_sum_assignment

    preds = np.asarray(predictions.cpu() if hasattr(predictions, "cpu") else predictions).astype(np.int64).ravel()
    truth = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels).astype(np.int64).ravel()
    if preds.shape != truth.shape:
        raise ValueError(f"predictions and labels must have the same length, got {preds.size} and {truth.size}")
    if preds.size == 0:
        raise ValueError("cluster_accuracy needs at least one sample")
    if preds.min() < 0 or truth.min() < 0:
        raise ValueError("cluster ids and labels must be >= 0")
    size = int(max(preds.max(), truth.max())) + 1
    table = np.zeros((size, size), dtype=np.int64)
    np.add.at(table, (preds, truth), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / preds.size)
