"""`hf_methods.common.markov`: Markov-chain languages with a known distribution."""

import pytest
import torch

from hf_methods.common.markov import dirichlet_chain, permute_rows, sample_chain, sparse_chain, topic_mixture


def test_dirichlet_rows_sum_to_one_and_seed_decides():
    chain = dirichlet_chain(12, alpha=0.3, seed=0)
    assert chain.shape == (12, 12) and (chain >= 0).all()
    torch.testing.assert_close(chain.sum(-1), torch.ones(12))
    assert torch.equal(chain, dirichlet_chain(12, alpha=0.3, seed=0))
    assert not torch.equal(chain, dirichlet_chain(12, alpha=0.3, seed=1))
    # a small alpha gives peaked rows, a large one near-uniform rows
    assert dirichlet_chain(12, 0.05, 0).max(-1).values.mean() > dirichlet_chain(12, 50.0, 0).max(-1).values.mean()


def test_sparse_chain_has_the_given_successors():
    chain = sparse_chain(10, [0.7, 0.2, 0.1], seed=0)
    torch.testing.assert_close(chain.sum(-1), torch.ones(10))
    assert ((chain > 0).sum(-1) == 3).all()
    assert torch.equal(chain.sort(-1, descending=True).values[:, :3], torch.tensor([[0.7, 0.2, 0.1]]).expand(10, 3))


def test_permute_rows_swaps_a_fraction_of_rows():
    chain = dirichlet_chain(20, 0.5, seed=0)
    shifted = permute_rows(chain, fraction=0.5, seed=0)
    torch.testing.assert_close(shifted.sum(-1), torch.ones(20))
    changed = (shifted != chain).any(-1).sum()
    assert 0 < changed <= 10
    assert sorted(map(tuple, shifted.tolist())) == sorted(map(tuple, chain.tolist()))  # the same rows, moved


def test_topic_mixture_gives_one_language_per_row():
    topics = topic_mixture(8, topics=3, alpha=0.1, seed=0)
    assert topics.shape == (3, 8, 8)
    torch.testing.assert_close(topics.sum(-1), torch.ones(3, 8))
    assert not torch.equal(topics[0], topics[1])
    # each sequence follows its own row's language: its transitions are possible only in that language
    sparse = torch.stack([sparse_chain(8, [0.5, 0.5], seed=k) for k in range(3)])
    per_row = sparse[torch.tensor([0, 1, 2, 0])]
    seqs = sample_chain(per_row, 4, 30, torch.Generator().manual_seed(0))
    for row, topic in zip(seqs, [0, 1, 2, 0]):
        assert all(sparse[topic, a, b] > 0 for a, b in zip(row[:-1].tolist(), row[1:].tolist()))


def test_sample_chain_follows_the_transitions_and_first_tokens():
    chain = sparse_chain(6, [1.0], seed=0)  # deterministic successors
    first = torch.tensor([0, 3])
    seqs = sample_chain(chain, 2, 10, torch.Generator().manual_seed(0), first=first)
    assert seqs.shape == (2, 10) and torch.equal(seqs[:, 0], first)
    for a, b in zip(seqs[:, :-1].flatten().tolist(), seqs[:, 1:].flatten().tolist()):
        assert chain[a, b] == 1.0
    same = sample_chain(chain, 2, 10, torch.Generator().manual_seed(0), first=first)
    assert torch.equal(seqs, same)


def test_temperature_sharpens():
    chain = torch.tensor([[0.6, 0.4], [0.4, 0.6]])
    g = torch.Generator().manual_seed(0)
    sharp = sample_chain(chain, 200, 20, g, temperature=0.1)
    plain = sample_chain(chain, 200, 20, torch.Generator().manual_seed(0))

    def stay_rate(seqs):
        return (seqs[:, 1:] == seqs[:, :-1]).float().mean()

    # p ** (1 / 0.1) renormalised: staying has probability 0.6**10 / (0.6**10 + 0.4**10) ≈ 0.983
    assert abs(stay_rate(sharp) - 0.983) < 0.02 and abs(stay_rate(plain) - 0.6) < 0.03


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: dirichlet_chain(1, 0.5, 0), "vocab >= 2"),
        (lambda: dirichlet_chain(5, 0.0, 0), "alpha > 0"),
        (lambda: sparse_chain(5, [0.5, 0.4], 0), "sum to 1"),
        (lambda: sparse_chain(2, [0.25] * 4, 0), "at most 2"),
        (lambda: sample_chain(torch.eye(3), 2, 4, torch.Generator(), temperature=0.0), "temperature"),
    ],
)
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
