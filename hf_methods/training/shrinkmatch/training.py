"""Training pieces shared by `recipes/shrinkmatch.py`, the claim check, the tests and cross-method comparisons.

- [`ShrinkMatchArguments`]: the arguments of `recipes/shrinkmatch.py`;
- [`ssl_digits`]: scikit-learn's digits with a few labels per class, every training image unlabelled too;
- [`as_datasets`]: labelled / unlabelled `datasets.Dataset`s (torch format) for [`ShrinkMatchTrainer`];
- [`digits_model`]: the MLP classifier wrapped with the auxiliary head; [`make_optimizer`], [`make_scheduler`]
  (SGD with Nesterov momentum, no decay on biases and norms, cosine decay to cos(7π/16), as the official code);
- [`train_ssl`]: ShrinkMatch or FixMatch in plain torch on tensors (labelled / unlabelled / test in, metrics out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.ema import ema_teacher
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .modeling import AuxHeadWrapper
from .objective import ShrinkMatchState, augment_views, default_views, ssl_step, step_generator, unlabeled_indices

NUM_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)
METHODS = ("shrinkmatch", "fixmatch")
#: the official cosine schedule ends at cos(π · 7/16) of the initial learning rate
NUM_CYCLES = 7.0 / 16.0


@dataclass
class ShrinkMatchArguments(RecipeArguments):
    max_steps: int = field(default=600, metadata={"help": "Optimisation steps."})
    checkpoint_every: int = field(default=200, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    method: str = field(default="shrinkmatch", metadata={"help": f"One of {METHODS} (fixmatch: no shrink term)."})
    labels_per_class: int = field(default=3, metadata={"help": "Labelled digits per class; the rest is unlabelled."})
    threshold: float = field(default=0.95, metadata={"help": "Confidence threshold τ of the pseudo-labels."})
    lambda_u: float = field(default=1.0, metadata={"help": "Weight λ_u of the unlabelled terms."})
    mu: int = field(default=7, metadata={"help": "Unlabelled samples per labelled sample in a step."})
    batch_size: int = field(default=16, metadata={"help": "Labelled samples per step and process."})
    learning_rate: float = field(default=0.03, metadata={"help": "SGD (Nesterov) learning rate, cosine-decayed."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-4, metadata={"help": "Weight decay (not on biases and norms)."})
    ema_momentum: float = field(default=0.999, metadata={"help": "Momentum of the EMA model that is saved."})
    ratio_momentum: float = field(default=0.999, metadata={"help": "Momentum of the certain-sample ratio r̄."})
    no_ratio_reweighting: bool = field(default=False, metadata={"help": "Do not multiply the shrink loss by r̄."})
    distribution_alignment: bool = field(default=False, metadata={"help": "Align the weak-view probabilities."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers of the MLP."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {METHODS}, got {self.method!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in (0, 1], got {self.threshold}")
        for name in ("labels_per_class", "mu", "batch_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        for name in ("lambda_u", "momentum", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in ("ema_momentum", "ratio_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        if self.method == "shrinkmatch" and self.mu * self.batch_size < 2:
            raise ValueError("--mu × --batch_size must be >= 2 (the auxiliary head's batch norm needs 2 samples)")


@dataclass
class SSLDigits:
    """One seed's split: the labelled few (`x_labeled`, `y_labeled`), all training images unlabelled (`x_unlabeled`,
    with their hidden labels `y_unlabeled` for diagnostics only) and the test set."""

    x_labeled: torch.Tensor
    y_labeled: torch.Tensor
    x_unlabeled: torch.Tensor
    y_unlabeled: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def ssl_digits(seed: int, labels_per_class: int = 3, *, test_size: float = 0.2) -> SSLDigits:
    """Digits (flat, in [0, 1]) with `labels_per_class` labelled training images per class, chosen by `seed`.

    As the official split (`x_u_split(..., include_labeled=True)`), the unlabelled set is the whole training split,
    labelled images included.
    """
    from hf_methods.common.data import load_digits

    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, int) or labels_per_class < 1:
        raise ValueError(f"labels_per_class must be an int >= 1, got {labels_per_class!r}")
    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for label in range(NUM_CLASSES):
        members = (y == label).nonzero()[:, 0]
        if len(members) < labels_per_class:
            raise ValueError(f"labels_per_class={labels_per_class} exceeds the {len(members)} images of class {label}")
        chosen.append(members[torch.randperm(len(members), generator=gen)[:labels_per_class]])
    idx = torch.cat(chosen).sort().values
    x_test, y_test = test.tensors()
    return SSLDigits(x[idx], y[idx], x, y, x_test, y_test)


def as_datasets(data: SSLDigits):
    """`(labeled, unlabeled)` `datasets.Dataset`s in torch format: `pixel_values` + `labels`, and `pixel_values`."""
    from datasets import Dataset

    labeled = Dataset.from_dict({"pixel_values": data.x_labeled.numpy(), "labels": data.y_labeled.numpy()})
    unlabeled = Dataset.from_dict({"pixel_values": data.x_unlabeled.numpy()})
    return labeled.with_format("torch"), unlabeled.with_format("torch")


def digits_model(hidden_size: int = 256, num_labels: int = NUM_CLASSES, input_size: int = 64) -> AuxHeadWrapper:
    """The ReLU MLP `input_size`-h-h-`num_labels` (`MLPForImageClassification`) with the auxiliary head (h → h/4 →
    h/4 → C)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=input_size, hidden_sizes=[hidden_size] * 2, hidden_act="relu", num_labels=num_labels)
    return AuxHeadWrapper(MLPForImageClassification(config), num_labels=num_labels)


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4):
    """SGD with Nesterov momentum; no weight decay on biases and batch-norm parameters (the official grouping)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.dim() <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int):
    """`transformers`' cosine schedule without warm-up, with the official `num_cycles = 7/16` (ends at cos(7π/16))."""
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, 0, total_steps, num_cycles=NUM_CYCLES)


