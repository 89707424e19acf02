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
    ),
    recipe="recipes/harmonic_denoiser.py",
    claim=(
        "Denoisers trained on large disjoint training sets learn the same score, through geometry-adaptive "
        "harmonic bases, while small sets are memorised; the check asserts bias-free homogeneity and D(y)=J(y)y "
        "exactly, and that sample similarity between disjoint-split models rises by ≥0.2 from N=10 (memorising) "
        "to N=800."
    ),
    venue="ICLR 2024",
    usage=(
        "a, b = BiasFreeDenoiser(cfg), BiasFreeDenoiser(cfg)  # trained on disjoint splits\n"
        "sim = generalization_gap(a, b, n_samples=16); lam, vecs = denoiser_jacobian_eigs(a, noisy_img)"
    ),
)
