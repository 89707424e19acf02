"""The catalogue record of `inductive_bias` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="inductive_bias",
    paper_id="P25",
    title="Towards Exact Computation of Inductive Bias",
    arxiv="2406.15941",
    official_code="FieteLab/Exact-Inductive-Bias",
    kind="analysis",
    tags=("inductive-bias", "generalization", "information-theory"),
    entry_points=(
        "hf_methods.analysis.inductive_bias:inductive_bias_kernel",
        "hf_methods.analysis.inductive_bias:inductive_bias_models",
    ),
    recipe="recipes/inductive_bias.py",
    claim=(
        "Inductive bias can be estimated directly as −log P(error ≤ ε) from a non-central χ² fitted to sampled "
        "hypotheses, higher-dimensional tasks need more of it and CNNs encode more than MLPs; the check recovers "
        "known χ² parameters within 5% and asserts these orderings on digits and iris."
    ),
    venue="IJCAI 2024",
    usage=(
        "ib = inductive_bias_kernel(X_tr, Y_tr, X_te, Y_te, target_error=0.01, n_samples=10_000, sigma=1.0)\n"
        "print(ib.bits)"
    ),
    notes="The official code has bugs (a syntax error, a stray breakpoint) and is re-implemented, not vendored.",
)
