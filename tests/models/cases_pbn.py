"""PBN (P23) in the model matrix: a tiny projection-based network on random tabular inputs."""

import torch

from tests.cases import ModelCase


def _pbn_inputs(config):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, config.num_known, (6,), generator=g)
    labels[::2] = -100  # a mixed batch: unlabelled samples carry -100
    return {"inputs": torch.rand(6, config.input_dim, generator=g), "labels": labels}


MODEL_CASES = [
    ModelCase(
        name="pbn",
        config="hf_methods.models.pbn:PBNConfig",
        config_kwargs={"input_dim": 7, "hidden_dims": [8], "latent_dim": 4, "num_known": 3, "w": 0.5},
        models={"hf_methods.models.pbn:PBNForNovelClassDiscovery": "AutoModel"},
        make_inputs=_pbn_inputs,
        bad_configs=[
            ({"w": 1.5}, "w"),
            ({"latent_dim": 0}, "latent_dim"),
            ({"hidden_dims": [8, -1]}, "hidden_dims"),
            ({"activation": "swish"}, "activation"),
            ({"latent_norm": "l3"}, "latent_norm"),
            ({"dropout": 1.0}, "dropout"),
        ],
        batch_keys=("inputs",),
    )
]
