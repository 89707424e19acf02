"""Utilization (Venkataramanan, Psomas et al., ICLR 2022): how close test embeddings come to the training ones.

For a training set X and a query (test) set Q, with embeddings f(·) L2-normalised:

    u(Q) = (1/|Q|) Σ_{q ∈ Q} min_{x ∈ X} ‖f(q) − f(x)‖

In zero-shot retrieval the test classes are not training classes, so their embeddings fall in regions the training
examples did not occupy; the paper argues that mixing during training explores such regions, which shows as a
*lower* u(Q). The official repository has no code for this metric: it is written here from the paper's definition
(Euclidean distance; `squared=True` gives the squared-distance variant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(name: str, embeddings) -> None:
    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(embeddings).__name__}")
    if not embeddings.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {embeddings.dtype}")
    if embeddings.dim() != 2:
        raise ValueError(f"{name} must be 2-D (items, dim), got shape {tuple(embeddings.shape)}")
    if embeddings.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one embedding")


@torch.no_grad()
def nearest_train_distances(
    train_embeddings: torch.Tensor,
    test_embeddings: torch.Tensor,
    *,
    normalize: bool = True,
    squared: bool = False,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """`min_x ‖f(q) − f(x)‖` for every test embedding q, shape `(len(test),)` (see [`utilization`])."""
    _check("train_embeddings", train_embeddings)
    _check("test_embeddings", test_embeddings)
    if train_embeddings.shape[1] != test_embeddings.shape[1]:
        raise ValueError(
            f"train_embeddings and test_embeddings must have the same dim, got {train_embeddings.shape[1]} and "
            f"{test_embeddings.shape[1]}"
        )
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    train = train_embeddings.detach().double()
    test = test_embeddings.detach().double().to(train.device)
    if normalize:
        train, test = F.normalize(train, dim=-1), F.normalize(test, dim=-1)
    mins = [torch.cdist(test[i : i + chunk_size], train).min(dim=1).values for i in range(0, len(test), chunk_size)]
    distances = torch.cat(mins)
    return distances.square() if squared else distances


def utilization(
    train_embeddings: torch.Tensor,
    test_embeddings: torch.Tensor,
    *,
    normalize: bool = True,
    squared: bool = False,
    chunk_size: int = 1024,
) -> float:
    r"""The utilization u(Q) = (1/|Q|) Σ_q min_x ‖f(q) − f(x)‖ of a test set Q with respect to a training set X.

    Lower means the test embeddings lie closer to where training examples were embedded: the training explored
    more of the space the test classes use.

    Args:
        train_embeddings (`torch.Tensor` of shape `(N, D)`): embeddings of the training set X.
        test_embeddings (`torch.Tensor` of shape `(M, D)`): embeddings of the query set Q.
        normalize (`bool`, defaults to `True`): L2-normalise both first (the embeddings the retrieval compares).
        squared (`bool`, defaults to `False`): average squared distances instead.
        chunk_size (`int`, defaults to 1024): queries per distance block (bounds the memory).

    Example:

    ```python
    >>> utilization(train_embeddings, test_embeddings)
    0.41
    ```
    """
    distances = nearest_train_distances(
        train_embeddings, test_embeddings, normalize=normalize, squared=squared, chunk_size=chunk_size
    )
    return float(distances.mean())


__all__ = ["nearest_train_distances", "utilization"]
