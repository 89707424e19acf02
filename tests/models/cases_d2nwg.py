"""D2NWG (P15) in the model matrix: the composite weight generator (VAE, set encoder, latent denoiser), tiny sizes."""

import torch

from tests.cases import ModelCase

TINY_D2NWG = dict(
    parameter_spec=[["weight", [2, 6]], ["bias", [2]]],
    vae_hidden_sizes=[16],
    latent_dim=4,
    num_classes=2,
    samples_per_class=3,
    feature_dim=6,
    set_hidden_size=16,
    condition_dim=8,
    denoiser_hidden_size=16,
    denoiser_num_layers=2,
    time_embed_dim=8,
    num_train_timesteps=50,
)


def _d2nwg_inputs(config):
    g = torch.Generator().manual_seed(0)
    batch = 4
    return {
        "latents": torch.randn(batch, config.latent_dim, generator=g),
        "timesteps": torch.randint(0, config.num_train_timesteps, (batch,), generator=g),
        "support_set": torch.rand(
            batch, config.num_classes, config.samples_per_class, config.feature_dim, generator=g
        ),
        "labels": torch.randn(batch, config.latent_dim, generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="d2nwg",
        config="hf_methods.models.d2nwg:D2NWGConfig",
        config_kwargs=TINY_D2NWG,
        models={"hf_methods.models.d2nwg:D2NWGModel": "AutoModel"},
        make_inputs=_d2nwg_inputs,
        output_key="sample",
        bad_configs=[
            ({"latent_dim": 0}, "latent_dim"),
            ({"parameter_spec": [["weight", [2, 0]]]}, "parameter_spec"),
            ({"parameter_spec": [["w", [2]], ["w", [3]]]}, "parameter_spec"),
            ({"set_pooling": "max"}, "set_pooling"),
            ({"reconstruction_loss": "huber"}, "reconstruction_loss"),
            ({"kl_weight": -1.0}, "kl_weight"),
            ({"time_embed_dim": 7}, "time_embed_dim"),
            ({"num_train_timesteps": 1}, "num_train_timesteps"),
            ({"samples_per_class": 1}, "samples_per_class"),
        ],
        batch_keys=("latents", "timesteps", "support_set", "labels"),
    )
]
