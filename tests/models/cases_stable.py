"""STABLE (P45) in the model matrix: a tiny advanced GCN on a 7-node graph given as `x` + `edge_index`."""

import torch

from tests.cases import ModelCase


def _stable_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "x": torch.randn(7, config.in_dim, generator=g),
        "edge_index": torch.tensor([[0, 1, 1, 2, 3, 4, 5, 6, 2], [1, 0, 2, 1, 4, 3, 6, 5, 5]]),
        "labels": torch.tensor([0, 1, -100, 2, -100, 1, 0]),  # -100: unlabelled nodes
    }


MODEL_CASES = [
    ModelCase(
        name="stable",
        config="hf_methods.models.stable:STABLEConfig",
        config_kwargs={"in_dim": 5, "hidden_size": 4, "num_labels": 3, "alpha": 0.3},
        models={"hf_methods.models.stable:STABLEForNodeClassification": "AutoModel"},
        make_inputs=_stable_inputs,
        bad_configs=[
            ({"in_dim": 0}, "in_dim"),
            ({"hidden_size": -2}, "hidden_size"),
            ({"num_labels": 1}, "num_labels"),
            ({"alpha": float("nan")}, "alpha"),
            ({"dropout": 1.0}, "dropout"),
        ],
        # nodes of one graph are not independent examples: message passing mixes them (a PyG Batch of several
        # graphs is tested against the graphs one by one in tests/models/test_stable.py)
        batch_invariant=False,
    )
]
