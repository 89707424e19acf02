"""The analysis-matrix cases of P62 `harmonic_denoiser`: the Jacobian eigen-analysis, the homogeneity check and the
paired-sample comparison of two briefly trained bias-free denoisers on disjoint digit sets."""

import torch

from hf_methods.analysis.harmonic_denoiser import (
    BiasFreeDenoiser,
    BiasFreeDenoiserConfig,
    denoiser_jacobian_eigs,
    digits_images_01,
    disjoint_splits,
    generalization_gap,
    homogeneity_check,
    train_blind_denoiser,
)
from tests.cases import AnalysisCase

TINY = {"num_layers": 3, "num_kernels": 8}


def _trained(seed: int, images: torch.Tensor) -> BiasFreeDenoiser:
    torch.manual_seed(seed)
    model = BiasFreeDenoiser(BiasFreeDenoiserConfig(**TINY))
    train_blind_denoiser(model, images, steps=5, batch_size=16, learning_rate=1e-2, seed=seed)
    return model


def _noisy_digit(seed: int) -> torch.Tensor:
    images, _ = digits_images_01()
    noise = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return images[:1] + 0.3 * noise.float()


def jacobian_of_a_trained_denoiser(seed: int):
    images, _ = digits_images_01()
    return denoiser_jacobian_eigs(_trained(seed, images[:64]), _noisy_digit(seed), num_vectors=4)


def homogeneity_of_a_trained_denoiser(seed: int):
    images, _ = digits_images_01()
    return homogeneity_check(_trained(seed, images[:64]), _noisy_digit(seed).repeat(2, 1, 1, 1))


def paired_samples_of_disjoint_denoisers(seed: int):
    images, _ = digits_images_01()
    set_a, set_b = disjoint_splits(len(images), 20, seed)
    a, b = _trained(seed, images[set_a]), _trained(seed + 1, images[set_b])
    return generalization_gap(
        a, b, n_samples=3, seed=seed, max_steps=15, h0=0.1, train_a=images[set_a], train_b=images[set_b]
    )


def _save(result, path):
    result.save_plot(path)


ANALYSIS_CASES = [
    AnalysisCase(name="harmonic_denoiser-jacobian", run=jacobian_of_a_trained_denoiser, plot=_save),
    AnalysisCase(name="harmonic_denoiser-homogeneity", run=homogeneity_of_a_trained_denoiser, plot=_save),
    AnalysisCase(name="harmonic_denoiser-generalization", run=paired_samples_of_disjoint_denoisers, plot=_save),
]
