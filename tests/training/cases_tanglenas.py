"""TangleNAS's search objective (P16 `tanglenas`) in the loss matrix (tests/test_loss_matrix.py): the cross-entropy
of the weight-superimposed supernet's logits, minimised for the weights and for the architecture parameters. The
entangled layers, the α rules, derive/extract and the Trainer are tested in tests/training/test_tanglenas.py."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _search_loss(reduction):
    from hf_methods.training.tanglenas import TangleNASSearchLoss

    return TangleNASSearchLoss(reduction=reduction)


LOSS_CASES = [
    LossCase(
        name="tanglenas-search-cross-entropy",
        make_loss=_search_loss,
        make_inputs=classification_inputs,
        reductions=("mean", "sum", "none"),
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"must have shape"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
        ],
    ),
]
