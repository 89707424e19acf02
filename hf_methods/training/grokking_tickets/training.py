"""Training pieces shared by `recipes/grokking_tickets.py`, the claim check and the tests.

- [`GrokkingTicketsArguments`]: the arguments of the recipe (every knob a flag, validated);
- [`grokking_mlp`]: the seeded quadratic MLP of the check (p = 97, N = 500);
- [`make_optimizer`]: AdamW with β = (0.9, 0.98), over every parameter (the masked weights' originals included: a
  pruned weight gets no gradient, so it never comes back);
- [`train_full_batch`]: the plain-torch full-batch loop of the claim: trains, evaluates every `eval_every` steps and
  returns the accuracy curves, the first step at the test-accuracy threshold and the weights at memorisation (the
  first evaluation with perfect training accuracy), from which the memorisation ticket is drawn.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .callback import steps_to_accuracy
from .data import OPERATIONS, ModularArithmeticSplit, modular_arithmetic

MASK_KINDS = ("magnitude", "random", "dense")


@dataclass
class GrokkingTicketsArguments(RecipeArguments):
    max_steps: int = field(
        default=200, metadata={"help": "Full-batch steps of the ticket's (or control's) retraining."}
    )
    checkpoint_every: int = field(default=100, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=10, metadata={"help": "Log the training loss and test accuracy every N steps."})
    dense_steps: int = field(
        default=500,
        metadata={
            "help": "Full-batch steps of the dense run whose final weights are pruned. It must have generalised and "
            "cleaned up: at the defaults the test accuracy reaches 100% near step 240, but a ticket pruned at step "
            "300 stalls below 80% test accuracy, while one pruned at step 400-500 groks in about 70-80 steps."
        },
    )
    mask: str = field(
        default="magnitude",
        metadata={
            "help": "What is retrained from the initial weights: 'magnitude' (the grokking ticket), 'random' (a random "
            "mask with the ticket's per-layer densities) or 'dense' (no mask)."
        },
    )
    keep: float = field(
        default=0.5, metadata={"help": "Fraction of the weights kept by the ticket (global magnitude)."}
    )
    scope: str = field(default="global", metadata={"help": "'global' (one threshold, the paper's) or 'layer'."})
    modulus: int = field(default=97, metadata={"help": "The modulus p."})
    operation: str = field(default="add", metadata={"help": f"One of {sorted(OPERATIONS)}."})
    train_fraction: float = field(default=0.3, metadata={"help": "Fraction of the p² pairs used for training."})
    hidden_size: int = field(default=500, metadata={"help": "Hidden width N of the MLP."})
    hidden_act: str = field(default="quadratic", metadata={"help": "'quadratic' (z²) or 'relu'."})
    loss_type: str = field(default="mse", metadata={"help": "'mse' (to one-hot answers) or 'cross_entropy'."})
    learning_rate: float = field(default=1e-2, metadata={"help": "AdamW learning rate (constant)."})
    weight_decay: float = field(default=0.3, metadata={"help": "AdamW (decoupled) weight decay."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW β1."})
    adam_beta2: float = field(default=0.98, metadata={"help": "AdamW β2."})
    threshold: float = field(default=0.95, metadata={"help": "Test accuracy that counts as generalised."})

    def validate(self) -> None:
        super().validate()
        if self.mask not in MASK_KINDS:
            raise ValueError(f"--mask must be one of {MASK_KINDS}, got {self.mask!r}")
        if not 0.0 < self.keep <= 1.0:
            raise ValueError(f"--keep must be a fraction in (0, 1] (the fraction of weights kept), got {self.keep}")
        if self.scope not in ("global", "layer"):
            raise ValueError(f"--scope must be 'global' or 'layer', got {self.scope!r}")
        if self.operation not in OPERATIONS:
            raise ValueError(f"--operation must be one of {sorted(OPERATIONS)}, got {self.operation!r}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"--train_fraction must be in (0, 1), got {self.train_fraction}")
        if self.modulus < 2:
            raise ValueError(f"--modulus must be >= 2, got {self.modulus}")
        for name in ("hidden_size", "learning_rate", "dense_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in (0, 1], got {self.threshold}")
        if self.hidden_act not in ("quadratic", "relu"):
            raise ValueError(f"--hidden_act must be 'quadratic' or 'relu', got {self.hidden_act!r}")
        if self.loss_type not in ("mse", "cross_entropy"):
            raise ValueError(f"--loss_type must be 'mse' or 'cross_entropy', got {self.loss_type!r}")

    def split(self) -> ModularArithmeticSplit:
        """The train/test split of this run (seeded by `--seed`)."""
        return modular_arithmetic(self.modulus, self.train_fraction, operation=self.operation, seed=self.seed)

    def build_model(self) -> nn.Module:
        """The MLP at initialisation, seeded by `--seed`."""
        return grokking_mlp(
            self.seed,
            modulus=self.modulus,
            hidden_size=self.hidden_size,
            hidden_act=self.hidden_act,
            loss_type=self.loss_type,
        )


def grokking_mlp(seed: int, *, modulus: int = 97, hidden_size: int = 500, **config_kwargs) -> nn.Module:
    """A [`GrokkingMLPForModularArithmetic`] whose initial weights depend on `seed` only."""
    from .configuration_grokking_mlp import GrokkingMLPConfig
    from .modeling_grokking_mlp import GrokkingMLPForModularArithmetic

    torch.manual_seed(seed)
    return GrokkingMLPForModularArithmetic(
        GrokkingMLPConfig(modulus=modulus, hidden_size=hidden_size, **config_kwargs)
    )


def make_optimizer(
    model: nn.Module, lr: float = 1e-2, weight_decay: float = 0.3, betas: tuple[float, float] = (0.9, 0.98)
) -> torch.optim.AdamW:
    """AdamW over every parameter of `model` (the official runs decay every weight; the MLP has no biases)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model(input_ids=x).logits.argmax(dim=-1) == y).float().mean().item()


