"""hf-methods: recent ML research methods in the forms of the Hugging Face stack.

`import hf_methods` registers every hf-methods architecture with transformers' Auto classes and exposes the public
API of every method lazily: nothing heavy (a method's modeling code, peft, accelerate, datasets) is imported until
a name is used, so importing the package costs about as much as `from transformers import AutoConfig, AutoModel`.

```python
import hf_methods
from hf_methods import LDRKLLoss, RandomFeatureConfig, RandomFeatureModel
hf_methods.list_methods()          # the catalogue of all 64 methods (see `hf-methods list`)
```
"""

from hf_methods.common.lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> defining module. One block per method, in paper order; shared building blocks last.
_EXPORTS = {
    # P01 random_features (models)
    "RandomFeatureConfig": "hf_methods.models.random_features",
    "RandomFeatureModel": "hf_methods.models.random_features",
    "bandwidth_sweep": "hf_methods.models.random_features",
    # P04 qst (adapters)
    "QSTConfig": "hf_methods.adapters.qst",
    "QSTModel": "hf_methods.adapters.qst",
    "get_qst_model": "hf_methods.adapters.qst",
    # P06 act (generation)
    "ActConfig": "hf_methods.generation.act",
    "act_calibrate": "hf_methods.generation.act",
    "apply_act": "hf_methods.generation.act",
    "remove_act": "hf_methods.generation.act",
    "calibrate_attention": "hf_methods.generation.act",
    "find_act_heads": "hf_methods.generation.act",
    "sink_statistics": "hf_methods.generation.act",
    "plot_attention_sinks": "hf_methods.generation.act",
    # P08 pawn (models)
    "PawnConfig": "hf_methods.models.pawn",
    "PawnForSequenceClassification": "hf_methods.models.pawn",
    "pawn_features": "hf_methods.models.pawn",
    "cache_pawn_features": "hf_methods.models.pawn",
    "load_pawn_dataset": "hf_methods.models.pawn",
    # P09 hydra (generation)
    "HydraConfig": "hf_methods.generation.hydra",
    "HydraHeads": "hf_methods.generation.hydra",
    "HydraForCausalLM": "hf_methods.generation.hydra",
    "hydra_generate": "hf_methods.generation.hydra",
    "default_tree": "hf_methods.generation.hydra",
    # P35 ldr (training)
    "LDRKLLoss": "hf_methods.training.ldr",
    "ALDRKLLoss": "hf_methods.training.ldr",
    "LDRTrainer": "hf_methods.training.ldr",
    # P46 bone (adapters)
    "BoneConfig": "hf_methods.adapters.bone",
    "get_bone_model": "hf_methods.adapters.bone",
    "add_bone_adapter": "hf_methods.adapters.bone",
    "check_bone_targets": "hf_methods.adapters.bone",
    "count_bone_parameters": "hf_methods.adapters.bone",
    "matched_lora_rank": "hf_methods.adapters.bone",
    "bone_delta_weight": "hf_methods.adapters.bone",
    "bone_variant": "hf_methods.adapters.bone",
    # the catalogue
    "METHODS": "hf_methods.zoo",
    "Method": "hf_methods.zoo",
    "get_method": "hf_methods.zoo",
    "list_methods": "hf_methods.zoo",
    # shared building blocks
    "MLPConfig": "hf_methods.common.mlp",
    "MLPForImageClassification": "hf_methods.common.mlp",
    "MLPModel": "hf_methods.common.mlp",
}

# model_type -> (config class, {Auto class: model class}). Configs are registered now (cheap); model classes are
# registered by name and imported on first use (see hf_methods/common/auto.py).
AUTO_REGISTRY = {
    "hfm-random_features": (
        "hf_methods.models.random_features.configuration_random_features:RandomFeatureConfig",
        {"AutoModel": "hf_methods.models.random_features.modeling_random_features:RandomFeatureModel"},
    ),
    "hfm-pawn": (
        "hf_methods.models.pawn.configuration_pawn:PawnConfig",
        {"AutoModelForSequenceClassification": "hf_methods.models.pawn.modeling_pawn:PawnForSequenceClassification"},
    ),
    "hfm-hydra": (
        "hf_methods.generation.hydra.configuration_hydra:HydraConfig",
        {"AutoModel": "hf_methods.generation.hydra.modeling_hydra:HydraHeads"},
    ),
    "hfm-mlp": (
        "hf_methods.common.mlp.configuration_mlp:MLPConfig",
        {
            "AutoModel": "hf_methods.common.mlp.modeling_mlp:MLPModel",
            "AutoModelForImageClassification": "hf_methods.common.mlp.modeling_mlp:MLPForImageClassification",
        },
    ),
}


def _register_auto_classes() -> None:
    from hf_methods.common.auto import register_config, register_model_lazily

    for model_type, (config_path, models) in AUTO_REGISTRY.items():
        register_model_lazily(register_config(model_type, config_path), models)


_register_auto_classes()

__getattr__, _dir = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
