"""CrKD's class-relation distillation loss (P19) in the loss matrix (tests/test_loss_matrix.py).

The weights ω are normalised by their batch mean, so the loss is defined over the batch (`batch_invariant=False`:
the matrix checks that permuting the batch permutes the per-sample losses)."""

import torch

from tests.cases import LossCase, with_input


def _crkd(reduction):
    from hf_methods.training.crkd import ClassRelationKDLoss

    return ClassRelationKDLoss(kd_temperature=4.0, temperature=0.1, reduction=reduction)


def _inputs(batch_size, known=3, novel=2):
    g = torch.Generator().manual_seed(0)
    # cosine-like logits in [-1, 1], as the prototype heads produce
    return {
        "teacher_logits": torch.rand(batch_size, known, generator=g) * 2 - 1,
        "logits": torch.rand(batch_size, known + novel, generator=g) * 2 - 1,
    }


LOSS_CASES = [
    LossCase(
        name="crkd",
        make_loss=_crkd,
        make_inputs=_inputs,
        batch_invariant=False,
        bad_inputs=[
            ("teacher of another batch size", with_input("teacher_logits", lambda x: x["teacher_logits"][:-1]),
             ValueError, r"every dimension but the last"),
            ("no novel logits", with_input("logits", lambda x: x["logits"][:, :3]), ValueError, r"at least one novel"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be"),
            ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating-point"),
            ("one known class", lambda x: {"teacher_logits": x["teacher_logits"][:, :1], "logits": x["logits"]},
             ValueError, r"at least 2 known classes"),
            ("float mask", lambda x: {**x, "unlabeled_mask": torch.ones(len(x["logits"]))}, TypeError, r"boolean"),
            ("mask of another length", lambda x: {**x, "unlabeled_mask": torch.ones(2, dtype=torch.bool)},
             ValueError, r"unlabeled_mask must have shape"),
            ("no unlabelled sample", lambda x: {**x, "unlabeled_mask": torch.zeros(len(x["logits"]), dtype=torch.bool)},
             ValueError, r"at least one unlabelled"),
        ],
    ),
]  # fmt: skip
