"""Training pieces shared by `recipes/data_diet.py`, the claim check and the tests: noisy-label digits, a ReLU MLP.

- [`DataDietArguments`]: the arguments of `recipes/data_diet.py`;
- [`noisy_digits_dataset`]: scikit-learn's digits as a `datasets.Dataset` (`pixel_values`, noisy `labels`,
  `clean_labels`, `sample_idx`) with a fraction of the training labels corrupted, plus the clean test tensors;
- [`digits_mlp`]: the 64-h-h-10 MLP (`MLPForImageClassification`);
- [`scoring_args`]: the scoring runs' `TrainingArguments`;
- [`make_optimizer`], [`make_scheduler`] (the official ×0.2 step decay), [`train_classifier`] (a plain-torch loop
  for a fixed number of steps, the claim's final training) and [`accuracy`].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .prune import MODES
from .scorer import SCORE_FUNCTIONS

NUM_CLASSES = 10
#: the official schedule decays ×0.2 at epochs 60/120/160 of 200: at 30%, 60% and 80% of the run
DECAY_FRACTIONS = (0.3, 0.6, 0.8)
DECAY_FACTOR = 0.2


@dataclass
class DataDietArguments(RecipeArguments):
    max_steps: int = field(default=1000, metadata={"help": "Steps of the final training on the pruned subset."})
    checkpoint_every: int = field(default=250, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    score: str = field(default="el2n", metadata={"help": f"The pruning score: one of {sorted(SCORE_FUNCTIONS)}."})
    n_runs: int = field(default=5, metadata={"help": "Independent scoring runs averaged (10 in the paper)."})
    score_epoch: int = field(
        default=-1,
        metadata={"help": "Epochs trained before scoring (-1: 3 for el2n, 0 for grand, at initialisation)."},
    )
    keep_frac: float = field(default=0.6, metadata={"help": "Fraction of the training set kept."})
    offset_frac: float = field(
        default=0.05,
        metadata={"help": "Fraction of the highest-scored (hardest, often mislabelled) examples skipped."},
    )
    mode: str = field(default="keep_max", metadata={"help": f"Which examples to keep: one of {list(MODES)}."})
    noise_rate: float = field(default=0.1, metadata={"help": "Fraction of training labels moved to another class."})
    learning_rate: float = field(default=0.1, metadata={"help": "SGD (Nesterov) learning rate, scoring and final."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-4, metadata={"help": "Weight decay."})
    batch_size: int = field(default=128, metadata={"help": "Batch size (scoring runs and final training)."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the clean test set."})

    def validate(self) -> None:
        super().validate()
        if self.score not in SCORE_FUNCTIONS:
            raise ValueError(f"--score must be one of {sorted(SCORE_FUNCTIONS)}, got {self.score!r}")
        if self.mode not in MODES:
            raise ValueError(f"--mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.n_runs < 1:
            raise ValueError(f"--n_runs must be >= 1, got {self.n_runs}")
        if self.score_epoch < -1:
            raise ValueError(f"--score_epoch must be >= 0 (or -1 for the score's default), got {self.score_epoch}")
        if not 0.0 < self.keep_frac <= 1.0:
            raise ValueError(f"--keep_frac must be in (0, 1], got {self.keep_frac}")
        if not 0.0 <= self.offset_frac < 1.0 or self.keep_frac + self.offset_frac > 1.0:
            raise ValueError(
                f"--offset_frac must be in [0, 1) with keep_frac + offset_frac <= 1, got {self.offset_frac}"
            )
        if self.mode == "random" and self.offset_frac:
            raise ValueError("--offset_frac must be 0 with --mode random")
        if not 0.0 <= self.noise_rate <= 1.0:
            raise ValueError(f"--noise_rate must be in [0, 1], got {self.noise_rate}")
        for name in ("learning_rate", "batch_size", "hidden_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("--momentum and --weight_decay must be >= 0")

    @property
    def resolved_score_epoch(self) -> int:
        """`--score_epoch`, with -1 resolved to the score's default (EL2N: 3 epochs; GraNd: 0, the initialisation)."""
        if self.score_epoch >= 0:
            return self.score_epoch
        return 3 if self.score == "el2n" else 0


