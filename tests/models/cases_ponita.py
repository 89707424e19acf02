"""PONITA (P52) in the model matrix: tiny fiber-bundle and point-cloud models on two small point clouds.

A graph batch concatenates the nodes of its graphs, so the matrix's batch-invariance check (slicing every input along
its first axis) does not apply; tests/models/test_ponita.py checks instead that a graph's prediction does not depend
on the other graphs of its batch.
"""

import torch

from tests.cases import ModelCase


def tiny_ponita_kwargs(**overrides):
    kwargs = dict(
        input_dim=2,
        input_dim_vec=1,
        hidden_dim=8,
        output_dim=2,
        output_dim_vec=1,
        num_layers=2,
        num_ori=6,
        degree=2,
        widening_factor=2,
        layer_scale=0.5,
        radius=3.0,
    )
    kwargs.update(overrides)
    return kwargs


def ponita_inputs(config):
    """Two point clouds (3 and 4 points) with scalar and vector features and graph-level targets."""
    g = torch.Generator().manual_seed(0)
    n = config.spatial_dim
    return {
        "x": torch.randn(7, config.input_dim, generator=g),
        "pos": torch.randn(7, n, generator=g),
        "vec": torch.randn(7, config.input_dim_vec, n, generator=g),
        "batch": torch.tensor([0, 0, 0, 1, 1, 1, 1]),
        "labels": torch.randn(2, config.output_dim, generator=g),
        "vector_labels": torch.randn(2, config.output_dim_vec, n, generator=g),
    }


_BAD = [
    ({"num_ori": 0}, "num_ori"),
    ({"spatial_dim": 4}, "spatial_dim"),
    ({"task_level": "edge"}, "task_level"),
    ({"radius": -1.0}, "radius"),
    ({"hidden_dim": 0}, "hidden_dim"),
    ({"output_dim": 0, "output_dim_vec": 0}, "output_dim"),
]

MODEL_CASES = [
    ModelCase(
        name="ponita",
        config="hf_methods.models.ponita:PonitaConfig",
        config_kwargs=tiny_ponita_kwargs(),
        models={"hf_methods.models.ponita:PonitaModel": "AutoModel"},
        make_inputs=ponita_inputs,
        output_key="scalars",
        bad_configs=_BAD,
        batch_invariant=False,
    ),
    ModelCase(
        name="ponita-point-cloud",
        config="hf_methods.models.ponita:PonitaConfig",
        config_kwargs=tiny_ponita_kwargs(num_ori=-1, radius=None),
        models={"hf_methods.models.ponita:PonitaModel": "AutoModel"},
        make_inputs=ponita_inputs,
        output_key="vectors",
        bad_configs=_BAD,
        batch_invariant=False,
    ),
]
