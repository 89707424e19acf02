"""EL2N (P33 `data_diet`) in the loss matrix (tests/test_loss_matrix.py): ‖softmax(logits) − onehot(y)‖₂ per example.

The scorers and the pruning need a model and a data set; they are tested in tests/training/test_data_diet.py."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _el2n(reduction):
    from hf_methods.training.data_diet import EL2NScore

    return EL2NScore(reduction=reduction)


LOSS_CASES = [
    LossCase(
        name="data_diet-el2n",
        make_loss=_el2n,
        make_inputs=classification_inputs,
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"lie in"),
            ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"must have shape"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
            ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
            ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating-point"),
        ],
    ),
]
