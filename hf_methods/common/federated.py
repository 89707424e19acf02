"""Federated learning in one process: clients, participation patterns, server aggregation rules, bits communicated.

A federated method is a server *aggregation rule* (an [`Aggregator`]) plus what each client does locally. The same
aggregator object runs in two places:

- [`simulate_federated`], a small in-process loop (clients as datasets, a participation pattern, the bits each
  client uploads) used by the recipes, claims and tests;
- [`hf_methods.common.flower.AggregatorStrategy`], a Flower `Strategy` that feeds a round of Flower `FitRes` to the
  same [`Aggregator.aggregate`], for runs that outgrow one machine (optional extra `federated`).

Parameters travel as lists of tensors, in a fixed order (see [`model_parameters`]). A round is numbered from 1, as in
Flower.

Example:

```python
>>> participation = bernoulli_participation([0.5, 0.1, 0.9], rounds=100, seed=0)
>>> run = simulate_federated(initial, clients, local_update, FedAvgAggregator(), participation)
>>> run.parameters, run.upload_bits[-1]
```
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hf_methods.common.checks import check_number

#: How [`FedAvgAggregator`] weighs the participating clients.
FEDAVG_WEIGHTINGS = ("examples", "uniform")


@dataclass
class ClientUpdate:
    """What one participating client sends back in a round.

    Args:
        client_id: the client's identifier (an index in the simulation, a Flower node/partition id otherwise).
        parameters: the client's tensors after local training, in the order of the global parameters.
        num_examples: local examples used (FedAvg's weight).
        upload_bits: bits sent to the server; `None` counts 32 bits per number of `parameters`.
        metrics: anything else the client reports.
    """

    client_id: Any
    parameters: list[torch.Tensor]
    num_examples: int = 1
    upload_bits: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.parameters, (list, tuple)) or not all(
            isinstance(p, torch.Tensor) for p in self.parameters
        ):
            raise TypeError("ClientUpdate.parameters must be a list of tensors")
        self.parameters = list(self.parameters)
        if int(self.num_examples) < 0:
            raise ValueError(f"ClientUpdate.num_examples must be >= 0, got {self.num_examples}")
        if self.upload_bits is None:
            self.upload_bits = 32 * sum(p.numel() for p in self.parameters)


class Aggregator:
    """A server aggregation rule: new global parameters from the current ones and a round of client updates.

    Subclasses implement [`aggregate`]; a rule with memory across rounds keeps it on the instance (and exposes it
    through `state_dict` / `load_state_dict` so a run can resume).
    """

    def aggregate(
        self, server_round: int, global_parameters: list[torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> list[torch.Tensor]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got keys {sorted(state)}")


def check_updates(global_parameters: Sequence[torch.Tensor], updates: Sequence[ClientUpdate]) -> None:
    """Clear errors for a round whose updates do not match the global parameters (count, shapes, duplicates)."""
    seen = set()
    for update in updates:
        if not isinstance(update, ClientUpdate):
            raise TypeError(f"updates must be ClientUpdate objects, got {type(update).__name__}")
        if update.client_id in seen:
            raise ValueError(f"client {update.client_id!r} sent two updates in one round")
        seen.add(update.client_id)
        if len(update.parameters) != len(global_parameters):
            raise ValueError(
                f"client {update.client_id!r} sent {len(update.parameters)} tensors, the model has "
                f"{len(global_parameters)}"
            )
        for i, (mine, theirs) in enumerate(zip(global_parameters, update.parameters)):
            if mine.shape != theirs.shape:
                raise ValueError(
                    f"client {update.client_id!r}: tensor {i} has shape {tuple(theirs.shape)}, expected "
                    f"{tuple(mine.shape)}"
                )


def weighted_delta_step(
    global_parameters: Sequence[torch.Tensor],
    updates: Sequence[ClientUpdate],
    weights: Sequence[float],
    *,
    denominator: float,
    server_lr: float = 1.0,
) -> list[torch.Tensor]:
    """w_{t+1} = w_t + η_g · (1/D) Σ_n a_n (w_n − w_t): the update shared by the FedAvg family of rules.

    Args:
        weights: a_n, one per update.
        denominator: D (Σ a_n for a weighted mean, the number of all clients for FedAU-style unbiased sums).
        server_lr: η_g.
    """
    if len(weights) != len(updates):
        raise ValueError(f"got {len(weights)} weights for {len(updates)} updates")
    if not updates:
        return [p.clone() for p in global_parameters]
    if not denominator > 0:
        raise ValueError(f"denominator must be > 0, got {denominator}")
    new = []
    for i, current in enumerate(global_parameters):
        step = torch.zeros_like(current, dtype=torch.float64)
        for update, weight in zip(updates, weights):
            step += float(weight) * (update.parameters[i].to(torch.float64) - current.to(torch.float64))
        new.append((current.to(torch.float64) + server_lr * step / denominator).to(current.dtype))
    return new


class FedAvgAggregator(Aggregator):
    """Federated averaging (McMahan et al., 2017): the mean of the participating clients' parameters.

    w_{t+1} = w_t + η_g · Σ_{n∈S_t} a_n (w_n − w_t) / Σ_{n∈S_t} a_n, with a_n the client's example count
    (`weighting="examples"`) or 1 (`"uniform"`); with η_g = 1 this is the plain weighted average of the w_n.
    A round without participants leaves the parameters unchanged.

    Args:
        weighting: one of `FEDAVG_WEIGHTINGS`.
        server_lr: the server learning rate η_g.
    """

    def __init__(self, *, weighting: str = "examples", server_lr: float = 1.0):
        if weighting not in FEDAVG_WEIGHTINGS:
            raise ValueError(f"weighting must be one of {FEDAVG_WEIGHTINGS}, got {weighting!r}")
        self.weighting = weighting
        self.server_lr = check_number("server_lr", server_lr, low=0, low_open=True)

    def aggregate(self, server_round, global_parameters, updates):
        check_updates(global_parameters, updates)
        weights = [float(u.num_examples) if self.weighting == "examples" else 1.0 for u in updates]
        if updates and sum(weights) == 0:
            raise ValueError("every participating client reported num_examples=0; use weighting='uniform'")
        return weighted_delta_step(
            global_parameters, updates, weights, denominator=sum(weights) or 1.0, server_lr=self.server_lr
        )


# ---------------------------------------------------------------------------------------------- participation
def _probabilities(probabilities) -> torch.Tensor:
    probs = torch.as_tensor(probabilities, dtype=torch.float64).flatten()
    if probs.numel() == 0:
        raise ValueError("probabilities must name at least one client")
    if not torch.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise ValueError(f"participation probabilities must lie in [0, 1], got {probs.tolist()}")
    return probs


def _check_rounds(rounds: int) -> int:
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    return rounds


def bernoulli_participation(probabilities, rounds: int, *, seed: int = 0) -> torch.Tensor:
    """Client n joins each round independently with probability p_n; a `(rounds, num_clients)` bool tensor."""
    probs = _probabilities(probabilities)
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(_check_rounds(rounds), probs.numel(), generator=generator, dtype=torch.float64) < probs


def markov_participation(probabilities, rounds: int, *, persistence: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Each client follows a two-state Markov chain whose stationary probability of participating is p_n.

    P(join | joined last round) = p + ρ(1 − p) and P(join | absent last round) = p(1 − ρ), with ρ = `persistence`
    (ρ = 0 is Bernoulli; larger ρ gives longer runs of presence and absence). The first round draws from the
    stationary distribution.
    """
    probs = _probabilities(probabilities)
    rho = check_number("persistence", persistence, low=0, high=1, high_open=True)
    generator = torch.Generator().manual_seed(seed)
    draws = torch.rand(_check_rounds(rounds), probs.numel(), generator=generator, dtype=torch.float64)
    out = torch.empty_like(draws, dtype=torch.bool)
    out[0] = draws[0] < probs
    stay, enter = probs + rho * (1 - probs), probs * (1 - rho)
    for t in range(1, draws.shape[0]):
        out[t] = draws[t] < torch.where(out[t - 1], stay, enter)
    return out


def cyclic_participation(probabilities, rounds: int, *, period: int = 20, seed: int = 0) -> torch.Tensor:
    """Client n is present for round(p_n · period) consecutive rounds of every `period`, from a random phase."""
    probs = _probabilities(probabilities)
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")
    generator = torch.Generator().manual_seed(seed)
    phase = torch.randint(period, (probs.numel(),), generator=generator)
    on = torch.round(probs * period).long()
    position = (torch.arange(_check_rounds(rounds))[:, None] + phase[None, :]) % period
    return position < on[None, :]


# ---------------------------------------------------------------------------------------------- simulation
@dataclass
class FederatedRun:
    """The result of [`simulate_federated`].

    Attributes:
        parameters: the final global parameters.
        upload_bits: total bits uploaded by the participants, per round.
        participants: the participating client indices, per round.
        evaluations: `(round, metrics)` pairs from the `evaluate` callback.
    """

    parameters: list[torch.Tensor]
    upload_bits: list[int] = field(default_factory=list)
    participants: list[list[int]] = field(default_factory=list)
    evaluations: list[tuple[int, dict[str, float]]] = field(default_factory=list)


LocalUpdate = Callable[[int, Any, list[torch.Tensor], int], ClientUpdate]


def simulate_federated(
    initial_parameters: Sequence[torch.Tensor],
    clients: Sequence[Any],
    local_update: LocalUpdate,
    aggregator: Aggregator,
    participation: torch.Tensor,
    *,
    evaluate: Callable[[list[torch.Tensor], int], dict[str, float]] | None = None,
    eval_every: int = 0,
    progress: bool = False,
) -> FederatedRun:
    """Runs federated rounds in one process, clients one after another.

    Each round t = 1..T: every client n with `participation[t-1, n]` receives a copy of the global parameters and
    returns `local_update(n, clients[n], parameters, t)` (a [`ClientUpdate`]); the server then calls
    `aggregator.aggregate(t, global, updates)` — the same call a Flower strategy makes.

    Args:
        initial_parameters: the global parameters before round 1 (a list of tensors).
        clients: one entry per client (its dataset, or anything `local_update` understands).
        local_update: a client's local training, `(client_index, client, parameters, round) -> ClientUpdate`.
        aggregator: the server rule.
        participation: a `(rounds, num_clients)` bool tensor (see the `*_participation` patterns).
        evaluate: optional `(parameters, round) -> metrics`, called every `eval_every` rounds and after the last.
        eval_every: evaluation period in rounds (0: only after the last round).
        progress: show a tqdm progress bar.
    """
    params = [torch.as_tensor(p).detach().clone() for p in initial_parameters]
    if not params:
        raise ValueError("initial_parameters is empty")
    if not isinstance(aggregator, Aggregator):
        raise TypeError(f"aggregator must be an Aggregator, got {type(aggregator).__name__}")
    participation = torch.as_tensor(participation)
    if participation.dtype != torch.bool or participation.ndim != 2:
        raise ValueError("participation must be a 2-D bool tensor (rounds, num_clients)")
    if participation.shape[1] != len(clients):
        raise ValueError(f"participation has {participation.shape[1]} clients, got {len(clients)} clients")
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 0:
        raise ValueError(f"eval_every must be an integer >= 0, got {eval_every!r}")
    run = FederatedRun(parameters=params)
    rounds = range(1, participation.shape[0] + 1)
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc="federated rounds")
    for server_round in rounds:
        present = participation[server_round - 1].nonzero().flatten().tolist()
        updates = []
        for n in present:
            update = local_update(n, clients[n], [p.clone() for p in params], server_round)
            if not isinstance(update, ClientUpdate):
                raise TypeError(f"local_update must return a ClientUpdate, got {type(update).__name__}")
            updates.append(update)
        params = aggregator.aggregate(server_round, params, updates)
        run.upload_bits.append(int(sum(u.upload_bits for u in updates)))
        run.participants.append(present)
        last = server_round == participation.shape[0]
        if evaluate is not None and (last or (eval_every and server_round % eval_every == 0)):
            run.evaluations.append((server_round, dict(evaluate(params, server_round))))
    run.parameters = params
    return run


