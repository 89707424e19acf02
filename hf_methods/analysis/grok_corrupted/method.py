"""The catalogue record of `grok_corrupted` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="grok_corrupted",
    paper_id="P48",
    title=(
        "To grok or not to grok: Disentangling generalization and memorization on corrupted algorithmic datasets"
    ),
    arxiv="2310.13061",
    official_code="d-doshi/Grokking",
    kind="analysis",
    tags=("grokking", "memorization", "label-noise", "interpretability"),
    entry_points=(
        "hf_methods.analysis.grok_corrupted:fourier_ipr",
        "hf_methods.analysis.grok_corrupted:prune_low_ipr_neurons",
        "hf_methods.analysis.grok_corrupted:IPRCallback",
        "hf_methods.analysis.grok_corrupted:GrokMLPModel",
    ),
    recipe="recipes/grok_corrupted.py",
    claim=(
        "Networks can memorise corrupted modular-arithmetic labels while still generalising, the memorising "
        "neurons have low Fourier IPR and pruning them removes the memorisation, and weight decay unlearns it; "
        "the check asserts pruning drops corrupted-train accuracy by >0.5 without hurting test, and with weight "
        "decay test >0.99 with corrupted-train <0.6."
    ),
    usage=(
        "ds = modular_arithmetic(p=97, frac=0.5, noise=0.35)\n"
        "ipr = fourier_ipr(model); pruned = prune_low_ipr_neurons(model, n=300)"
    ),
)
