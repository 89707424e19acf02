"""Jointly learnable codebooks and mappings (JLCM, P55; Yvinec, Dapogny & Bailly, ICLR 2024): post-training
codebook quantization of `nn.Linear` layers.

`JLCMQuantizer(bits, n_groups).quantize(model, calib_data)` re-orders neurons into contiguous groups (the inverse
permutation goes to the next layer's columns, so the function is unchanged), gives each group a k-means codebook and
learns codebooks and mappings jointly on calibration data with the proximal straight-through gradient. The model's
Linears become `CodebookLinear`s (b-bit indices + float16 codebooks); `save_codebook_model` packs them in a
safetensors file (the bits per weight are measured from it), `load_codebook_model` rebuilds them, and
`dequantize_codebooks` bakes them into plain `nn.Linear`s so `save_pretrained` writes a vanilla checkpoint.
`training.py` holds the digits experiment shared by the recipe, the claim and the tests.
"""

from hf_methods.lazy import lazy_exports

_CODEBOOK = (
    "CodebookLinear",
    "MappingGradient",
    "codebook_bits_per_weight",
    "codebook_layers",
    "codebook_memory_footprint_bytes",
    "dequantize_codebooks",
    "disable_codebooks",
    "load_codebook_model",
    "mapping_weight",
    "save_codebook_model",
)
_REORDER = ("NeuronPair", "find_neuron_pairs", "neuron_groups", "permute_neurons", "reorder_neurons", "row_features")

__all__ = sorted(("JLCMQuantizer", *_CODEBOOK, *_REORDER))

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "JLCMQuantizer": ".quantizer",
        **{name: ".codebook" for name in _CODEBOOK},
        **{name: ".reorder" for name in _REORDER},
    },
)
