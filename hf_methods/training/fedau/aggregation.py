"""FedAU's server rule and the baselines it is compared with, as [`hf_methods.common.federated.Aggregator`]s.

FedAU (Wang & Ji, "A Lightweight Method for Tackling Unknown Participation Statistics in Federated Averaging",
ICLR 2024; official code `IBM/fedau`, `main.py`, `weighting_method="adaptive"`) weighs each participating client's
update by an online estimate of its inverse participation probability and divides the sum by the number of ALL
clients:

    w_{t+1} = w_t + η_g · (1/N) Σ_{n ∈ S_t} ω_n^t (w_n^t − w_t),      ω_n^t = mean(I_n)  (1 when I_n is empty),

where I_n holds the client's past participation intervals. With ω_n ≈ 1/p_n the expected update is the mean of all
N clients' updates, so the run optimises the original objective (1/N) Σ_n f_n whatever the unknown p_n; FedAvg's
mean over participants instead optimises Σ_n p_n f_n / Σ_n p_n.

The official code keeps, per client, a counter c_n of rounds since the last reset and the list I_n; it visits every
client every round. A server (a Flower strategy in particular) only sees the participants, so [`FedAUAggregator`]
keeps the round of each client's last reset instead and reconstructs the same intervals from round numbers: between a
participation (or the start, round 0) at round s and the next one at round t there are g = t − s − 1 absent rounds;
the cutoff K turns them into ⌊g / K⌋ intervals of length K (appended while the client was away, so they count in
round t's weight), and the participation at t then appends (g mod K) + 1 (used from the next participation on). With
K = ∞ the interval is simply t − s. A client's memory is three integers, as the paper says (O(1) per client).

The sibling rules follow the other `weighting_method`s of the official code: [`KnownParticipationAggregator`]
(`known_prob`, ω_n = 1/p_n), [`AverageAllAggregator`] (`average_all`, ω_n = 1), FedAvg over the participants
(`average_participating`: `hf_methods.common.federated.FedAvgAggregator(weighting="uniform")`), and the
memory-heavy [`MIFAAggregator`] (`mifa`) and [`FedVARPAggregator`] (`fedvarp`), which keep one update per client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from hf_methods.common.checks import check_number
from hf_methods.common.federated import (
    Aggregator,
    ClientUpdate,
    FedAvgAggregator,
    check_updates,
    weighted_delta_step,
)

__all__ = [
    "AGGREGATORS",
    "AverageAllAggregator",
    "FedAUAggregator",
    "FedVARPAggregator",
    "KnownParticipationAggregator",
    "MIFAAggregator",
    "build_aggregator",
]


def _check_num_clients(num_clients) -> int:
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 1:
        raise ValueError(f"num_clients must be a positive integer (the number of ALL clients), got {num_clients!r}")
    return num_clients


def _check_round(server_round, last_round: int) -> int:
    if isinstance(server_round, bool) or not isinstance(server_round, int) or server_round < 1:
        raise ValueError(f"server_round must be an integer >= 1 (rounds count from 1), got {server_round!r}")
    if server_round <= last_round:
        raise ValueError(
            f"server_round must increase from call to call: got {server_round} after round {last_round} was aggregated"
        )
    return server_round


class _AllClientsAggregator(Aggregator):
    """Shared bookkeeping of the rules that divide by the number of all clients: ids seen, last round aggregated."""

    def __init__(self, num_clients: int, server_lr: float):
        self.num_clients = _check_num_clients(num_clients)
        self.server_lr = check_number("server_lr", server_lr, low=0, low_open=True)
        self.last_round = 0

    def _start_round(self, server_round, global_parameters, updates) -> None:
        check_updates(global_parameters, updates)
        self.last_round = _check_round(server_round, self.last_round)

    def _too_many_clients(self, known: int) -> None:
        if known > self.num_clients:
            raise ValueError(
                f"num_clients={self.num_clients} but {known} different clients have sent updates: num_clients must "
                "count every client that may ever participate"
            )


class FedAUAggregator(_AllClientsAggregator):
    """FedAU: participants weighted by the mean of their past participation intervals, summed over all N clients.

    w_{t+1} = w_t + η_g · (1/N) Σ_{n ∈ S_t} ω_n (w_n − w_t), ω_n = mean(I_n), or 1 while I_n is empty.

    The intervals are computed from the round numbers (see the module docstring), so rounds without participants
    need not be aggregated at all: a Flower server that skips them and the in-process loop that calls
    `aggregate(t, w, [])` give the same weights.

    Args:
        num_clients: N, the number of ALL clients (not the number per round): the update is divided by it.
        cutoff: K, the longest interval recorded (a client away for K rounds gets an interval K appended and its
            counter reset); `None` means no cutoff (the official default, `-k-adaptive 100000`). A finite K bounds
            ω_n by K, which biases the weights of clients rarer than 1/K.
        server_lr: the server learning rate η_g.

    Attributes:
        last_weights: `{client_id: ω_n}` of the last aggregated round.
    """

    def __init__(self, num_clients: int, *, cutoff: int | None = None, server_lr: float = 1.0):
        super().__init__(num_clients, server_lr)
        if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, int) or cutoff < 1):
            raise ValueError(f"cutoff must be None (no cutoff) or an integer K >= 1, got {cutoff!r}")
        self.cutoff = cutoff
        # client id -> [round of the last reset s, sum of the intervals, number of intervals]
        self._history: dict[Any, list[int]] = {}
        self.last_weights: dict[Any, float] = {}

    def _close_gap(self, record: list[int], server_round: int) -> int:
        """Appends the cutoff intervals of the absence before `server_round`; returns the rounds left uncounted."""
        gap = server_round - record[0] - 1
        if self.cutoff is not None and gap >= self.cutoff:
            cuts = gap // self.cutoff
            record[1] += cuts * self.cutoff
            record[2] += cuts
            record[0] += cuts * self.cutoff
            gap -= cuts * self.cutoff
        return gap

    def weight(self, client_id: Any, server_round: int | None = None) -> float:
        """ω_n the client would get if it participated in `server_round` (default: the round after the last one)."""
        server_round = self.last_round + 1 if server_round is None else server_round
        record = list(self._history.get(client_id, [0, 0, 0]))
        if server_round <= record[0]:
            raise ValueError(f"server_round {server_round} is not after the client's last round {record[0]}")
        self._close_gap(record, server_round)
        return record[1] / record[2] if record[2] else 1.0

    def aggregate(self, server_round, global_parameters, updates):
        self._start_round(server_round, global_parameters, updates)
        self._too_many_clients(len(set(self._history) | {u.client_id for u in updates}))
        weights = []
        for update in updates:
            record = self._history.setdefault(update.client_id, [0, 0, 0])
            gap = self._close_gap(record, server_round)
            # the weight uses the intervals recorded before this round; an empty history counts with weight 1
            weights.append(record[1] / record[2] if record[2] else 1.0)
            record[1] += gap + 1  # c_n + 1: the interval that ends with this participation, used from next time
            record[2] += 1
            record[0] = server_round
        self.last_weights = {u.client_id: w for u, w in zip(updates, weights)}
        return weighted_delta_step(
            global_parameters, updates, weights, denominator=self.num_clients, server_lr=self.server_lr
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "num_clients": self.num_clients,
            "cutoff": self.cutoff,
            "last_round": self.last_round,
            "clients": [[client_id, *record] for client_id, record in self._history.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("num_clients") != self.num_clients or state.get("cutoff") != self.cutoff:
            raise ValueError(
                f"the state was saved with num_clients={state.get('num_clients')}, cutoff={state.get('cutoff')}; "
                f"this aggregator has num_clients={self.num_clients}, cutoff={self.cutoff}"
            )
        self.last_round = int(state["last_round"])
        self._history = {row[0]: [int(v) for v in row[1:]] for row in state["clients"]}


class KnownParticipationAggregator(_AllClientsAggregator):
    """The oracle with known participation probabilities: ω_n = 1/p_n, summed over all N clients.

    w_{t+1} = w_t + η_g · (1/N) Σ_{n ∈ S_t} (1/p_n) (w_n − w_t)  (official `weighting_method="known_prob"`).

    Args:
        probabilities: p_n per client, a sequence (client ids 0..N−1) or a mapping `{client_id: p_n}`; N is its
            length.
        server_lr: the server learning rate η_g.
    """

    def __init__(self, probabilities: Sequence[float] | Mapping[Any, float], *, server_lr: float = 1.0):
        if isinstance(probabilities, Mapping):
            items = dict(probabilities)
        elif isinstance(probabilities, torch.Tensor):
            items = dict(enumerate(probabilities.flatten().tolist()))
        elif isinstance(probabilities, Sequence) and not isinstance(probabilities, str):
            items = dict(enumerate(probabilities))
        else:
            raise TypeError(f"probabilities must be a sequence or a mapping, got {type(probabilities).__name__}")
        super().__init__(len(items), server_lr)
        self.probabilities = {
            k: check_number(f"probabilities[{k!r}]", p, low=0, high=1, low_open=True) for k, p in items.items()
        }

    def aggregate(self, server_round, global_parameters, updates):
        self._start_round(server_round, global_parameters, updates)
        unknown = [u.client_id for u in updates if u.client_id not in self.probabilities]
        if unknown:
            raise ValueError(f"no participation probability for clients {unknown}")
        weights = [1.0 / self.probabilities[u.client_id] for u in updates]
        return weighted_delta_step(
            global_parameters, updates, weights, denominator=self.num_clients, server_lr=self.server_lr
        )

    def state_dict(self) -> dict[str, Any]:
        return {"last_round": self.last_round}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_round = int(state["last_round"])


class AverageAllAggregator(_AllClientsAggregator):
    """Every participant with weight 1, divided by all N clients (official `weighting_method="average_all"`).

    w_{t+1} = w_t + η_g · (1/N) Σ_{n ∈ S_t} (w_n − w_t). Unbiased only when every p_n is equal (the step is then
    scaled by p); FedAU with cutoff K = 1 reduces to it.

    Args:
        num_clients: N.
        server_lr: the server learning rate η_g.
    """

    def __init__(self, num_clients: int, *, server_lr: float = 1.0):
        super().__init__(num_clients, server_lr)
        self._seen: set = set()

    def aggregate(self, server_round, global_parameters, updates):
        self._start_round(server_round, global_parameters, updates)
        self._seen |= {u.client_id for u in updates}
        self._too_many_clients(len(self._seen))
        return weighted_delta_step(
            global_parameters, updates, [1.0] * len(updates), denominator=self.num_clients, server_lr=self.server_lr
        )

    def state_dict(self) -> dict[str, Any]:
        return {"last_round": self.last_round, "seen": sorted(self._seen, key=repr)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_round = int(state["last_round"])
        self._seen = set(state["seen"])


class _StoredUpdatesAggregator(_AllClientsAggregator):
    """Keeps the latest update Δ_n = w_n − w of every client (zero before its first participation)."""

    def __init__(self, num_clients: int, server_lr: float):
        super().__init__(num_clients, server_lr)
        self.stored: dict[Any, list[torch.Tensor]] = {}

    @staticmethod
    def _deltas(global_parameters, update: ClientUpdate) -> list[torch.Tensor]:
        return [(w.to(torch.float64) - g.to(torch.float64)) for w, g in zip(update.parameters, global_parameters)]

    def _mean_stored(self, global_parameters) -> list[torch.Tensor]:
        total = [torch.zeros_like(g, dtype=torch.float64) for g in global_parameters]
        for deltas in self.stored.values():
            for acc, d in zip(total, deltas):
                acc += d
        return [acc / self.num_clients for acc in total]

    def _step(self, global_parameters, direction) -> list[torch.Tensor]:
        return [(g.to(torch.float64) + self.server_lr * d).to(g.dtype) for g, d in zip(global_parameters, direction)]

    def state_dict(self) -> dict[str, Any]:
        return {"last_round": self.last_round, "stored": [[k, v] for k, v in self.stored.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_round = int(state["last_round"])
        self.stored = {k: [t.to(torch.float64) for t in v] for k, v in state["stored"]}


class MIFAAggregator(_StoredUpdatesAggregator):
    """MIFA (Gu et al., 2021): the mean of every client's latest update, stale ones included.

    Δ_n ← w_n − w_t for n ∈ S_t; w_{t+1} = w_t + η_g · (1/N) Σ_{n=1}^{N} Δ_n (official `weighting_method="mifa"`;
    a round without participants still applies the stored mean). Memory: one update per client.

    Args:
        num_clients: N.
        server_lr: the server learning rate η_g.
    """

    def __init__(self, num_clients: int, *, server_lr: float = 1.0):
        super().__init__(num_clients, server_lr)

    def aggregate(self, server_round, global_parameters, updates):
        self._start_round(server_round, global_parameters, updates)
        self._too_many_clients(len(set(self.stored) | {u.client_id for u in updates}))
        for update in updates:
            self.stored[update.client_id] = self._deltas(global_parameters, update)
        return self._step(global_parameters, self._mean_stored(global_parameters))


class FedVARPAggregator(_StoredUpdatesAggregator):
    """FedVARP (Jhunjhunwala et al., 2022): SAGA-style variance reduction with one stored update per client.

    w_{t+1} = w_t + η_g · [ȳ + (1/|S_t|) Σ_{n ∈ S_t} (Δ_n − y_n)], then y_n ← Δ_n for n ∈ S_t, where y_n is the
    client's stored update and ȳ = (1/N) Σ_n y_n before this round (official `weighting_method="fedvarp"`; a round
    without participants leaves the parameters unchanged).

    Args:
        num_clients: N.
        server_lr: the server learning rate η_g.
    """

    def __init__(self, num_clients: int, *, server_lr: float = 1.0):
        super().__init__(num_clients, server_lr)

    def aggregate(self, server_round, global_parameters, updates):
        self._start_round(server_round, global_parameters, updates)
        self._too_many_clients(len(set(self.stored) | {u.client_id for u in updates}))
        if not updates:
            return [g.clone() for g in global_parameters]
        direction = self._mean_stored(global_parameters)
        fresh = {}
        for update in updates:
            deltas = self._deltas(global_parameters, update)
            old = self.stored.get(update.client_id)
            for i, (acc, delta) in enumerate(zip(direction, deltas)):
                acc += (delta - (old[i] if old is not None else 0.0)) / len(updates)
            fresh[update.client_id] = deltas
        self.stored.update(fresh)
        return self._step(global_parameters, direction)


#: The rules `build_aggregator` knows, by the name of the official `weighting_method` they follow.
AGGREGATORS = ("fedau", "fedavg", "average_all", "known_prob", "mifa", "fedvarp")


def build_aggregator(
    name: str,
    num_clients: int,
    *,
    cutoff: int | None = None,
    server_lr: float = 1.0,
    probabilities: Sequence[float] | None = None,
) -> Aggregator:
    """One of `AGGREGATORS` for clients 0..N−1.

    `"fedavg"` is the mean over the participants with equal weights (the official `average_participating`);
    `"known_prob"` needs `probabilities`; `cutoff` is FedAU's K.
    """
    if name not in AGGREGATORS:
        raise ValueError(f"aggregator must be one of {AGGREGATORS}, got {name!r}")
    if name == "fedau":
        return FedAUAggregator(num_clients, cutoff=cutoff, server_lr=server_lr)
    if name == "fedavg":
        return FedAvgAggregator(weighting="uniform", server_lr=server_lr)
    if name == "average_all":
        return AverageAllAggregator(num_clients, server_lr=server_lr)
    if name == "known_prob":
        if probabilities is None:
            raise ValueError("aggregator 'known_prob' needs the participation probabilities")
        probabilities = list(probabilities)
        if len(probabilities) != num_clients:
            raise ValueError(f"got {len(probabilities)} participation probabilities for {num_clients} clients")
        return KnownParticipationAggregator(probabilities, server_lr=server_lr)
    if name == "mifa":
        return MIFAAggregator(num_clients, server_lr=server_lr)
    return FedVARPAggregator(num_clients, server_lr=server_lr)
