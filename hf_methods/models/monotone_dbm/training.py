"""Training and evaluation of monotone DBMs on binarised digits, shared by the recipe, the claim and the tests.

`fit_monotone_dbm` trains with the official objective (label cross-entropy + focal loss on the unobserved pixels,
weights from the config) on random observation masks; `evaluate_monotone_dbm` measures label accuracy and pixel
completion accuracy on unobserved pixels; `naive_mean_field` is the unrestricted baseline q ← softmax(Wq + b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_monotone_dbm import MonotoneDBMConfig


def binarised_digits(test_size: float = 0.2, seed: int = 0, threshold: float = 0.5):
    """scikit-learn digits (8×8) binarised at `threshold`: `(x_train, y_train), (x_test, y_test)`, x long in {0, 1}."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed, flatten=True)
    to_bins = lambda x: (torch.as_tensor(x) > threshold).long()  # noqa: E731
    return (to_bins(train.x), torch.as_tensor(train.y).long()), (to_bins(test.x), torch.as_tensor(test.y).long())


def random_observation_mask(shape, observe_fraction: float, generator: torch.Generator | None = None):
    """Each pixel observed independently with probability `observe_fraction` (the paper observes 40%)."""
    if not 0.0 <= observe_fraction <= 1.0:
        raise ValueError(f"`observe_fraction` must lie in [0, 1], got {observe_fraction!r}.")
    return torch.rand(shape, generator=generator) < observe_fraction


def naive_mean_field(weight, bias, group_sizes, group_counts, init, max_iter: int = 200, tol: float = 1e-6):
    r"""
    Unrestricted mean-field q ← softmax(Wq + b) per group (the classic update, no monotone restriction, no damping).

    Returns:
        `(q, residual)`: the last iterate and its last relative residual (large when it oscillates).
    """
    q = init.clone()
    residual = float("inf")
    for _ in range(max_iter):
        x = q @ weight + bias
        parts, start = [], 0
        for count, size in zip(group_counts, group_sizes):
            parts.append(
                x[:, start : start + count * size].reshape(-1, count, size).softmax(-1).reshape(-1, count * size)
            )
            start += count * size
        q_next = torch.cat(parts, dim=1)
        residual = ((q_next - q).norm() / q.norm()).item()
        q = q_next
        if residual < tol:
            break
    return q, residual


def fit_monotone_dbm(
    model,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    learning_rate: float = 1e-2,
    observe_fraction: float = 0.4,
    seed: int = 0,
    callback=None,
):
    """Trains `model` in place with Adam and a cosine schedule on random masks; returns the model.

    Args:
        model ([`MonotoneDBMModel`]): The model to train.
        x_train (`torch.LongTensor` of shape `(n, num_pixels)`): Pixel bins. y_train (`torch.LongTensor` `(n,)`).
        epochs, batch_size, learning_rate: Optimisation. observe_fraction: Probability a pixel is observed.
        callback (`callable`, *optional*): Called as `callback(step, loss)` after each step.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    if len(x_train) != len(y_train):
        raise ValueError(f"`x_train` and `y_train` differ in length: {len(x_train)} vs {len(y_train)}.")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(x_train), batch_size):
            idx = order[start : start + batch_size]
            mask = random_observation_mask(x_train[idx].shape, observe_fraction, generator)
            loss = model(x_train[idx], observed_mask=mask, labels=y_train[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if callback is not None:
                callback(step, loss.item())
    model.eval()
    return model


@torch.no_grad()
def evaluate_monotone_dbm(model, x: torch.Tensor, y: torch.Tensor, *, observe_fraction: float = 0.4, seed: int = 1):
    """Label accuracy and completion accuracy (argmax of the pixel marginals) on the unobserved pixels.

    Returns:
        `dict` with `label_accuracy`, `completion_accuracy`, `mean_iterations`.
    """
    generator = torch.Generator().manual_seed(seed)
    mask = random_observation_mask(x.shape, observe_fraction, generator)
    out = model(x, observed_mask=mask)
    label_acc = (out.label_marginals.argmax(-1) == y).float().mean().item()
    completion = out.pixel_marginals.argmax(-1) == x
    return {
        "label_accuracy": label_acc,
        "completion_accuracy": completion[~mask].float().mean().item(),
        "iterations": int(out.num_iterations),
        "mask": mask,
    }


def marginal_baseline_accuracy(x_train: torch.Tensor, x_test: torch.Tensor, mask: torch.Tensor) -> float:
    """Per-pixel marginal baseline: predict each unobserved pixel's most frequent training bin."""
    num_bins = int(max(x_train.max(), x_test.max())) + 1
    counts = torch.nn.functional.one_hot(x_train, num_bins).sum(0)  # (num_pixels, num_bins)
    mode = counts.argmax(-1)
    return (x_test == mode)[~mask].float().mean().item()


@dataclass
class MonotoneDBMArguments(RecipeArguments):
    """Knobs of recipes/monotone_dbm.py (binarised scikit-learn digits, joint completion and classification)."""

    max_steps: int = field(default=100, metadata={"help": "Number of optimisation steps."})
    hidden_groups: int = field(default=8, metadata={"help": "Number of categorical groups in the hidden layer."})
    hidden_group_size: int = field(default=8, metadata={"help": "States of each hidden group."})
    alpha: float = field(default=0.125, metadata={"help": "Forward–backward step α in (0, 1)."})
    monotone_margin: float = field(default=0.01, metadata={"help": "Strong-monotonicity margin m in (0, 1)."})
    tol: float = field(default=1e-3, metadata={"help": "Relative residual tolerance of the fixed point."})
    max_iter: int = field(default=100, metadata={"help": "Most fixed-point iterations."})
    observe_fraction: float = field(default=0.4, metadata={"help": "Probability that a pixel is observed."})
    learning_rate: float = field(default=1e-2, metadata={"help": "Adam learning rate."})
    batch_size: int = field(default=64, metadata={"help": "Batch size."})

    def validate(self) -> None:
        super().validate()
        for name in ("hidden_groups", "hidden_group_size", "max_iter", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"--alpha must lie in (0, 1), got {self.alpha}")
        if not 0.0 < self.monotone_margin < 1.0:
            raise ValueError(f"--monotone_margin must lie in (0, 1), got {self.monotone_margin}")
        if not self.tol > 0:
            raise ValueError(f"--tol must be > 0, got {self.tol}")
        if not 0.0 <= self.observe_fraction <= 1.0:
            raise ValueError(f"--observe_fraction must lie in [0, 1], got {self.observe_fraction}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")

    def monotone_dbm_config(self) -> MonotoneDBMConfig:
        """8×8 binary pixels, one hidden layer, a 10-way label."""
        return MonotoneDBMConfig(
            group_counts=[64, self.hidden_groups, 1],
            group_sizes=[2, self.hidden_group_size, 10],
            alpha=self.alpha,
            monotone_margin=self.monotone_margin,
            tol=self.tol,
            max_iter=self.max_iter,
            backward_tol=self.tol,
            backward_max_iter=self.max_iter,
        )
