"""Training pieces shared by `recipes/aggregate.py`, the claim check and the tests.

- [`AggregateArguments`]: the arguments of `recipes/aggregate.py` (every knob a flag, validated);
- [`linear_task`]: the synthetic linear regression of the paper's analysis, `y = xᵀθ + σ·z` with isotropic
  Gaussian features and `‖θ‖² = SNR·σ²`, plus a noiseless test set;
- [`regression_model`]: a transformers regression model (`MLPForImageClassification` with one output; no hidden
  layer gives the linear model of the paper's theory);
- [`excess_risk`]: `E[(f(x) − xᵀθ)²]` on the test set (`‖θ̂ − θ‖²` for a linear model and isotropic features);
- [`simulate_linear_risks`]: one seed of the linear bias–variance experiment with the closed-form estimator;
- [`fit_linear_with_loss`]: the interpolating loss minimised by L-BFGS on a linear layer (checks the loss against the
  closed form).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .bagging import BAGGINGS, assign_bags, privatize_bag_responses
from .estimator import linear_interpolating_estimator
from .loss import MODES, AggregateResponseLoss

SCHEDULERS = ("constant", "linear", "cosine")
ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid")


@dataclass
class AggregateArguments(RecipeArguments):
    max_steps: int = field(default=1500, metadata={"help": "Optimisation steps (1500 = 150 epochs of 10 batches)."})
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=100, metadata={"help": "Log training metrics every N steps."})
    num_samples: int = field(default=3000, metadata={"help": "Training instances n (bagged; only bag means seen)."})
    num_test: int = field(default=2000, metadata={"help": "Test instances (noiseless responses xᵀθ)."})
    num_features: int = field(default=100, metadata={"help": "Feature dimension d."})
    snr: float = field(default=0.5, metadata={"help": "Signal-to-noise ratio ‖θ‖²/σ² of the synthetic task."})
    noise_std: float = field(default=1.0, metadata={"help": "Response noise standard deviation σ."})
    bag_size: int = field(default=10, metadata={"help": "Bag size k."})
    bagging: str = field(default="random", metadata={"help": f"How bags are formed: one of {BAGGINGS}."})
    loss_mode: str = field(default="interpolate", metadata={"help": f"The loss: one of {MODES}."})
    rho: float = field(default=0.1, metadata={"help": "Weight ρ ≥ 0 of the within-bag term (loss_mode interpolate)."})
    privacy_eps: float = field(
        default=0.0, metadata={"help": "Label-DP budget ε of the Laplace mechanism on bag means (0: no noise)."}
    )
    response_bound: float = field(
        default=3.0, metadata={"help": "Bound B on individual responses (clipped to [-B, B]) when privacy_eps > 0."}
    )
    bags_per_batch: int = field(default=30, metadata={"help": "Bags per batch (batch = bags_per_batch × bag_size)."})
    learning_rate: float = field(default=1e-2, metadata={"help": "Adam learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": f"One of {SCHEDULERS} (transformers)."})
    warmup_steps: int = field(default=0, metadata={"help": "Learning-rate warm-up steps."})
    hidden_sizes: str = field(
        default="", metadata={"help": "Comma-separated hidden widths, e.g. '64,64'; empty: a linear model."}
    )
    hidden_act: str = field(default="relu", metadata={"help": f"Hidden activation: one of {ACTIVATIONS}."})

    def validate(self) -> None:
        super().validate()
        for name in ("num_samples", "num_test", "num_features", "bag_size", "bags_per_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be an integer >= 1, got {value}")
        if self.bag_size > self.num_samples:
            raise ValueError(f"--bag_size ({self.bag_size}) must not exceed --num_samples ({self.num_samples})")
        for name in ("noise_std", "learning_rate", "response_bound"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("snr", "rho", "privacy_eps", "weight_decay", "warmup_steps"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.bagging not in BAGGINGS:
            raise ValueError(f"--bagging must be one of {BAGGINGS}, got {self.bagging!r}")
        if self.loss_mode not in MODES:
            raise ValueError(f"--loss_mode must be one of {MODES}, got {self.loss_mode!r}")
        if self.lr_scheduler_type not in SCHEDULERS:
            raise ValueError(f"--lr_scheduler_type must be one of {SCHEDULERS}, got {self.lr_scheduler_type!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"--hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        self.parsed_hidden_sizes()

    def parsed_hidden_sizes(self) -> list[int]:
        """`--hidden_sizes` as a list of widths (empty for the linear model)."""
        parts = [p.strip() for p in self.hidden_sizes.split(",") if p.strip()]
        try:
            sizes = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"--hidden_sizes must be comma-separated integers, got {self.hidden_sizes!r}") from None
        if any(s < 1 for s in sizes):
            raise ValueError(f"--hidden_sizes must be positive, got {self.hidden_sizes!r}")
        return sizes

    def build_loss(self) -> AggregateResponseLoss:
        return AggregateResponseLoss(mode=self.loss_mode, rho=self.rho)


@dataclass
class LinearTask:
    """`x` `(n, d)`, noisy responses `y` `(n,)`, `x_test`, noiseless test responses `f_test = x_test θ`, and `θ`."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    f_test: np.ndarray
    theta: np.ndarray


