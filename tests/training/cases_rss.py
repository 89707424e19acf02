"""The robust ramp loss of RSS (P20) in the loss matrix (tests/test_loss_matrix.py): labelled and self-training forms."""

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _ramp(reduction):
    from hf_methods.training.rss import RobustRampLoss

    # γ = 0.25: margins in (0, 4) get a gradient, so the seeded logits below reach the band
    return RobustRampLoss(gamma=0.25, reduction=reduction)


def _binary_inputs(batch_size):
    return classification_inputs(batch_size, num_classes=2)


def _unlabeled_inputs(batch_size):
    return {"logits": classification_inputs(batch_size, num_classes=2)["logits"]}


_LOGIT_ERRORS = [
    ("three classes", with_input("logits", lambda x: x["logits"].repeat(1, 2)[:, :3]), ValueError, r"\(batch, 2\)"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must have shape"),
    ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating-point"),
]

LOSS_CASES = [
    LossCase(
        name="rss-ramp",
        make_loss=_ramp,
        make_inputs=_binary_inputs,
        bad_inputs=[
            *_LOGIT_ERRORS,
            (
                "label 2",
                with_labels(lambda x: x["labels"].clone().fill_(2)),
                ValueError,
                r"labels must lie in \[0, 2\)",
            ),
            ("negative label", with_labels(lambda x: x["labels"] - 1), ValueError, r"labels must lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            (
                "labels of another batch size",
                with_labels(lambda x: x["labels"][:-1]),
                ValueError,
                r"labels must have shape",
            ),
        ],
    ),
    LossCase(
        name="rss-ramp-unlabeled",
        make_loss=_ramp,
        make_inputs=_unlabeled_inputs,
        bad_inputs=_LOGIT_ERRORS,
    ),
]
