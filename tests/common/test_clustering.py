"""`hf_methods.common.clustering`: Sinkhorn–Knopp against its alternating normalisation, Hungarian accuracy by brute
force over the permutations."""

import itertools

import numpy as np
import pytest
import torch

from hf_methods.common.clustering import cluster_accuracy, sinkhorn_knopp


def test_sinkhorn_matches_the_loop_and_balances_the_clusters():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(12, 3, generator=g, dtype=torch.float64)
    q = np.exp(scores.numpy() / 0.5).T
    q /= q.sum()
    for _ in range(3):
        q /= q.sum(1, keepdims=True) * 3
        q /= q.sum(0, keepdims=True) * 12
    np.testing.assert_allclose(sinkhorn_knopp(scores, epsilon=0.5, iterations=3).numpy(), (q * 12).T, rtol=1e-10)
    many = sinkhorn_knopp(scores, epsilon=0.5, iterations=200)
    torch.testing.assert_close(many.sum(1), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(many.sum(0), torch.full((3,), 4.0, dtype=torch.float64))  # B/K each


def test_cluster_accuracy_is_the_best_permutation():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 50)
    preds = rng.integers(0, 4, 50)
    best = max(np.mean(np.array(perm)[preds] == labels) for perm in itertools.permutations(range(4)))
    assert cluster_accuracy(preds, labels) == pytest.approx(best)
    assert cluster_accuracy(torch.tensor([2, 2, 0, 0]), torch.tensor([0, 0, 1, 1])) == 1.0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="2-D float"):
        sinkhorn_knopp(torch.zeros(3))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_knopp(torch.zeros(3, 2), epsilon=0)
    with pytest.raises(ValueError, match="iterations"):
        sinkhorn_knopp(torch.zeros(3, 2), iterations=0)
    with pytest.raises(ValueError, match="same length"):
        cluster_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="at least one"):
        cluster_accuracy([], [])
