"""PAWN (P08) in the model matrix: a tiny head over a tiny Llama backbone built in code from the config."""

import torch

from tests.cases import ModelCase


def tiny_pawn_kwargs(**overrides):
    from hf_methods.common.tiny import tiny_llama_config

    kwargs = dict(
        backbone_config=tiny_llama_config().to_dict(),
        backbone_seed=0,
        num_features=16,
        num_gates=4,
        mlp_hidden_size=16,
        mlp_num_layers=1,
        max_length=32,
        pos_scale=32,
    )
    kwargs.update(overrides)
    return kwargs


def _pawn_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(3, 259, (3, 10), generator=g),
        "attention_mask": torch.ones(3, 10, dtype=torch.long),
        "labels": torch.tensor([0.0, 1.0, 1.0]),
    }


MODEL_CASES = [
    ModelCase(
        name="pawn",
        config="hf_methods.models.pawn:PawnConfig",
        config_kwargs=tiny_pawn_kwargs(),
        models={"hf_methods.models.pawn:PawnForSequenceClassification": "AutoModelForSequenceClassification"},
        make_inputs=_pawn_inputs,
        bad_configs=[
            ({"num_gates": 5}, "num_gates"),
            ({"aggregation": "max"}, "aggregation"),
            ({"metrics": ["log_prob", "perplexity"]}, "metrics"),
            ({"dropout_tokens": 1.0}, "dropout_tokens"),
            ({"max_length": 1}, "max_length"),
        ],
        batch_keys=("input_ids", "attention_mask", "labels"),
    )
]
