"""The SalUn random-label objective (P27) in the loss matrix (tests/test_loss_matrix.py)."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _salun(reduction):
    from hf_methods.training.salun import SalUnLoss

    return SalUnLoss(retain_weight=0.5, reduction=reduction)


def _inputs(batch_size):
    inputs = classification_inputs(batch_size)
    g = torch.Generator().manual_seed(1)
    inputs["random_labels"] = torch.randint(0, inputs["logits"].shape[1], (batch_size,), generator=g)
    inputs["is_forget"] = torch.arange(batch_size) % 3 == 0
    return inputs


LOSS_CASES = [
    LossCase(
        name="salun",
        make_loss=_salun,
        make_inputs=_inputs,
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"labels must"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must"),
            (
                "random label out of range",
                with_input("random_labels", lambda x: x["random_labels"] + 5),
                ValueError,
                r"random_labels must lie in",
            ),
            ("is_forget not bool", with_input("is_forget", lambda x: x["is_forget"].long()), TypeError, r"is_forget"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
            ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
        ],
    ),
]
