"""Continual-learning pieces shared by `recipes/binary_continual.py`, the claim check and the tests.

- [`FieldPrior`]: the prior fields θp of the KL term, `"previous_task"` (the paper), `"streaming"` (the official
  code: θ before the last optimiser step) or `"none"` (the same model without the KL term);
- [`permuted_digits_tasks`]: scikit-learn's digits under fixed, seeded pixel permutations (one per task);
- [`continual_beta`]: the inverse temperature of a global epoch under the annealing schedule;
- [`train_continual`]: the plain-torch loop (Adam, β annealed over the whole run) with per-task evaluation;
- [`BinaryContinualArguments`]: the recipe's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .loss import model_kl
from .modeling_binary_continual import (
    FORWARD_MODES,
    VariationalBinaryMLP,
    VariationalBinaryMLPConfig,
    tanh_beta_schedule,
)

PRIORS = ("previous_task", "streaming", "none")


class FieldPrior:
    """The prior q_θp of the KL term KL(q_θ ‖ q_θp), kept as detached copies of the fields.

    - `"previous_task"`: θp = the fields at the end of the previous task (no KL during the first task);
    - `"streaming"`: θp = the fields before the last optimiser step (the official code's `KL = β²σ²Δθ`), updated
      by [`observe`] at every training step (no KL at the very first step);
    - `"none"`: no KL term (the baseline).

    Has `state_dict` / `load_state_dict`, so a recipe checkpoints it with the model.

    Args:
        kind (`str`): one of `PRIORS`.
    """

    def __init__(self, kind: str = "previous_task"):
        if kind not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {kind!r}")
        self.kind = kind
        self.fields: list[torch.Tensor] | None = None

    def kl(self, model: nn.Module, beta: float | torch.Tensor) -> torch.Tensor | None:
        """Σ KL(q_θ ‖ q_θp) over every weight, or `None` when there is no prior yet (or `kind == "none"`)."""
        if self.fields is None:
            return None
        return model_kl(model, self.fields, beta)

    def observe(self, model: nn.Module) -> None:
        """Called once per training step, after the loss and before the optimiser step (streaming prior)."""
        if self.kind == "streaming":
            self.fields = [f.detach().clone() for f in model.fields()]

    def end_task(self, model: nn.Module) -> None:
        """Called when a task ends: the previous-task prior becomes the current fields."""
        if self.kind == "previous_task":
            self.fields = [f.detach().clone() for f in model.fields()]

    def state_dict(self) -> dict:
        return {"kind": self.kind, "fields": None if self.fields is None else [f.clone() for f in self.fields]}

    def load_state_dict(self, state: dict) -> None:
        if state["kind"] != self.kind:
            raise ValueError(f"checkpoint holds a {state['kind']!r} prior, this run uses {self.kind!r}")
        self.fields = None if state["fields"] is None else [f.clone() for f in state["fields"]]


def continual_beta(config: VariationalBinaryMLPConfig, global_epoch: int, total_epochs: int) -> float:
    """β during global epoch `global_epoch` (0-based, counted over all tasks): the official code sets
    β = β_max·tanh(offset + rate·(global_epoch + 1)/total_epochs) at the start of each epoch."""
    if total_epochs <= 0 or not 0 <= global_epoch < total_epochs:
        raise ValueError(f"global_epoch must be in [0, {total_epochs}), got {global_epoch}")
    if config.beta_schedule == "constant":
        return config.beta
    progress = (global_epoch + 1) / total_epochs
    return tanh_beta_schedule(progress, config.beta_max, config.beta_offset, config.beta_rate)


def default_kl_weight(prior: str, batch_size: int, num_examples: int) -> float:
    """λ_KL next to the mean cross-entropy: 1/batch_size for the streaming prior (the official code adds the KL
    gradient to the gradient of the batch-*summed* cross-entropy), 1/num_examples for the previous-task prior (the
    per-example ELBO of variational continual learning, KL(q ‖ prior)/N), 0 without a prior."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    return {"streaming": 1.0 / batch_size, "previous_task": 1.0 / num_examples, "none": 0.0}[prior]


@dataclass
class PermutedTask:
    """One permuted-digits task: training and test tensors under the pixel permutation `permutation`."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    permutation: torch.Tensor


def permuted_digits_tasks(num_tasks: int, *, seed: int = 0, test_size: float = 0.2) -> list[PermutedTask]:
    """`num_tasks` tasks on scikit-learn's 8×8 digits, each under its own fixed permutation of the 64 pixels.

    The split depends on `seed`; permutation t is drawn from `seed·1000 + t`. Every task is permuted (the official
    code permutes the first task too).
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    tasks = []
    for t in range(num_tasks):
        perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed * 1000 + t))
        tasks.append(PermutedTask(x[:, perm], y, x_test[:, perm], y_test, perm))
    return tasks


