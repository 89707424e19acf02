"""The HideNseek server rule: average the clients' one-bit votes into the next global scores.

Each participating client n uploads one bit per kept weight, a vote v_n ∈ {−1, +1} from its local scores s_n
(HideNseek: sign(s_n), or a stochastic sign with mean clip(s_n, −1, 1)) or, for a binary-supermask baseline, a keep
decision v_n ∈ {0, 1}. The server forms

    s_{t+1} = Σ_{n∈S_t} a_n v_n / Σ_{n∈S_t} a_n  +  ε · s_t,

a weighted vote (a_n = the client's example count, or 1), which becomes the broadcast global scores: sign(s_{t+1})
is the majority sign, |s_{t+1}| the consensus, and clients start their local training from s_{t+1}, so a weight the
clients agree on takes more local steps to flip. The small ε · s_t only breaks exact ties (a split vote keeps the
previous global sign / ranking). The paper does not spell out its aggregation; this rule is this project's
reconstruction (see the method's notes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hf_methods.common.checks import check_number
from hf_methods.common.federated import FEDAVG_WEIGHTINGS, Aggregator, ClientUpdate, check_updates

#: The vote alphabets: one bit per entry either way.
VOTE_KINDS = {"sign": (-1.0, 1.0), "binary": (0.0, 1.0)}

__all__ = ["VOTE_KINDS", "HideNseekAggregator"]


class HideNseekAggregator(Aggregator):
    """Weighted vote of one-bit client masks: s_{t+1} = Σ a_n v_n / Σ a_n + ε s_t.

    Args:
        votes: `"sign"` (HideNseek, v ∈ {−1, +1}) or `"binary"` (a {0, 1} supermask baseline).
        weighting: `"examples"` (a_n = the client's example count) or `"uniform"` (a_n = 1).
        tie_break: ε ≥ 0, the weight of the previous global scores (only decides exact ties when small).

    A round without participants leaves the scores unchanged. Stateless (the scores are the global parameters).
    """

    def __init__(self, *, votes: str = "sign", weighting: str = "examples", tie_break: float = 1e-6):
        if votes not in VOTE_KINDS:
            raise ValueError(f"votes must be one of {sorted(VOTE_KINDS)}, got {votes!r}")
        if weighting not in FEDAVG_WEIGHTINGS:
            raise ValueError(f"weighting must be one of {FEDAVG_WEIGHTINGS}, got {weighting!r}")
        self.votes = votes
        self.weighting = weighting
        self.tie_break = check_number("tie_break", tie_break, low=0)

    def __repr__(self) -> str:
        return f"HideNseekAggregator(votes={self.votes!r}, weighting={self.weighting!r}, tie_break={self.tie_break:g})"

    def _check_votes(self, updates: Sequence[ClientUpdate]) -> None:
        low, high = VOTE_KINDS[self.votes]
        for update in updates:
            for i, tensor in enumerate(update.parameters):
                if not bool(((tensor == low) | (tensor == high)).all()):
                    raise ValueError(
                        f"client {update.client_id!r}: tensor {i} holds values other than {low:g} and {high:g} "
                        f"(votes={self.votes!r} expects one-bit votes)"
                    )

    def aggregate(
        self, server_round: int, global_parameters: list[torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> list[torch.Tensor]:
        check_updates(global_parameters, updates)
        if not updates:
            return [p.clone() for p in global_parameters]
        self._check_votes(updates)
        weights = [float(u.num_examples) if self.weighting == "examples" else 1.0 for u in updates]
        total = sum(weights)
        if total == 0:
            raise ValueError("every participating client reported num_examples=0; use weighting='uniform'")
        new = []
        for i, current in enumerate(global_parameters):
            vote = torch.zeros_like(current, dtype=torch.float64)
            for update, weight in zip(updates, weights):
                vote += weight * update.parameters[i].to(torch.float64)
            new.append((vote / total + self.tie_break * current.to(torch.float64)).to(current.dtype))
        return new
