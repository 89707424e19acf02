"""VSSD (P03) in the model matrix: a tiny two-stage hybrid (NC-SSD at 8×8, attention at 4×4) on 1-channel images."""

import torch

from tests.cases import ModelCase


def tiny_vssd_kwargs(**overrides):
    kwargs = dict(
        image_size=8,
        patch_size=1,
        num_channels=1,
        embed_dim=8,
        depths=[1, 1],
        num_heads=[2, 2],
        ssd_state_size=4,
        drop_path_rate=0.1,
        num_labels=3,
    )
    kwargs.update(overrides)
    return kwargs


def _vssd_inputs(config):
    g = torch.Generator().manual_seed(0)
    size = config.image_size
    return {
        "pixel_values": torch.rand(3, config.num_channels, size, size, generator=g),
        "labels": torch.randint(0, config.num_labels, (3,), generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="vssd",
        config="hf_methods.models.vssd:VSSDConfig",
        config_kwargs=tiny_vssd_kwargs(),
        models={
            "hf_methods.models.vssd:VSSDModel": "AutoModel",
            "hf_methods.models.vssd:VSSDForImageClassification": "AutoModelForImageClassification",
        },
        make_inputs=_vssd_inputs,
        output_keys={"hf_methods.models.vssd:VSSDModel": "last_hidden_state"},
        bad_configs=[
            ({"ssd_mode": "bidirectional"}, "ssd_mode"),
            ({"num_heads": [3, 2]}, "num_heads"),
            ({"mixer_types": ["ssd", "mamba"]}, "mixer_types"),
            ({"patch_size": 3}, "patch_size"),
            ({"image_size": 9}, "image_size"),
            ({"ssd_ngroups": 4}, "ssd_ngroups"),
            ({"conv_norm": "group_norm"}, "conv_norm"),
            ({"ssd_a_init_range": [0.0, 16.0]}, "ssd_a_init_range"),
        ],
        batch_keys=("pixel_values", "labels"),
    ),
    # the causal-SSD ablation of the same architecture (Mamba2's masked SSD in place of NC-SSD, every stage SSD)
    ModelCase(
        name="vssd-causal",
        config="hf_methods.models.vssd:VSSDConfig",
        config_kwargs=tiny_vssd_kwargs(ssd_mode="causal", mixer_types=["ssd", "ssd"], ssd_ngroups=2),
        models={"hf_methods.models.vssd:VSSDForImageClassification": "AutoModelForImageClassification"},
        make_inputs=_vssd_inputs,
        bad_configs=[({"ssd_ngroups": 3}, "ssd_ngroups")],
        batch_keys=("pixel_values", "labels"),
    ),
]
