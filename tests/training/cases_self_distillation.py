"""The self-distillation loss (P24) in the loss matrix (tests/test_loss_matrix.py): it also takes `teacher_logits`."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _loss(objective):
    def make(reduction):
        from hf_methods.training.self_distillation import SelfDistillationLoss

        return SelfDistillationLoss(alpha=0.3, objective=objective, temperature=2.0, reduction=reduction)

    return make


def _inputs(batch_size):
    inputs = classification_inputs(batch_size)
    g = torch.Generator().manual_seed(1)
    return {**inputs, "teacher_logits": torch.randn(batch_size, 5, generator=g) * 2.0}


_BAD_INPUTS = [
    ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"labels must lie in"),
    ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"labels must lie in"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
    ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
    (
        "teacher of another shape",
        with_input("teacher_logits", lambda x: x["teacher_logits"][:, :3]),
        ValueError,
        r"teacher_logits must have the shape",
    ),
]

LOSS_CASES = [
    LossCase(name="self_distillation-mse", make_loss=_loss("mse"), make_inputs=_inputs, bad_inputs=_BAD_INPUTS),
    LossCase(name="self_distillation-kl", make_loss=_loss("kl"), make_inputs=_inputs, bad_inputs=_BAD_INPUTS),
]
