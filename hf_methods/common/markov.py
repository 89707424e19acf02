"""Markov-chain languages: synthetic token data whose distribution is known exactly.

Several claims need a language a tiny model can learn in minutes and whose ideal predictor is known (speculative
decoding acceptance, domain shift between two languages, machine- vs human-written text). A language is a row-
stochastic transition matrix over `vocab` tokens; `sample_chain` draws sequences from it, `topic_mixture` gives
several matrices whose sequences each stay within one topic (so the context tells which one).
"""

from __future__ import annotations

import torch

__all__ = ["dirichlet_chain", "permute_rows", "sample_chain", "sparse_chain", "topic_mixture"]


def dirichlet_chain(vocab: int, alpha: float, seed: int) -> torch.Tensor:
    """A `vocab × vocab` transition matrix whose rows are Dirichlet(alpha) draws (small alpha: peaked rows)."""
    if vocab < 2 or alpha <= 0:
        raise ValueError(f"need vocab >= 2 and alpha > 0, got vocab={vocab}, alpha={alpha}")
    g = torch.Generator().manual_seed(seed)
    # Dirichlet(alpha) as normalised Gamma(alpha, 1) draws; torch's Dirichlet sampler takes no generator
    gamma = torch._standard_gamma(torch.full((vocab, vocab), float(alpha)), generator=g)
    return gamma / gamma.sum(-1, keepdim=True)


def sparse_chain(vocab: int, successor_probs: list[float], seed: int) -> torch.Tensor:
    """A transition matrix where each token has `len(successor_probs)` random successors with those probabilities."""
    probs = torch.tensor(successor_probs, dtype=torch.float)
    if not torch.isclose(probs.sum(), torch.tensor(1.0)) or len(probs) > vocab:
        raise ValueError(f"successor_probs must sum to 1 and have at most {vocab} entries, got {successor_probs}")
    g = torch.Generator().manual_seed(seed)
    matrix = torch.zeros(vocab, vocab)
    for token in range(vocab):
        matrix[token, torch.randperm(vocab, generator=g)[: len(probs)]] = probs
    return matrix


def permute_rows(transition: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A shifted language: the rows of a random `fraction` of the tokens are swapped among themselves."""
    g = torch.Generator().manual_seed(seed)
    vocab = transition.shape[0]
    chosen = torch.randperm(vocab, generator=g)[: int(vocab * fraction)]
    shifted = transition.clone()
    shifted[chosen] = transition[chosen[torch.randperm(len(chosen), generator=g)]]
    return shifted


def topic_mixture(vocab: int, topics: int, alpha: float, seed: int) -> torch.Tensor:
    """`topics` independent Dirichlet languages over the same vocabulary, stacked: `(topics, vocab, vocab)`."""
    return torch.stack([dirichlet_chain(vocab, alpha, seed * 1000 + k) for k in range(topics)])


def sample_chain(
    transition: torch.Tensor,
    n: int,
    length: int,
    generator: torch.Generator,
    *,
    temperature: float = 1.0,
    first: torch.Tensor | None = None,
) -> torch.Tensor:
    """`n` sequences of `length` tokens drawn from `transition` (`(V, V)`, or `(n, V, V)` for one language per row).

    `temperature` < 1 sharpens each row (p ** (1/T), renormalised), as a decoder sampling at that temperature would.
    `first` gives the first tokens (default: uniform).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    probs = transition if temperature == 1.0 else transition.pow(1.0 / temperature)
    probs = probs / probs.sum(-1, keepdim=True)
    vocab = probs.shape[-1]
    out = torch.empty(n, length, dtype=torch.long)
    out[:, 0] = torch.randint(0, vocab, (n,), generator=generator) if first is None else first
    rows = torch.arange(n)
    for t in range(1, length):
        step = probs[out[:, t - 1]] if probs.dim() == 2 else probs[rows, out[:, t - 1]]
        out[:, t] = torch.multinomial(step, 1, generator=generator)[:, 0]
    return out
