"""Training of bias-free blind denoisers on small image sets, shared by the recipe, the claim and the tests.

Kadkhodaie et al. (ICLR 2024) train the same denoiser on training sets of growing size N, two disjoint sets per N, and
compare what the two networks generate. [`disjoint_splits`] draws the two sets, [`train_blind_denoiser`] fits one
network by minimising the blind denoising error E_{x, σ, z} ‖D(x + σz) − x‖² with Adam (σ drawn per image by the
config's schedule), and [`HarmonicDenoiserArguments`] holds the recipe's knobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.analysis.harmonic_denoiser.configuration_harmonic_denoiser import (
    NOISE_SCHEDULES,
    BiasFreeDenoiserConfig,
)
from hf_methods.analysis.harmonic_denoiser.modeling_harmonic_denoiser import BiasFreeDenoiser
from hf_methods.harness.recipe import RecipeArguments

__all__ = [
    "HarmonicDenoiserArguments",
    "blind_denoising_loss",
    "digits_images_01",
    "disjoint_splits",
    "run_disjoint_pair",
    "train_blind_denoiser",
]


def digits_images_01(*, test_size: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits as `(train, test)` images `(N, 1, 8, 8)` in [0, 1] (the pixel scale of the paper)."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed, flatten=False)
    return torch.from_numpy(train.x), torch.from_numpy(test.x)


def disjoint_splits(num_images: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of two disjoint random subsets S₁, S₂ of `size` images each among `num_images` (seeded).

    Raises:
        ValueError: when `2 * size > num_images` or `size < 1`.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if 2 * size > num_images:
        raise ValueError(f"two disjoint sets of size={size} need {2 * size} images, only {num_images} are available")
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed))
    return order[:size].sort().values, order[size : 2 * size].sort().values


def blind_denoising_loss(
    model: BiasFreeDenoiser, clean: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""The blind denoising objective on one batch of clean images (Mohan et al., 2020; Kadkhodaie et al., 2024):

    L = mean_{i, pixels} (D(x_i + σ_i z_i) − x_i)²,   σ_i drawn by `model.add_noise`, z_i ~ N(0, I).
    """
    noisy, _ = model.add_noise(clean, generator)
    return model(pixel_values=noisy, labels=clean).loss


