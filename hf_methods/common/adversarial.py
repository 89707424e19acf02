"""Adversarial examples and robust evaluation, shared by the adversarial-training methods.

- [`PGDConfig`] and [`pgd_attack`]: projected gradient ascent on a per-sample loss inside an ℓ∞ or ℓ2 ball
  (Madry et al., 2018), the inner maximisation of adversarial training;
- [`penalized_inner_max`]: the penalised (Lagrangian) inner maximisation max_x' ℓ(x') − γ‖x' − x‖² of
  Wasserstein-robust training (Sinha, Namkoong & Duchi, 2018), used where the budget is a penalty, not a ball;
- [`classwise_accuracy`] and [`classwise_robust_accuracy`]: accuracy per class, its mean and the worst class, on
  clean or attacked inputs (the headline numbers of imbalanced and instance-reweighted adversarial training).

A model here is any callable from inputs to scores: a tensor, a transformers `ModelOutput` with `.logits`, or a
tuple whose first element is the scores ([`logits_of`]). The attacks differentiate with respect to the input only
(`torch.autograd.grad`), so they never touch the parameters' `.grad`, and they leave the model's train/eval mode as
the caller set it (adversarial training attacks in train mode in some papers, eval mode in others).

Example:

```python
>>> attack = PGDConfig(eps=0.1, steps=10)                      # ℓ∞, step 2.5·eps/steps, random start, inputs in [0, 1]
>>> x_adv = pgd_attack(model, pixel_values, labels, attack)
>>> classwise_robust_accuracy(model, x_test, y_test, attack, num_classes=10).worst
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

NORMS = ("linf", "l2")

PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def logits_of(output) -> torch.Tensor:
    """The scores in a model's output: the tensor itself, `output.logits`, `output["logits"]` or `output[0]`."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits") and output.logits is not None:
        return output.logits
    if isinstance(output, dict) and "logits" in output:
        return output["logits"]
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        f"cannot find the scores in a model output of type {type(output).__name__}: return a tensor or .logits"
    )


