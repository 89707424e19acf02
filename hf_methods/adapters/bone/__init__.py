"""Bone (Block Affine, P46) as a first-class PEFT method: a documented layer over `peft.MissConfig`.

`BoneConfig(...)` returns a plain `peft.MissConfig`, so `peft.get_peft_model(model, BoneConfig(...))` gives an ordinary
`PeftModel` whose adapter reloads with `PeftModel.from_pretrained` without hf-methods. Build models with
`get_bone_model` (and `add_bone_adapter`): they run the early checks PEFT lacks (see `model.py`) before PEFT replaces
any layer, which a config alone cannot do, and run `"bat"` layers through a memory-lean autograd function (`bat.py`)
that keeps PEFT's saved format.
"""

from hf_methods.lazy import lazy_exports

__all__ = [
    "BONE_VARIANTS",
    "BatLinearFunction",
    "BoneConfig",
    "EfficientBatLinear",
    "add_bone_adapter",
    "bone_delta_weight",
    "bat_linear",
    "bone_variant",
    "check_bone_targets",
    "count_bone_parameters",
    "enable_efficient_bat",
    "get_bone_model",
    "keep_4bit_weights_dequantizable",
    "matched_lora_rank",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BONE_VARIANTS": ".config",
        "BoneConfig": ".config",
        "bone_variant": ".config",
        "bone_delta_weight": ".delta",
        "BatLinearFunction": ".bat",
        "EfficientBatLinear": ".bat",
        "bat_linear": ".bat",
        "enable_efficient_bat": ".bat",
        "add_bone_adapter": ".model",
        "check_bone_targets": ".model",
        "count_bone_parameters": ".model",
        "get_bone_model": ".model",
        "keep_4bit_weights_dequantizable": ".model",
        "matched_lora_rank": ".model",
    },
)