def train_blind_denoiser(
    model: BiasFreeDenoiser,
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Fits `model` to the clean `images` `(N, C, H, W)` by Adam on [`blind_denoising_loss`] with cosine decay.

    Batches draw `batch_size` images with replacement (a set of N = 10 images is seen many times per step, as the
    official code repeats small sets to a fixed epoch size). Returns the loss of every step; leaves the model in
    evaluation mode.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) < 1:
        raise ValueError("images must be a non-empty tensor of shape (N, channels, height, width)")
    from transformers import get_scheduler

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = get_scheduler("cosine", optimizer, num_warmup_steps=0, num_training_steps=steps)
    model.train()
    losses = []
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        loss = blind_denoising_loss(model, images[index], generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


@dataclass
class HarmonicDenoiserArguments(RecipeArguments):
    """Knobs of `recipes/harmonic_denoiser.py`: a bias-free denoiser trained on `train_size` digits, then analysed."""

    max_steps: int = field(default=1500, metadata={"help": "Adam steps of the denoiser."})
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=100, metadata={"help": "Log the loss every N steps."})
    train_size: int = field(default=800, metadata={"help": "images of the training set S₁ (the model's N)"})
    swap: bool = field(
        default=False, metadata={"help": "train on the disjoint set S₂ instead of S₁ (both drawn with --split_seed)"}
    )
    split_seed: int = field(default=0, metadata={"help": "seed of the two disjoint training sets"})
    num_layers: int = field(default=5, metadata={"help": "convolutions of the bias-free CNN"})
    num_kernels: int = field(default=32, metadata={"help": "channels of its hidden layers"})
    noise_schedule: str = field(default="quadratic", metadata={"help": f"σ draws: one of {NOISE_SCHEDULES}"})
    max_noise_level: float = field(default=1.0, metadata={"help": "σ_max on images in [0, 1]"})
    batch_size: int = field(default=32, metadata={"help": "images per step (small sets are tiled to fill it)"})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (cosine decay)"})
    num_samples: int = field(default=16, metadata={"help": "samples drawn after training"})
    sample_h0: float = field(default=0.01, metadata={"help": "sampler's first step size h_0"})
    sample_beta: float = field(default=0.01, metadata={"help": "sampler's noise-injection β"})
    sample_sigma_L: float = field(default=0.01, metadata={"help": "sampler's final noise level σ_L"})
    sample_max_steps: int = field(default=2000, metadata={"help": "sampler's iteration cap"})
    jacobian_sigma: float = field(default=0.3, metadata={"help": "noise level of the Jacobian eigen-analysis"})

    def validate(self) -> None:
        super().validate()
        for name in ("train_size", "num_layers", "num_kernels", "batch_size", "num_samples", "sample_max_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be a positive integer, got {value!r}")
        if self.num_layers < 2:
            raise ValueError(f"--num_layers must be at least 2, got {self.num_layers}")
        if self.noise_schedule not in NOISE_SCHEDULES:
            raise ValueError(f"--noise_schedule must be one of {NOISE_SCHEDULES}, got {self.noise_schedule!r}")
        for name in ("max_noise_level", "learning_rate", "sample_sigma_L", "jacobian_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("sample_h0", "sample_beta"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"--{name} must be in (0, 1], got {getattr(self, name)!r}")

    def denoiser_config(self) -> BiasFreeDenoiserConfig:
        """The model's configuration, built from the flags in one call."""
        return BiasFreeDenoiserConfig(
            num_channels=1,
            num_layers=self.num_layers,
            num_kernels=self.num_kernels,
            noise_schedule=self.noise_schedule,
            max_noise_level=self.max_noise_level,
        )


def run_disjoint_pair(
    images: torch.Tensor,
    train_size: int,
    seed: int,
    *,
    config: BiasFreeDenoiserConfig,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    n_samples: int = 16,
    sampler: dict | None = None,
    jacobian_sigma: float = 0.3,
    jacobian_image: int = 0,
) -> dict:
    """The memorisation / generalisation experiment at one training-set size (Kadkhodaie et al., ICLR 2024, Fig. 2).

    Draws two disjoint sets of `train_size` images (seeded by `seed`), trains one denoiser on each (model A on S₁
    with initialisation seed `seed`, model B on S₂ with `seed + 1`), samples both from the same noise (seed `seed`),
    and measures: the paired similarity of the samples, each sample's distance to its model's nearest training image,
    the exact homogeneity of both networks, and model A's Jacobian eigen-analysis at `images[jacobian_image]` plus
    N(0, jacobian_sigma²) noise.

    Returns:
        a JSON-ready dict of plain numbers and nested lists.
    """
    from hf_methods.analysis.harmonic_denoiser.analysis import (
        denoiser_jacobian_eigs,
        generalization_gap,
        homogeneity_check,
    )

    set_a, set_b = disjoint_splits(len(images), train_size, seed)
    models, losses = [], []
    for index, (subset, init_seed) in enumerate(((set_a, seed), (set_b, seed + 1))):
        torch.manual_seed(init_seed)
        model = BiasFreeDenoiser(config)
        losses.append(
            train_blind_denoiser(
                model,
                images[subset],
                steps=steps,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=10_000 * (index + 1) + seed,
            )
        )
        models.append(model)
    gap = generalization_gap(
        models[0],
        models[1],
        n_samples=n_samples,
        image_size=tuple(images.shape[-2:]),
        seed=seed,
        train_a=images[set_a],
        train_b=images[set_b],
        **(sampler or {}),
    )
    noise = torch.randn(images[:1].shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    noisy = images[jacobian_image : jacobian_image + 1].double() + jacobian_sigma * noise
    probes = torch.cat([noisy, noisy + 0.1 * noise.flip(-1)])
    checks = [homogeneity_check(model, probes) for model in models]
    eig = denoiser_jacobian_eigs(models[0], noisy.float(), num_vectors=8)
    tail = max(1, steps // 10)
    return {
        "train_size": train_size,
        "final_loss": [sum(curve[-tail:]) / tail for curve in losses],
        "similarities": gap.similarities,
        "converged": [gap.converged_a, gap.converged_b],
        "diverged": [gap.diverged_a, gap.diverged_b],
        "steps": [gap.steps_a, gap.steps_b],
        "relative_distance_a": gap.nearest_a.relative_distances,
        "relative_distance_b": gap.nearest_b.relative_distances,
        "nearest_similarity_a": gap.nearest_a.max_similarities,
        "nearest_similarity_b": gap.nearest_b.max_similarities,
        "scaling_error": max(max(c.scaling_errors) for c in checks),
        "identity_error": max(c.jacobian_identity_error for c in checks),
        "samples_a": gap.samples_a.tolist(),
        "samples_b": gap.samples_b.tolist(),
        "nearest_a": gap.nearest_a.nearest.tolist(),
        "nearest_indices_a": gap.nearest_a.indices,
        "eigenvalues": eig.eigenvalues.tolist(),
        "eigenvectors": eig.eigenvectors.tolist(),
        "effective_dimension": eig.effective_dimension,
        "jacobian_asymmetry": eig.asymmetry,
        "jacobian_noisy": eig.noisy.tolist(),
        "jacobian_denoised": eig.denoised.tolist(),
    }
