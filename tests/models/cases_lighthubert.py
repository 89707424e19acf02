"""LightHuBERT (P07) in the model matrix: a tiny standalone subnet (per-layer heads and FFN sizes) with its
prediction head, on random waveforms."""

import torch

from tests.cases import ModelCase


def tiny_lighthubert_kwargs(**overrides):
    kwargs = dict(
        conv_dim=[16, 16, 16],
        conv_kernel=[10, 3, 2],
        conv_stride=[5, 2, 2],
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=[2, 3],
        attention_head_dim=8,
        intermediate_size=[64, 48],
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        teacher_hidden_size=24,
        hidden_dropout=0.0,
        attention_dropout=0.0,
    )
    kwargs.update(overrides)
    return kwargs


def _lighthubert_inputs(config):
    g = torch.Generator().manual_seed(0)
    frames = config.num_frames(400)
    mask = torch.zeros(3, frames, dtype=torch.bool)
    mask[:, 3:9] = True
    return {
        "input_values": torch.randn(3, 400, generator=g),
        "mask_time_indices": mask,
        "labels": torch.randn(3, frames, config.teacher_hidden_size, generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="lighthubert",
        config="hf_methods.models.lighthubert:LightHuBERTConfig",
        config_kwargs=tiny_lighthubert_kwargs(),
        models={"hf_methods.models.lighthubert:LightHuBERTModel": "AutoModel"},
        make_inputs=_lighthubert_inputs,
        output_key="last_hidden_state",
        bad_configs=[
            ({"num_attention_heads": [2]}, "num_attention_heads"),
            ({"intermediate_size": 0}, "intermediate_size"),
            ({"hidden_size": 30}, "hidden_size"),
            ({"conv_kernel": [10, 3]}, "conv_kernel"),
            ({"hidden_act": "swish"}, "hidden_act"),
            ({"mask_time_prob": 1.0}, "mask_time_prob"),
            ({"embed_dim_choices": [16, 32]}, "search space"),
        ],
        batch_keys=("input_values", "mask_time_indices", "labels"),
    )
]
