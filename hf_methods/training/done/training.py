"""Training pieces shared by `recipes/done.py`, the claim check and the tests: adversarial training of an MLP on digits.

- [`DONEArguments`]: the arguments of `recipes/done.py` (every knob a flag, validated);
- [`digits_tensors`]: scikit-learn digits as tensors (wrap them in `common.batches.TensorDictDataset` for a loader);
- [`digits_mlp`], [`make_optimizer`], [`make_scheduler`]: the ReLU MLP, SGD and its step decay;
- [`robust_training_loss`]: one step's loss, AT (`r=None`: the plain mean) or DONE (KL-DRO weighted);
- [`evaluate_robustness`] and [`train_robust_digits`] (the plain-torch loop of the claim check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.adversarial import PGDConfig, classwise_robust_accuracy
from hf_methods.harness.recipe import RecipeArguments

from .loss import DONEWeightedLoss
from .trainer import OBJECTIVES, adversarial_per_sample_losses

NUM_CLASSES = 10
DECAY_FRACTIONS = (0.5, 0.75)
METHODS = ("done", "at")


@dataclass
class DONEArguments(RecipeArguments):
    max_steps: int = field(default=920, metadata={"help": "Optimisation steps (920 = 40 epochs of 23 batches)."})
    checkpoint_every: int = field(default=230, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=46, metadata={"help": "Log training metrics every N steps."})
    method: str = field(
        default="done", metadata={"help": "'done' (KL-DRO weighted) or 'at' (plain adversarial training, r = ∞)."}
    )
    r: float = field(default=2.0, metadata={"help": "KL regularisation strength r > 0 of DONE's weights."})
    beta: float = field(default=0.9, metadata={"help": "Moving-average rate β ∈ (0, 1] of the normaliser u."})
    objective: str = field(default="ce", metadata={"help": "Per-example adversarial loss: 'ce' or 'trades'."})
    trades_beta: float = field(default=6.0, metadata={"help": "β of TRADES (with --objective trades)."})
    eps: float = field(default=0.1, metadata={"help": "ℓ∞ radius of the PGD attack (pixels in [0, 1])."})
    attack_steps: int = field(default=5, metadata={"help": "PGD steps of the training attack (step 2.5·eps/steps)."})
    eval_attack_steps: int = field(default=20, metadata={"help": "PGD steps of the evaluation attack."})
    learning_rate: float = field(
        default=0.05, metadata={"help": "SGD learning rate (divided by 10 at 1/2 and 3/4 of the run)."}
    )
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-4, metadata={"help": "SGD weight decay (L2 penalty)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {METHODS}, got {self.method!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if not (self.r > 0 and math.isfinite(self.r)):
            raise ValueError(f"--r must be a positive finite number, got {self.r}")
        if not 0.0 < self.beta <= 1.0:
            raise ValueError(f"--beta must be in (0, 1], got {self.beta}")
        if self.eps < 0:
            raise ValueError(f"--eps must be >= 0, got {self.eps}")
        for name in ("attack_steps", "eval_attack_steps", "batch_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0 or self.momentum < 0 or self.trades_beta < 0:
            raise ValueError("--weight_decay, --momentum and --trades_beta must be >= 0")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    def train_attack(self) -> PGDConfig:
        return PGDConfig(eps=self.eps, steps=self.attack_steps)

    def eval_attack(self) -> PGDConfig:
        return PGDConfig(eps=self.eps, steps=self.eval_attack_steps)

    def build_weighted_loss(self) -> DONEWeightedLoss | None:
        """DONE's weighted loss with this run's r and β, or `None` for plain adversarial training."""
        return DONEWeightedLoss(r=self.r, beta=self.beta) if self.method == "done" else None


# ----------------------------------------------------------------------------------------------------------- data


def digits_tensors(seed: int, test_size: float = 0.2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn digits (balanced, pixels in [0, 1]) as `(x_train, y_train, x_test, y_test)`, split by `seed`."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    return (*train.tensors(), *test.tensors())


# ----------------------------------------------------------------------------------------------------------- model


def digits_mlp(hidden_size: int = 256):
    """The ReLU MLP 64-h-h-10 (`MLPForImageClassification`) of the recipe, the claim and the tests."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size] * 2, hidden_act="relu", num_labels=NUM_CLASSES)
    return MLPForImageClassification(config)


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.MultiStepLR:
    """The usual adversarial-training step decay: the learning rate divided by 10 at 50% and 75% of the steps.

    `transformers.get_scheduler` has no step decay, so this is torch's `MultiStepLR`, stepped once per step.
    """
    milestones = [int(f * total_steps) for f in DECAY_FRACTIONS]
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)


# ----------------------------------------------------------------------------------------------------------- one step


