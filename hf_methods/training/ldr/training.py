"""Training pieces shared by `recipes/ldr.py`, the claim check and the tests: a tanh MLP on noisy-label digits.

- [`LDRArguments`]: the arguments of `recipes/ldr.py`; `args.build_loss(num_samples)` builds the chosen loss;
- [`noisy_digits`]: scikit-learn's digits split into train and clean test, a fraction of the training labels
  corrupted, optionally with a validation part carved from the (noisy) training set;
- [`digits_mlp`], [`make_optimizer`], [`make_scheduler`] (the step decay of the official experiments);
- [`accuracy`] and [`train_on_noisy_digits`] (the plain-torch loop of the claim check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .loss import LOSSES, build_loss, needs_index

NUM_CLASSES = 10
DECAY_FRACTIONS = (0.5, 0.75)


@dataclass
class LDRArguments(RecipeArguments):
    max_steps: int = field(default=2300, metadata={"help": "Optimisation steps (2300 ≈ 100 epochs of 23 batches)."})
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    loss: str = field(default="aldr_kl", metadata={"help": f"The training loss: one of {sorted(LOSSES)}."})
    noise_rate: float = field(default=0.6, metadata={"help": "Fraction of training labels corrupted."})
    noise_kind: str = field(default="uniform", metadata={"help": "'uniform' (another class at random) or 'flip'."})
    learning_rate: float = field(
        default=1e-3, metadata={"help": "SGD learning rate (divided by 10 at 1/2 and 3/4 of the run)."}
    )
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-3, metadata={"help": "SGD weight decay (L2 penalty)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    lambda_: float = field(default=10.0, metadata={"help": "λ of LDR-KL, λ0 of ALDR-KL."})
    margin: float = field(default=0.1, metadata={"help": "Margin c of LDR-KL / ALDR-KL."})
    alpha: float = field(default=2.0, metadata={"help": "α > 1 of ALDR-KL (λ_i ∈ [λ0(1 − 1/α), λ0])."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two tanh hidden layers."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the clean test set."})

    def validate(self) -> None:
        super().validate()
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if not 0.0 <= self.noise_rate <= 1.0:
            raise ValueError(f"--noise_rate must be in [0, 1], got {self.noise_rate}")
        if self.noise_kind not in ("uniform", "flip"):
            raise ValueError(f"--noise_kind must be 'uniform' or 'flip', got {self.noise_kind!r}")
        for name in ("learning_rate", "batch_size", "hidden_size", "lambda_"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0 or self.momentum < 0 or self.margin < 0:
            raise ValueError("--weight_decay, --momentum and --margin must be >= 0")
        if self.alpha <= 1:
            raise ValueError(f"--alpha must be > 1, got {self.alpha}")

    def build_loss(self, num_samples: int) -> nn.Module:
        """The loss of `--loss` with this run's λ (λ0 for ALDR-KL), margin and α."""
        return loss_for(self.loss, num_samples, lambda_=self.lambda_, margin=self.margin, alpha=self.alpha)


def loss_for(name: str, num_samples: int, *, lambda_: float, margin: float, alpha: float) -> nn.Module:
    """`ce`, `ldr_kl` (λ, c) or `aldr_kl` (λ0, α, c, one temperature per training example)."""
    kwargs = {
        "ce": {},
        "ldr_kl": {"lambda_": lambda_, "margin": margin},
        "aldr_kl": {"lambda0": lambda_, "alpha": alpha, "margin": margin},
    }[name]
    return build_loss(name, num_samples=num_samples, **kwargs)


@dataclass
class NoisyDigits:
    """Tensors of one seed's split: `x`/`y_noisy`/`y_clean` to train on, `x_val`/`y_val` (noisy), clean test."""

    x: torch.Tensor
    y_noisy: torch.Tensor
    y_clean: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def noisy_digits(
    seed: int, noise_rate: float, *, kind: str = "uniform", test_size: float = 0.2, validation_size: float = 0.0
) -> NoisyDigits:
    """Digits with a fraction `noise_rate` of the training labels corrupted (seeded by `seed` only).

    With `validation_size > 0` that fraction of the training images (noisy labels and all) is set aside as a
    validation part, drawn by a seeded permutation after the noise, so validation labels are as noisy as training
    labels: a model or a hyper-parameter is chosen without ever seeing a clean label.
    """
    from hf_methods.common.data import add_label_noise, load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    noisy = torch.from_numpy(add_label_noise(train.y, noise_rate, NUM_CLASSES, kind=kind, seed=seed))
    x, y_clean = train.tensors()
    x_test, y_test = test.tensors()
    n_val = int(round(validation_size * len(noisy)))
    order = torch.randperm(len(noisy), generator=torch.Generator().manual_seed(10_000 + seed))
    val, fit = order[:n_val], order[n_val:].sort().values
    return NoisyDigits(x[fit], noisy[fit], y_clean[fit], x[val], noisy[val], x_test, y_test)


def digits_mlp(hidden_size: int = 256):
    """The tanh MLP 64-h-h-10 (`MLPForImageClassification`) of the recipe and the claim."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size] * 2, hidden_act="tanh", num_labels=NUM_CLASSES)
    return MLPForImageClassification(config)


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-3):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.MultiStepLR:
    """The official step decay: the learning rate divided by 10 at 50% and 75% of `total_steps`.

    `transformers.get_scheduler` has no step decay, so this is torch's library scheduler `MultiStepLR`, stepped once
    per optimisation step (milestones in steps, not epochs).
    """
    milestones = [int(f * total_steps) for f in DECAY_FRACTIONS]
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)


def train_on_noisy_digits(
    data: NoisyDigits,
    loss_name: str,
    *,
    seed: int,
    epochs: int,
    lr: float,
    lambda_: float = 10.0,
    margin: float = 0.1,
    alpha: float = 2.0,
    batch_size: int = 64,
    momentum: float = 0.9,
    weight_decay: float = 5e-3,
    hidden_size: int = 256,
) -> dict:
    """Trains the MLP with one loss in plain torch (no Accelerator: fast) and returns its accuracies.

    The initial weights and the batch order depend on `seed` only, so every loss and hyper-parameter of a seed starts
    from the same network and sees the same batches. Returns the clean test accuracy, the noisy validation accuracy
    (the model-selection criterion), the noisy and clean training accuracies and the per-epoch clean test curve.
    """
    n = len(data.y_noisy)
    torch.manual_seed(seed)
    model = digits_mlp(hidden_size)
    loss_fn = loss_for(loss_name, n, lambda_=lambda_, margin=margin, alpha=alpha)
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    steps_per_epoch = -(-n // batch_size)
    scheduler = make_scheduler(optimizer, epochs * steps_per_epoch)
    order = torch.Generator().manual_seed(seed)
    curve = []
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=order).split(batch_size):
            logits = model(pixel_values=data.x[idx]).logits
            loss = (
                loss_fn(logits, data.y_noisy[idx], idx) if needs_index(loss_fn) else loss_fn(logits, data.y_noisy[idx])
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        curve.append(accuracy(model, data.x_test, data.y_test))
    result = {
        "clean_test_accuracy": curve[-1],
        "noisy_validation_accuracy": accuracy(model, data.x_val, data.y_val),
        "noisy_train_accuracy": accuracy(model, data.x, data.y_noisy),
        "clean_train_accuracy": accuracy(model, data.x, data.y_clean),
        "curve": curve,
    }
    if needs_index(loss_fn):
        result["lambda_mean"] = loss_fn.lambdas.mean().item()
    return result
