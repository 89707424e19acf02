"""The catalogue record of `harmonic_denoiser` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="harmonic_denoiser",
    paper_id="P62",
    title="Generalization in diffusion models arises from geometry-adaptive harmonic representations",
    arxiv="2310.02557",
    official_code="LabForComputationalVision/memorization_generalization_in_diffusion_models",
    kind="analysis",
    tags=("diffusion", "generalization", "memorization", "denoising"),
    entry_points=(
        "hf_methods.analysis.harmonic_denoiser:BiasFreeDenoiserConfig",
        "hf_methods.analysis.harmonic_denoiser:BiasFreeDenoiser",
        "hf_methods.analysis.harmonic_denoiser:denoiser_jacobian_eigs",
        "hf_methods.analysis.harmonic_denoiser:generalization_gap",
        "hf_methods.analysis.harmonic_denoiser:nearest_training_distance",
        "hf_methods.analysis.harmonic_denoiser:homogeneity_check",
        "hf_methods.analysis.harmonic_denoiser:train_blind_denoiser",
    ),
    recipe="recipes/harmonic_denoiser.py",
    auto_classes={
        "AutoConfig": "hf_methods.analysis.harmonic_denoiser.configuration_harmonic_denoiser:BiasFreeDenoiserConfig",
        "AutoModel": "hf_methods.analysis.harmonic_denoiser.modeling_harmonic_denoiser:BiasFreeDenoiser",
    },
    claim=(
        "Denoisers trained on large disjoint training sets learn the same score, through geometry-adaptive "
        "harmonic bases, while small sets are memorised; the check (bias-free 5-layer CNNs on 8×8 digits, two "
        "disjoint sets per size, N = 10 and 800) asserts homogeneity D(αy) = αD(y) and D(y) = ∇D(y)y to 1e-5 in "
        "float64, that the similarity of paired samples of the two networks rises by ≥ 0.2 from N = 10 to N = 800, "
        "that N = 10 samples lie within 0.1·‖x‖ of a training image and N = 800 samples farther."
    ),
    venue="ICLR 2024",
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import (\n"
        "    BiasFreeDenoiser, BiasFreeDenoiserConfig, denoiser_jacobian_eigs, generalization_gap, homogeneity_check,\n"
        "    train_blind_denoiser)\n"
        "from hf_methods.analysis.harmonic_denoiser import digits_images_01, disjoint_splits\n"
        "\n"
        "images, _ = digits_images_01()  # scikit-learn's 8×8 digits in [0, 1], shape (N, 1, 8, 8)\n"
        "set_a, set_b = disjoint_splits(len(images), 100, seed=0)  # two disjoint training sets of 100 images\n"
        "config = BiasFreeDenoiserConfig(num_layers=5, num_kernels=32)  # no additive constant anywhere\n"
        "a, b = BiasFreeDenoiser(config), BiasFreeDenoiser(config)\n"
        "train_blind_denoiser(a, images[set_a], steps=20)  # blind denoising, σ drawn per image\n"
        "train_blind_denoiser(b, images[set_b], steps=20)\n"
        "gap = generalization_gap(a, b, n_samples=4, max_steps=100)  # same noise for both; ≈ 1 when generalising\n"
        "noisy = images[:1] + 0.3 * torch.randn(1, 1, 8, 8)\n"
        "eig = denoiser_jacobian_eigs(a, noisy)  # ∇D(y) = Σ λ_k e_k e_kᵀ; eig.effective_dimension = tr ∇D(y)\n"
        "print(gap.mean_similarity, eig.eigenvalues[:4], homogeneity_check(a, noisy).max_error)  # max_error ~ 1e-15"
    ),
    notes=(
        "The denoiser is the official BF-CNN (convolutions without bias, batch normalisation dividing by a batch or "
        "running standard deviation, no mean subtraction and no shift), not the bias-free UNet of the CelebA "
        "experiments; images are scikit-learn's 8×8 digits instead of 80×80 CelebA faces, so the transition from "
        "memorisation to generalisation is probed at N = 10 vs 800 rather than 1 to 10⁵. Training uses Adam with a "
        "cosine decay instead of the official step halving. The sampler runs each chain until its own σ_t ≤ σ_L, "
        'stops a chain whose σ_t exceeds `sigma_max` (2, the official "not converging" break) and caps the '
        "iterations. The Jacobian's eigenvectors are those of its symmetric part (its asymmetry is reported). Nothing here comes from diffusers: the blind denoiser has no timestep input and the "
        "sampler sets its step sizes from the network's own residual, which diffusers' schedulers do not do. The "
        "C^α / disc experiments and the wavelet baselines are not reproduced. Caveat of the CPU check: a bias-free "
        "denoiser is scale-equivariant, so every α·x of a memorised image x is a fixed point and samples come out "
        "at any contrast; the Euclidean distance to the nearest training image (the check's memorisation rule) is "
        "not scale invariant, unlike the paper's cosine similarity, which `nearest_training_distance` also reports."
    ),
)
