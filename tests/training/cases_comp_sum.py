"""Comp-sum losses (P54) in the loss matrix (tests/test_loss_matrix.py): one case per named member of the family."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _comp_sum(tau):
    def make_loss(reduction):
        from hf_methods.training.comp_sum import CompSumLoss

        return CompSumLoss(tau=tau, reduction=reduction)

    return make_loss


_LABEL_ERRORS = [
    ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"labels must lie in"),
    ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"labels must lie in"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
    ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
    ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating-point"),
]

LOSS_CASES = [
    LossCase(
        name=f"comp_sum-{name}", make_loss=_comp_sum(tau), make_inputs=classification_inputs, bad_inputs=_LABEL_ERRORS
    )
    for name, tau in [("exp", 0.0), ("tau0.5", 0.5), ("ce", 1.0), ("gce", 1.5), ("mae", 2.0)]
]
