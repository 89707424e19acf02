"""Measurements of Kadkhodaie, Guth, Simoncelli & Mallat (ICLR 2024) on bias-free denoisers.

- [`homogeneity_check`]: a bias-free network in evaluation mode is positively homogeneous, D(αy) = αD(y), and equal to
  its own Jacobian applied to its input, D(y) = ∇D(y)·y (Eq. 5 of the paper: the denoiser is an adaptive linear
  filter). Both are checked in float64 as relative errors.
- [`denoiser_jacobian_eigs`]: the eigendecomposition ∇D(y) = Σ_k λ_k e_k e_kᵀ of the (near-symmetric) Jacobian at a
  noisy image: the denoiser shrinks the coefficients of y in the adaptive basis {e_k} by λ_k; the effective
  dimensionality of the subspace it keeps is tr ∇D(y) = Σ_k λ_k. On images the e_k are the paper's
  geometry-adaptive harmonic bases (GAHB): oscillating along contours and in flat regions.
- [`generalization_gap`]: two denoisers trained on disjoint sets, sampled with the same initial noise and the same
  injected noise; the similarity of the paired samples is near 1 when both learned the same density (generalisation)
  and low when each reproduces its own training images (memorisation).
- [`nearest_training_distance`]: distance of each sample to its nearest training image (memorisation shows as a
  distance near 0).

Similarities are the official code's cosine similarity after removing each image's mean (`im_set_corr`).
Every function returns a dataclass of numbers with a `save_plot(path)` method.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

__all__ = [
    "GeneralizationGap",
    "HomogeneityCheck",
    "JacobianEigenAnalysis",
    "NearestTrainingImages",
    "denoiser_jacobian_eigs",
    "generalization_gap",
    "homogeneity_check",
    "image_similarity",
    "nearest_training_distance",
]


# ------------------------------------------------------------------------------------------------------- helpers


def _check_denoiser(model, name: str = "model"):
    if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "residual", None)):
        raise TypeError(f"{name} must be a BiasFreeDenoiser (a module with `residual(y)`), got {type(model).__name__}")
    return model


def _check_image_batch(images, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError(f"{name} must be a float torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"{name} must have shape (N, channels, height, width) with N >= 1, got {tuple(images.shape)}")
    return images


def _float64_copy(model):
    """An evaluation-mode float64 copy of `model` on the CPU (the model itself is left untouched)."""
    model = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).eval()
    return model.requires_grad_(False)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show(ax, image: torch.Tensor, title: str | None = None, symmetric: bool = False):
    array = image.detach().double().cpu()
    array = array[0] if array.shape[0] == 1 else array.permute(1, 2, 0).clamp(0, 1)
    if symmetric:
        bound = float(array.abs().max()) or 1.0
        ax.imshow(array.numpy(), cmap="RdBu_r", vmin=-bound, vmax=bound)
    else:
        ax.imshow(array.numpy(), cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def image_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Cosine similarity of paired images after removing each image's mean (the official code's `im_set_corr`):

        sim(a, b) = ⟨a − ā, b − b̄⟩ / (‖a − ā‖ ‖b − b̄‖)

    Args:
        a, b (`torch.Tensor` of the same shape `(N, channels, height, width)`): paired images.

    Returns:
        `torch.Tensor` of shape `(N,)` in float64 (0 where an image is constant).
    """
    a, b = _check_image_batch(a, "a"), _check_image_batch(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a = a.detach().double().flatten(1).cpu()
    b = b.detach().double().flatten(1).cpu()
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    norms = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(norms > 0, (a * b).sum(dim=1) / norms.clamp_min(1e-300), torch.zeros_like(norms))


def _similarity_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean-removed cosine similarity of every row of `a` with every row of `b` (flattened images), float64."""
    a = a.detach().double().flatten(1).cpu()
    b = b.detach().double().flatten(1).cpu()
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-300)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return a @ b.T


# ------------------------------------------------------------------------------------------------- homogeneity


@dataclass
class HomogeneityCheck:
    """Exact properties of a bias-free denoiser, as relative errors computed in float64.

    Attributes:
        alphas (`list[float]`): the scales α tested.
        scaling_errors (`list[float]`): ‖D(αy) − αD(y)‖ / ‖αD(y)‖ for each α (maximum over the images).
        jacobian_identity_error (`float`): ‖∇D(y)·y − D(y)‖ / ‖D(y)‖ (maximum over the images).
        max_error (`float`): the largest of all of these.
    """

    alphas: list[float]
    scaling_errors: list[float]
    jacobian_identity_error: float
    max_error: float

    def save_plot(self, path) -> None:
        """Bar chart of the relative errors (log scale) at `path` (PNG)."""
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(4.8, 3.2))
        labels = [f"D({a:g}y) vs {a:g}D(y)" for a in self.alphas] + ["J(y)y vs D(y)"]
        values = [max(v, 1e-18) for v in [*self.scaling_errors, self.jacobian_identity_error]]
        ax.bar(range(len(values)), values, color=["C0"] * len(self.alphas) + ["C1"])
        ax.set_yscale("log")
        ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("relative error (float64)")
        ax.set_title("bias-free denoiser: homogeneity", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def homogeneity_check(
    model, noisy_images: torch.Tensor, alphas: Sequence[float] = (0.3, 0.7, 1.9, 3.1)
) -> HomogeneityCheck:
    r"""Checks D(αy) = αD(y) for α > 0 and D(y) = ∇D(y)·y on `noisy_images`, in float64 and evaluation mode.

    The Jacobian-vector product ∇D(y)·y is computed with `torch.func.jvp` (forward mode), image by image.

    Args:
        model ([`BiasFreeDenoiser`]): the denoiser (copied; the model itself is not changed).
        noisy_images (`torch.Tensor` of shape `(N, channels, height, width)`): the inputs y.
        alphas (`Sequence[float]`): positive scales α.
    """
    model = _float64_copy(_check_denoiser(model))
    images = _check_image_batch(noisy_images, "noisy_images").detach().double().cpu()
    alphas = [float(a) for a in alphas]
    if not alphas or any(not (a > 0 and math.isfinite(a)) for a in alphas):
        raise ValueError(f"alphas must be finite positive numbers, got {alphas}")

    def denoise(y):
        return y - model.residual(y)

    with torch.no_grad():
        base = denoise(images)
        scaling_errors = []
        for alpha in alphas:
            scaled = denoise(alpha * images)
            error = (scaled - alpha * base).flatten(1).norm(dim=1) / (alpha * base).flatten(1).norm(dim=1)
            scaling_errors.append(float(error.max()))
    identity_errors = []
    for image in images:
        y = image.unsqueeze(0)
        value, tangent = torch.func.jvp(denoise, (y,), (y,))
        identity_errors.append(float((tangent - value).norm() / value.norm()))
    jacobian_error = max(identity_errors)
    return HomogeneityCheck(
        alphas=alphas,
        scaling_errors=scaling_errors,
        jacobian_identity_error=jacobian_error,
        max_error=max([*scaling_errors, jacobian_error]),
    )


# ------------------------------------------------------------------------------------------------- Jacobian


@dataclass
class JacobianEigenAnalysis:
    """The denoiser's Jacobian ∇D(y) at one noisy image and its eigendecomposition.

    Attributes:
        eigenvalues (`torch.Tensor` of shape `(d,)`): λ_k of the symmetric part (∇D + ∇Dᵀ)/2, descending.
        eigenvectors (`torch.Tensor` of shape `(num_vectors, channels, height, width)`): the e_k of the
            `num_vectors` largest λ_k, as images (unit norm).
        effective_dimension (`float`): tr ∇D(y) = Σ_k λ_k, the dimensionality of the adaptive subspace.
        asymmetry (`float`): ‖∇D − ∇Dᵀ‖_F / ‖∇D‖_F (0 for a symmetric Jacobian; the paper finds it small).
        identity_error (`float`): ‖∇D(y)·y − D(y)‖ / ‖D(y)‖ (0 up to rounding for a bias-free network).
        noisy (`torch.Tensor`): the input y `(channels, height, width)`.
        denoised (`torch.Tensor`): D(y).
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    effective_dimension: float
    asymmetry: float
    identity_error: float
    noisy: torch.Tensor
    denoised: torch.Tensor

    def save_plot(self, path) -> None:
        """The noisy and denoised images, the eigenvalue spectrum and the leading eigenvectors, at `path` (PNG)."""
        plt = _pyplot()
        k = len(self.eigenvectors)
        columns = max(k, 4)
        fig = plt.figure(figsize=(1.15 * columns + 0.6, 3.6))
        grid = fig.add_gridspec(2, columns, height_ratios=[1.3, 1.0])
        _show(fig.add_subplot(grid[0, 0]), self.noisy, "noisy y")
        _show(fig.add_subplot(grid[0, 1]), self.denoised, "D(y)")
        ax = fig.add_subplot(grid[0, 2:])
        ax.plot(range(1, len(self.eigenvalues) + 1), self.eigenvalues.double().numpy(), ".-", markersize=3)
        ax.set_xlabel("k", fontsize=7)
        ax.set_ylabel("λ_k", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f"spectrum; tr ∇D = {self.effective_dimension:.2f}, asymmetry {self.asymmetry:.3f}", fontsize=7)
        ax.grid(alpha=0.3)
        for i in range(k):
            _show(
                fig.add_subplot(grid[1, i]),
                self.eigenvectors[i],
                f"e{i + 1}, λ={float(self.eigenvalues[i]):.2f}",
                symmetric=True,
            )
        fig.suptitle("Jacobian eigenvectors of the denoiser (adaptive basis)", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def denoiser_jacobian_eigs(model, noisy_image: torch.Tensor, *, num_vectors: int = 8) -> JacobianEigenAnalysis:
    r"""∇D(y) of the denoiser at one noisy image (float64, `torch.func.jacrev`) and its eigendecomposition.

    The Jacobian is close to symmetric (the denoiser is a gradient of a log density up to the Miyasawa/Tweedie
    relation D(y) = y + σ²∇ log p_σ(y)); the eigenvectors are those of its symmetric part, so that they are
    orthonormal: ∇D(y) ≈ Σ_k λ_k e_k e_kᵀ. How far it is from symmetric is reported as `asymmetry`.

    Args:
        model ([`BiasFreeDenoiser`]): the denoiser (copied to float64 in evaluation mode; not changed).
        noisy_image (`torch.Tensor` of shape `(channels, height, width)` or `(1, channels, height, width)`): y.
        num_vectors (`int`): eigenvectors of the largest eigenvalues to keep.

    Returns:
        [`JacobianEigenAnalysis`].
    """
    model = _float64_copy(_check_denoiser(model))
    if not isinstance(noisy_image, torch.Tensor) or not noisy_image.is_floating_point():
        raise TypeError(f"noisy_image must be a float torch.Tensor, got {type(noisy_image).__name__}")
    if noisy_image.dim() == 4 and len(noisy_image) == 1:
        noisy_image = noisy_image[0]
    if noisy_image.dim() != 3:
        raise ValueError(
            f"noisy_image must be one image (channels, height, width) or (1, channels, height, width), got "
            f"{tuple(noisy_image.shape)}"
        )
    shape = tuple(noisy_image.shape)
    dim = math.prod(shape)
    if isinstance(num_vectors, bool) or not isinstance(num_vectors, int) or not 1 <= num_vectors <= dim:
        raise ValueError(f"num_vectors must be an integer in [1, {dim}], got {num_vectors!r}")
    y = noisy_image.detach().double().cpu().reshape(-1)

    def denoise_flat(v):
        image = v.reshape(1, *shape)
        return (image - model.residual(image)).reshape(-1)

    jacobian = torch.func.jacrev(denoise_flat)(y)
    with torch.no_grad():
        denoised = denoise_flat(y)
    symmetric = 0.5 * (jacobian + jacobian.T)
    eigenvalues, eigenvectors = torch.linalg.eigh(symmetric)
    order = torch.argsort(eigenvalues, descending=True)
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    return JacobianEigenAnalysis(
        eigenvalues=eigenvalues,
        eigenvectors=eigenvectors[:, :num_vectors].T.reshape(num_vectors, *shape).contiguous(),
        effective_dimension=float(torch.trace(jacobian)),
        asymmetry=float((jacobian - jacobian.T).norm() / jacobian.norm().clamp_min(1e-300)),
        identity_error=float((jacobian @ y - denoised).norm() / denoised.norm().clamp_min(1e-300)),
        noisy=y.reshape(shape),
        denoised=denoised.reshape(shape),
    )


# ------------------------------------------------------------------------------------------- memorisation


@dataclass
class NearestTrainingImages:
    """Each sample's nearest training image (Euclidean distance).

    Attributes:
        indices (`list[int]`): index in the training set of each sample's nearest image.
        distances (`list[float]`): ‖s − x_nn‖.
        relative_distances (`list[float]`): ‖s − x_nn‖ / ‖x_nn‖ (memorisation: near 0).
        similarities (`list[float]`): mean-removed cosine similarity of s and x_nn.
        max_similarities (`list[float]`): the largest mean-removed cosine similarity of s with any training image.
        samples (`torch.Tensor`), nearest (`torch.Tensor`): the samples and their nearest training images (for plots).
    """

    indices: list[int]
    distances: list[float]
    relative_distances: list[float]
    similarities: list[float]
    max_similarities: list[float]
    samples: torch.Tensor = field(repr=False)
    nearest: torch.Tensor = field(repr=False)

    @property
    def mean_relative_distance(self) -> float:
        return sum(self.relative_distances) / len(self.relative_distances)

    def save_plot(self, path) -> None:
        """Samples (top row) above their nearest training images (bottom row), at `path` (PNG)."""
        plt = _pyplot()
        n = min(len(self.samples), 12)
        fig, axes = plt.subplots(2, n, figsize=(1.1 * n + 0.4, 2.6), squeeze=False)
        for i in range(n):
            _show(axes[0, i], self.samples[i], f"d={self.relative_distances[i]:.2f}")
            _show(axes[1, i], self.nearest[i], f"#{self.indices[i]}")
        fig.suptitle("samples (top) and their nearest training images (bottom); d = relative distance", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def nearest_training_distance(samples: torch.Tensor, train_set: torch.Tensor) -> NearestTrainingImages:
    """For each sample, the nearest image of `train_set` in Euclidean distance and how close it is.

    Args:
        samples (`torch.Tensor` of shape `(S, channels, height, width)`): generated images.
        train_set (`torch.Tensor` of shape `(N, channels, height, width)`): the training images.
    """
    samples = _check_image_batch(samples, "samples").detach().double().cpu()
    train = _check_image_batch(train_set, "train_set").detach().double().cpu()
    if samples.shape[1:] != train.shape[1:]:
        raise ValueError(
            f"samples and train_set must hold images of the same shape, got {tuple(samples.shape[1:])} and "
            f"{tuple(train.shape[1:])}"
        )
    distances = torch.cdist(samples.flatten(1), train.flatten(1))
    best, indices = distances.min(dim=1)
    nearest = train[indices]
    norms = nearest.flatten(1).norm(dim=1).clamp_min(1e-300)
    return NearestTrainingImages(
        indices=[int(i) for i in indices],
        distances=[float(d) for d in best],
        relative_distances=[float(d) for d in best / norms],
        similarities=[float(s) for s in image_similarity(samples, nearest)],
        max_similarities=[float(s) for s in _similarity_matrix(samples, train).max(dim=1).values],
        samples=samples,
        nearest=nearest,
    )


@dataclass
class GeneralizationGap:
    """Paired samples of two denoisers trained on disjoint sets, drawn from the same noise.

    Attributes:
        similarities (`list[float]`): mean-removed cosine similarity of each pair of samples.
        mean_similarity (`float`): their mean (near 1: the two networks learned the same density).
        converged_a, converged_b (`float`): fraction of the chains of each model that reached σ_L.
        diverged_a, diverged_b (`float`): fraction of the chains of each model stopped as diverging.
        steps_a, steps_b (`list[int]`): iterations of each chain.
        samples_a, samples_b (`torch.Tensor`): the samples.
        nearest_a, nearest_b ([`NearestTrainingImages`], *optional*): each model's samples against its own training
            set, when the sets are given.
    """

    similarities: list[float]
    mean_similarity: float
    converged_a: float
    converged_b: float
    steps_a: list[int]
    steps_b: list[int]
    diverged_a: float = 0.0
    diverged_b: float = 0.0
    samples_a: torch.Tensor = field(default=None, repr=False)
    samples_b: torch.Tensor = field(default=None, repr=False)
    nearest_a: NearestTrainingImages | None = None
    nearest_b: NearestTrainingImages | None = None

    def save_plot(self, path) -> None:
        """Rows: samples of model A, of model B (same noise), and the nearest training images of A's samples."""
        plt = _pyplot()
        n = min(len(self.samples_a), 12)
        rows = 3 if self.nearest_a is not None else 2
        fig, axes = plt.subplots(rows, n, figsize=(1.1 * n + 0.4, 1.25 * rows + 0.5), squeeze=False)
        for i in range(n):
            _show(axes[0, i], self.samples_a[i], f"sim={self.similarities[i]:.2f}")
            _show(axes[1, i], self.samples_b[i])
            if self.nearest_a is not None:
                _show(axes[2, i], self.nearest_a.nearest[i])
        axes[0, 0].set_ylabel("A", fontsize=8)
        axes[1, 0].set_ylabel("B", fontsize=8)
        if rows == 3:
            axes[2, 0].set_ylabel("A's nearest\ntraining", fontsize=7)
        fig.suptitle(f"paired samples of two denoisers; mean similarity {self.mean_similarity:.3f}", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def generalization_gap(
    model_a,
    model_b,
    *,
    n_samples: int = 16,
    image_size: tuple[int, int] | int = 8,
    seed: int = 0,
    train_a: torch.Tensor | None = None,
    train_b: torch.Tensor | None = None,
    **sampler_kwargs,
) -> GeneralizationGap:
    """Samples both denoisers from the same initial noise and the same injected noise and compares the pairs.

    Each model runs [`BiasFreeDenoiser.sample`] with a CPU generator seeded with `seed` (so both draw identical
    y_0 and z_t); each pair's similarity is [`image_similarity`]. Kadkhodaie et al. (ICLR 2024) find the pairs nearly
    identical, and unlike any training image, once the training sets are large (generalisation), and equal to each
    model's own nearest training image when they are small (memorisation).

    Args:
        model_a, model_b ([`BiasFreeDenoiser`]): two denoisers with the same number of channels.
        n_samples (`int`): pairs to draw.
        image_size (`int` or `(height, width)`): size of the samples.
        seed (`int`): seed of the shared noise.
        train_a, train_b (`torch.Tensor` of shape `(N, C, H, W)`, *optional*): the models' training sets; when given,
            [`nearest_training_distance`] of each model's samples to its own set is included.
        **sampler_kwargs: `h0`, `beta`, `sigma_0`, `sigma_L`, `init_mean`, `max_steps`, `sigma_max` of the sampler.
    """
    _check_denoiser(model_a, "model_a")
    _check_denoiser(model_b, "model_b")
    if model_a.config.num_channels != model_b.config.num_channels:
        raise ValueError(
            f"model_a and model_b must take the same number of channels, got {model_a.config.num_channels} and "
            f"{model_b.config.num_channels}"
        )
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in image_size)
    ):
        raise ValueError(f"image_size must be a positive integer or (height, width), got {image_size!r}")
    unknown = sorted(set(sampler_kwargs) - {"h0", "beta", "sigma_0", "sigma_L", "init_mean", "max_steps", "sigma_max"})
    if unknown:
        raise TypeError(f"generalization_gap got unknown sampler arguments {unknown}")
    shape = (n_samples, model_a.config.num_channels, *image_size)
    out_a = model_a.sample(shape, generator=torch.Generator().manual_seed(seed), **sampler_kwargs)
    out_b = model_b.sample(shape, generator=torch.Generator().manual_seed(seed), **sampler_kwargs)
    similarities = [float(s) for s in image_similarity(out_a.samples, out_b.samples)]
    return GeneralizationGap(
        similarities=similarities,
        mean_similarity=sum(similarities) / len(similarities),
        converged_a=float(out_a.converged.double().mean()),
        converged_b=float(out_b.converged.double().mean()),
        steps_a=[int(s) for s in out_a.num_steps],
        steps_b=[int(s) for s in out_b.num_steps],
        diverged_a=float(out_a.diverged.double().mean()),
        diverged_b=float(out_b.diverged.double().mean()),
        samples_a=out_a.samples.detach().double().cpu(),
        samples_b=out_b.samples.detach().double().cpu(),
        nearest_a=None if train_a is None else nearest_training_distance(out_a.samples, train_a),
        nearest_b=None if train_b is None else nearest_training_distance(out_b.samples, train_b),
    )
