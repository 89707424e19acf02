"""ARPHMM (P05) in the model matrix: a 3-state AR(2) partially-hidden Markov model on random signals, with state
labels (−100 = unknown) as the partial knowledge."""

import torch

from tests.cases import ModelCase


def _arphmm_inputs(config):
    g = torch.Generator().manual_seed(0)
    labels = torch.full((4, 12), -100, dtype=torch.long)
    labels[:, 2:4] = 0
    labels[1, 8:] = 1
    return {"input_values": torch.randn(4, 12, generator=g).cumsum(-1) * 0.3, "labels": labels}


MODEL_CASES = [
    ModelCase(
        name="arphmm",
        config="hf_methods.models.arphmm:ARPHMMConfig",
        config_kwargs={"n_states": 3, "ar_order": 2},
        models={"hf_methods.models.arphmm:ARPHMMModel": "AutoModel"},
        make_inputs=_arphmm_inputs,
        output_key="state_posteriors",
        bad_configs=[
            ({"n_states": 0}, "n_states"),
            ({"ar_order": -1}, "ar_order"),
            ({"min_variance": 0.0}, "min_variance"),
            ({"prior_count": -1.0}, "prior_count"),
        ],
        batch_keys=("input_values", "labels"),
    )
]