def train_full_batch(
    model: nn.Module,
    split: ModularArithmeticSplit,
    *,
    max_steps: int,
    lr: float = 1e-2,
    weight_decay: float = 0.3,
    betas: tuple[float, float] = (0.9, 0.98),
    eval_every: int = 10,
    threshold: float = 0.95,
    memorisation_accuracy: float | None = None,
) -> dict:
    """Full-batch AdamW on the training pairs (in place), with the loss of the model's config.

    Every `eval_every` steps (and at step 0) the training and test accuracies are measured. Returns a dict with
    `"curve"` (`[(step, train accuracy, test accuracy)]`), `"steps_to_threshold"` (first step with test accuracy ≥
    `threshold`, None if never), `"final_test_accuracy"`, `"final_train_accuracy"` and, when `memorisation_accuracy`
    is given, `"memorisation_step"` and `"memorisation_state"`: the step and a copy of the `state_dict` at the first
    evaluation whose training accuracy is ≥ `memorisation_accuracy` (None if never).
    """
    optimizer = make_optimizer(model, lr, weight_decay, betas)
    model.train()
    curve = []
    memorisation_step, memorisation_state = None, None

    def evaluate(step: int) -> None:
        nonlocal memorisation_step, memorisation_state
        train_acc = _accuracy(model, split.x_train, split.y_train)
        test_acc = _accuracy(model, split.x_test, split.y_test)
        curve.append((step, train_acc, test_acc))
        if memorisation_accuracy is not None and memorisation_step is None and train_acc >= memorisation_accuracy:
            memorisation_step, memorisation_state = step, copy.deepcopy(model.state_dict())

    evaluate(0)
    for step in range(1, max_steps + 1):
        loss = model(input_ids=split.x_train, labels=split.y_train).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % eval_every == 0 or step == max_steps:
            evaluate(step)
    result = {
        "curve": curve,
        "steps_to_threshold": steps_to_accuracy([(s, test) for s, _, test in curve], threshold),
        "final_train_accuracy": curve[-1][1],
        "final_test_accuracy": curve[-1][2],
    }
    if memorisation_accuracy is not None:
        result["memorisation_step"] = memorisation_step
        result["memorisation_state"] = memorisation_state
    return result


__all__ = [
    "MASK_KINDS",
    "GrokkingTicketsArguments",
    "grokking_mlp",
    "make_optimizer",
    "train_full_batch",
]
