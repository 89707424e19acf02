"""Training pieces shared by `recipes/hidenseek.py`, the claim check and the tests.

- [`HideNseekArguments`]: the recipe's arguments (one flag per knob, checked);
- [`federated_digits`]: scikit-learn's digits dealt to clients non-IID (a few classes each), plus a server-side
  validation part and the test split;
- [`digits_mlp`]: the `MLPForImageClassification` of the recipe and the claim;
- [`run_hidenseek`], [`run_binary_supermask`], [`run_fedavg`]: one federated run each (HideNseek, an edge-popup
  {0, 1} supermask over the same frozen weights with the same vote aggregation, and dense FedAvg), all through
  `hf_methods.common.federated.simulate_federated`, returning accuracies, curves and the bits uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.evaluation import accuracy
from hf_methods.common.federated import ClientUpdate, FedAvgAggregator, simulate_federated
from hf_methods.harness.recipe import RecipeArguments

from .aggregation import HideNseekAggregator
from .trainer import OPTIMIZERS, UPLOADS, HideNseekFederatedTrainer, client_generator, train_locally

NUM_CLASSES = 10
ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid")

__all__ = [
    "FederatedDigits",
    "HideNseekArguments",
    "digits_mlp",
    "federated_digits",
    "run_binary_supermask",
    "run_fedavg",
    "run_hidenseek",
]


@dataclass
class HideNseekArguments(RecipeArguments):
    max_steps: int = field(default=30, metadata={"help": "Communication rounds (one recipe step = one round)."})
    checkpoint_every: int = field(default=10, metadata={"help": "Save a resumable checkpoint every N rounds."})
    log_every: int = field(default=1, metadata={"help": "Log the global model's accuracy every N rounds."})
    density: float = field(default=0.2, metadata={"help": "Fraction of weights SynFlow keeps on the server."})
    synflow_iterations: int = field(default=100, metadata={"help": "SynFlow prune-and-rescore iterations."})
    num_clients: int = field(default=10, metadata={"help": "Number of clients."})
    classes_per_client: int = field(default=2, metadata={"help": "Classes (label shards) per client (non-IID)."})
    local_epochs: int = field(default=2, metadata={"help": "Local epochs per client and round."})
    learning_rate: float = field(
        default=30.0,
        metadata={
            "help": "Clients' learning rate on the scores (scores live on the vote scale [-1, 1] while their "
            "straight-through gradients carry the factor |w0|, hence a large SGD rate)."
        },
    )
    optimizer: str = field(default="sgd", metadata={"help": f"Clients' optimizer: one of {OPTIMIZERS}."})
    upload: str = field(
        default="stochastic",
        metadata={"help": f"One-bit upload per kept weight: one of {UPLOADS} (see upload_signs)."},
    )
    batch_size: int = field(default=32, metadata={"help": "Clients' batch size."})
    hidden_sizes: str = field(default="256,256", metadata={"help": "Comma-separated hidden widths of the MLP."})
    hidden_act: str = field(default="relu", metadata={"help": f"MLP activation: one of {ACTIVATIONS}."})
    weighting: str = field(default="examples", metadata={"help": "Vote weights: 'examples' or 'uniform'."})
    validation_size: float = field(
        default=0.2, metadata={"help": "Fraction of the training images kept on the server for validation."}
    )
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def hidden(self) -> list[int]:
        try:
            sizes = [int(h) for h in self.hidden_sizes.split(",") if h.strip()]
        except ValueError:
            raise ValueError(f"--hidden_sizes must be comma-separated integers, got {self.hidden_sizes!r}") from None
        if not sizes or any(h < 1 for h in sizes):
            raise ValueError(f"--hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        return sizes

    def validate(self) -> None:
        super().validate()
        if self.max_steps < 1:
            raise ValueError(f"--max_steps (rounds) must be >= 1, got {self.max_steps}")
        if not 0.0 < self.density <= 1.0:
            raise ValueError(f"--density must be in (0, 1], got {self.density}")
        for name in ("synflow_iterations", "num_clients", "classes_per_client", "local_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.upload not in UPLOADS:
            raise ValueError(f"--upload must be one of {UPLOADS}, got {self.upload!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"--hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.weighting not in ("examples", "uniform"):
            raise ValueError(f"--weighting must be 'examples' or 'uniform', got {self.weighting!r}")
        if not 0.0 <= self.validation_size < 1.0:
            raise ValueError(f"--validation_size must be in [0, 1), got {self.validation_size}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        self.hidden()


@dataclass
class FederatedDigits:
    """One seed's federated digits: `clients` ((x, y) pairs), the server's validation part, the test split."""

    clients: list[tuple[torch.Tensor, torch.Tensor]]
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def federated_digits(
    seed: int,
    *,
    num_clients: int = 10,
    classes_per_client: int = 2,
    validation_size: float = 0.2,
    test_size: float = 0.2,
) -> FederatedDigits:
    """Digits split into test / server validation / clients, the clients' part dealt by label shards.

    The training images minus a seeded `validation_size` fraction (kept by the server, to choose hyper-parameters)
    are sorted by label, cut into `num_clients · classes_per_client` shards and dealt `classes_per_client` shards per
    client (`hf_methods.common.splits.shards_per_client_split`). Everything depends on `seed` only.
    """
    from hf_methods.common.data import load_digits
    from hf_methods.common.splits import shards_per_client_split

    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(20_000 + seed))
    n_val = int(round(validation_size * len(y)))
    val, fit = order[:n_val], order[n_val:].sort().values
    parts = shards_per_client_split(y[fit].numpy(), num_clients, classes_per_client, seed=seed)
    clients = [(x[fit][torch.from_numpy(p)], y[fit][torch.from_numpy(p)]) for p in parts]
    x_test, y_test = test.tensors()
    return FederatedDigits(clients, x[val], y[val], x_test, y_test)


def digits_mlp(seed: int, hidden_sizes=(256, 256), hidden_act: str = "relu"):
    """The MLP 64-h…-10 (`MLPForImageClassification`) with Kaiming-normal weights and zero biases, seeded by `seed`.

    A supermask never trains the weights, so their initial scale is the network's scale for good: Kaiming-normal
    (fan-in, ReLU gain, std √(2/fan_in)) keeps the activations' variance through the layers, as in the supermask
    literature (Ramanujan et al., 2020), where PyTorch's default `Linear` init shrinks the signal layer by layer.
    Every method of the claim starts from this same network.
    """
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    config = MLPConfig(input_size=64, hidden_sizes=list(hidden_sizes), hidden_act=hidden_act, num_labels=NUM_CLASSES)
    model = MLPForImageClassification(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                fan_in = module.weight.shape[1]
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                module.bias.zero_()
    return model


def _metrics(model, data: FederatedDigits) -> dict[str, float]:
    return {
        "val_accuracy": accuracy(model, data.x_val, data.y_val),
        "test_accuracy": accuracy(model, data.x_test, data.y_test),
    }


def _summary(evaluations, upload_bits, participants) -> dict:
    final = evaluations[-1][1]
    per_client = [bits / max(len(p), 1) for bits, p in zip(upload_bits, participants)]
    return {
        "test_accuracy": final["test_accuracy"],
        "val_accuracy": final["val_accuracy"],
        "curve": [(r, m["test_accuracy"]) for r, m in evaluations],
        "upload_bits_total": int(sum(upload_bits)),
        "upload_bits_per_client_round": per_client,
    }


def run_hidenseek(data: FederatedDigits, seed: int, settings: dict) -> dict:
    """HideNseek on `data`: SynFlow to `settings["density"]`, sign supermasks, example-weighted sign vote."""
    model = digits_mlp(seed, settings["hidden_sizes"], settings["hidden_act"])
    fl = HideNseekFederatedTrainer(
        model,
        data.clients,
        density=settings["density"],
        rounds=settings["rounds"],
        local_epochs=settings["local_epochs"],
        learning_rate=settings["learning_rate"],
        batch_size=settings["batch_size"],
        optimizer=settings.get("optimizer", "sgd"),
        upload=settings.get("upload", "stochastic"),
        synflow_iterations=settings["synflow_iterations"],
        seed=seed,
        evaluate=lambda m: _metrics(m, data),
        eval_every=settings["eval_every"],
    )
    fl.fit()
    participants = [fl.participation[r].nonzero().flatten().tolist() for r in range(fl.rounds)]
    result = _summary(fl.evaluations, fl.upload_bits, participants)
    result["kept_weights"] = fl.kept_weights
    result["density"] = fl.density
    return result


def run_binary_supermask(data: FederatedDigits, seed: int, settings: dict) -> dict:
    """A {0, 1} edge-popup supermask over the same frozen init w₀ (dense), at the same density per layer.

    Clients train real scores whose per-layer top-`density` is the mask (straight-through,
    `hf_methods.common.masks.ScoreMask`) and upload the mask, one bit per weight; the server aggregates with the same
    vote rule as HideNseek (`HideNseekAggregator(votes="binary")`). Initial scores are uniform in [0, 1).
    """
    from hf_methods.common.masks import apply_score_masks, prunable_modules, topk_mask

    model = digits_mlp(seed, settings["hidden_sizes"], settings["hidden_act"])
    generator = torch.Generator().manual_seed(30_000 + seed)
    names = [f"{n}.weight" for n in prunable_modules(model)]
    init = {n: torch.rand(model.get_parameter(n).shape, generator=generator) for n in names}
    for param in model.parameters():
        param.requires_grad_(False)
    apply_score_masks(model, init, keep=settings["density"])
    masks = [model.get_submodule(n[: -len(".weight")]).parametrizations.weight[0] for n in names]

    def load(scores):
        with torch.no_grad():
            for m, s in zip(masks, scores):
                m.scores.copy_(s.view_as(m.scores))

    def local_update(n, client, scores, server_round):
        load(scores)
        generator = client_generator(seed, server_round, n)
        train_locally(
            model,
            [m.scores for m in masks],
            *client,
            epochs=settings["local_epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            generator=generator,
            optimizer=settings.get("optimizer", "sgd"),
        )
        if settings.get("upload", "stochastic") == "stochastic":
            # the same one-bit stochastic quantisation as HideNseek's: P(1) = clip(s, 0, 1), so E[v] = clip(s, 0, 1)
            votes = [
                (torch.rand(m.scores.shape, generator=generator) < m.scores.detach().clamp(0, 1)).float().flatten()
                for m in masks
            ]
        else:
            votes = [topk_mask(m.scores.detach(), m.keep).float().flatten() for m in masks]
        return ClientUpdate(n, votes, num_examples=len(client[1]), upload_bits=sum(v.numel() for v in votes))

    def evaluate(scores, server_round):
        if server_round != settings["rounds"] and server_round % settings["eval_every"]:
            return {}
        load(scores)
        return _metrics(model, data)

    participation = torch.ones(settings["rounds"], len(data.clients), dtype=torch.bool)
    run = simulate_federated(
        [m.scores.detach().flatten().clone() for m in masks],
        data.clients,
        local_update,
        HideNseekAggregator(votes="binary"),
        participation,
        evaluate=evaluate,
        eval_every=1,
    )
    return _summary([(r, m) for r, m in run.evaluations if m], run.upload_bits, run.participants)


def run_fedavg(data: FederatedDigits, seed: int, settings: dict) -> dict:
    """Dense FedAvg (every weight and bias trained, 32-bit floats uploaded), example-weighted."""
    model = digits_mlp(seed, settings["hidden_sizes"], settings["hidden_act"])
    params = list(model.parameters())

    def load(values):
        with torch.no_grad():
            for p, v in zip(params, values):
                p.copy_(v)

    def local_update(n, client, values, server_round):
        load(values)
        train_locally(
            model,
            params,
            *client,
            epochs=settings["local_epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            generator=client_generator(seed, server_round, n),
            optimizer=settings.get("optimizer", "sgd"),
        )
        return ClientUpdate(n, [p.detach().clone() for p in params], num_examples=len(client[1]))

    def evaluate(values, server_round):
        if server_round != settings["rounds"] and server_round % settings["eval_every"]:
            return {}
        load(values)
        return _metrics(model, data)

    participation = torch.ones(settings["rounds"], len(data.clients), dtype=torch.bool)
    run = simulate_federated(
        [p.detach().clone() for p in params],
        data.clients,
        local_update,
        FedAvgAggregator(weighting="examples"),
        participation,
        evaluate=evaluate,
        eval_every=1,
    )
    return _summary([(r, m) for r, m in run.evaluations if m], run.upload_bits, run.participants)