@dataclass
class NoisyDigits:
    """One seed's data: the training set as a `datasets.Dataset` and the clean test tensors."""

    train: object  # datasets.Dataset with pixel_values, labels (noisy), clean_labels, sample_idx
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def is_noisy(self) -> torch.Tensor:
        """Boolean mask of the training examples whose label was corrupted."""
        table = self.train.with_format("torch", columns=["labels", "clean_labels"])[:]
        return table["labels"] != table["clean_labels"]


def noisy_digits_dataset(seed: int, noise_rate: float, *, test_size: float = 0.2) -> NoisyDigits:
    """Digits (1437 train / 360 test at `test_size=0.2`), a fraction `noise_rate` of the training labels moved to
    another class drawn uniformly (`hf_methods.common.data.add_label_noise`); split and noise depend on `seed` only."""
    from datasets import Dataset

    from hf_methods.common.data import add_label_noise, load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    noisy = add_label_noise(train.y, noise_rate, NUM_CLASSES, kind="uniform", seed=seed)
    dataset = Dataset.from_dict(
        {
            "pixel_values": train.x,
            "labels": noisy,
            "clean_labels": train.y,
            "sample_idx": list(range(len(train.y))),
        }
    )
    x_test, y_test = test.tensors()
    return NoisyDigits(dataset, x_test, y_test)


def digits_mlp(hidden_size: int = 256):
    """The ReLU MLP 64-h-h-10 (`MLPForImageClassification`) of the recipe and the claim."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size] * 2, hidden_act="relu", num_labels=NUM_CLASSES)
    return MLPForImageClassification(config)


def scoring_args(
    *, learning_rate: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 128, **extra
):
    """The scoring runs' `TrainingArguments` (SGD with Nesterov momentum, constant rate, on the CPU)."""
    from .scorer import default_scoring_args

    return default_scoring_args(
        learning_rate=learning_rate,
        optim_args=f"momentum={momentum},nesterov=True",
        weight_decay=weight_decay,
        per_device_train_batch_size=batch_size,
        use_cpu=True,
        **extra,
    )


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4):
    """SGD with Nesterov momentum, as in the official training script."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.MultiStepLR:
    """The official step decay (×0.2 at epochs 60, 120, 160 of 200) at the same fractions of `total_steps`.

    `transformers.get_scheduler` has no step decay, so this is torch's `MultiStepLR`, stepped once per step.
    """
    milestones = [int(f * total_steps) for f in DECAY_FRACTIONS]
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=DECAY_FACTOR)


def train_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int,
    steps: int,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    batch_size: int = 128,
    hidden_size: int = 256,
) -> nn.Module:
    """Trains a fresh MLP (initialised from `seed`) for a fixed number of steps on `(x, y)` in plain torch.

    The number of steps does not depend on the subset's size, as in the official code (`num_steps` is fixed and the
    epoch length follows the subset), so a pruned subset gets the same optimisation budget as the full set.
    """
    torch.manual_seed(seed)
    model = digits_mlp(hidden_size)
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    scheduler = make_scheduler(optimizer, steps)
    order = torch.Generator().manual_seed(seed)
    n, step = len(y), 0
    model.train()
    while step < steps:
        for idx in torch.randperm(n, generator=order).split(batch_size):
            loss = nn.functional.cross_entropy(model(pixel_values=x[idx]).logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step >= steps:
                break
    return model


__all__ = [
    "DataDietArguments",
    "NoisyDigits",
    "accuracy",
    "digits_mlp",
    "make_optimizer",
    "make_scheduler",
    "noisy_digits_dataset",
    "scoring_args",
    "train_classifier",
]
