"""Squared distances over a label space, the input of Loki's prediction rule.

Each function returns the `(K, K)` matrix D² with D²[a, b] = d(a, b)² over the *full* label space (observed and
unobserved classes alike):

- [`line_sq_dist`]: labels on a line, d(a, b) = |a − b| (ordinal labels: ages, ratings, years);
- [`discrete_sq_dist`]: d(a, b) = 1[a ≠ b], under which Loki is argmax;
- [`graph_sq_dist`]: shortest-path distance on a label graph or tree (a WordNet-style hierarchy), through scipy;
- [`embedding_sq_dist`]: squared Euclidean distance between class embeddings (the paper's "self-derived" metric from
  class-name text embeddings, or class-mean features).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from hf_methods.common.checks import check_positive_int

__all__ = ["discrete_sq_dist", "embedding_sq_dist", "graph_sq_dist", "line_sq_dist", "validate_sq_dist"]


def line_sq_dist(num_classes: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """D²[a, b] = (a − b)² for labels 0 … K−1 on a line."""
    k = check_positive_int("num_classes", num_classes)
    positions = torch.arange(k, dtype=dtype)
    return (positions[:, None] - positions[None, :]) ** 2


def discrete_sq_dist(num_classes: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """D²[a, b] = 1[a ≠ b]: the metric that carries no structure (Loki reduces to argmax under it)."""
    k = check_positive_int("num_classes", num_classes)
    return 1.0 - torch.eye(k, dtype=dtype)


def graph_sq_dist(
    edges: Iterable[tuple[int, int]] | np.ndarray, num_classes: int, *, weights: Iterable[float] | None = None
) -> torch.Tensor:
    """D²[a, b] = (shortest-path length between labels a and b)² on an undirected label graph.

    Args:
        edges: pairs of label ids (e.g. the parent–child links of a class hierarchy whose leaves and inner nodes
            are all labels; for a hierarchy whose inner nodes are not labels, compute the leaf distances yourself
            and pass them to [`validate_sq_dist`]).
        num_classes: K, the number of labels (graph nodes 0 … K−1).
        weights: edge lengths (default 1).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    k = check_positive_int("num_classes", num_classes)
    pairs = np.asarray(list(edges), dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= k):
        raise ValueError(f"edges must join label ids in [0, {k}), got range [{pairs.min()}, {pairs.max()}]")
    lengths = np.ones(len(pairs)) if weights is None else np.asarray(list(weights), dtype=np.float64)
    if lengths.shape != (len(pairs),) or (lengths <= 0).any():
        raise ValueError("weights must hold one positive length per edge")
    graph = coo_matrix((lengths, (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    dist = shortest_path(graph, directed=False)
    if np.isinf(dist).any():
        raise ValueError("the label graph is not connected: every pair of labels needs a path")
    return torch.from_numpy(dist**2)


def embedding_sq_dist(embeddings: torch.Tensor) -> torch.Tensor:
    """D²[a, b] = ‖e_a − e_b‖² for class embeddings `(K, D)` (computed in float64)."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        raise ValueError("embeddings must be a (num_classes, dim) tensor")
    e = embeddings.to(torch.float64)
    return torch.cdist(e, e).pow(2)


def validate_sq_dist(sq_dist, *, name: str = "sq_dist", tolerance: float = 1e-6) -> torch.Tensor:
    """`sq_dist` as a float64 `(K, K)` tensor after checking it is square, symmetric, non-negative, zero on the
    diagonal and finite — the properties of squared distances that the prediction rule relies on."""
    d2 = torch.as_tensor(sq_dist, dtype=torch.float64)
    if d2.dim() != 2 or d2.shape[0] != d2.shape[1] or d2.shape[0] == 0:
        raise ValueError(f"{name} must be a square (K, K) matrix of squared distances, got shape {tuple(d2.shape)}")
    if not torch.isfinite(d2).all():
        raise ValueError(f"{name} must be finite")
    scale = max(float(d2.abs().max()), 1.0)
    if (d2 < -tolerance * scale).any():
        raise ValueError(f"{name} must be non-negative (squared distances)")
    if (d2.diagonal().abs() > tolerance * scale).any():
        raise ValueError(f"{name} must be zero on the diagonal (d(y, y) = 0)")
    if ((d2 - d2.T).abs() > tolerance * scale).any():
        raise ValueError(f"{name} must be symmetric (d(a, b) = d(b, a))")
    return d2