def cross_entropy_per_sample(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The default attack objective: `F.cross_entropy(..., reduction="none")`."""
    return F.cross_entropy(logits, labels, reduction="none")


@dataclass
class PGDConfig:
    """Projected gradient ascent inside the ball ‖δ‖_p ≤ eps (p = ∞ or 2).

    Each of `steps` iterations moves δ by `step_size` along sign(∇) (ℓ∞) or ∇/‖∇‖₂ (ℓ2), then projects onto the ball
    and onto the valid input range `clamp` (`None` for unbounded inputs such as features).

    Args:
        eps (`float`): radius of the ball (in input units, e.g. 0.1 of the [0, 1] pixel range); 0 gives clean inputs.
        steps (`int`): gradient steps (≥ 1 when eps > 0).
        step_size (`float`, *optional*): step length; default 2.5 · eps / steps (Madry et al.).
        norm (`str`): `"linf"` or `"l2"`.
        random_start (`bool`): start from a uniform point of the ball (ℓ∞) or a random direction of radius ≤ eps (ℓ2).
        clamp (`tuple[float, float]`, *optional*): valid input range; default (0, 1).
    """

    eps: float = 0.1
    steps: int = 10
    step_size: float | None = None
    norm: str = "linf"
    random_start: bool = True
    clamp: tuple[float, float] | None = (0.0, 1.0)

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"PGDConfig.norm must be one of {NORMS}, got {self.norm!r}")
        if not isinstance(self.eps, (int, float)) or self.eps < 0:
            raise ValueError(f"PGDConfig.eps must be a number >= 0, got {self.eps!r}")
        if not isinstance(self.steps, int) or self.steps < 0 or (self.eps > 0 and self.steps == 0):
            raise ValueError(f"PGDConfig.steps must be an int >= 1 (0 only with eps=0), got {self.steps!r}")
        if self.step_size is None:
            self.step_size = 2.5 * self.eps / max(self.steps, 1)
        elif self.step_size <= 0:
            raise ValueError(f"PGDConfig.step_size must be > 0, got {self.step_size}")
        if self.clamp is not None:
            low, high = self.clamp
            if not low < high:
                raise ValueError(f"PGDConfig.clamp must be (low, high) with low < high, got {self.clamp}")
            self.clamp = (float(low), float(high))

    def to_dict(self) -> dict:
        return asdict(self)


def trades_kl(adv_logits: torch.Tensor, clean_logits: torch.Tensor) -> torch.Tensor:
    """`KL(softmax(f(x)) ‖ softmax(f(x')))` per example: the robustness term of TRADES (Zhang et al., 2019) and the
    objective of its attack (pass it as `pgd_attack(..., loss_fn=trades_kl)` with the clean logits as `y`).

    Gradients flow through both arguments, as in TRADES' loss; detach `clean_logits` where it should be fixed (the
    attack target).
    """
    clean_log_probs = F.log_softmax(clean_logits, dim=-1)
    return F.kl_div(F.log_softmax(adv_logits, dim=-1), clean_log_probs, log_target=True, reduction="none").sum(-1)


def _check_batch(x: torch.Tensor, y: torch.Tensor | None) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"inputs must be a floating-point tensor, got {type(x).__name__}")
    if y is not None and (not isinstance(y, torch.Tensor) or y.shape[:1] != x.shape[:1]):
        raise ValueError(
            f"labels must be a tensor with one entry per input ({x.shape[0]}), got {getattr(y, 'shape', y)}"
        )


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """‖t_i‖₂ per sample, shaped to broadcast against `t`."""
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The projection of each sample's δ onto {‖δ‖_p ≤ eps}."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _per_sample_norm(delta)).clamp(max=1.0)


def _random_start(x: torch.Tensor, config: PGDConfig, generator: torch.Generator | None) -> torch.Tensor:
    if config.norm == "linf":
        return (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1).to(x.device) * config.eps
    direction = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    radius = torch.rand(x.shape[0], generator=generator, dtype=x.dtype).to(x.device) * config.eps
    return direction / _per_sample_norm(direction) * radius.view(-1, *([1] * (x.dim() - 1)))


def _clamp(x: torch.Tensor, clamp: tuple[float, float] | None) -> torch.Tensor:
    return x if clamp is None else x.clamp(*clamp)


def pgd_attack(
    model: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    config: PGDConfig,
    *,
    loss_fn: PerSampleLoss | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x' = Π_{‖x'−x‖_p ≤ eps, x' ∈ clamp}(x' + α·step(∇_x' Σ_i ℓ(f(x'_i), y_i))), repeated `config.steps` times.

    Args:
        model: a callable from inputs to scores (see [`logits_of`]).
        x (`torch.Tensor`): the clean inputs, batch first.
        y (`torch.Tensor`): whatever `loss_fn` takes as its second argument (class labels for cross-entropy, clean
            logits for a TRADES-style KL objective, ...), batch first.
        config (`PGDConfig`): the ball, the steps and the input range.
        loss_fn (*optional*): `(scores, y) -> per-sample losses` to maximise; default per-sample cross-entropy.
            Each sample's loss depends only on its own input, so summing them ascends every sample's loss at once.
        generator (`torch.Generator`, *optional*): for the random start.

    Returns:
        The adversarial inputs, detached, of the shape and dtype of `x`.
    """
    if not isinstance(config, PGDConfig):
        raise TypeError(f"config must be a PGDConfig, got {type(config).__name__}")
    _check_batch(x, y)
    x = x.detach()
    if config.eps == 0:
        return x.clone()
    loss_fn = loss_fn or cross_entropy_per_sample
    delta = _random_start(x, config, generator) if config.random_start else torch.zeros_like(x)
    delta = _clamp(x + delta, config.clamp) - x
    for _ in range(config.steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            losses = loss_fn(logits_of(model(x + delta)), y)
            if losses.shape[:1] != x.shape[:1] or losses.dim() != 1:
                raise ValueError(
                    f"loss_fn must return one loss per sample (shape ({x.shape[0]},)), got {tuple(losses.shape)}"
                )
            (grad,) = torch.autograd.grad(losses.sum(), delta)
        step = grad.sign() if config.norm == "linf" else grad / _per_sample_norm(grad)
        delta = project(delta.detach() + config.step_size * step, config.eps, config.norm)
        delta = _clamp(x + delta, config.clamp) - x
    return (x + delta).detach()


def penalized_inner_max(
    model: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    gamma: float,
    *,
    steps: int = 15,
    step_size: float = 0.1,
    loss_fn: PerSampleLoss | None = None,
    clamp: tuple[float, float] | None = None,
) -> torch.Tensor:
    """x' ≈ argmax_x' ℓ(f(x'), y) − γ‖x' − x‖₂² per sample, by `steps` of gradient ascent from x' = x.

    The Lagrangian relaxation of a Wasserstein ball (Sinha, Namkoong & Duchi, 2018, eq. 5 and Algorithm 1): for
    γ larger than the loss's smoothness constant the objective is strongly concave in x', so plain gradient ascent
    with a small fixed step finds the maximiser. `gamma` = ∞ would keep x' = x.

    Args:
        model: a callable from inputs to scores.
        x, y: the clean inputs and the second argument of `loss_fn`.
        gamma (`float`): the transport penalty γ > 0.
        steps (`int`), step_size (`float`): the ascent.
        loss_fn (*optional*): `(scores, y) -> per-sample losses`; default per-sample cross-entropy.
        clamp (`tuple[float, float]`, *optional*): valid input range (`None`: unbounded).

    Returns:
        The maximisers, detached.
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if not isinstance(steps, int) or steps < 1 or not step_size > 0:
        raise ValueError(f"steps must be an int >= 1 and step_size > 0, got steps={steps!r}, step_size={step_size!r}")
    _check_batch(x, y)
    loss_fn = loss_fn or cross_entropy_per_sample
    x = x.detach()
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            losses = loss_fn(logits_of(model(x_adv)), y)
            objective = losses - gamma * (x_adv - x).flatten(1).pow(2).sum(1)
            (grad,) = torch.autograd.grad(objective.sum(), x_adv)
        x_adv = _clamp(x_adv.detach() + step_size * grad, clamp)
    return x_adv.detach()


@dataclass
class ClasswiseAccuracy:
    """Accuracy per class and its summaries.

    Attributes:
        per_class (`list[float]`): accuracy of each class (NaN for a class absent from the labels).
        overall (`float`): accuracy over all examples.
        class_mean (`float`): mean of the per-class accuracies (balanced accuracy).
        worst (`float`): the lowest per-class accuracy.
        worst_class (`int`): the class that has it.
    """

    per_class: list[float]
    overall: float
    class_mean: float
    worst: float
    worst_class: int

    def to_dict(self) -> dict:
        return asdict(self)


def classwise_accuracy(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> ClasswiseAccuracy:
    """Per-class accuracy of predicted class indices against labels (classes absent from `labels` are skipped)."""
    if predictions.shape != labels.shape or labels.dim() != 1:
        raise ValueError(
            f"predictions and labels must be 1-D of the same shape, got {predictions.shape}, {labels.shape}"
        )
    if labels.numel() == 0:
        raise ValueError("labels is empty")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min().item()}, {labels.max().item()}]")
    correct = (predictions == labels).double()
    counts = torch.bincount(labels, minlength=num_classes).double()
    hits = torch.bincount(labels, weights=correct, minlength=num_classes)
    per_class = torch.where(counts > 0, hits / counts.clamp_min(1), torch.full_like(counts, float("nan")))
    present = per_class[counts > 0]
    worst_class = int(torch.where(counts > 0, per_class, torch.full_like(per_class, float("inf"))).argmin())
    return ClasswiseAccuracy(
        per_class=per_class.tolist(),
        overall=correct.mean().item(),
        class_mean=present.mean().item(),
        worst=present.min().item(),
        worst_class=worst_class,
    )


def classwise_robust_accuracy(
    model: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: PGDConfig | None,
    num_classes: int,
    *,
    batch_size: int = 512,
    generator: torch.Generator | None = None,
) -> ClasswiseAccuracy:
    """[`classwise_accuracy`] of the model on `pgd_attack` inputs (clean inputs when `attack` is None).

    The model is put in eval mode for the evaluation and returned to its previous mode.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    _check_batch(x, y)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        predictions = []
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if attack is not None:
                xb = pgd_attack(model, xb, yb, attack, generator=generator)
            with torch.no_grad():
                predictions.append(logits_of(model(xb)).argmax(-1))
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return classwise_accuracy(torch.cat(predictions), y, num_classes)
