"""Federated runs shared by `recipes/fedau.py`, the claim check and the tests.

- [`FedAUArguments`]: the arguments of `recipes/fedau.py` (every knob a flag, checked with clear errors);
- [`step_decay_lr`]: the official local learning-rate schedule (halved at a fixed interval, at most 10 times);
- least squares with a closed-form optimum: [`least_squares_federation`] (heterogeneous clients whose participation
  probability is correlated with their own optimum), [`least_squares_local_update`] (Q local gradient steps) and
  [`run_least_squares`] (one seeded run through `simulate_federated`, the distance to the optimum over rounds);
- digits clients: [`digits_federation`] (a Dirichlet label split and label-correlated participation probabilities,
  as in the official `util/util.py`), [`mlp_local_update`] (Q minibatch SGD steps of an MLP);
- [`participation_pattern`] (Bernoulli, Markov or cyclic) and [`run_rounds`] (a slice of rounds through
  `simulate_federated`, numbered as in the whole run, so a recipe can checkpoint and resume between rounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.common.federated import (
    Aggregator,
    ClientUpdate,
    FederatedRun,
    bernoulli_participation,
    cyclic_participation,
    load_parameters,
    markov_participation,
    parameter_distance,
    simulate_federated,
)
from hf_methods.harness.recipe import RecipeArguments

from .aggregation import AGGREGATORS, build_aggregator

#: Participation patterns of [`participation_pattern`] (those of the official `-participation` flag).
PARTICIPATION_PATTERNS = ("bernoulli", "markov", "cyclic")
NUM_CLASSES = 10
MAX_DECAYS = 10


def step_decay_lr(server_round: int, lr: float, *, decay_start: int = 0, decay_every: int = 0) -> float:
    """The local learning rate of `server_round`: `lr`, halved once more every `decay_every` rounds after
    `decay_start` rounds, at most 10 times (the official `-lr-decay-start-iter` / `-lr-decay-interval`, counted in
    rounds instead of local iterations). `decay_every=0` keeps `lr` constant."""
    done = server_round - 1
    if decay_every <= 0 or done <= decay_start:
        return lr
    return lr / 2 ** min(MAX_DECAYS, (done - decay_start) // decay_every + 1)


def participation_pattern(
    name: str, probabilities, rounds: int, *, seed: int = 0, persistence: float = 0.5, period: int = 20
) -> torch.Tensor:
    """A `(rounds, num_clients)` bool tensor: `bernoulli`, `markov` (with `persistence`) or `cyclic` (`period`)."""
    if name == "bernoulli":
        return bernoulli_participation(probabilities, rounds, seed=seed)
    if name == "markov":
        return markov_participation(probabilities, rounds, persistence=persistence, seed=seed)
    if name == "cyclic":
        return cyclic_participation(probabilities, rounds, period=period, seed=seed)
    raise ValueError(f"participation must be one of {PARTICIPATION_PATTERNS}, got {name!r}")


class _ShiftedRounds(Aggregator):
    """Passes `server_round + offset` to the wrapped rule (a slice of a run keeps the run's round numbers)."""

    def __init__(self, aggregator: Aggregator, offset: int):
        self.aggregator, self.offset = aggregator, offset

    def aggregate(self, server_round, global_parameters, updates):
        return self.aggregator.aggregate(server_round + self.offset, global_parameters, updates)


def run_rounds(
    parameters: Sequence[torch.Tensor],
    clients: Sequence,
    local_update: Callable[[int, object, list[torch.Tensor], int], ClientUpdate],
    aggregator: Aggregator,
    participation: torch.Tensor,
    *,
    first_round: int = 1,
) -> FederatedRun:
    """Rounds `first_round .. first_round + len(participation) − 1` of a run through `simulate_federated`.

    `participation` holds the rows of those rounds only; the aggregator and `local_update` see the run's round
    numbers, so running a run in slices gives the same result as running it at once.
    """
    if isinstance(first_round, bool) or not isinstance(first_round, int) or first_round < 1:
        raise ValueError(f"first_round must be an integer >= 1, got {first_round!r}")
    offset = first_round - 1
    if offset == 0:
        return simulate_federated(parameters, clients, local_update, aggregator, participation)

    def shifted_update(index, client, params, server_round):
        return local_update(index, client, params, server_round + offset)

    return simulate_federated(parameters, clients, shifted_update, _ShiftedRounds(aggregator, offset), participation)


# ------------------------------------------------------------------------------------------------- least squares
@dataclass
class LeastSquaresFederation:
    """N least-squares clients f_n(w) = (1/2m) ‖A_n w − b_n‖², the objective F(w) = (1/N) Σ_n f_n(w).

    Attributes:
        hessians: A_nᵀA_n / m, `(N, d, d)`; `linear`: A_nᵀb_n / m, `(N, d)`; `constants`: ‖b_n‖² / 2m, `(N,)`.
        client_optima: argmin f_n, `(N, d)`.
        optimum: w* = argmin F = (Σ_n A_nᵀA_n/m)⁻¹ Σ_n A_nᵀb_n/m, `(d,)`.
        probabilities: each client's participation probability p_n, `(N,)`.
    """

    hessians: torch.Tensor
    linear: torch.Tensor
    constants: torch.Tensor
    client_optima: torch.Tensor
    optimum: torch.Tensor
    probabilities: torch.Tensor

    @property
    def num_clients(self) -> int:
        return self.hessians.shape[0]

    def objective(self, w: torch.Tensor) -> float:
        """F(w) = (1/N) Σ_n [½ wᵀH_n w − wᵀg_n + c_n]."""
        w = w.to(torch.float64)
        per_client = 0.5 * torch.einsum("i,nij,j->n", w, self.hessians, w) - self.linear @ w + self.constants
        return float(per_client.mean())

    def weighted_optimum(self, weights: torch.Tensor) -> torch.Tensor:
        """argmin Σ_n a_n f_n: where a rule with effective client weights a_n converges (e.g. a_n = p_n for FedAvg)."""
        weights = torch.as_tensor(weights, dtype=torch.float64)
        hessian = torch.einsum("n,nij->ij", weights, self.hessians)
        return torch.linalg.solve(hessian, weights @ self.linear)


def least_squares_federation(
    num_clients: int = 40,
    dim: int = 5,
    samples_per_client: int = 20,
    *,
    spread: float = 2.0,
    client_noise: float = 0.5,
    label_noise: float = 0.1,
    min_probability: float = 0.02,
    max_probability: float = 0.5,
    identical_probability: float | None = None,
    seed: int = 0,
) -> LeastSquaresFederation:
    """Heterogeneous least-squares clients whose participation probability is correlated with their optimum.

    p_n are log-spaced between `min_probability` and `max_probability`, in a seeded random order; client n's
    optimum is w_n* = μ + spread · s_n · u + client_noise · ε_n, with s_n the standardised log p_n, u a random unit
    vector and μ, ε_n standard normal. Rows of A_n are standard normal and b_n = A_n w_n* + label_noise · noise. So
    frequent clients pull one way along u, rare ones the other, and FedAvg's mean over participants, which optimises
    Σ p_n f_n, ends visibly away from w*. With `identical_probability` every client has that p (the optima keep the
    same spread).
    """
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 2:
        raise ValueError(f"num_clients must be an integer >= 2, got {num_clients!r}")
    if not 0 < min_probability <= max_probability <= 1:
        raise ValueError(
            f"need 0 < min_probability <= max_probability <= 1, got {min_probability} and {max_probability}"
        )
    generator = torch.Generator().manual_seed(seed)
    log_p = torch.linspace(math.log(min_probability), math.log(max_probability), num_clients, dtype=torch.float64)
    log_p = log_p[torch.randperm(num_clients, generator=generator)]
    score = (log_p - log_p.mean()) / log_p.std() if max_probability > min_probability else torch.zeros_like(log_p)
    direction = torch.randn(dim, generator=generator, dtype=torch.float64)
    direction /= direction.norm()
    center = torch.randn(dim, generator=generator, dtype=torch.float64)
    optima = (
        center
        + spread * score[:, None] * direction
        + client_noise * torch.randn(num_clients, dim, generator=generator, dtype=torch.float64)
    )
    features = torch.randn(num_clients, samples_per_client, dim, generator=generator, dtype=torch.float64)
    targets = torch.einsum("nmd,nd->nm", features, optima) + label_noise * torch.randn(
        num_clients, samples_per_client, generator=generator, dtype=torch.float64
    )
    hessians = features.transpose(1, 2) @ features / samples_per_client
    linear = torch.einsum("nmd,nm->nd", features, targets) / samples_per_client
    constants = (targets**2).sum(1) / (2 * samples_per_client)
    optimum = torch.linalg.solve(hessians.sum(0), linear.sum(0))
    client_optima = torch.linalg.solve(hessians, linear)
    probabilities = log_p.exp() if identical_probability is None else torch.full_like(log_p, identical_probability)
    return LeastSquaresFederation(hessians, linear, constants, client_optima, optimum, probabilities)


def least_squares_local_update(
    problem: LeastSquaresFederation, local_steps: int, lr: Callable[[int], float]
) -> Callable[[int, object, list[torch.Tensor], int], ClientUpdate]:
    """Client n's local training: Q full gradient steps w ← w − η_t (H_n w − g_n) from the global w."""

    def update(index, client, parameters, server_round):
        (w,) = parameters
        step = lr(server_round)
        for _ in range(local_steps):
            w = w - step * (problem.hessians[index] @ w - problem.linear[index])
        return ClientUpdate(index, [w], num_examples=1)

    return update


def run_least_squares(
    problem: LeastSquaresFederation,
    aggregator: Aggregator,
    participation: torch.Tensor,
    *,
    local_steps: int = 5,
    lr: float = 0.1,
    decay_start: int = 0,
    decay_every: int = 0,
    eval_every: int = 100,
) -> dict:
    """One run from w = 0; returns the final distance ‖w − w*‖, the objective gap and the distance curve."""
    schedule = lambda t: step_decay_lr(t, lr, decay_start=decay_start, decay_every=decay_every)  # noqa: E731

    def evaluate(params, server_round):
        return {"distance": parameter_distance(params, [problem.optimum])}

    run = simulate_federated(
        [torch.zeros_like(problem.optimum)],
        list(range(problem.num_clients)),
        least_squares_local_update(problem, local_steps, schedule),
        aggregator,
        participation,
        evaluate=evaluate,
        eval_every=eval_every,
    )
    (w,) = run.parameters
    return {
        "distance": parameter_distance([w], [problem.optimum]),
        "objective_gap": problem.objective(w) - problem.objective(problem.optimum),
        "parameters": w.tolist(),
        "curve": [(t, m["distance"]) for t, m in run.evaluations],
        "mean_participants": float(np.mean([len(p) for p in run.participants])),
    }


# ------------------------------------------------------------------------------------------------- digits clients
def label_correlated_probabilities(
    label_distributions: np.ndarray, *, alpha: float, mean: float, minimum: float, seed: int = 0
) -> np.ndarray:
    """Participation probabilities tied to the clients' labels, as in the official `data_participation_each_node`.

    A vector m ~ Dir(α·1_C) over the C classes is drawn once, and p_n = max(minimum, mean · C · Σ_c q_{n,c} m_c),
    q_n being client n's label distribution (clipped at 1 here; the official code never exceeds it at its
    defaults). Clients rich in "popular" classes participate more, so FedAvg over participants favours them.
    """
    rng = np.random.default_rng(seed)
    num_classes = label_distributions.shape[1]
    multiplier = rng.dirichlet(np.full(num_classes, float(alpha)))
    return np.clip(label_distributions @ multiplier * mean * num_classes, minimum, 1.0)


@dataclass
class DigitsFederation:
    """scikit-learn's digits divided among clients: `clients[n] = (x_n, y_n)`, the test split, the p_n."""

    clients: list[tuple[torch.Tensor, torch.Tensor]]
    x_test: torch.Tensor
    y_test: torch.Tensor
    probabilities: np.ndarray
    label_distributions: np.ndarray


def digits_federation(
    num_clients: int,
    *,
    data_alpha: float = 0.1,
    participation_alpha: float = 0.1,
    participation_mean: float = 0.1,
    participation_min: float = 0.02,
    test_size: float = 0.2,
    seed: int = 0,
) -> DigitsFederation:
    """A Dirichlet(α) label split of the digits training images (`dirichlet_split`) and the official
    label-correlated participation probabilities ([`label_correlated_probabilities`])."""
    from hf_methods.common.data import load_digits
    from hf_methods.common.splits import dirichlet_split

    train, test = load_digits(test_size=test_size, seed=seed)
    parts = dirichlet_split(train.y, num_clients, data_alpha, seed=seed)
    x, y = train.tensors()
    distributions = np.zeros((num_clients, NUM_CLASSES))
    for n, idx in enumerate(parts):
        if len(idx):
            distributions[n] = np.bincount(train.y[idx], minlength=NUM_CLASSES) / len(idx)
    probabilities = label_correlated_probabilities(
        distributions, alpha=participation_alpha, mean=participation_mean, minimum=participation_min, seed=seed + 1
    )
    clients = [(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)]) for idx in parts]
    x_test, y_test = test.tensors()
    return DigitsFederation(clients, x_test, y_test, probabilities, distributions)


