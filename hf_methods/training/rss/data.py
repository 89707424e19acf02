"""The two-Gaussian mixture of the paper's theory and of its official simulation (`SVM_Robustness.ipynb`).

In-domain (labelled) data: `y ∈ {−1, +1}` with probability 1/2 each, `x | y ~ N(y·μ₀, σ²I)` in `R^d`.
Out-of-domain unlabelled data: `x' ~ ½ N(μ₁, σ²I) + ½ N(−μ₁, σ²I)` with `μ₁ = μ₀ + α·v`, `v` a random unit vector
and `α = shift·‖μ₀‖` (the official simulation uses `d = 200`, `‖μ₀‖ = 1`, `σ = 1`, `shift = 0.5`). The best
classifier `sign(μ₀ᵀx)` has accuracy `Φ(‖μ₀‖/σ)` ([`bayes_accuracy`]; 0.841 for `‖μ₀‖/σ = 1`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hf_methods.common.checks import check_number


def _check_count(name: str, value, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def random_unit_vector(dim: int, *, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """A uniformly random direction of `R^dim` (a normalised standard Gaussian vector)."""
    v = torch.randn(dim, generator=generator, dtype=dtype)
    return v / v.norm()


def two_gaussian_mixture(
    num_samples: int,
    mean: torch.Tensor,
    sigma: float = 1.0,
    *,
    generator: torch.Generator,
    balanced: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_samples` draws of `x = y·mean + σ·ε`, `ε ~ N(0, I)`; returns `(x, y)` with `y ∈ {−1, +1}`.

    Args:
        num_samples (`int`): how many points.
        mean (`torch.Tensor` of shape `(d,)`): the mean of the `y = +1` component.
        sigma (`float`, defaults to 1.0): the standard deviation of every coordinate.
        generator (`torch.Generator`): the random source.
        balanced (`bool`, defaults to `True`): exactly `⌈n/2⌉` points with `y = +1` and `⌊n/2⌋` with `y = −1`, in
            random order (as the official simulation draws its labelled and test sets); `False` draws each `y`
            independently with probability 1/2 (the mixture itself), so the first `k` points of a draw are a draw
            of size `k`.
    """
    _check_count("num_samples", num_samples)
    sigma = check_number("sigma", sigma, low=0, low_open=True)
    if not isinstance(mean, torch.Tensor) or mean.dim() != 1:
        raise ValueError(f"mean must be a 1-D tensor (d,), got {getattr(mean, 'shape', mean)!r}")
    if balanced:
        y = torch.ones(num_samples, dtype=mean.dtype)
        y[(num_samples + 1) // 2 :] = -1
        y = y[torch.randperm(num_samples, generator=generator)]
    else:
        y = torch.randint(0, 2, (num_samples,), generator=generator).to(mean.dtype) * 2 - 1
    noise = torch.randn(num_samples, mean.shape[0], generator=generator, dtype=mean.dtype)
    return y[:, None] * mean + sigma * noise, y


def bayes_accuracy(mean_norm: float = 1.0, sigma: float = 1.0) -> float:
    """`Φ(‖μ‖/σ)`: the accuracy of the best classifier `sign(μᵀx)` on the in-domain mixture."""
    return 0.5 * (1.0 + math.erf(mean_norm / sigma / math.sqrt(2.0)))


@dataclass
class TwoGaussianTask:
    """One draw of the semi-supervised two-Gaussian task (all labels in `{−1, +1}`).

    Attributes:
        x_train, y_train: the `m` labelled in-domain points.
        x_unlabeled: the out-of-domain unlabelled pool (any prefix `x_unlabeled[:n]` is a draw of size `n`).
        x_val, y_val: labelled in-domain points for choosing hyper-parameters (never trained on).
        x_test, y_test: labelled in-domain test points.
        mean: `μ₀`; mean_unlabeled: `μ₁ = μ₀ + α·v`.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_unlabeled: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor
    mean_unlabeled: torch.Tensor

    @property
    def dim(self) -> int:
        return self.mean.shape[0]


def make_two_gaussian_task(
    dim: int = 200,
    num_labeled: int = 10,
    num_unlabeled: int = 2000,
    num_validation: int = 200,
    num_test: int = 4000,
    *,
    mean_norm: float = 1.0,
    sigma: float = 1.0,
    shift: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> TwoGaussianTask:
    """Draws `μ₀`, the shift direction and every split from `seed` alone.

    Each part comes from its own generator (seeded from `seed` and the part), so the labelled, validation and test
    sets of a seed do not change with `num_unlabeled`. The unlabelled points are independent draws of the mixture, so
    nested unlabelled sets of sizes `n₁ < n₂ < …` are the prefixes `x_unlabeled[:n]` of one pool.

    Args:
        dim (`int`): the dimension `d`.
        num_labeled, num_unlabeled, num_validation, num_test (`int`): the sizes `m`, `n` and of the held-out sets.
        mean_norm (`float`): `‖μ₀‖ > 0`.
        sigma (`float`): `σ > 0`.
        shift (`float`): `α/‖μ₀‖ ≥ 0`, the relative shift of the unlabelled means (0: in-domain unlabelled data).
        seed (`int`): the seed of everything.
        dtype (`torch.dtype`): dtype of the returned tensors.
    """
    _check_count("dim", dim, 1)
    _check_count("num_labeled", num_labeled, 2)
    _check_count("num_unlabeled", num_unlabeled)
    _check_count("num_validation", num_validation)
    _check_count("num_test", num_test)
    mean_norm = check_number("mean_norm", mean_norm, low=0, low_open=True)
    sigma = check_number("sigma", sigma, low=0, low_open=True)
    if not isinstance(shift, (int, float)) or isinstance(shift, bool) or not (shift >= 0 and math.isfinite(shift)):
        raise ValueError(f"shift must be a finite number >= 0, got {shift!r}")

    def generator(part: int) -> torch.Generator:
        return torch.Generator().manual_seed(1_000_003 * seed + part)

    means = generator(0)
    mean = mean_norm * random_unit_vector(dim, generator=means)
    mean_unlabeled = mean + shift * mean_norm * random_unit_vector(dim, generator=means)
    x_train, y_train = two_gaussian_mixture(num_labeled, mean, sigma, generator=generator(1))
    x_unlabeled, _ = two_gaussian_mixture(num_unlabeled, mean_unlabeled, sigma, generator=generator(2), balanced=False)
    x_val, y_val = two_gaussian_mixture(num_validation, mean, sigma, generator=generator(3))
    x_test, y_test = two_gaussian_mixture(num_test, mean, sigma, generator=generator(4))
    parts = (x_train, y_train, x_unlabeled, x_val, y_val, x_test, y_test, mean, mean_unlabeled)
    return TwoGaussianTask(*(t.to(dtype) for t in parts))


__all__ = ["TwoGaussianTask", "bayes_accuracy", "make_two_gaussian_task", "random_unit_vector", "two_gaussian_mixture"]
