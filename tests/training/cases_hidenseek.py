"""HideNseek's client objective (P14 `hidenseek`) in the loss matrix (tests/test_loss_matrix.py): the cross-entropy
of the sign-supermasked network's logits. SynFlow, the sign supermask, the vote and the federated loop are tested in
tests/training/test_hidenseek.py."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _client_loss(reduction):
    from hf_methods.training.hidenseek import HideNseekClientLoss

    return HideNseekClientLoss(reduction=reduction)


LOSS_CASES = [
    LossCase(
        name="hidenseek-client-cross-entropy",
        make_loss=_client_loss,
        make_inputs=classification_inputs,
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"must have shape"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
        ],
    ),
]