# ---------------------------------------------------------------------------------------------- models
def model_parameters(model: torch.nn.Module, names: Sequence[str] | None = None) -> list[torch.Tensor]:
    """Detached copies of the model's named parameters (all trainable ones by default), in `names` order."""
    named = dict(model.named_parameters())
    if names is None:
        names = [n for n, p in named.items() if p.requires_grad]
    missing = [n for n in names if n not in named]
    if missing:
        raise KeyError(f"the model has no parameters {missing}")
    return [named[n].detach().clone() for n in names]


def load_parameters(model: torch.nn.Module, names: Sequence[str], values: Sequence[torch.Tensor]) -> None:
    """Copies `values` into the model's parameters `names` in place (shapes must match)."""
    named = dict(model.named_parameters())
    if len(names) != len(values):
        raise ValueError(f"got {len(values)} tensors for {len(names)} parameter names")
    with torch.no_grad():
        for name, value in zip(names, values):
            if name not in named:
                raise KeyError(f"the model has no parameter {name!r}")
            if named[name].shape != value.shape:
                raise ValueError(f"{name}: shape {tuple(value.shape)} does not match {tuple(named[name].shape)}")
            named[name].copy_(value)


def parameter_distance(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """‖a − b‖₂ over all tensors together."""
    return math.sqrt(sum(float(((x.double() - y.double()) ** 2).sum()) for x, y in zip(a, b, strict=True)))
