"""Metrix (P57) in the loss matrix (tests/test_loss_matrix.py): the base loss plus the Metrix term on embeddings.

λ and the pairing are fixed in the cases (the matrix compares several calls, which must see the same mixes); the
objective is defined over the batch (pairs and mixes), so the matrix checks permutation equivariance.
"""

import torch

from tests.cases import LossCase, with_input, with_labels


def _inputs(batch_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    # every class twice, then one singleton: anchors with and without positives
    labels = torch.arange(batch_size) // 2
    labels[-1] = batch_size
    return {
        "embeddings": torch.randn(batch_size, 8, generator=g),
        "labels": labels[torch.randperm(batch_size, generator=g)],
    }


def _loss(base, pairing):
    def make(reduction):
        from hf_methods.training.metrix import MetrixLoss

        return MetrixLoss(base=base, pairing=pairing, lam=0.35, reduction=reduction, seed=0)

    return make


_ERRORS = [
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"labels must be an integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    (
        "1-D embeddings",
        with_input("embeddings", lambda x: x["embeddings"][:, 0]),
        ValueError,
        r"embeddings must be 2-D",
    ),
    ("integer embeddings", with_input("embeddings", lambda x: x["embeddings"].long()), TypeError, r"floating-point"),
]

LOSS_CASES = [
    LossCase(
        name=f"metrix-{base}-{pairing.replace('_', '-')}",
        make_loss=_loss(base, pairing),
        make_inputs=_inputs,
        bad_inputs=_ERRORS,
        input_key="embeddings",
        batch_invariant=False,
    )
    for base in ("contrastive", "multisimilarity")
    for pairing in ("positive_negative", "anchor_negative")
]
