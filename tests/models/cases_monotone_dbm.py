"""Monotone DBM (P32) in the model matrix: a tiny dense monotone DBM over 6 binary pixels."""

import torch

from tests.cases import ModelCase


def _monotone_dbm_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "pixel_values": torch.randint(0, config.num_bins, (4, config.num_pixels), generator=g),
        "observed_mask": torch.rand(4, config.num_pixels, generator=g) < 0.5,
        "labels": torch.randint(0, config.num_classes, (4,), generator=g),
    }


MODEL_CASES = [
    ModelCase(
        name="monotone_dbm",
        config="hf_methods.models.monotone_dbm:MonotoneDBMConfig",
        config_kwargs={"group_counts": [6, 2, 1], "group_sizes": [2, 3, 4], "tol": 1e-6, "initializer_range": 3.0},
        models={"hf_methods.models.monotone_dbm:MonotoneDBMModel": "AutoModel"},
        make_inputs=_monotone_dbm_inputs,
        output_key="label_marginals",
        bad_configs=[
            ({"alpha": 1.0}, "alpha"),
            ({"monotone_margin": 0.0}, "monotone_margin"),
            ({"group_counts": [6, 2, 2]}, "group_counts"),
            ({"group_sizes": [2, 1, 4]}, "group_sizes"),
            ({"tol": 0.0}, "tol"),
        ],
        batch_keys=("pixel_values", "observed_mask", "labels"),
    )
]
