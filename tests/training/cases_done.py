"""DONE (P18) in the loss matrix (tests/test_loss_matrix.py): the KL-DRO weighted per-example loss on adversarial
logits. The attack needs a model, so it is tested in tests/training/test_done.py, not here."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _weighted(beta):
    def make(reduction):
        from hf_methods.training.done import DONEWeightedLoss

        # a fresh module per call: the running normaliser starts from the batch it first sees
        return DONEWeightedLoss(r=0.5, beta=beta, reduction=reduction)

    return make


_ERRORS = [
    ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"labels must lie in"),
    ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"labels must lie in"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
    ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
]

LOSS_CASES = [
    # The weights w_i = exp(ℓ_i/r)/u are normalised by the batch (u starts at the first batch's mean), so the loss is
    # defined over the batch: the matrix checks permutation equivariance instead of per-example invariance.
    LossCase(
        name="done-weighted",
        make_loss=_weighted(0.9),
        make_inputs=classification_inputs,
        bad_inputs=_ERRORS,
        batch_invariant=False,
    ),
    LossCase(
        name="done-weighted-batch-normalised",
        make_loss=_weighted(1.0),
        make_inputs=classification_inputs,
        bad_inputs=_ERRORS,
        batch_invariant=False,
    ),
]
