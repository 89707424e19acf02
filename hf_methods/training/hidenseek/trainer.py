"""HideNseek's federated training loop: SynFlow on the server, sign supermasks on the clients, one-bit votes.

1. The server prunes the freshly initialised model once with iterative SynFlow (`synflow_prune`, no data) to a
   density ρ and freezes the weights at w₀.
2. Every round, each participating client receives the global scores s_t (one per kept weight), trains its own
   copy of them for a few local epochs (plain SGD on the cross-entropy, straight-through sign), and uploads one
   bit per kept weight: a stochastic sign with mean clip(s_n) (default) or sign(s_n) ([`upload_signs`]).
3. The server aggregates the votes with [`HideNseekAggregator`] (the same object a Flower server runs through
   [`HideNseekStrategy`]) into s_{t+1}. The global model is m ⊙ sign(s_T) ⊙ |w₀|.

The rounds run through `hf_methods.common.federated.simulate_federated`, which counts the bits each client uploads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from hf_methods.common.adversarial import logits_of
from hf_methods.common.federated import Aggregator, ClientUpdate, FederatedRun, simulate_federated

from .aggregation import HideNseekAggregator
from .loss import HideNseekClientLoss
from .supermask import apply_sign_supermasks, export_dense, sign_supermasks
from .synflow import synflow_prune

#: The clients' local optimizers.
OPTIMIZERS = ("sgd", "adam")

__all__ = ["OPTIMIZERS", "UPLOADS", "upload_signs", "HideNseekFederatedTrainer", "client_generator", "train_locally"]


def client_generator(seed: int, server_round: int, client_index: int) -> torch.Generator:
    """The generator of one client's batch order in one round (a resumed run sees the same batches)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + server_round * 10_007 + int(client_index))


#: What a client uploads per kept weight (one bit either way): its sign, or a sign drawn so that its mean is the
#: clipped score.
UPLOADS = ("sign", "stochastic")


