"""Transcoder (P31) in the model matrix: a tiny transcoder on (MLP input, MLP output) vectors."""

import torch

from tests.cases import ModelCase


def _transcoder_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randn(4, 3, config.d_in, generator=g),
        "labels": torch.randn(4, 3, config.d_out, generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="transcoder",
        config="hf_methods.models.transcoder:TranscoderConfig",
        config_kwargs={"d_in": 8, "d_out": 6, "expansion": 4, "l1_coeff": 1e-3, "layer": 1},
        models={"hf_methods.models.transcoder:TranscoderModel": "AutoModel"},
        make_inputs=_transcoder_inputs,
        output_key="mlp_output",
        bad_configs=[
            ({"d_in": 0}, "d_in"),
            ({"d_out": -2}, "d_out"),
            ({"expansion": 0}, "expansion"),
            ({"d_sae": 0}, "d_sae"),
            ({"l1_coeff": -1.0}, "l1_coeff"),
            ({"layer": -1}, "layer"),
        ],
        batch_keys=("inputs", "labels"),
    )
]
