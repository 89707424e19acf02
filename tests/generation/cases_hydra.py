"""Model-matrix case for P09 `hydra`: Hydra++ draft heads (prefix layer, sequential heads, teacher loss) on dummy
base hidden states."""

import torch

from tests.cases import ModelCase


def _hydra_inputs(config):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (3, 9), generator=g)
    return {
        "hidden_states": torch.randn(3, 9, config.hidden_size, generator=g),
        "input_ids": ids,
        "labels": ids,
    }


MODEL_CASES = [
    ModelCase(
        name="hydra",
        config="hf_methods.generation.hydra:HydraConfig",
        config_kwargs={
            "hidden_size": 32,
            "vocab_size": 61,
            "head_kind": "hydra++",
            "num_heads": 3,
            "num_layers": 2,
            "share_lm_head": True,
            "lm_loss_weight": 0.5,
            "prefix_layer_config": {
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "head_dim": 16,
                "intermediate_size": 64,
            },
        },
        models={"hf_methods.generation.hydra:HydraHeads": "AutoModel"},
        make_inputs=_hydra_inputs,
        output_key="logits",
        bad_configs=[
            ({"head_kind": "eagle"}, "head_kind"),
            ({"num_heads": 0}, "num_heads"),
            ({"acceptance": "sampling"}, "acceptance"),
            ({"dropout": 1.5}, "dropout"),
            ({"tree_choices": [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]]}, "tree_choices"),
            ({"tree_choices": [[0, 1]]}, "tree_choices"),
        ],
        batch_keys=("hidden_states", "input_ids", "labels"),
    ),
]
