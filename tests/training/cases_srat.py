"""SRAT (P13) in the loss matrix (tests/test_loss_matrix.py): the SRAT objective on (logits, features, labels) with
class weights, and the weighted classification term alone (batch-invariant)."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels

_WEIGHTS = [0.4, 1.6, 1.0, 0.5, 1.5]


def _srat(reduction):
    from hf_methods.training.srat import SeparableReweightedATLoss

    return SeparableReweightedATLoss(
        class_weights=_WEIGHTS, separation_weight=0.5, temperature=0.2, reduction=reduction
    )


def _reweighted_only(reduction):
    # λ = 0: the reweighted (focal) adversarial loss, which is per example
    from hf_methods.training.srat import SeparableReweightedATLoss

    return SeparableReweightedATLoss(
        class_weights=_WEIGHTS, separation_weight=0.0, focal_gamma=1.0, reduction=reduction
    )


def _inputs(batch_size):
    inputs = classification_inputs(batch_size)
    g = torch.Generator().manual_seed(1)
    labels = inputs["labels"].clone()
    labels[: batch_size // 2] = labels[0]  # at least one pair sharing a label: the separation term is not all zero
    return {**inputs, "labels": labels, "features": torch.randn(batch_size, 7, generator=g)}


_ERRORS = [
    ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"labels must lie in"),
    ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"labels must lie in"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
    ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
    ("1-D features", with_input("features", lambda x: x["features"][:, 0]), ValueError, r"features must be 2-D"),
    ("features of another batch", with_input("features", lambda x: x["features"][:-1]), ValueError, r"one row per"),
    ("weights for 3 classes", lambda x: {**x, "class_weights": [1.0, 1.0, 1.0]}, ValueError, r"5 entries"),
]

LOSS_CASES = [
    LossCase(name="srat", make_loss=_srat, make_inputs=_inputs, bad_inputs=_ERRORS, batch_invariant=False),
    LossCase(name="srat-reweighted-focal", make_loss=_reweighted_only, make_inputs=_inputs, bad_inputs=_ERRORS),
]
