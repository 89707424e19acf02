"""Model-matrix case for P09 `hydra`: Hydra++ draft heads (prefix layer, sequential heads, teacher loss) on dummy
base hidden states."""

import torch

from tests.cases import GenerateCase, ModelCase


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


# ----------------------------------------------------------------------------------------------------------- generation


def _base():
    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(seed=0).eval()
    model.generation_config.pad_token_id = 0
    return model


def _heads_for(model):
    """Hydra++ heads on `model`, perturbed so they propose varied candidates; cached on the model."""
    if not hasattr(model, "_matrix_hydra_heads"):
        from hf_methods.generation.hydra import HydraHeads

        torch.manual_seed(0)
        heads = HydraHeads.from_base(model, head_kind="hydra++", num_heads=3)
        with torch.no_grad():
            for name, p in heads.named_parameters():
                if name.startswith("heads."):
                    p.add_(torch.randn_like(p) * 0.2)
        model._matrix_hydra_heads = heads.eval()
    return model._matrix_hydra_heads


def _hydra_generate(model, inputs, **kwargs):
    from hf_methods.generation.hydra import hydra_generate

    return model.generate(**inputs, custom_generate=hydra_generate, draft_heads=_heads_for(model), **kwargs)


def _greedy(model, inputs, **kwargs):
    return model.generate(**inputs, do_sample=False, **kwargs)


def _prompt():
    g = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(3, 259, (1, 7), generator=g)}


GENERATE_CASES = [
    GenerateCase(
        name="hydra",
        make_model=_base,
        make_inputs=_prompt,
        generate=_hydra_generate,
        supports=("max_new_tokens", "eos_token_id", "min_new_tokens", "repetition_penalty", "suppress_tokens"),
        reference=_greedy,  # greedy acceptance is lossless
        unsupported=[
            ({"num_beams": 2}, "num_beams"),
            ({"num_return_sequences": 2, "num_beams": 1}, "num_return_sequences"),
            ({"do_sample": True}, "do_sample"),
        ],
    ),
]
