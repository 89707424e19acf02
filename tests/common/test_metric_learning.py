"""`hf_methods.common.metric_learning`: the base losses and retrieval metrics against plain loops, and errors."""

import math

import pytest
import torch

from hf_methods.common.metric_learning import (
    binomial_deviance_loss,
    clustering_nmi,
    contrastive_loss,
    pair_masks,
    recall_at_k,
)


def _batch(n=12, d=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_pair_masks():
    pos, neg = pair_masks(torch.tensor([0, 0, 1]))
    assert pos.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    assert neg.tolist() == [[False, False, True], [False, False, True], [True, True, False]]


def test_contrastive_and_binomial_match_loops():
    emb, labels = _batch()
    e, y = emb.tolist(), labels.tolist()
    n = len(y)
    contrastive, binomial = [], []
    for i in range(n):
        pos = [_cos(e[i], e[j]) for j in range(n) if j != i and y[j] == y[i]]
        neg = [_cos(e[i], e[j]) for j in range(n) if y[j] != y[i]]
        contrastive.append(sum(1 - s for s in pos) + sum(max(s - 0.5, 0.0) for s in neg))
        p = sum(math.log1p(math.exp(-2.0 * (s - 0.5))) for s in pos) / max(len(pos), 1)
        q = sum(math.log1p(math.exp(2.0 * 25.0 * (s - 0.5))) for s in neg) / max(len(neg), 1)
        binomial.append(p + q)
    torch.testing.assert_close(
        contrastive_loss(emb, labels, reduction="none"), torch.tensor(contrastive, dtype=torch.float64)
    )
    torch.testing.assert_close(
        binomial_deviance_loss(emb, labels, reduction="none"), torch.tensor(binomial, dtype=torch.float64)
    )
    torch.testing.assert_close(contrastive_loss(emb, labels), torch.tensor(contrastive, dtype=torch.float64).mean())


def test_recall_at_k_matches_a_loop_and_nmi_is_one_on_separated_clusters():
    emb, labels = _batch(n=30, k=4, seed=1)
    result = recall_at_k(emb, labels, ks=(1, 3), chunk_size=7)
    e, y = emb.tolist(), labels.tolist()
    for k in (1, 3):
        hits = 0
        for i in range(len(y)):
            order = sorted((j for j in range(len(y)) if j != i), key=lambda j: -_cos(e[i], e[j]))
            hits += any(y[j] == y[i] for j in order[:k])
        assert result[k] == pytest.approx(hits / len(y))
    centers = torch.eye(4, 8) * 10
    labels = torch.arange(4).repeat(10)
    emb = centers[labels] + 0.01 * torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    assert clustering_nmi(emb, labels) == pytest.approx(1.0)
    assert recall_at_k(emb, labels, ks=(1,)) == {1: 1.0}


def test_errors():
    emb, labels = _batch()
    with pytest.raises(ValueError, match="embeddings must be a 2-D"):
        contrastive_loss(emb[0], labels)
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        binomial_deviance_loss(emb, labels.float())
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        recall_at_k(emb, labels[:-1])
    with pytest.raises(ValueError, match="ks must be ints"):
        recall_at_k(emb, labels, ks=(0,))
    with pytest.raises(ValueError, match="reduction must be"):
        contrastive_loss(emb, labels, reduction="max")
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        clustering_nmi(emb, torch.zeros_like(labels))
