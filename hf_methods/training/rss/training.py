"""Training pieces shared by `recipes/rss.py`, the claim check and the tests.

- [`fit_linear_rss`]: the linear robust self-supervised fit of the official simulation (`SVM_Robustness.ipynb`,
  `LinearTrainer` / `RobustTrainer`): full-batch Adam on the closed-form ramp objective, many random restarts, the
  restart with the lowest objective kept. Restarts run side by side as the columns of one weight matrix (each
  column is an independent run: Adam and the plateau schedule act per column);
- [`linear_accuracy`], [`select_on_validation`] (hyper-parameters chosen on a labelled validation split, never on the
  test set);
- [`unlabeled_batch_indices`]: which unlabelled examples a training step uses, from the seed and the step alone (so a
  resumed run sees the same batches), sharded over data-parallel processes;
- [`RSSArguments`]: the arguments of `recipes/rss.py`; [`linear_binary_model`]: the bias-free linear score as a
  transformers model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from hf_methods.harness.recipe import RecipeArguments

from .loss import ROBUST_LOSSES, linear_robust_ramp_loss

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
PLATEAU_THRESHOLD = 1e-4  # torch's ReduceLROnPlateau default (relative, mode "min")


# ----------------------------------------------------------------------------------------------------------- linear fit


@dataclass
class LinearRSSFit:
    """The result of [`fit_linear_rss`].

    Attributes:
        weight (`torch.Tensor` of shape `(d,)`): `θ` of the kept restart.
        objective (`float`): its objective at the last epoch (the value the official code compares restarts by).
        restart (`int`): the index of the kept restart.
        weights (`torch.Tensor` of shape `(d, restarts)`): `θ` of every restart.
        objectives (`torch.Tensor` of shape `(restarts,)`): every restart's last-epoch objective.
    """

    weight: torch.Tensor
    objective: float
    restart: int
    weights: torch.Tensor
    objectives: torch.Tensor


def xavier_uniform_columns(
    dim: int, restarts: int, *, generator: torch.Generator, dtype=torch.float32
) -> torch.Tensor:
    """`restarts` independent Xavier-uniform initialisations of a `Linear(dim, 1)` weight, as columns `(dim, R)`.

    The bound is `sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (dim + 1))` (`torch.nn.init.xavier_uniform_`).
    """
    bound = math.sqrt(6.0 / (dim + 1))
    return (torch.rand(dim, restarts, generator=generator, dtype=dtype) * 2 - 1) * bound


def rss_linear_objective(
    weights: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    x_unlabeled: torch.Tensor | None,
    gamma: float,
    gamma_unlabeled: float,
    lam: float,
) -> torch.Tensor:
    r"""The RSS objective of each column `θ_r` of `weights` `(d, R)`; returns `(R,)`.

        (1/m) Σ_i clip(1 − γ·y_i·θᵀx_i, 0, 1)  +  λ·(1/n) Σ_j clip(1 − γ'·|θᵀx'_j|, 0, 1)

    (the official `RobustTrainer.loss_fn`; with `λ = 0` or no unlabelled data, `LinearTrainer.loss_fn`).
    """
    scores = x @ weights  # (m, R)
    labeled = linear_robust_ramp_loss(scores.flatten(), y[:, None].expand_as(scores).flatten(), gamma, "none")
    objective = labeled.view_as(scores).mean(dim=0)
    if x_unlabeled is not None and lam > 0 and len(x_unlabeled):
        scores_u = x_unlabeled @ weights
        unlabeled = linear_robust_ramp_loss(scores_u.flatten(), None, gamma_unlabeled, "none")
        objective = objective + lam * unlabeled.view_as(scores_u).mean(dim=0)
    return objective


def fit_linear_rss(
    x: torch.Tensor,
    y: torch.Tensor,
    x_unlabeled: torch.Tensor | None = None,
    *,
    gamma: float = 2.0,
    gamma_unlabeled: float = 0.5,
    lam: float = 0.0,
    weight_decay: float = 0.0,
    learning_rate: float = 0.07,
    epochs: int = 20,
    restarts: int = 20,
    plateau_patience: int = 3,
    plateau_factor: float = 0.1,
    seed: int = 0,
    init: torch.Tensor | None = None,
) -> LinearRSSFit:
    r"""Fits a bias-free linear classifier `sign(θᵀx)` with the RSS ramp objective, as the official simulation does.

    Each restart starts from a Xavier-uniform `θ` and runs `epochs` full-batch steps of Adam (`lr`, betas
    (0.9, 0.999), eps 1e-8, coupled L2 `weight_decay`: the gradient gets `+ wd·θ`) on [`rss_linear_objective`];
    after each step the learning rate is divided by 10 once the objective has not improved (relatively by 1e-4)
    for more than `plateau_patience` epochs (torch's `ReduceLROnPlateau` stepped with the objective computed before
    the step, as in the official loop). The restart whose last-epoch objective is lowest is kept (first on ties), with
    its final weights. `lam = 0` (or no unlabelled data) is the official ERM baseline `LinearTrainer`.

    All restarts run at once as the columns of a `(d, restarts)` matrix; Adam and the plateau rule are elementwise /
    per column, so each column is the run it would be alone (checked against `torch.optim.Adam` +
    `ReduceLROnPlateau` in the tests).

    Args:
        x (`torch.Tensor` of shape `(m, d)`), y (`torch.Tensor` of shape `(m,)`, labels ±1): the labelled data.
        x_unlabeled (`torch.Tensor` of shape `(n, d)`, *optional*): the unlabelled data.
        gamma, gamma_unlabeled (`float`): the ramp slopes `γ`, `γ'` (≥ 0).
        lam (`float`): the weight `λ ≥ 0` of the unlabelled term.
        weight_decay (`float`): Adam's coupled L2 coefficient (≥ 0).
        learning_rate (`float`), epochs (`int`), restarts (`int`): the optimisation (official: 0.07, 20, 20).
        plateau_patience (`int`), plateau_factor (`float`): the plateau schedule (official: 3, 0.1).
        seed (`int`): seeds the initialisations (ignored when `init` is given).
        init (`torch.Tensor` of shape `(d, restarts)`, *optional*): explicit initial weights.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor of shape (m, d), got {getattr(x, 'shape', x)!r}")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1]:
        raise ValueError(f"y must be a tensor of shape ({x.shape[0]},), got {getattr(y, 'shape', y)!r}")
    if x_unlabeled is not None and (
        not isinstance(x_unlabeled, torch.Tensor) or x_unlabeled.dim() != 2 or x_unlabeled.shape[1] != x.shape[1]
    ):
        raise ValueError(
            f"x_unlabeled must be a tensor of shape (n, {x.shape[1]}), got {getattr(x_unlabeled, 'shape', x_unlabeled)!r}"
        )
    for name, value in (
        ("lam", lam),
        ("weight_decay", weight_decay),
        ("gamma", gamma),
        ("gamma_unlabeled", gamma_unlabeled),
    ):
        if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    for name, value in (("epochs", epochs), ("restarts", restarts)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(plateau_patience, int) or plateau_patience < 0:
        raise ValueError(f"plateau_patience must be an int >= 0, got {plateau_patience!r}")
    if not 0 < plateau_factor < 1:
        raise ValueError(f"plateau_factor must be in (0, 1), got {plateau_factor}")

    dim, dtype = x.shape[1], x.dtype
    y = y.to(dtype)
    if init is None:
        weights = xavier_uniform_columns(dim, restarts, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    else:
        if init.shape != (dim, restarts):
            raise ValueError(f"init must have shape ({dim}, {restarts}), got {tuple(init.shape)}")
        weights = init.detach().to(dtype).clone()
    beta1, beta2 = ADAM_BETAS
    exp_avg, exp_avg_sq = torch.zeros_like(weights), torch.zeros_like(weights)
    lr = torch.full((1, restarts), float(learning_rate), dtype=dtype)
    best = torch.full((restarts,), math.inf, dtype=torch.float64)
    bad_epochs = torch.zeros(restarts, dtype=torch.long)
    objective = torch.full((restarts,), math.inf, dtype=dtype)
    for step in range(1, epochs + 1):
        weights.requires_grad_(True)
        objective = rss_linear_objective(weights, x, y, x_unlabeled, gamma, gamma_unlabeled, lam)
        (grad,) = torch.autograd.grad(objective.sum(), weights)  # columns are independent: per-column gradients
        with torch.no_grad():
            weights = weights.detach()
            objective = objective.detach()
            grad = grad + weight_decay * weights
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(ADAM_EPS)
            weights = weights - (lr / (1 - beta1**step)) * exp_avg / denom
            # ReduceLROnPlateau(mode="min", threshold=1e-4 relative, cooldown=0, min_lr=0), one per column
            current = objective.double()
            improved = current < best * (1 - PLATEAU_THRESHOLD)
            best = torch.where(improved, current, best)
            bad_epochs = torch.where(improved, torch.zeros_like(bad_epochs), bad_epochs + 1)
            reduce = bad_epochs > plateau_patience
            lr = torch.where(reduce[None, :], lr * plateau_factor, lr)
            bad_epochs = torch.where(reduce, torch.zeros_like(bad_epochs), bad_epochs)
    restart = int(torch.argmin(objective))  # first index on ties
    return LinearRSSFit(weights[:, restart].clone(), float(objective[restart]), restart, weights, objective)


def linear_accuracy(weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of `sign(θᵀx)` against labels ±1 (a score of exactly 0 counts as wrong, as in the official code)."""
    return (torch.sign(x @ weight.to(x.dtype)) == y.to(x.dtype)).to(torch.float64).mean().item()


def select_on_validation(results: Iterable[tuple[dict, float]]) -> tuple[dict, float]:
    """The `(params, validation accuracy)` pair with the highest validation accuracy (the first on ties)."""
    best = None
    for params, accuracy in results:
        if best is None or accuracy > best[1]:
            best = (params, accuracy)
    if best is None:
        raise ValueError("select_on_validation needs at least one (params, accuracy) pair")
    return best


# ----------------------------------------------------------------------------------------------------------- batching


def unlabeled_batch_indices(
    step: int, num_unlabeled: int, batch_size: int, *, seed: int, process_index: int = 0, num_processes: int = 1
) -> torch.Tensor:
    """The unlabelled examples of training step `step`, from `(seed, step)` alone.

    The pool is shuffled once per pass (pass `p` = the permutation seeded by `(seed, p)`) and cut into
    `⌈n / batch_size⌉` batches (the last one shorter); step `s` takes batch `s mod ⌈n/b⌉` of pass `⌊s/⌈n/b⌉⌋`. Under
    data parallelism each process keeps every `num_processes`-th index of that batch, starting at its own.
    """
    if num_unlabeled < 1:
        raise ValueError(f"the unlabelled data set is empty (num_unlabeled={num_unlabeled})")
    if batch_size < 1:
        raise ValueError(f"unlabeled batch size must be >= 1, got {batch_size}")
    per_pass = -(-num_unlabeled // batch_size)
    pass_index, batch_index = divmod(int(step), per_pass)
    order = torch.randperm(num_unlabeled, generator=torch.Generator().manual_seed(int(seed) * 100_003 + pass_index))
    batch = order[batch_index * batch_size : (batch_index + 1) * batch_size]
    return batch[process_index::num_processes]


# ----------------------------------------------------------------------------------------------------------- recipe


@dataclass
class RSSArguments(RecipeArguments):
    """Arguments of `recipes/rss.py` (the two-Gaussian task of the official simulation by default)."""

    max_steps: int = field(default=40, metadata={"help": "Full-batch optimisation steps (the official run: 20)."})
    checkpoint_every: int = field(default=0, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=5, metadata={"help": "Log training metrics every N steps."})
    dim: int = field(default=200, metadata={"help": "Dimension d of the Gaussian mixture."})
    num_labeled: int = field(default=10, metadata={"help": "Labelled in-domain samples m."})
    num_unlabeled: int = field(default=2000, metadata={"help": "Unlabelled out-of-domain samples n (0: ERM data)."})
    num_validation: int = field(default=200, metadata={"help": "Labelled validation samples (reported only)."})
    num_test: int = field(default=4000, metadata={"help": "Labelled test samples."})
    mean_norm: float = field(default=1.0, metadata={"help": "‖μ₀‖ of the in-domain class means ±μ₀."})
    sigma: float = field(default=1.0, metadata={"help": "Standard deviation σ of every coordinate."})
    shift: float = field(
        default=0.5, metadata={"help": "Relative shift α/‖μ₀‖ of the unlabelled means μ₁ = μ₀ + α·v (0: in-domain)."}
    )
    data_seed: int = field(default=0, metadata={"help": "Seed of the drawn task (μ₀, v and every split)."})
    robust_loss: str = field(
        default="ramp",
        metadata={"help": "'ramp' (closed-form robust ramp of a linear score) or 'wrm' (penalised gradient ascent)."},
    )
    gamma: float = field(default=2.0, metadata={"help": "γ of the labelled robust loss."})
    gamma_unlabeled: float = field(default=0.5, metadata={"help": "γ' of the unlabelled robust loss."})
    lam: float = field(default=1.0, metadata={"help": "λ, the weight of the unlabelled term (0: ERM)."})
    inner_steps: int = field(default=15, metadata={"help": "Gradient-ascent steps of the 'wrm' inner maximisation."})
    inner_step_size: float = field(default=0.1, metadata={"help": "Step size of the 'wrm' inner maximisation."})
    hidden_size: int = field(
        default=0, metadata={"help": "0: the linear score of the paper; > 0: one tanh hidden layer of this width."}
    )
    bias: bool = field(default=False, metadata={"help": "Train a bias (the official linear model has none)."})
    learning_rate: float = field(default=0.07, metadata={"help": "Adam learning rate (official: 0.07)."})
    weight_decay: float = field(default=0.1, metadata={"help": "Adam's coupled L2 weight decay."})
    lr_scheduler_type: str = field(
        default="reduce_lr_on_plateau",
        metadata={"help": "A transformers scheduler name; 'reduce_lr_on_plateau' (official) uses the step's loss."},
    )
    plateau_patience: int = field(default=3, metadata={"help": "Patience of 'reduce_lr_on_plateau' (official: 3)."})
    batch_size: int = field(default=0, metadata={"help": "Labelled batch size per step (0: the whole labelled set)."})
    unlabeled_batch_size: int = field(
        default=0, metadata={"help": "Unlabelled batch size per step (0: the whole unlabelled set)."}
    )

    def validate(self) -> None:
        super().validate()
        if self.robust_loss not in ROBUST_LOSSES:
            raise ValueError(f"--robust_loss must be one of {ROBUST_LOSSES}, got {self.robust_loss!r}")
        for name in ("dim", "learning_rate", "mean_norm", "sigma", "inner_step_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.num_labeled < 2:
            raise ValueError(f"--num_labeled must be >= 2 (one per class), got {self.num_labeled}")
        for name in (
            "num_unlabeled",
            "num_validation",
            "num_test",
            "hidden_size",
            "batch_size",
            "unlabeled_batch_size",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in ("shift", "lam", "weight_decay"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        strict = self.robust_loss == "wrm"
        for name in ("gamma", "gamma_unlabeled"):
            value = getattr(self, name)
            if not (value > 0 if strict else value >= 0):
                raise ValueError(
                    f"--{name} must be {'> 0' if strict else '>= 0'} with --robust_loss {self.robust_loss}, got {value}"
                )
        if self.inner_steps < 1:
            raise ValueError(f"--inner_steps must be >= 1, got {self.inner_steps}")
        if self.plateau_patience < 0:
            raise ValueError(f"--plateau_patience must be >= 0, got {self.plateau_patience}")
        from transformers.trainer_utils import SchedulerType

        names = [s.value for s in SchedulerType]
        if self.lr_scheduler_type not in names:
            raise ValueError(f"--lr_scheduler_type must be one of {names}, got {self.lr_scheduler_type!r}")


def linear_binary_model(dim: int, *, hidden_size: int = 0, bias: bool = False, seed: int = 0):
    """A transformers classifier with one output score `s` (`MLPForImageClassification`, `num_labels=1`).

    `hidden_size=0` gives the paper's linear score `s = θᵀx`, Xavier-uniform initialised like the official
    `LinearModel`; `bias=False` zeroes the bias and freezes it (the official model has none).
    """
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    hidden = [hidden_size] if hidden_size > 0 else []
    model = MLPForImageClassification(MLPConfig(input_size=dim, hidden_sizes=hidden, hidden_act="tanh", num_labels=1))
    if hidden_size == 0:
        torch.nn.init.xavier_uniform_(model.classifier.weight)
    if not bias:
        with torch.no_grad():
            model.classifier.bias.zero_()
        model.classifier.bias.requires_grad_(False)
    return model


__all__ = [
    "LinearRSSFit",
    "RSSArguments",
    "fit_linear_rss",
    "linear_accuracy",
    "linear_binary_model",
    "rss_linear_objective",
    "select_on_validation",
    "unlabeled_batch_indices",
    "xavier_uniform_columns",
]
