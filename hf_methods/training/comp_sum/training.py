"""Training pieces shared by `recipes/comp_sum.py`, the claim check and the tests: a ReLU MLP on digits.

- [`CompSumArguments`]: the arguments of `recipes/comp_sum.py` (`args.attack()` builds the `PGDConfig`);
- [`OBJECTIVES`] and [`training_loss`]: one batch's loss for `comp_sum` (plain ℓ_τ), `adv_comp_sum` (the smooth
  adversarial comp-sum loss) or `trades` (the TRADES baseline);
- [`digits_tensors`], [`digits_mlp`], [`make_optimizer`];
- [`accuracy`], [`robust_accuracy`] and [`train_digits`] (the plain-torch loop of the claim check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.adversarial import PGDConfig, classwise_robust_accuracy
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .loss import comp_sum_loss, smooth_adv_comp_sum_loss, trades_loss

NUM_CLASSES = 10
OBJECTIVES = ("comp_sum", "adv_comp_sum", "trades")


@dataclass
class CompSumArguments(RecipeArguments):
    max_steps: int = field(default=690, metadata={"help": "Optimisation steps (690 = 30 epochs of 23 batches)."})
    checkpoint_every: int = field(default=230, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=23, metadata={"help": "Log training metrics every N steps."})
    objective: str = field(
        default="adv_comp_sum",
        metadata={"help": f"Training objective: one of {OBJECTIVES} (trades is the baseline)."},
    )
    tau: float = field(default=1.0, metadata={"help": "τ ≥ 0 of the comp-sum loss (0 exp, 1 CE, 1+q GCE, 2 MAE)."})
    nu: float = field(
        default=0.5,
        metadata={
            "help": "ν ≥ 0, weight of the smooth term of adv_comp_sum (the library default 6 flattens this MLP to a "
            "constant function on digits; see benchmarks/claims/comp_sum.py)."
        },
    )
    beta: float = field(default=6.0, metadata={"help": "β ≥ 0, weight of the KL term of trades."})
    eps: float = field(default=0.1, metadata={"help": "Radius of the attack ball (inputs in [0, 1])."})
    pgd_steps: int = field(default=10, metadata={"help": "PGD steps of the training attack."})
    pgd_step_size: float | None = field(default=None, metadata={"help": "PGD step size (default 2.5·eps/pgd_steps)."})
    norm: str = field(default="linf", metadata={"help": "Norm of the ball: 'linf' or 'l2'."})
    eval_pgd_steps: int = field(default=10, metadata={"help": "PGD steps of the robust-accuracy evaluation."})
    learning_rate: float = field(default=0.05, metadata={"help": "SGD learning rate (constant schedule)."})
    lr_scheduler_type: str = field(
        default="constant", metadata={"help": "A `transformers.get_scheduler` name, e.g. 'constant' or 'cosine'."}
    )
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-4, metadata={"help": "SGD weight decay (L2 penalty)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {OBJECTIVES}, got {self.objective!r}")
        for name in ("tau", "nu", "beta", "eps", "weight_decay", "momentum"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"--{name} must be a finite number >= 0, got {value}")
        for name in ("learning_rate", "batch_size", "hidden_size", "pgd_steps", "eval_pgd_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.pgd_step_size is not None and self.pgd_step_size <= 0:
            raise ValueError(f"--pgd_step_size must be > 0, got {self.pgd_step_size}")
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"--norm must be 'linf' or 'l2', got {self.norm!r}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        if self.objective != "comp_sum" and self.eps == 0:
            raise ValueError(f"--objective {self.objective} needs --eps > 0")

    def attack(self) -> PGDConfig:
        """The training attack."""
        return PGDConfig(eps=self.eps, steps=self.pgd_steps, step_size=self.pgd_step_size, norm=self.norm)

    def eval_attack(self) -> PGDConfig:
        """The attack of the robust-accuracy evaluation (same ball, `--eval_pgd_steps` steps, default step size)."""
        return PGDConfig(eps=self.eps, steps=self.eval_pgd_steps, norm=self.norm)


def training_loss(
    model: nn.Module,
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    objective: str,
    *,
    tau: float = 1.0,
    nu: float = 6.0,
    beta: float = 6.0,
    attack: PGDConfig | None = None,
    attack_in_eval_mode: bool = True,
) -> torch.Tensor:
    """One batch's loss for `objective` (`comp_sum`: ℓ_τ on clean inputs; `adv_comp_sum`: ℓ_τ + ν·sup‖ΔΔh‖₂;
    `trades`: CE + β·max KL). The attack runs with the model in eval mode (then back in train mode), as
    :class:`AdvCompSumTrainer` does."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")

    def forward(x):
        return model(pixel_values=x).logits

    if objective == "comp_sum":
        return comp_sum_loss(forward(pixel_values), labels, tau)

    # the attack's forwards see the model in eval mode; the loss's forwards (after it) in the caller's mode
    def attack_forward(x):
        was_training = model.training
        if attack_in_eval_mode:
            model.eval()
        try:
            return forward(x)
        finally:
            model.train(was_training)

    if objective == "adv_comp_sum":
        return smooth_adv_comp_sum_loss(forward, pixel_values, labels, tau, nu, attack, attack_model=attack_forward)
    return trades_loss(forward, pixel_values, labels, beta, attack, attack_model=attack_forward)


