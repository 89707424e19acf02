"""Training pieces shared by `recipes/enas_memory.py`, the claim check and the tests.

- [`ENASMemoryArguments`]: the arguments of `recipes/enas_memory.py` (every knob of the search a flag);
- [`search_digits`]: scikit-learn's digits split into a training part (the shared weights), a validation part (the
  controller's rewards and the final selection) and a test part;
- [`VARIANTS`] and [`build_search`]: vanilla ENAS, ENAS with the memory buffer, random search with weight sharing;
- [`retrain_from_scratch`]: trains a derived cell alone from a fresh initialisation (the search-quality measure);
- [`run_search`]: one complete search of one variant and seed, as a JSON-ready dict (the claim's unit of work).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .controller import ENASConfig, ENASController, check_search_space
from .modeling import ENASCellConfig, ENASCellForImageClassification, ENASSupernet
from .search import ENASSearch

#: The three searches compared: (sampler, memory buffer on).
VARIANTS = {
    "enas": ("controller", False),
    "enas_memory": ("controller", True),
    "random": ("random", False),
}


@dataclass
class ENASMemoryArguments(RecipeArguments):
    max_steps: int = field(default=500, metadata={"help": "Child (shared-weight) optimisation steps."})
    checkpoint_every: int = field(default=250, metadata={"help": "Save a resumable checkpoint every N child steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    variant: str = field(default="enas_memory", metadata={"help": f"The search: one of {sorted(VARIANTS)}."})
    num_nodes: int = field(default=4, metadata={"help": "Nodes of the cell."})
    ops: str = field(default="tanh,relu,identity", metadata={"help": "Comma-separated activations a node picks from."})
    cell_width: int = field(default=64, metadata={"help": "Width of every node of the child cell."})
    controller_hidden_size: int = field(default=100, metadata={"help": "Width of the LSTM controller."})
    controller_every: int = field(default=50, metadata={"help": "Child steps between two controller phases."})
    controller_steps: int = field(default=30, metadata={"help": "Controller steps per controller phase."})
    controller_learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate of the controller."})
    entropy_weight: float = field(default=1e-4, metadata={"help": "Weight β of the entropy bonus."})
    baseline_decay: float = field(default=0.95, metadata={"help": "Decay δ of the moving-average reward baseline."})
    memory_buffer_size: int = field(default=256, metadata={"help": "Memory buffer capacity (variant enas_memory)."})
    replay_batch_size: int = field(default=32, metadata={"help": "Architectures replayed from the buffer per step."})
    reconstruction_weight: float = field(default=1.0, metadata={"help": "Weight of the reconstruction loss."})
    replay_weight: float = field(default=1.0, metadata={"help": "Weight of the replayed REINFORCE loss."})
    learning_rate: float = field(default=0.05, metadata={"help": "SGD learning rate of the shared weights."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum of the shared weights."})
    weight_decay: float = field(default=1e-4, metadata={"help": "SGD weight decay of the shared weights."})
    batch_size: int = field(default=64, metadata={"help": "Child minibatch size per process."})
    reward_batch_size: int = field(default=256, metadata={"help": "Validation examples per reward."})
    num_candidates: int = field(default=50, metadata={"help": "Cells sampled at the end to pick the best from."})
    validation_size: float = field(default=0.2, metadata={"help": "Fraction of the training digits held out."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of the digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant must be one of {sorted(VARIANTS)}, got {self.variant!r}")
        check_search_space(self.num_nodes, self.op_list)
        for name in (
            "cell_width",
            "controller_hidden_size",
            "controller_every",
            "batch_size",
            "reward_batch_size",
            "num_candidates",
            "replay_batch_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.controller_steps < 0 or self.memory_buffer_size < 0:
            raise ValueError("--controller_steps and --memory_buffer_size must be >= 0")
        if self.variant == "enas_memory" and self.memory_buffer_size == 0:
            raise ValueError("--variant enas_memory needs --memory_buffer_size >= 1")
        for name in ("learning_rate", "controller_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("entropy_weight", "momentum", "weight_decay", "reconstruction_weight", "replay_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"--baseline_decay must be in [0, 1), got {self.baseline_decay}")
        for name in ("validation_size", "test_size"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"--{name} must be in (0, 1), got {getattr(self, name)}")

    @property
    def op_list(self) -> list[str]:
        return [op.strip() for op in self.ops.split(",") if op.strip()]


@dataclass
class SearchData:
    """One seed's digits: `train` for the shared weights, `validation` for rewards and selection, `test`."""

    train: tuple[torch.Tensor, torch.Tensor]
    validation: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def search_digits(seed: int, validation_size: float = 0.2, test_size: float = 0.2) -> SearchData:
    """scikit-learn's digits: a stratified test split, then `validation_size` of the rest held out (seeded)."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(10_000 + seed))
    n_val = int(round(validation_size * len(y)))
    val, fit = order[:n_val], order[n_val:]
    return SearchData((x[fit], y[fit]), (x[val], y[val]), test.tensors())


def build_search(
    variant: str,
    *,
    seed: int,
    num_nodes: int = 4,
    ops=("tanh", "relu", "identity"),
    cell_width: int = 64,
    controller_hidden_size: int = 100,
    input_size: int = 64,
    num_labels: int = 10,
    memory_buffer_size: int = 256,
    **search_kwargs,
) -> ENASSearch:
    """A fresh controller and supernet (initialised from `seed`) and the [`ENASSearch`] of `variant`."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    sampler, with_memory = VARIANTS[variant]
    torch.manual_seed(seed)
    supernet = ENASSupernet(
        ENASCellConfig(
            input_size=input_size, num_labels=num_labels, num_nodes=num_nodes, ops=ops, cell_width=cell_width
        )
    )
    controller = ENASController(ENASConfig(num_nodes=num_nodes, ops=ops, hidden_size=controller_hidden_size))
    return ENASSearch(
        controller,
        supernet,
        memory_buffer_size=memory_buffer_size if with_memory else 0,
        sampler=sampler,
        seed=seed,
        **search_kwargs,
    )


