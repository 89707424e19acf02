"""MHIM-MIL's (P63) consistency loss in the loss matrix (tests/test_loss_matrix.py): student bag features against the
teacher's (the "labels" of this objective are the teacher's features; one value per bag)."""

import torch

from tests.cases import LossCase, with_input


def _loss(reduction):
    from hf_methods.training.mhim_mil import MHIMConsistencyLoss

    return MHIMConsistencyLoss(teacher_temperature=0.1, reduction=reduction)


def _inputs(batch_size):
    g = torch.Generator().manual_seed(0)
    return {
        "student_features": torch.randn(batch_size, 6, generator=g),
        "teacher_features": torch.randn(batch_size, 6, generator=g),
    }


LOSS_CASES = [
    LossCase(
        name="mhim_mil-consistency",
        make_loss=_loss,
        make_inputs=_inputs,
        input_key="student_features",
        bad_inputs=[
            (
                "1-D student features",
                with_input("student_features", lambda x: x["student_features"][:, 0]),
                ValueError,
                r"student_features must be 2-D",
            ),
            (
                "teacher of another size",
                with_input("teacher_features", lambda x: x["teacher_features"][:, :3]),
                ValueError,
                r"teacher_features must have the shape",
            ),
            (
                "integer teacher features",
                with_input("teacher_features", lambda x: x["teacher_features"].long()),
                TypeError,
                r"teacher_features must be a floating",
            ),
        ],  # fmt: skip
    ),
]
