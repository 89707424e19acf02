"""Training pieces shared by `recipes/mixturegrowth.py`, the claim check and the tests.

- [`MixtureGrowthArguments`]: the arguments of `recipes/mixturegrowth.py` (every knob a flag, checked);
- [`classification_data`]: a seeded synthetic classification task (scikit-learn's `make_classification`,
  standardised) or scikit-learn's digits, as tensors;
- [`make_optimizer`] (SGD with Nesterov momentum; no weight decay on the mixing coefficients, as in the official
  code) and [`growth_schedule`] (a cosine decay over the members' phase, then a cosine decay from the growth
  learning rate over the grown phase);
- [`train_epochs`]: the plain-torch loop of the claim check, with the test accuracy after every epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .configuration_mixturegrowth import TemplateMixingConfig
from .modeling_mixturegrowth import GROWTH_COEFFICIENTS, TemplateMixingMLP

DATASETS = ("classification", "digits")


@dataclass
class TensorSplit:
    """`x`, `y` to train on and `x_test`, `y_test` to evaluate on; `num_classes`, `num_features`."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_features(self) -> int:
        return self.x.shape[1]

    @property
    def num_classes(self) -> int:
        return int(torch.cat([self.y, self.y_test]).max()) + 1


def classification_data(
    dataset: str = "classification",
    *,
    seed: int = 0,
    n_samples: int = 5000,
    n_features: int = 40,
    n_informative: int = 20,
    n_classes: int = 20,
    class_sep: float = 1.0,
    test_size: float = 0.2,
) -> TensorSplit:
    """A seeded train/test split as float32 / int64 tensors.

    `"classification"`: `sklearn.datasets.make_classification(n_samples, n_features, n_informative,
    n_redundant=n_features//4, n_classes, n_clusters_per_class=2, class_sep)`, split stratified, standardised with the
    training mean and std. `"digits"`: scikit-learn's 8×8 digits in [0, 1] (`hf_methods.common.data.load_digits`).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "digits":
        from hf_methods.common.data import load_digits

        train, test = load_digits(test_size=test_size, seed=seed)
        (x, y), (x_test, y_test) = train.tensors(), test.tensors()
        return TensorSplit(x.float(), y.long(), x_test.float(), y_test.long())
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=n_features // 4,
        n_classes=n_classes,
        n_clusters_per_class=2,
        class_sep=class_sep,
        random_state=seed,
    )
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return TensorSplit(as_x(x_train), torch.tensor(y_train), as_x(x_test), torch.tensor(y_test))


def make_optimizer(
    model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4
) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum; the mixing coefficients get no weight decay (official `get_optimizer`)."""
    coefficients = [p for n, p in model.named_parameters() if n.endswith("coefficients")]
    others = [p for n, p in model.named_parameters() if not n.endswith("coefficients")]
    groups = [{"params": coefficients, "weight_decay": 0.0}, {"params": others, "weight_decay": weight_decay}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)


