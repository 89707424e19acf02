"""Training pieces shared by `recipes/pointer_net.py`, the claim check and the tests.

- [`PointerNetArguments`]: the recipe's arguments; `args.pointer_net_config()` builds the `PointerNetConfig`;
- [`train_pointer_net`]: teacher-forced cross-entropy on a fixed training set (Adam, L2 gradient clipping);
- [`evaluate_pointer_net`]: decodes a task's examples (greedy or beam, constrained) and returns per-example metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_pointer_net import PointerNetConfig
from .tasks import (
    TASKS,
    hull_accuracy,
    hull_area_coverage,
    position_accuracy,
    repeats_a_position,
    sequence_accuracy,
)

#: The decoding constraint each task is decoded under (the paper restricts beams to valid outputs).
TASK_CONSTRAINT = {"sorting": "permutation", "convex_hull": "cycle"}
TASK_INPUT_DIM = {"sorting": 1, "convex_hull": 2}


@dataclass
class PointerNetArguments(RecipeArguments):
    max_steps: int = field(default=300, metadata={"help": "Number of optimisation steps."})
    task: str = field(default="sorting", metadata={"help": f"Task, one of {TASKS}."})
    min_points: int = field(default=5, metadata={"help": "Fewest input points of a training example."})
    max_points: int = field(default=10, metadata={"help": "Most input points of a training example."})
    eval_points: int = field(
        default=10, metadata={"help": "Input points of every evaluation example (above --max_points: generalisation)."}
    )
    hidden_size: int = field(default=64, metadata={"help": "LSTM width (the paper: 256 or 512)."})
    num_layers: int = field(default=1, metadata={"help": "Stacked LSTM layers (the paper: 1)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    max_grad_norm: float = field(default=2.0, metadata={"help": "L2 gradient clipping (the paper: 2.0)."})
    batch_size: int = field(default=128, metadata={"help": "Training batch size (the paper: 128)."})
    num_train_examples: int = field(default=20000, metadata={"help": "Training examples drawn from --seed."})
    num_eval_examples: int = field(default=500, metadata={"help": "Evaluation examples (a different seed)."})
    num_beams: int = field(default=1, metadata={"help": "Beam width of the evaluation decoding (1: greedy)."})

    def validate(self) -> None:
        super().validate()
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {TASKS}, got {self.task!r}")
        smallest = 3 if self.task == "convex_hull" else 1
        if self.min_points < smallest:
            raise ValueError(f"--min_points must be >= {smallest} for --task {self.task}, got {self.min_points}")
        if self.max_points < self.min_points:
            raise ValueError(f"--max_points must be >= --min_points ({self.min_points}), got {self.max_points}")
        if self.eval_points < smallest:
            raise ValueError(f"--eval_points must be >= {smallest} for --task {self.task}, got {self.eval_points}")
        for name in (
            "hidden_size",
            "num_layers",
            "batch_size",
            "num_train_examples",
            "num_eval_examples",
            "num_beams",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")

    def pointer_net_config(self) -> PointerNetConfig:
        """The `PointerNetConfig` of this run (input dimension from the task)."""
        return PointerNetConfig(
            input_dim=TASK_INPUT_DIM[self.task], hidden_size=self.hidden_size, num_layers=self.num_layers
        )


def train_pointer_net(
    model,
    train_data: dict[str, torch.Tensor],
    *,
    steps: int,
    batch_size: int,
    learning_rate: float = 1e-3,
    max_grad_norm: float = 2.0,
    seed: int = 0,
    log_every: int = 0,
) -> list[float]:
    """Trains `model` (a `PointerNetForSequenceOrdering`) by teacher forcing for `steps` steps on `train_data`.

    `train_data` is a fixed training set (as in the paper), e.g. `make_task(...)`; each step takes `batch_size`
    examples drawn without replacement within an epoch from a generator seeded with `seed`. Adam with L2 gradient
    clipping at `max_grad_norm` (the paper: SGD, learning rate 1.0, clipping 2.0). Returns the loss of every step.
    """
    for name in ("steps", "batch_size"):
        value = locals()[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    missing = {"points", "attention_mask", "labels"} - set(train_data)
    if missing:
        raise ValueError(f"`train_data` lacks {sorted(missing)} (build it with `make_task`).")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    size = len(train_data["points"])
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    model.train()
    losses, order = [], torch.empty(0, dtype=torch.long)
    for step in range(steps):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(size, generator=generator)])
        index, order = order[:batch_size], order[batch_size:]
        batch = {k: v[index] for k, v in train_data.items()}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step + 1 == steps):
            print(f"  step {step:5d}  loss {loss.item():.4f}", flush=True)
    model.eval()
    return losses


@torch.no_grad()
def evaluate_pointer_net(
    model, task: str, data: dict[str, torch.Tensor], *, num_beams: int = 1, batch_size: int = 256
) -> dict[str, list[float]]:
    """Decodes `data` under the task's constraint and returns per-example metrics.

    Sorting: `sequence_accuracy`, `position_accuracy`, `repeats`. Convex hull: `hull_accuracy` (the same polygon
    as the true hull, any start), `area_coverage` (0 for an invalid polygon), `valid`, `repeats`.
    """
    was_training = model.training
    model.eval()
    constraint = TASK_CONSTRAINT[task]
    metrics: dict[str, list[float]] = {}
    for start in range(0, len(data["points"]), batch_size):
        part = {k: v[start : start + batch_size] for k, v in data.items()}
        decoded = model.generate(
            part["points"], part["attention_mask"], num_beams=num_beams, constraint=constraint
        ).sequences
        rows = {"repeats": repeats_a_position(decoded, closed=constraint == "cycle")}
        if task == "sorting":
            rows["sequence_accuracy"] = sequence_accuracy(decoded, part["labels"])
            rows["position_accuracy"] = position_accuracy(decoded, part["labels"])
        else:
            rows["hull_accuracy"] = hull_accuracy(decoded, part["labels"])
            coverage = hull_area_coverage(part["points"], part["attention_mask"], decoded)
            rows["area_coverage"] = coverage
            rows["valid"] = [float(c > 0) for c in coverage]
        for key, values in rows.items():
            metrics.setdefault(key, []).extend(values)
    model.train(was_training)
    return metrics


__all__ = ["TASK_CONSTRAINT", "PointerNetArguments", "evaluate_pointer_net", "train_pointer_net"]
