"""The one-hot squared-error loss of the grokking-ticket experiments (P59) in the loss matrix."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _loss(reduction):
    from hf_methods.training.grokking_tickets import OneHotMSELoss

    return OneHotMSELoss(reduction=reduction)


LOSS_CASES = [
    LossCase(
        name="grokking_tickets-one-hot-mse",
        make_loss=_loss,
        make_inputs=classification_inputs,
        bad_inputs=[
            (
                "label out of range",
                with_labels(lambda x: torch.full_like(x["labels"], 5)),
                ValueError,
                r"labels must lie",
            ),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
        ],
    )
]
