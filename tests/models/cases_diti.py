"""DiTi (P17) in the model matrix: the chunked image encoder and its linear-probe classification head."""

import torch

from tests.cases import ModelCase


def _diti_inputs(config):
    g = torch.Generator().manual_seed(0)
    shape = (5, config.num_channels, config.image_size, config.image_size)
    return {
        "pixel_values": torch.rand(shape, generator=g) * 2 - 1,
        "labels": torch.randint(0, config.num_labels, (5,), generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="diti",
        config="hf_methods.models.diti:DiTiConfig",
        config_kwargs={
            "hidden_sizes": [8, 16],
            "latent_dim": 8,
            "num_chunks": 4,
            "num_train_timesteps": 100,
            "num_labels": 3,
        },
        models={
            "hf_methods.models.diti:DiTiEncoder": "AutoModel",
            "hf_methods.models.diti:DiTiForImageClassification": "AutoModelForImageClassification",
        },
        make_inputs=_diti_inputs,
        output_keys={"hf_methods.models.diti:DiTiEncoder": "representation"},
        bad_configs=[
            ({"latent_dim": 0}, "latent_dim"),
            ({"num_chunks": 9}, "num_chunks"),
            ({"timestep_boundaries": [50]}, "timestep_boundaries"),
            ({"timestep_boundaries": [10, 10, 20]}, "timestep_boundaries"),
            ({"hidden_sizes": []}, "hidden_sizes"),
            ({"image_size": 1}, "image_size"),
        ],
        batch_keys=("pixel_values", "labels"),
    )
]