def robust_training_loss(
    model: nn.Module,
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    attack: PGDConfig,
    weighted_loss: DONEWeightedLoss | None,
    *,
    objective: str = "ce",
    trades_beta: float = 6.0,
    attack_model: nn.Module | None = None,
    generator: torch.Generator | None = None,
    gather=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss of one training step: the attack first, then `(1/B) Σ_i w_i ℓ_i` (DONE) or `(1/B) Σ_i ℓ_i` (AT).

    Returns `(loss, per_sample_losses, weights)`; the weights are all ones for AT (`weighted_loss=None`).
    """
    attack_model = attack_model or model

    def forward(m):
        return lambda z: m(pixel_values=z)

    losses, _ = adversarial_per_sample_losses(
        forward(model),
        pixel_values,
        labels,
        attack,
        objective=objective,
        trades_beta=trades_beta,
        attack_model=forward(attack_model),
        generator=generator,
    )
    if weighted_loss is None:
        return losses.mean(), losses.detach(), torch.ones_like(losses.detach())
    loss = weighted_loss.reweight(losses, gather)
    return loss, losses.detach(), weighted_loss.last_weights


def evaluate_robustness(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: PGDConfig, *, seed: int = 0
) -> dict[str, float | list[float]]:
    """Clean and PGD per-class accuracies (shared `classwise_robust_accuracy`), their means and worst classes."""
    robust = classwise_robust_accuracy(model, x, y, attack, NUM_CLASSES, generator=torch.Generator().manual_seed(seed))
    clean = classwise_robust_accuracy(model, x, y, None, NUM_CLASSES)
    return {
        "robust_accuracy": robust.overall,
        "worst_class_robust_accuracy": robust.worst,
        "worst_robust_class": robust.worst_class,
        "robust_per_class": robust.per_class,
        "clean_accuracy": clean.overall,
        "worst_class_clean_accuracy": clean.worst,
        "clean_per_class": clean.per_class,
    }


def train_robust_digits(
    seed: int,
    r: float | None,
    *,
    epochs: int,
    lr: float = 0.05,
    beta: float = 0.9,
    eps: float = 0.1,
    attack_steps: int = 5,
    eval_attack_steps: int = 20,
    batch_size: int = 64,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    hidden_size: int = 256,
    test_size: float = 0.2,
    objective: str = "ce",
    trades_beta: float = 6.0,
    eval_every: int = 0,
) -> dict:
    """Adversarially trains the digits MLP in plain torch (no Accelerator: fast) and returns its robustness.

    `r=None` is standard PGD adversarial training (uniform weights); a number trains DONE with that `r` and `β`.
    The split, the initial weights, the batch order and the attacks' random starts depend on `seed` only, so AT and
    DONE of one seed start from the same network and see the same batches. With `eval_every > 0` the test robust
    accuracy (overall and worst class) is also recorded every `eval_every` epochs (`curve`).
    """
    x, y, x_test, y_test = digits_tensors(seed, test_size)
    torch.manual_seed(seed)
    model = digits_mlp(hidden_size)
    weighted_loss = None if r is None else DONEWeightedLoss(r=r, beta=beta)
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    steps_per_epoch = -(-len(y) // batch_size)
    scheduler = make_scheduler(optimizer, epochs * steps_per_epoch)
    train_attack = PGDConfig(eps=eps, steps=attack_steps)
    eval_attack = PGDConfig(eps=eps, steps=eval_attack_steps)
    order = torch.Generator().manual_seed(seed)
    attack_rng = torch.Generator().manual_seed(1_000 + seed)
    curve, max_weight = [], 0.0
    model.train()
    for epoch in range(epochs):
        for idx in torch.randperm(len(y), generator=order).split(batch_size):
            loss, _, weights = robust_training_loss(
                model,
                x[idx],
                y[idx],
                train_attack,
                weighted_loss,
                objective=objective,
                trades_beta=trades_beta,
                generator=attack_rng,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            max_weight = max(max_weight, weights.max().item())
        if eval_every and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
            point = evaluate_robustness(model, x_test, y_test, eval_attack, seed=seed)
            curve.append((epoch + 1, point["robust_accuracy"], point["worst_class_robust_accuracy"]))
            model.train()
    result = evaluate_robustness(model, x_test, y_test, eval_attack, seed=seed)
    result["train_robust_accuracy"] = evaluate_robustness(model, x, y, eval_attack, seed=seed)["robust_accuracy"]
    result["curve"] = curve
    result["max_weight"] = max_weight
    return result


__all__ = [
    "DONEArguments",
    "digits_mlp",
    "digits_tensors",
    "evaluate_robustness",
    "make_optimizer",
    "make_scheduler",
    "robust_training_loss",
    "train_robust_digits",
]
