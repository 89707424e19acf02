"""PRESTO (P40) in the model matrix: a tiny cumulative-logit classifier with non-zero slope differences."""

import torch

from tests.cases import ModelCase


def _presto_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randn(6, config.n_features, generator=g),
        "labels": torch.randint(0, config.num_classes, (6,), generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="presto",
        config="hf_methods.models.presto:PrestoConfig",
        config_kwargs={"n_features": 5, "num_classes": 4, "l1_lambda": 0.05},
        models={"hf_methods.models.presto:PrestoForOrdinalClassification": "AutoModel"},
        make_inputs=_presto_inputs,
        output_key="probs",
        bad_configs=[
            ({"n_features": 0}, "n_features"),
            ({"num_classes": 1}, "num_classes"),
            ({"l1_lambda": -1.0}, "l1_lambda"),
            ({"initializer_range": -1.0}, "initializer_range"),
        ],
        batch_keys=("inputs", "labels"),
    )
]
