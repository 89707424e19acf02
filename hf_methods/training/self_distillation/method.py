"""The catalogue record of `self_distillation` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="self_distillation",
    paper_id="P24",
    title=(
        "Even your Teacher Needs Guidance: Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation"
    ),
    arxiv="2102.13088",
    official_code="Kennethborup/self_distillation",
    kind="training",
    tags=("self-distillation", "kernel-regression", "regularization"),
    entry_points=(
        "hf_methods.training.self_distillation:SelfDistillationTrainer",
        "hf_methods.training.self_distillation:krr_self_distillation",
        "hf_methods.training.self_distillation:krr_distillation_limit",
        "hf_methods.training.self_distillation:optimal_alpha",
    ),
    recipe="recipes/self_distillation.py",
    claim=(
        "Self-distillation with ground-truth weight α converges to kernel ridge regression with λ/α instead of "
        "collapsing, and α has a closed-form optimum; the kernel check asserts the limit to 1e-6, collapse at α=0 "
        "and that the clipped α* is never beaten by a grid of α values."
    ),
    venue="NeurIPS 2021",
    usage=(
        "f_T = krr_self_distillation(K, y, alpha=0.3, steps=200, lam=0.1)\n"
        "f_inf = krr_distillation_limit(K, y, alpha=0.3, lam=0.1)"
    ),
)
