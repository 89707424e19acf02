"""OFQ (P39): oscillation-free quantization-aware training for low-bit vision transformers.

`quantize_vit(model, w_bits=2, a_bits=2, weight_quantizer="statsq", qk_reparam=True)` puts statistical weight
quantization (StatsQ), LSQ activation quantizers and the query–key reparameterisation (QKR) into a transformers
`ViTForImageClassification`; `OscillationTracker` and `CGACallback` are `Trainer` callbacks that measure weight
oscillation and run confidence-guided annealing. `merge_and_unload` folds weight-only quantization into a plain
transformers model; `save_quantized_weights` writes the packed integer codes. `training.py` holds the digits
experiment shared by the recipe, the claim and the tests.
"""

from hf_methods.lazy import lazy_exports

_MODULES = {
    ".quantizers": (
        "LSQQuantizer",
        "StatsQuantizer",
        "lsq_quantize",
        "statsq_codes",
        "statsq_dequantize",
        "statsq_quantize",
        "statsq_scale",
    ),
    ".modeling": (
        "WEIGHT_QUANTIZERS",
        "QKReparamAttention",
        "QLinear",
        "load_quantized_weights",
        "merge_and_unload",
        "quantization_disabled",
        "quantize_linear_layers",
        "quantize_vit",
        "quantized_weights",
        "save_quantized_weights",
    ),
    ".callbacks": ("CGACallback", "ConfidenceGuidedAnnealing", "OscillationTracker", "cga_frozen_mask"),
    ".training": ("OFQArguments", "train_fp", "train_qat"),
}

__all__ = sorted(name for names in _MODULES.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, {name: module for module, names in _MODULES.items() for name in names})
