"""Hydra: Sequentially-Dependent Draft Heads for Medusa Decoding (Ankner et al., COLM 2024).

Medusa (baseline), Hydra and Hydra++ draft heads as a `PreTrainedModel` (`HydraHeads`), lossless tree speculative
decoding as a `generate(custom_generate=hydra_generate)` strategy, and `HydraForCausalLM` (base + heads).

Exports are lazy: torch and the modeling module are imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HEAD_KINDS": ".configuration_hydra",
        "HydraConfig": ".configuration_hydra",
        "HydraHeads": ".modeling_hydra",
        "HydraHeadsOutput": ".modeling_hydra",
        "HydraForCausalLM": ".modeling_hydra",
        "HydraPreTrainedModel": ".modeling_hydra",
        "HydraTree": ".generation_hydra",
        "default_tree": ".generation_hydra",
        "hydra_generate": ".generation_hydra",
        "HydraArguments": ".training",
    },
)