@dataclass
class DigitsData:
    """Tensors of one seed's split: `x`, `y` to train on and `x_test`, `y_test`."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits_tensors(seed: int, test_size: float = 0.2) -> DigitsData:
    """scikit-learn's digits in [0, 1] (1437 train / 360 test at `test_size=0.2`), split by `seed`."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    return DigitsData(*train.tensors(), *test.tensors())


def digits_mlp(hidden_size: int = 256):
    """The ReLU MLP 64-h-h-10 (`MLPForImageClassification`) of the recipe and the claim."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size] * 2, hidden_act="relu", num_labels=NUM_CLASSES)
    return MLPForImageClassification(config)


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: PGDConfig, *, seed: int = 0) -> float:
    """Accuracy under `pgd_attack` (cross-entropy objective, random start seeded by `seed`)."""
    generator = torch.Generator().manual_seed(seed)
    result = classwise_robust_accuracy(lambda z: model(pixel_values=z), x, y, attack, NUM_CLASSES, generator=generator)
    return result.overall


def train_digits(
    data: DigitsData,
    objective: str,
    *,
    seed: int,
    epochs: int,
    lr: float,
    tau: float = 1.0,
    nu: float = 6.0,
    beta: float = 6.0,
    attack: PGDConfig | None = None,
    eval_attacks: dict[str, PGDConfig] | None = None,
    eval_epochs: tuple[int, ...] = (),
    batch_size: int = 64,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    hidden_size: int = 256,
) -> dict:
    """Trains the MLP with one objective in plain torch (no Accelerator: fast) and returns its accuracies.

    The initial weights and the batch order depend on `seed` only, so every objective of a seed starts from the same
    network and sees the same batches (the attacks' random starts use torch's global generator, seeded here too).
    Returns the final clean test accuracy, the clean test accuracy after each epoch in `eval_epochs`
    (`accuracy_at_epoch`), the per-epoch clean test curve and, for each `name: attack` of `eval_attacks`, the final
    robust test accuracy under that attack as `result[name]`.
    """
    torch.manual_seed(seed)
    model = digits_mlp(hidden_size)
    model.train()
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    order = torch.Generator().manual_seed(seed)
    n = len(data.y)
    curve = []
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=order).split(batch_size):
            loss = training_loss(model, data.x[idx], data.y[idx], objective, tau=tau, nu=nu, beta=beta, attack=attack)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        curve.append(accuracy(model, data.x_test, data.y_test))
    result = {
        "clean_test_accuracy": curve[-1],
        "train_accuracy": accuracy(model, data.x, data.y),
        "accuracy_at_epoch": {str(e): curve[e - 1] for e in eval_epochs},
        "curve": curve,
    }
    for name, eval_attack in (eval_attacks or {}).items():
        result[name] = robust_accuracy(model, data.x_test, data.y_test, eval_attack, seed=seed)
    return result


__all__ = [
    "NUM_CLASSES",
    "OBJECTIVES",
    "CompSumArguments",
    "DigitsData",
    "accuracy",
    "digits_mlp",
    "digits_tensors",
    "make_optimizer",
    "robust_accuracy",
    "train_digits",
    "training_loss",
]
