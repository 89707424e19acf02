"""P62 `harmonic_denoiser`: memorisation, generalisation and geometry-adaptive harmonic bases in bias-free denoisers
(Kadkhodaie, Guth, Simoncelli & Mallat, ICLR 2024, "Generalization in diffusion models arises from geometry-adaptive
harmonic representations").

```python
from hf_methods.analysis.harmonic_denoiser import (
    BiasFreeDenoiser, BiasFreeDenoiserConfig, denoiser_jacobian_eigs, generalization_gap, train_blind_denoiser)

a, b = BiasFreeDenoiser(BiasFreeDenoiserConfig()), BiasFreeDenoiser(BiasFreeDenoiserConfig())
train_blind_denoiser(a, images_1, steps=2000); train_blind_denoiser(b, images_2, steps=2000)  # disjoint sets
gap = generalization_gap(a, b, n_samples=16)   # paired samples from the same noise; mean_similarity ≈ 1: generalising
eig = denoiser_jacobian_eigs(a, noisy_image)   # ∇D(y) = Σ λ_k e_k e_kᵀ, tr ∇D(y), the adaptive basis as images
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BiasFreeDenoiserConfig": ".configuration_harmonic_denoiser",
        "BiasFreeBatchNorm2d": ".modeling_harmonic_denoiser",
        "BiasFreeDenoiser": ".modeling_harmonic_denoiser",
        "BiasFreeDenoiserOutput": ".modeling_harmonic_denoiser",
        "BiasFreeSamplerOutput": ".modeling_harmonic_denoiser",
        "GeneralizationGap": ".analysis",
        "HomogeneityCheck": ".analysis",
        "JacobianEigenAnalysis": ".analysis",
        "NearestTrainingImages": ".analysis",
        "denoiser_jacobian_eigs": ".analysis",
        "generalization_gap": ".analysis",
        "homogeneity_check": ".analysis",
        "image_similarity": ".analysis",
        "nearest_training_distance": ".analysis",
        "HarmonicDenoiserArguments": ".training",
        "blind_denoising_loss": ".training",
        "digits_images_01": ".training",
        "disjoint_splits": ".training",
        "run_disjoint_pair": ".training",
        "train_blind_denoiser": ".training",
    },
)
