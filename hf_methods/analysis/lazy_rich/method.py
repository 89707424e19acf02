"""The catalogue record of `lazy_rich` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="lazy_rich",
    paper_id="P26",
    title="Grokking as the Transition from Lazy to Rich Training Dynamics",
    arxiv="2310.06110",
    official_code=None,
    kind="analysis",
    tags=("grokking", "ntk", "feature-learning"),
    entry_points=(
        "hf_methods.analysis.lazy_rich:LazyRichTrackerCallback",
        "hf_methods.analysis.lazy_rich:empirical_ntk",
        "hf_methods.analysis.lazy_rich:kernel_alignment",
        "hf_methods.analysis.lazy_rich:linearized_model",
    ),
    recipe="recipes/lazy_rich.py",
    claim=(
        "Grokking arises when training moves from lazy (kernel) to rich (feature-learning) dynamics, with the "
        "delay set by the output scale α; on a shrunk polynomial task the check asserts a grokking gap and a late "
        "test-loss drop at α=1 and no grokking (kernel-level test loss) at α=20."
    ),
    venue="ICLR 2024",
    usage="cb = LazyRichTrackerCallback(probe_inputs=X_te, probe_targets=y_te, every=100)",
    notes="No public repository (supplementary material only): the JAX/neural-tangents code is ported to torch.",
)
