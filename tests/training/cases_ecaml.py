"""ECAML's Energy Confusion loss (P43) in the loss matrix (tests/test_loss_matrix.py).

EC is defined over the pairs of a batch (`batch_invariant=False`: the matrix checks that permuting the batch permutes
the per-example shares). The cases use every pair (`num_partners=None`), so the loss is deterministic.
"""

import torch

from tests.cases import LossCase, with_input, with_labels


def _inputs(batch_size):
    g = torch.Generator().manual_seed(0)
    return {
        "embeddings": torch.randn(batch_size, 4, generator=g),
        "labels": torch.arange(batch_size) % 3,  # positives and negatives in every batch of >= 4
    }


def _loss(pairs):
    def make(reduction):
        from hf_methods.training.ecaml import EnergyConfusionLoss

        return EnergyConfusionLoss(num_partners=None, weight=1.0, pairs=pairs, reduction=reduction)

    return make


_ERRORS = [
    (
        "1-D embeddings",
        with_input("embeddings", lambda x: x["embeddings"][:, 0]),
        ValueError,
        r"embeddings must be 2-D",
    ),
    ("integer embeddings", with_input("embeddings", lambda x: x["embeddings"].long()), TypeError, r"floating-point"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"labels must be an integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
]

LOSS_CASES = [
    LossCase(
        name="ecaml-energy-confusion-all-pairs",
        make_loss=_loss("all"),
        make_inputs=_inputs,
        bad_inputs=_ERRORS,
        input_key="embeddings",
        reductions=("mean", "none"),
        batch_invariant=False,
    ),
    LossCase(
        name="ecaml-energy-confusion-negative-pairs",
        make_loss=_loss("negative"),
        make_inputs=_inputs,
        bad_inputs=_ERRORS,
        input_key="embeddings",
        reductions=("mean", "none"),
        batch_invariant=False,
    ),
]