def digits_mlp(hidden_size: int = 64):
    """The MLP 64-h-10 (ReLU) of `hf_methods.common.mlp` that the digits clients train."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size], hidden_act="relu", num_labels=NUM_CLASSES)
    return MLPForImageClassification(config)


def mlp_local_update(
    worker: torch.nn.Module,
    names: Sequence[str],
    *,
    local_steps: int,
    batch_size: int,
    lr: Callable[[int], float],
    seed: int = 0,
) -> Callable[[int, tuple[torch.Tensor, torch.Tensor], list[torch.Tensor], int], ClientUpdate]:
    """Client n's local training: Q plain SGD steps of cross-entropy on minibatches of its own examples.

    `worker` is a scratch copy of the model (its parameters `names` are overwritten with the global ones each
    time). The minibatches come from a permutation seeded by (seed, round, client), so a run resumed between rounds
    draws exactly the same batches (the official code keeps one shuffled loader per client instead).
    """

    def update(index, client, parameters, server_round):
        x, y = client
        if len(y) == 0:  # a client the split left empty sends back the global parameters
            return ClientUpdate(index, [p.clone() for p in parameters], num_examples=0)
        load_parameters(worker, names, parameters)
        named = dict(worker.named_parameters())
        params = [named[n] for n in names]
        state = np.random.SeedSequence([seed, server_round, index]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        epochs = -(-local_steps * batch_size // len(y))
        order = torch.cat([torch.randperm(len(y), generator=generator) for _ in range(epochs)])
        step = lr(server_round)
        worker.train()
        for q in range(local_steps):
            idx = order[q * batch_size : (q + 1) * batch_size]
            loss = torch.nn.functional.cross_entropy(worker(pixel_values=x[idx]).logits, y[idx])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= step * g
        return ClientUpdate(index, [p.detach().clone() for p in params], num_examples=len(y))

    return update


# ------------------------------------------------------------------------------------------------- the recipe's arguments
@dataclass
class FedAUArguments(RecipeArguments):
    max_steps: int = field(default=1000, metadata={"help": "Federated rounds (one recipe step is one round)."})
    checkpoint_every: int = field(default=250, metadata={"help": "Save a resumable checkpoint every N rounds."})
    log_every: int = field(default=50, metadata={"help": "Log the round's statistics every N rounds."})
    aggregator: str = field(default="fedau", metadata={"help": f"Server rule: one of {AGGREGATORS}."})
    cutoff: int = field(default=0, metadata={"help": "FedAU's cutoff K on participation intervals (0: none)."})
    server_lr: float = field(default=1.0, metadata={"help": "Server learning rate η_g."})
    num_clients: int = field(default=40, metadata={"help": "Number of clients N the digits are divided among."})
    data_alpha: float = field(default=0.1, metadata={"help": "Dirichlet α of the label split (small: non-IID)."})
    participation: str = field(
        default="bernoulli", metadata={"help": f"Participation pattern: one of {PARTICIPATION_PATTERNS}."}
    )
    participation_alpha: float = field(
        default=0.1, metadata={"help": "Dirichlet α of the class popularity the participation follows."}
    )
    participation_mean: float = field(default=0.1, metadata={"help": "Mean participation probability."})
    participation_min: float = field(default=0.02, metadata={"help": "Smallest participation probability."})
    markov_persistence: float = field(
        default=0.5, metadata={"help": "Markov pattern: ρ in [0, 1) (0 is Bernoulli; larger: longer streaks)."}
    )
    cyclic_period: int = field(default=20, metadata={"help": "Cyclic pattern: the period in rounds."})
    local_steps: int = field(default=5, metadata={"help": "Local SGD steps Q per participation."})
    local_batch_size: int = field(default=16, metadata={"help": "Local minibatch size."})
    local_lr: float = field(default=0.1, metadata={"help": "Local SGD learning rate."})
    lr_decay_start: int = field(default=500, metadata={"help": "Rounds before the local learning rate decays."})
    lr_decay_every: int = field(
        default=100,
        metadata={"help": "Halve the local learning rate every N rounds after --lr_decay_start (0: never)."},
    )
    hidden_size: int = field(default=64, metadata={"help": "Hidden width of the MLP 64-h-10."})
    eval_every: int = field(
        default=100, metadata={"help": "Evaluate the global model every N rounds (0: at the end)."}
    )
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.aggregator not in AGGREGATORS:
            raise ValueError(f"--aggregator must be one of {AGGREGATORS}, got {self.aggregator!r}")
        if self.participation not in PARTICIPATION_PATTERNS:
            raise ValueError(f"--participation must be one of {PARTICIPATION_PATTERNS}, got {self.participation!r}")
        for name in ("num_clients", "local_steps", "local_batch_size", "hidden_size", "cyclic_period"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("local_lr", "server_lr", "data_alpha", "participation_alpha"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("cutoff", "lr_decay_start", "lr_decay_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.participation_min <= 1:
            raise ValueError(f"--participation_min must be in (0, 1], got {self.participation_min}")
        if not 0 < self.participation_mean <= 1:
            raise ValueError(f"--participation_mean must be in (0, 1], got {self.participation_mean}")
        if not 0 <= self.markov_persistence < 1:
            raise ValueError(f"--markov_persistence must be in [0, 1), got {self.markov_persistence}")
        if not 0 < self.test_size < 1:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    def local_lr_at(self, server_round: int) -> float:
        return step_decay_lr(
            server_round, self.local_lr, decay_start=self.lr_decay_start, decay_every=self.lr_decay_every
        )

    def build_federation(self) -> DigitsFederation:
        return digits_federation(
            self.num_clients,
            data_alpha=self.data_alpha,
            participation_alpha=self.participation_alpha,
            participation_mean=self.participation_mean,
            participation_min=self.participation_min,
            test_size=self.test_size,
            seed=self.seed,
        )

    def build_participation(self, probabilities) -> torch.Tensor:
        return participation_pattern(
            self.participation,
            probabilities,
            max(self.max_steps, 1),
            seed=self.seed,
            persistence=self.markov_persistence,
            period=self.cyclic_period,
        )

    def build_aggregator(self, probabilities) -> Aggregator:
        return build_aggregator(
            self.aggregator,
            self.num_clients,
            cutoff=self.cutoff or None,
            server_lr=self.server_lr,
            probabilities=[float(p) for p in probabilities],
        )