def retrain_from_scratch(
    architecture,
    data: SearchData,
    *,
    seed: int,
    steps: int,
    num_nodes: int,
    ops,
    cell_width: int,
    batch_size: int = 64,
    learning_rate: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    max_grad_norm: float = 5.0,
) -> dict[str, float]:
    """Trains the cell `architecture` alone from a fresh (seeded) initialisation; its validation and test accuracy.

    Every architecture of a seed starts from the same generator state and sees the same batches, so two searches
    that find the same cell score the same.
    """
    torch.manual_seed(seed)
    config = ENASCellConfig(num_nodes=num_nodes, ops=ops, cell_width=cell_width, architecture=list(architecture))
    model = ENASCellForImageClassification(config)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    x, y = data.train
    generator = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(len(y), generator=generator), 0
    model.train()
    for _ in range(steps):
        if cursor + batch_size > len(y):
            order, cursor = torch.randperm(len(y), generator=generator), 0
        index = order[cursor : cursor + batch_size]
        cursor += batch_size
        loss = F.cross_entropy(model(pixel_values=x[index]).logits, y[index])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
    return {
        "validation_accuracy": accuracy(model, *data.validation),
        "test_accuracy": accuracy(model, *data.test),
    }


def run_search(variant: str, seed: int, settings: dict) -> dict:
    """One search of `variant` with `seed` under the claim's `settings`; everything the claim records, as JSON data.

    Returns the derived cell, its shared-weight validation accuracy, its validation and test accuracy after
    retraining from scratch, the per-epoch history, the hidden-state probe of the final controller (architectures
    sampled from it and drawn uniformly; random search's controller is the untrained one) and the replay property
    (largest |log π recorded at sampling − log π recomputed by teacher-forced replay|).
    """
    from .analysis import hidden_state_graph_correlation

    torch.set_num_threads(1)
    s = settings
    data = search_digits(seed, s["validation_size"], s["test_size"])
    space = {"num_nodes": s["num_nodes"], "ops": s["ops"], "cell_width": s["cell_width"]}
    search = build_search(
        variant,
        seed=seed,
        controller_hidden_size=s["controller_hidden_size"],
        memory_buffer_size=s["memory_buffer_size"],
        controller_learning_rate=s["controller_learning_rate"],
        entropy_weight=s["entropy_weight"],
        baseline_decay=s["baseline_decay"],
        replay_batch_size=s["replay_batch_size"],
        replay_weight=s["replay_weight"],
        reconstruction_weight=s["reconstruction_weight"],
        **space,
    )
    history = search.fit(
        data.train,
        data.validation,
        epochs=s["epochs"],
        child_steps=s["child_steps_per_epoch"],
        controller_steps=s["controller_steps_per_epoch"],
        batch_size=s["batch_size"],
        reward_batch_size=s["reward_batch_size"],
        child_learning_rate=s["child_learning_rate"],
        momentum=s["momentum"],
        weight_decay=s["weight_decay"],
        max_grad_norm=s["max_grad_norm"],
    )
    architecture, shared_accuracy = search.derive(data.validation, s["num_candidates"])
    retrained = retrain_from_scratch(
        architecture.tolist(),
        data,
        seed=seed,
        steps=s["retrain_steps"],
        batch_size=s["batch_size"],
        learning_rate=s["child_learning_rate"],
        momentum=s["momentum"],
        weight_decay=s["weight_decay"],
        max_grad_norm=s["max_grad_norm"],
        **space,
    )
    probes = {
        source: hidden_state_graph_correlation(
            search.controller, s["probe_architectures"], architectures=source, seed=seed
        )
        for source in ("controller", "uniform")
    }
    # replay property: the log-probabilities recorded while sampling equal the teacher-forced ones of the same decisions
    with torch.no_grad():
        sampled = search.controller.sample(64, generator=torch.Generator().manual_seed(seed))
        replayed = search.controller(decisions=sampled.decisions)
    replay_gap = (sampled.log_probs - replayed.log_probs).abs().max().item()
    return {
        "architecture": architecture.tolist(),
        "shared_validation_accuracy": shared_accuracy,
        "retrained_validation_accuracy": retrained["validation_accuracy"],
        "retrained_test_accuracy": retrained["test_accuracy"],
        "rho_controller_samples": probes["controller"].spearman_rho,
        "rho_uniform_architectures": probes["uniform"].spearman_rho,
        "distinct_controller_samples": probes["controller"].num_distinct_architectures,
        "probe_controller": probes["controller"].__dict__,
        "probe_uniform": probes["uniform"].__dict__,
        "replay_log_prob_gap": replay_gap,
        "history": history,
    }


__all__ = [
    "ENASMemoryArguments",
    "SearchData",
    "VARIANTS",
    "build_search",
    "retrain_from_scratch",
    "run_search",
    "search_digits",
]