def growth_schedule(
    optimizer: torch.optim.Optimizer, member_steps: int, grown_steps: int, growth_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate factor: `½(1 + cos(π t/member_steps))` over the members' steps, then `growth_lr_ratio ·
    ½(1 + cos(π t'/grown_steps))` over the grown network's steps (a reset schedule, as the official
    `reset_lr_scheduler_growing`). A `LambdaLR`: stepped once per optimisation step, checkpointed with the run."""

    def factor(step: int) -> float:
        if step < member_steps:
            return 0.5 * (1 + math.cos(math.pi * step / member_steps))
        t = (step - member_steps) / max(grown_steps, 1)
        return growth_lr_ratio * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int):
    """`transformers`' cosine decay to 0 over `total_steps`, no warm-up."""
    from transformers import get_scheduler

    return get_scheduler("cosine", optimizer, num_warmup_steps=0, num_training_steps=total_steps)


def train_epochs(
    model: TemplateMixingMLP,
    data: TensorSplit,
    *,
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
) -> list[float]:
    """Trains `model` in plain torch for `epochs` (SGD, cosine decay from `lr` to 0) and returns the test accuracy
    after each epoch. The batch order depends on `seed` only."""
    n = len(data.y)
    steps_per_epoch = -(-n // batch_size)
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    scheduler = cosine_schedule(optimizer, epochs * steps_per_epoch)
    order = torch.Generator().manual_seed(seed)
    curve = []
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=order).split(batch_size):
            loss = model(pixel_values=data.x[idx], labels=data.y[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        curve.append(accuracy(model, data.x_test, data.y_test))
    return curve


@torch.no_grad()
def member_accuracies(model: TemplateMixingMLP, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Test accuracy of each member of a two-member model before growth."""
    was_training = model.training
    model.eval()
    member_logits = model(pixel_values=x).member_logits
    model.train(was_training)
    return [(member_logits[:, m].argmax(-1) == y).float().mean().item() for m in range(member_logits.shape[1])]


@dataclass
class MixtureGrowthArguments(RecipeArguments):
    max_steps: int = field(
        default=1890, metadata={"help": "Optimisation steps in all (1890 = 30 epochs of 63 batches)."}
    )
    grow_at_step: int = field(
        default=1260,
        metadata={"help": "Step at which the two members are grown into one network (1260 = 20 epochs)."},
    )
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    dataset: str = field(
        default="classification",
        metadata={
            "help": "'classification' (make_classification: 5000 samples, 40 features, 20 classes) or 'digits'."
        },
    )
    member_width: int = field(default=64, metadata={"help": "Hidden width of each member (the grown net: twice it)."})
    num_hidden_layers: int = field(default=2, metadata={"help": "Number of hidden layers."})
    num_templates: int = field(default=2, metadata={"help": "Templates per template set."})
    coefs: str = field(
        default="orthogonal", metadata={"help": f"New coefficients at growth: one of {GROWTH_COEFFICIENTS}."}
    )
    coefs_scale: float = field(default=1.0, metadata={"help": "Norm of the new coefficients."})
    learning_rate: float = field(default=0.1, metadata={"help": "SGD learning rate of the members (cosine decay)."})
    growth_learning_rate: float = field(
        default=0.01, metadata={"help": "SGD learning rate after growth (a new cosine decay)."}
    )
    momentum: float = field(default=0.9, metadata={"help": "SGD (Nesterov) momentum."})
    weight_decay: float = field(default=5e-4, metadata={"help": "Weight decay of templates and batch norm."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of the data held out for testing."})

    def validate(self) -> None:
        super().validate()
        if self.dataset not in DATASETS:
            raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.coefs not in GROWTH_COEFFICIENTS or self.coefs == "none":
            choices = [c for c in GROWTH_COEFFICIENTS if c != "none"]
            raise ValueError(f"--coefs must be one of {choices}, got {self.coefs!r}")
        for name in ("member_width", "num_hidden_layers", "num_templates", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "growth_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.coefs_scale < 0 or self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("--coefs_scale, --momentum and --weight_decay must be >= 0")
        if not 0 <= self.grow_at_step <= self.max_steps:
            raise ValueError(f"--grow_at_step must be in [0, --max_steps={self.max_steps}], got {self.grow_at_step}")
        if not 0 < self.test_size < 1:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    def build_config(self, num_features: int, num_classes: int) -> TemplateMixingConfig:
        """The two-member network (members of width `member_width`) that the recipe trains and grows."""
        sets = [0, 1, 2, 3] if self.coefs == "random_init" else [0, 1, 0, 1]
        return TemplateMixingConfig(
            input_size=num_features,
            hidden_sizes=[2 * self.member_width] * self.num_hidden_layers,
            num_labels=num_classes,
            num_templates=self.num_templates,
            num_members=2,
            block_template_sets=sets,
        )


__all__ = [
    "DATASETS",
    "MixtureGrowthArguments",
    "TensorSplit",
    "accuracy",
    "classification_data",
    "cosine_schedule",
    "growth_schedule",
    "make_optimizer",
    "member_accuracies",
    "train_epochs",
]