def upload_signs(scores: torch.Tensor, upload: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """The one-bit votes a client sends for its scores s.

    `"sign"`: v = sign(s) (sign(0) = +1). `"stochastic"`: v = +1 with probability (1 + clip(s, −1, 1)) / 2, else −1,
    so E[v] = clip(s, −1, 1) and the server's vote average is an unbiased estimate of the clients' mean clipped score
    (stochastic sign quantisation).
    """
    if upload == "sign":
        return torch.where(scores >= 0, 1.0, -1.0)
    if upload == "stochastic":
        prob = (scores.detach().clamp(-1.0, 1.0) + 1.0) / 2.0
        draw = torch.rand(scores.shape, generator=generator, dtype=prob.dtype)
        return torch.where(draw < prob, 1.0, -1.0)
    raise ValueError(f"upload must be one of {UPLOADS}, got {upload!r}")


def train_locally(
    model: nn.Module,
    parameters: Sequence[nn.Parameter],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    generator: torch.Generator,
    input_name: str = "pixel_values",
    optimizer: str = "sgd",
) -> float:
    """`epochs` passes of plain SGD or Adam (fresh state each call: a client keeps no optimizer between rounds) on
    the cross-entropy. Only `parameters` are updated. Returns the mean training loss of the last epoch.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    parameters = list(parameters)
    objective = HideNseekClientLoss()
    optimizer = (
        torch.optim.SGD(parameters, lr=learning_rate)
        if optimizer == "sgd"
        else torch.optim.Adam(parameters, lr=learning_rate)
    )
    model.train()
    last = 0.0
    for _ in range(epochs):
        total, count = 0.0, 0
        for idx in torch.randperm(len(labels), generator=generator).split(batch_size):
            loss = objective(logits_of(model(**{input_name: inputs[idx]})), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        last = total / max(count, 1)
    return last


class _RoundOffset(Aggregator):
    """Forwards to `aggregator` with the round number shifted (so chunks of rounds keep Flower's numbering)."""

    def __init__(self, aggregator: Aggregator, offset: int):
        self.aggregator, self.offset = aggregator, offset

    def aggregate(self, server_round, global_parameters, updates):
        return self.aggregator.aggregate(server_round + self.offset, global_parameters, updates)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class HideNseekFederatedTrainer:
    """Federated training of a sign supermask over a SynFlow-pruned, frozen network (HideNseek).

    Args:
        model: a freshly initialised network (e.g. `MLPForImageClassification`); it is pruned and given
            [`SignSupermask`] parametrizations in place.
        clients: one `(inputs, labels)` pair of tensors per client.
        density: ρ, the fraction of weights the server keeps.
        rounds: T, the number of communication rounds [`fit`] runs.
        local_epochs: local passes over a client's data per round.
        learning_rate: the clients' learning rate on the scores. The scores live on the vote scale [−1, 1] while
            their straight-through gradient carries the factor |w₀| (≈ 0.1), hence a large SGD rate (30 by default,
            chosen on a development split of non-IID digits).
        batch_size: the clients' batch size.
        optimizer: the clients' optimizer, `"sgd"` (plain, default) or `"adam"` (fresh state every round).
        upload: the one-bit upload, `"stochastic"` (default: unbiased for the clipped scores) or `"sign"`.
        synflow_iterations: SynFlow's prune-and-rescore iterations (ignored when `masks` is given).
        masks: precomputed masks `{"<module>.weight": bool}` (default: `synflow_prune(model, density, ...)`).
        aggregator: the server rule (default `HideNseekAggregator()`: example-weighted sign vote).
        participation: a `(rounds, num_clients)` bool tensor (default: every client in every round).
        seed: seeds the clients' batch orders.
        evaluate: optional `model -> metrics`, called on the global model every `eval_every` rounds and at the end.
        eval_every: evaluation period in rounds (0: only after the last).
        input_name: the keyword the model takes its inputs under.
    """

    def __init__(
        self,
        model: nn.Module,
        clients: Sequence[tuple[torch.Tensor, torch.Tensor]],
        density: float = 0.2,
        rounds: int = 30,
        local_epochs: int = 2,
        *,
        learning_rate: float = 30.0,
        batch_size: int = 32,
        optimizer: str = "sgd",
        upload: str = "stochastic",
        synflow_iterations: int = 100,
        masks: dict[str, torch.Tensor] | None = None,
        aggregator: Aggregator | None = None,
        participation: torch.Tensor | None = None,
        seed: int = 0,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        eval_every: int = 0,
        input_name: str = "pixel_values",
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
        self.clients = self._check_clients(clients)
        self.rounds = _positive_int("rounds", rounds)
        self.local_epochs = _positive_int("local_epochs", local_epochs)
        self.batch_size = _positive_int("batch_size", batch_size)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
            raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if upload not in UPLOADS:
            raise ValueError(f"upload must be one of {UPLOADS}, got {upload!r}")
        self.optimizer, self.upload = optimizer, upload
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 0:
            raise ValueError(f"eval_every must be an integer >= 0, got {eval_every!r}")
        self.eval_every = eval_every
        if aggregator is not None and not isinstance(aggregator, Aggregator):
            raise TypeError(f"aggregator must be an Aggregator, got {type(aggregator).__name__}")
        self.aggregator = aggregator if aggregator is not None else HideNseekAggregator()
        if participation is None:
            participation = torch.ones(self.rounds, len(self.clients), dtype=torch.bool)
        participation = torch.as_tensor(participation)
        if participation.dtype != torch.bool or participation.shape != (self.rounds, len(self.clients)):
            raise ValueError(
                f"participation must be a bool tensor of shape (rounds, num_clients) = "
                f"({self.rounds}, {len(self.clients)}), got {participation.dtype} {tuple(participation.shape)}"
            )
        self.participation = participation
        self.seed = int(seed)
        self.evaluate = evaluate
        self.input_name = input_name
        if masks is None:
            masks = synflow_prune(model, density, synflow_iterations)
        self.masks = {name: mask.bool() for name, mask in masks.items()}
        self.density = sum(int(m.sum()) for m in self.masks.values()) / sum(m.numel() for m in self.masks.values())
        self.model = apply_sign_supermasks(model, self.masks)
        self.names = list(sign_supermasks(self.model))
        # the global parameters are the scores of the kept entries only: what travels is one number per kept weight
        self.global_scores = self._read_scores()
        self.rounds_done = 0
        self.upload_bits: list[int] = []
        self.evaluations: list[tuple[int, dict[str, float]]] = []

    @staticmethod
    def _check_clients(clients) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if not isinstance(clients, (list, tuple)) or not clients:
            raise ValueError("clients must be a non-empty list of (inputs, labels) tensor pairs")
        checked = []
        for i, client in enumerate(clients):
            if (
                not isinstance(client, (list, tuple))
                or len(client) != 2
                or not all(isinstance(t, torch.Tensor) for t in client)
            ):
                raise TypeError(f"clients[{i}] must be an (inputs, labels) pair of tensors")
            inputs, labels = client
            if len(inputs) != len(labels) or len(labels) == 0:
                raise ValueError(
                    f"clients[{i}] must hold as many inputs as labels, at least one; got {len(inputs)} and "
                    f"{len(labels)}"
                )
            checked.append((inputs, labels.long()))
        return checked

    # --------------------------------------------------------------------------------------------- parameters
    @property
    def kept_weights(self) -> int:
        """The number of kept weights: the bits one client uploads per round."""
        return sum(int(m.sum()) for m in self.masks.values())

    def _read_scores(self) -> list[torch.Tensor]:
        masks = sign_supermasks(self.model)
        return [masks[n].scores.detach()[masks[n].mask].clone() for n in self.names]

    def load_scores(self, scores: Sequence[torch.Tensor]) -> None:
        """Writes global (or client) scores of the kept entries into the model's sign supermasks."""
        masks = sign_supermasks(self.model)
        if len(scores) != len(self.names):
            raise ValueError(f"got {len(scores)} score tensors for {len(self.names)} masked weights")
        with torch.no_grad():
            for name, values in zip(self.names, scores):
                parametrization = masks[name]
                if values.numel() != int(parametrization.mask.sum()):
                    raise ValueError(
                        f"{name}: got {values.numel()} scores for {int(parametrization.mask.sum())} kept weights"
                    )
                parametrization.scores[parametrization.mask] = values.to(parametrization.scores)

    # --------------------------------------------------------------------------------------------- a client
    def local_update(
        self,
        client_index: int,
        client: tuple[torch.Tensor, torch.Tensor],
        scores: list[torch.Tensor],
        server_round: int,
    ) -> ClientUpdate:
        """One client's round: start from the global scores, train them locally, upload the signs (1 bit each)."""
        inputs, labels = client
        self.load_scores(scores)
        parametrizations = sign_supermasks(self.model)
        generator = client_generator(self.seed, server_round, client_index)
        loss = train_locally(
            self.model,
            [parametrizations[n].scores for n in self.names],
            inputs,
            labels,
            epochs=self.local_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            generator=generator,
            input_name=self.input_name,
            optimizer=self.optimizer,
        )
        signs = [upload_signs(s, self.upload, generator) for s in self._read_scores()]
        bits = sum(s.numel() for s in signs)  # one bit per kept weight
        return ClientUpdate(
            client_index, signs, num_examples=len(labels), upload_bits=bits, metrics={"train_loss": loss}
        )

    # --------------------------------------------------------------------------------------------- the server
    def fit(self, rounds: int | None = None) -> nn.Module:
        """Runs the next `rounds` rounds (default: all that remain) and returns the model with the global signs.

        Calling `fit(1)` repeatedly runs the same rounds as one `fit()` (the recipe does so to checkpoint).
        """
        remaining = self.rounds - self.rounds_done
        rounds = remaining if rounds is None else _positive_int("rounds", rounds)
        if rounds > remaining:
            raise ValueError(f"only {remaining} of {self.rounds} rounds remain, asked for {rounds}")
        offset = self.rounds_done
        if rounds:
            evaluate = None
            if self.evaluate is not None:

                def evaluate(parameters, server_round):
                    self.load_scores(parameters)
                    return self.evaluate(self.model)

            run: FederatedRun = simulate_federated(
                self.global_scores,
                self.clients,
                lambda n, client, scores, server_round: self.local_update(n, client, scores, server_round + offset),
                _RoundOffset(self.aggregator, offset),
                self.participation[offset : offset + rounds],
                evaluate=_every(evaluate, self.eval_every, offset, self.rounds),
                eval_every=1 if evaluate is not None else 0,
            )
            self.global_scores = run.parameters
            self.upload_bits += run.upload_bits
            self.evaluations += [(r + offset, m) for r, m in run.evaluations if m]
            self.rounds_done += rounds
        self.load_scores(self.global_scores)
        return self.model

    def global_model(self) -> nn.Module:
        """The model computing with the global signs m ⊙ sign(s_t) ⊙ |w₀| (parametrized)."""
        self.load_scores(self.global_scores)
        return self.model

    def export_dense(self) -> nn.Module:
        """A vanilla copy of the global model (effective weights baked) for `save_pretrained`."""
        return export_dense(self.global_model())

    # --------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "global_scores": [s.clone() for s in self.global_scores],
            "rounds_done": self.rounds_done,
            "upload_bits": list(self.upload_bits),
            "evaluations": list(self.evaluations),
            "aggregator": self.aggregator.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.global_scores = [s.clone() for s in state["global_scores"]]
        self.rounds_done = int(state["rounds_done"])
        self.upload_bits = list(state["upload_bits"])
        self.evaluations = list(state["evaluations"])
        self.aggregator.load_state_dict(state["aggregator"])
        self.load_scores(self.global_scores)


def _every(evaluate, every: int, offset: int, total: int):
    """Calls `evaluate` on rounds that are multiples of `every` (absolute numbering) and on the very last round."""
    if evaluate is None:
        return None

    def wrapped(parameters, server_round):
        absolute = server_round + offset
        if absolute == total or (every and absolute % every == 0):
            return evaluate(parameters, absolute)
        return {}  # not an evaluation round (dropped by fit)

    return wrapped