def linear_task(
    num_samples: int, num_features: int, snr: float, *, noise_std: float = 1.0, seed: int = 0, num_test: int = 0
) -> LinearTask:
    """`y = xᵀθ + σ z`, `x ~ N(0, I_d)`, `z ~ N(0, 1)`, `θ` uniform on the sphere of radius `σ √SNR` (float64)."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(num_features)
    theta = direction / np.linalg.norm(direction) * noise_std * np.sqrt(snr)
    x = rng.standard_normal((num_samples, num_features))
    y = x @ theta + noise_std * rng.standard_normal(num_samples)
    x_test = rng.standard_normal((num_test, num_features))
    return LinearTask(x, y, x_test, x_test @ theta, theta)


def regression_model(num_features: int, hidden_sizes: list[int] | None = None, hidden_act: str = "relu"):
    """`MLPForImageClassification` with one output (a regression head); `hidden_sizes=[]` is the linear model."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(
        input_size=num_features, hidden_sizes=list(hidden_sizes or []), hidden_act=hidden_act, num_labels=1
    )
    return MLPForImageClassification(config)


@torch.no_grad()
def excess_risk(model: nn.Module, x_test: torch.Tensor, f_test: torch.Tensor, batch_size: int = 4096) -> float:
    """`mean_i (f(x_i) − f*(x_i))²` over the test set (noiseless targets `f*`)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(f_test), batch_size):
        pred = model(pixel_values=x_test[i : i + batch_size]).logits.squeeze(-1)
        total += ((pred.double() - f_test[i : i + batch_size].double()) ** 2).sum().item()
    model.train(was_training)
    return total / max(len(f_test), 1)


def released_responses(
    y: np.ndarray,
    bag_ids: np.ndarray,
    *,
    privacy_eps: float | None = None,
    response_bound: float | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Per instance, the released response of its bag: the bag mean, or (with `privacy_eps`) the Laplace-noised
    mean of the responses clipped to `[−B, B]`."""
    _, inverse, sizes = np.unique(bag_ids, return_inverse=True, return_counts=True)
    if privacy_eps:
        y = np.clip(y, -response_bound, response_bound)
    means = np.bincount(inverse, weights=y) / sizes
    if privacy_eps:
        means = privatize_bag_responses(means, privacy_eps, sizes, response_bound=response_bound, generator=rng)
    return means[inverse]


def simulate_linear_risks(
    seed: int,
    *,
    num_samples: int,
    num_features: int,
    bag_size: int,
    snr: float,
    rhos: list[float],
    noise_std: float = 1.0,
    privacy_eps: float | None = None,
    response_bound: float | None = None,
    num_validation: int = 0,
) -> dict:
    """One seed of the linear experiment: random bags, released bag means, `‖θ̂_ρ − θ‖²` for every `ρ` in `rhos`.

    With `num_validation > 0`, as many extra instances are bagged the same way and released as validation bags; the
    bag-level validation loss `mean_a (ỹ_a − x̄_aᵀθ̂_ρ)²` of every `ρ` is returned too (it estimates `‖θ̂ − θ‖²/k +
    σ²/k` without any individual response, so it can choose `ρ`).
    """
    task = linear_task(num_samples + num_validation, num_features, snr, noise_std=noise_std, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(10_000 + seed)
    train = slice(0, num_samples)
    bag_ids = assign_bags(num_samples, bag_size, "random", generator=generator).numpy()
    y_bar = released_responses(task.y[train], bag_ids, privacy_eps=privacy_eps, response_bound=response_bound, rng=rng)
    thetas = {rho: linear_interpolating_estimator(task.x[train], bag_ids, y_bar, rho) for rho in rhos}
    result = {"excess_risk": {str(rho): float(np.sum((t - task.theta) ** 2)) for rho, t in thetas.items()}}
    if num_validation:
        val = slice(num_samples, None)
        val_ids = assign_bags(num_validation, bag_size, "random", generator=generator).numpy()
        val_bar = released_responses(
            task.y[val], val_ids, privacy_eps=privacy_eps, response_bound=response_bound, rng=rng
        )
        _, inverse, sizes = np.unique(val_ids, return_inverse=True, return_counts=True)
        x_bar = np.zeros((len(sizes), num_features))
        np.add.at(x_bar, inverse, task.x[val])
        x_bar /= sizes[:, None]
        per_bag = np.zeros(len(sizes))
        per_bag[inverse] = val_bar
        result["validation_bag_loss"] = {
            str(rho): float(np.mean((per_bag - x_bar @ t) ** 2)) for rho, t in thetas.items()
        }
    return result


def fit_linear_with_loss(
    x: torch.Tensor, bag_ids: torch.Tensor, bag_targets: torch.Tensor, loss: AggregateResponseLoss
) -> torch.Tensor:
    """Minimises `loss(xθ, bag_ids, bag_targets)` over `θ` through autograd and returns `θ` (in the dtype of `x`).

    The loss is a convex quadratic in `θ` for a linear model, so one Newton step from `θ = 0`,
    `θ* = −H⁻¹ ∇L(0)` with the gradient and Hessian taken by autograd of the torch loss, is its exact minimiser
    (`lstsq` on `H` gives the minimum-norm step when `H` is singular). Comparing it with
    :func:`linear_interpolating_estimator` checks the loss's gradients against the closed form.
    """
    zero = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)

    def objective(theta: torch.Tensor) -> torch.Tensor:
        return loss(x @ theta, bag_ids, bag_targets)

    gradient = torch.autograd.grad(objective(zero), zero)[0]
    hessian = torch.autograd.functional.hessian(objective, zero.detach())
    step = torch.linalg.lstsq(hessian, -gradient.unsqueeze(1), driver="gelsd").solution
    return step.squeeze(1).detach()


__all__ = [
    "AggregateArguments",
    "LinearTask",
    "excess_risk",
    "fit_linear_with_loss",
    "linear_task",
    "regression_model",
    "released_responses",
    "simulate_linear_risks",
]
