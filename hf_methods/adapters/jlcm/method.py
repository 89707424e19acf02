"""The catalogue record of `jlcm` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="jlcm",
    paper_id="P55",
    title="Network Memory Footprint Compression Through Jointly Learnable Codebooks and Mappings",
    arxiv="2309.17361",
    official_code=None,
    kind="adapters",
    tags=("quantization", "codebooks", "compression"),
    entry_points=(
        "hf_methods.adapters.jlcm:JLCMQuantizer",
        "hf_methods.adapters.jlcm:CodebookLinear",
    ),
    recipe="recipes/jlcm.py",
    claim=(
        "Jointly learned grouped codebooks and mappings compress networks better than prior codebook methods "
        "(Llama-7B to about 2 GB); on a digits MLP at 2 bits per weight the check asserts exact neuron "
        "re-ordering, JLCM ≥ per-tensor k-means + 0.05 accuracy at ≤2.1 bits per weight, and fewer large index "
        "jumps than plain STE (margins unverified)."
    ),
    venue="ICLR 2024",
    usage=(
        "qmodel = JLCMQuantizer(bits=2, n_groups=4).quantize(model, calib_dataloader)\n"
        "print(qmodel.memory_footprint_bytes())"
    ),
    notes="No official code: the proximal index update is a reconstruction from the paper text.",
)