def labeled_indices(step: int, num_labeled: int, batch_size: int, seed: int) -> torch.Tensor:
    """The labelled indices of `step` (seeded passes over the labelled set, another stream than the unlabelled one)."""
    return unlabeled_indices(step, num_labeled, batch_size, seed + 7_777_777)


def train_ssl(
    x_labeled: torch.Tensor,
    y_labeled: torch.Tensor,
    x_unlabeled: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    method: str = "shrinkmatch",
    seed: int = 0,
    steps: int = 1000,
    batch_size: int = 16,
    mu: int = 7,
    lr: float = 0.03,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    threshold: float = 0.95,
    lambda_u: float = 1.0,
    ema_momentum: float = 0.999,
    ratio_momentum: float = 0.999,
    ratio_reweighting: bool = True,
    distribution_alignment: bool = False,
    hidden_size: int = 256,
    image_shape: tuple[int, int, int] = IMAGE_SHAPE,
    eval_every: int = 100,
    log_every: int = 10,
) -> dict:
    """ShrinkMatch (`method="shrinkmatch"`) or FixMatch (`"fixmatch"`) in plain torch on tensors; returns metrics.

    The initial weights, batches and augmentations depend on `seed` only, so both methods of a seed start from the
    same network and see the same data. Flat inputs are viewed as `image_shape` for the augmentations.

    Returns:
        `dict` with `test_accuracy` (EMA model, as the paper reports), `student_test_accuracy`, `curve` (`[step,
        EMA test accuracy]` every `eval_every` steps), `stats` (per `log_every` window: step, certain ratio, shrunk
        ratio, gradient fraction, r̄) and the whole-run means of the per-step statistics.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    num_labels = int(max(y_labeled.max().item(), y_test.max().item())) + 1
    torch.manual_seed(seed)
    model = digits_model(hidden_size, num_labels=num_labels, input_size=x_labeled[0].numel())
    teacher = ema_teacher(model, ema_momentum)
    state = ShrinkMatchState(num_labels, ratio_momentum)
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    scheduler = make_scheduler(optimizer, steps)
    weak_fn, strong_fn = default_views()
    shrink = method == "shrinkmatch"
    curve, stats, window = [], [], []
    model.train()
    for step in range(steps):
        gen = step_generator(seed, step)
        li = labeled_indices(step, len(y_labeled), batch_size, seed)
        ui = unlabeled_indices(step, len(x_unlabeled), mu * batch_size, seed)
        x_weak = augment_views(x_labeled[li], weak_fn, image_shape=image_shape, generator=gen)
        u = x_unlabeled[ui]
        u_weak = augment_views(u, weak_fn, image_shape=image_shape, generator=gen)
        u_strong = augment_views(u, strong_fn, image_shape=image_shape, generator=gen)
        out = ssl_step(
            model,
            x_weak,
            y_labeled[li],
            u_weak,
            u_strong,
            state=state,
            threshold=threshold,
            lambda_u=lambda_u,
            shrink=shrink,
            ratio_reweighting=ratio_reweighting,
            distribution_alignment=distribution_alignment,
        )
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        teacher.update_parameters(model)
        window.append((out.certain_ratio, out.shrunk_ratio, out.gradient_fraction, out.certain_ratio_ema))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            means = [sum(v) / len(v) for v in zip(*window)]
            stats.append([step + 1, *means])
            window = []
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            curve.append([step + 1, accuracy(teacher.module, x_test, y_test, input_name="pixel_values")])
    if not math.isfinite(out.loss.item()):
        raise FloatingPointError(f"{method} diverged (loss {out.loss.item()})")
    return {
        "test_accuracy": curve[-1][1],
        "student_test_accuracy": accuracy(model, x_test, y_test),
        "curve": curve,
        "stats": stats,
        "stats_columns": ["step", "certain_ratio", "shrunk_ratio", "gradient_fraction", "certain_ratio_ema"],
    }


def early_mean(stats: list[list[float]], column: int, fraction: float, steps: int) -> float:
    """The mean of a `stats` column over the windows that end within the first `fraction` of `steps`."""
    rows = [row[column] for row in stats if row[0] <= fraction * steps]
    if not rows:
        raise ValueError(f"no statistics window ends within the first {fraction:.0%} of {steps} steps")
    return sum(rows) / len(rows)
