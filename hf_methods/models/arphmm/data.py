"""A synthetic run-to-failure generator for switching-AR degradation models (CMAPSS cannot be obtained offline).

Each unit degrades through `n_states` left-to-right states; in state k its health indicator follows an AR(2) process
around a level μ_k with its own coefficients (a_1k, a_2k) and noise σ_k, plus a slow drift over the whole life.
The RUL at step t of a unit of life T is T − 1 − t.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# per-state AR(2) coefficients, levels and noise of the four-state generator (state 0 = healthy, 3 = near failure)
_AR = ((0.6, 0.2), (0.2, -0.1), (-0.3, 0.2), (0.7, -0.4))
_LEVELS = (0.0, 0.15, 0.3, 0.5)
_NOISE = (0.25, 0.3, 0.35, 0.4)


@dataclass
class RunToFailure:
    """One synthetic unit: `signal` `(T,)` float64, `states` `(T,)` long (0..Q−1, non-decreasing), `rul` `(T,)`."""

    signal: torch.Tensor
    states: torch.Tensor
    rul: torch.Tensor


def make_run_to_failure(
    num_sequences: int = 20, min_length: int = 150, max_length: int = 250, drift: float = 0.3, *, seed: int = 0
) -> list[RunToFailure]:
    r"""
    Draws `num_sequences` run-to-failure units with four left-to-right states.

    Unit lengths are uniform in [`min_length`, `max_length`]; the state durations split the life in fractions proportional to
    1 + U(0, 1). In state k, with level μ_k: y_t = μ_k + a_1k (y_{t−1} − μ_k) + a_2k (y_{t−2} − μ_k) + σ_k ε_t
    + drift · t / T (ε_t ~ N(0, 1)).

    Args:
        num_sequences (`int`): number of units.
        min_length, max_length (`int`): range of the unit lengths (>= 8).
        drift (`float`): amplitude of the slow drift added over the life.
        seed (`int`): seed of the `torch.Generator`.
    """
    if isinstance(num_sequences, bool) or not isinstance(num_sequences, int) or num_sequences < 1:
        raise ValueError(f"`num_sequences` must be an integer >= 1, got {num_sequences!r}.")
    if not (isinstance(min_length, int) and isinstance(max_length, int) and 8 <= min_length <= max_length):
        raise ValueError(
            f"`min_length` and `max_length` must be integers with 8 <= min <= max, got {min_length}, {max_length}."
        )
    g = torch.Generator().manual_seed(seed)
    q = len(_LEVELS)
    units = []
    for _ in range(num_sequences):
        length = int(torch.randint(min_length, max_length + 1, (1,), generator=g))
        fractions = torch.rand(q, generator=g, dtype=torch.float64).add(1.0)
        fractions = fractions / fractions.sum()
        bounds = (fractions.cumsum(0) * length).round().long().clamp(max=length)
        states = torch.bucketize(torch.arange(length), bounds, right=True).clamp(max=q - 1)
        noise = torch.randn(length, generator=g, dtype=torch.float64)
        y = torch.zeros(length, dtype=torch.float64)
        for t in range(length):
            k = int(states[t])
            mu = _LEVELS[k]
            prev1 = y[t - 1] - mu if t >= 1 else 0.0
            prev2 = y[t - 2] - mu if t >= 2 else 0.0
            y[t] = mu + _AR[k][0] * prev1 + _AR[k][1] * prev2 + _NOISE[k] * noise[t]
        signal = y + drift * torch.arange(length, dtype=torch.float64) / length
        rul = (length - 1 - torch.arange(length)).to(torch.float64)
        units.append(RunToFailure(signal=signal, states=states, rul=rul))
    return units


def soft_plausibilities(
    states: torch.Tensor,
    n_states: int,
    unknown_fraction: float = 0.3,
    low: float = 0.1,
    high: float = 0.5,
    *,
    seed: int = 0,
) -> torch.Tensor:
    r"""
    Soft prior knowledge on the states: pl_t(true state) = 1, pl_t(other) ~ U(`low`, `high`), and a random
    `unknown_fraction` of the steps fully unknown (pl_t ≡ 1). Returns `(T, n_states)` float64.
    """
    if not 0 <= unknown_fraction <= 1:
        raise ValueError(f"`unknown_fraction` must lie in [0, 1], got {unknown_fraction!r}.")
    if not 0 <= low <= high <= 1:
        raise ValueError(f"`low` and `high` must satisfy 0 <= low <= high <= 1, got {low!r}, {high!r}.")
    g = torch.Generator().manual_seed(seed)
    length = states.shape[0]
    pl = low + (high - low) * torch.rand(length, n_states, generator=g, dtype=torch.float64)
    pl[torch.arange(length), states.long()] = 1.0
    unknown = torch.rand(length, generator=g, dtype=torch.float64) < unknown_fraction
    pl[unknown] = 1.0
    return pl
