"""Terminator (P02) in the model matrix: a tiny two-block network on 6×6 single-channel images, built from its config."""

import torch

from tests.cases import ModelCase

TINY_TERMINATOR = dict(
    image_size=6,
    channels=[1, 2, 4],
    local_kernel_sizes=[3, 3, 5, 1],
    magnet_hidden=8,
    local_magnet_hidden=4,
    interaction_channel_hidden=4,
    magnet_layers=1,
    concat_previous=[0, 1],
    num_labels=3,
)


def _terminator_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "pixel_values": torch.rand(3, config.channels[0], config.image_size, config.image_size, generator=g),
        "labels": torch.randint(0, config.num_labels, (3,), generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="terminator",
        config="hf_methods.models.terminator:TerminatorConfig",
        config_kwargs=TINY_TERMINATOR,
        models={
            "hf_methods.models.terminator:TerminatorForImageClassification": "AutoModelForImageClassification",
            "hf_methods.models.terminator:TerminatorModel": "AutoModel",
        },
        make_inputs=_terminator_inputs,
        output_keys={"hf_methods.models.terminator:TerminatorModel": "last_hidden_state"},
        bad_configs=[
            ({"channels": [2, 3]}, "channels"),
            ({"local_kernel_sizes": [3, 4, 5, 7]}, "local_kernel_sizes"),
            ({"global_kernel_size": 4}, "global_kernel_size"),
            ({"bottleneck_factors": [2, 3]}, "bottleneck_factors"),
            ({"concat_previous": [1, 0]}, "concat_previous"),
            ({"hidden_act": "swish"}, "hidden_act"),
            ({"omega_0": 0.0}, "omega_0"),
            ({"dropout": 1.0}, "dropout"),
            ({"slow_loss_weight": -1.0}, "slow_loss_weight"),
        ],
        batch_keys=("pixel_values", "labels"),
    )
]