@torch.no_grad()
def evaluate(
    model: VariationalBinaryMLP, x: torch.Tensor, y: torch.Tensor, mode: str = "mean", *, draws: int = 1, seed: int = 0
) -> float:
    """Accuracy of `model` on `(x, y)` with the `mode` forward (`"mean"`, `"gaussian"` or `"sample"`).

    For the stochastic modes the accuracy is averaged over `draws` independent draws (one binary network per draw
    for `"sample"`, evaluated on the whole set). The model's training mode is left as it was.
    """
    if mode not in FORWARD_MODES:
        raise ValueError(f"mode must be one of {FORWARD_MODES}, got {mode!r}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    gen = torch.Generator(device=x.device).manual_seed(seed)
    draws = 1 if mode == "mean" else draws
    total = 0.0
    for _ in range(draws):
        logits = model(pixel_values=x, mode=mode, generator=gen).logits
        total += (logits.argmax(-1) == y).float().mean().item()
    return total / draws


def train_continual(
    tasks: list[PermutedTask],
    *,
    prior: str = "previous_task",
    kl_weight: float | None = None,
    seed: int = 0,
    epochs: int = 5,
    batch_size: int = 64,
    learning_rate: float = 0.01,
    hidden_sizes: tuple[int, ...] = (256,),
    sample_draws: int = 5,
) -> dict:
    """Trains one [`VariationalBinaryMLP`] on `tasks` in order and returns its accuracies.

    Objective of a batch: mean cross-entropy (Gaussian-field forward) + `kl_weight`·Σ KL(q_θ ‖ q_θp); the default
    `kl_weight` is [`default_kl_weight`]. One Adam (lr `learning_rate`, betas (0.9, 0.99)) for the whole run; β annealed
    per epoch over all tasks (see [`continual_beta`]); the batch order and the initial fields depend on `seed` only.

    Returns a dict with `accuracy_matrix[i][j]` (mean-field accuracy on task j after task i), `final` (per-task test
    accuracy at the end for each forward mode), `average_accuracy` (mean-field, over all tasks) and
    `average_accuracy_<mode>` for every mode, and `betas` (β of each epoch).
    """
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    kl_weight = default_kl_weight(prior, batch_size, len(tasks[0].y)) if kl_weight is None else kl_weight
    if kl_weight < 0:
        raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
    torch.manual_seed(seed)
    n_in, n_out = tasks[0].x.shape[1], int(max(t.y.max() for t in tasks)) + 1
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[n_in, *hidden_sizes, n_out]))
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(0.9, 0.99), eps=1e-8)
    field_prior = FieldPrior(prior)
    order = torch.Generator().manual_seed(seed)
    total_epochs = len(tasks) * epochs
    matrix, betas = [], []
    model.train()
    for t, task in enumerate(tasks):
        for epoch in range(epochs):
            beta = continual_beta(model.config, t * epochs + epoch, total_epochs)
            model.set_beta(beta)
            betas.append(beta)
            for idx in torch.randperm(len(task.y), generator=order).split(batch_size):
                loss = model(pixel_values=task.x[idx], labels=task.y[idx]).loss
                kl = field_prior.kl(model, beta) if kl_weight > 0 else None
                if kl is not None:
                    loss = loss + kl_weight * kl
                field_prior.observe(model)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        field_prior.end_task(model)
        matrix.append([evaluate(model, other.x_test, other.y_test, "mean") for other in tasks])
    final = {
        mode: [evaluate(model, task.x_test, task.y_test, mode, draws=sample_draws, seed=seed) for task in tasks]
        for mode in FORWARD_MODES
    }
    result = {
        "accuracy_matrix": matrix,
        "final": final,
        "average_accuracy": sum(final["mean"]) / len(tasks),
        "betas": betas,
    }
    for mode in FORWARD_MODES:
        result[f"average_accuracy_{mode}"] = sum(final[mode]) / len(tasks)
    return result


@dataclass
class BinaryContinualArguments(RecipeArguments):
    max_steps: int = field(
        default=0, metadata={"help": "Optimisation steps; 0 (default): num_tasks × epochs_per_task × batches/epoch."}
    )
    checkpoint_every: int = field(default=100, metadata={"help": "Save a resumable checkpoint every N steps."})
    num_tasks: int = field(default=5, metadata={"help": "Number of permuted-digits tasks learned in sequence."})
    epochs_per_task: int = field(default=5, metadata={"help": "Epochs on each task."})
    prior: str = field(
        default="previous_task",
        metadata={
            "help": f"KL prior, one of {PRIORS}: the previous task's fields (paper), streaming (official), none."
        },
    )
    kl_weight: float = field(
        default=-1.0,
        metadata={
            "help": "Weight of Σ KL next to the mean cross-entropy; < 0 (default): 1/batch_size for the streaming "
            "prior, 1/N_train for the previous-task prior."
        },
    )
    learning_rate: float = field(default=0.01, metadata={"help": "Adam learning rate (betas 0.9, 0.99)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_size: int = field(default=256, metadata={"help": "Width of each hidden binary layer."})
    num_hidden_layers: int = field(default=1, metadata={"help": "Number of hidden binary layers."})
    beta_schedule: str = field(default="tanh", metadata={"help": "'tanh' (annealed over the run) or 'constant'."})
    beta_max: float = field(default=10.0, metadata={"help": "β_max of β = β_max·tanh(0.1 + 2·progress)."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as each task's test set."})

    def validate(self) -> None:
        super().validate()
        if self.prior not in PRIORS:
            raise ValueError(f"--prior must be one of {PRIORS}, got {self.prior!r}")
        for name in ("num_tasks", "epochs_per_task", "batch_size", "hidden_size", "num_hidden_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.beta_schedule not in ("tanh", "constant"):
            raise ValueError(f"--beta_schedule must be 'tanh' or 'constant', got {self.beta_schedule!r}")
        if not self.beta_max > 0:
            raise ValueError(f"--beta_max must be > 0, got {self.beta_max}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    def effective_kl_weight(self, num_examples: int) -> float:
        """`--kl_weight`, or [`default_kl_weight`] when it is negative."""
        return default_kl_weight(self.prior, self.batch_size, num_examples) if self.kl_weight < 0 else self.kl_weight


__all__ = [
    "PRIORS",
    "BinaryContinualArguments",
    "FieldPrior",
    "PermutedTask",
    "continual_beta",
    "default_kl_weight",
    "evaluate",
    "permuted_digits_tasks",
    "train_continual",
]
