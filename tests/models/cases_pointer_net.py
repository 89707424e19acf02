"""Pointer Networks (P61) in the model matrix: a tiny LSTM Ptr-Net on padded planar points."""

import torch

from tests.cases import ModelCase


def _pointer_net_inputs(config):
    g = torch.Generator().manual_seed(0)
    points = torch.rand(4, 6, config.input_dim, generator=g)
    attention_mask = torch.tensor([[1] * 6, [1] * 5 + [0], [1] * 6, [1] * 4 + [0] * 2])
    labels = torch.tensor([[2, 0, 5, 1], [4, 3, 0, -100], [1, 2, 3, 4], [3, 0, 1, -100]])
    decoder_pointer_ids = torch.tensor([[-1, 2, 0, 5], [-1, 4, 3, 0], [-1, 1, 2, 3], [-1, 3, 0, 1]])
    return {
        "points": points,
        "attention_mask": attention_mask,
        "decoder_pointer_ids": decoder_pointer_ids,
        "labels": labels,
    }


MODEL_CASES = [
    ModelCase(
        name="pointer_net",
        config="hf_methods.models.pointer_net:PointerNetConfig",
        config_kwargs={"input_dim": 2, "hidden_size": 16, "attention_size": 12},
        models={
            "hf_methods.models.pointer_net:PointerNetForSequenceOrdering": "AutoModelForPreTraining",
            "hf_methods.models.pointer_net:PointerNetModel": "AutoModel",
        },
        make_inputs=_pointer_net_inputs,
        output_keys={"hf_methods.models.pointer_net:PointerNetModel": "last_hidden_state"},
        bad_configs=[
            ({"input_dim": 0}, "input_dim"),
            ({"hidden_size": -4}, "hidden_size"),
            ({"attention_size": 0}, "attention_size"),
            ({"dropout": 1.0}, "dropout"),
            ({"init_range": 0.0}, "init_range"),
        ],
        batch_keys=("points", "attention_mask", "decoder_pointer_ids", "labels"),
    )
]
