"""The catalogue record of `ofq` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="ofq",
    paper_id="P39",
    title="Oscillation-free Quantization for Low-bit Vision Transformers",
    arxiv="2302.02210",
    official_code="nbasyl/OFQ",
    kind="adapters",
    tags=("quantization", "qat", "vision-transformer"),
    entry_points=(
        "hf_methods.adapters.ofq:quantize_vit",
        "hf_methods.adapters.ofq:StatsQuantizer",
        "hf_methods.adapters.ofq:OscillationTracker",
        "hf_methods.adapters.ofq:CGACallback",
    ),
    recipe="recipes/ofq.py",
    claim=(
        "StatsQ, confidence-guided annealing and query-key reparameterisation remove weight oscillation in "
        "low-bit ViT QAT (W2A2 DeiT-T 64.33%, +9.8 points over the prior state of the art); on a tiny HF ViT on "
        "digits the check asserts StatsQ oscillates ≤0.7x as often as LSQ within 1 point of its accuracy and that "
        "CGA cuts late flips by ≥80%."
    ),
    venue="ICML 2023",
    usage=(
        "qmodel = quantize_vit(vit, w_bits=2, a_bits=2, weight_quantizer='statsq', qk_reparam=True)\n"
        "trainer = Trainer(qmodel, ..., callbacks=[OscillationTracker(), CGACallback(boundary_range=0.005)])"
    ),
)
