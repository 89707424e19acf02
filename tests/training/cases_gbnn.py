"""The three GBNN losses (P11) in the loss matrix (tests/test_loss_matrix.py): log-exponential (binary scores F),
softmax cross-entropy (multi-class) and squared error (regression targets)."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _log_exponential(reduction):
    from hf_methods.training.gbnn import GBNNLogExponentialLoss

    return GBNNLogExponentialLoss(reduction=reduction)


def _multinomial(reduction):
    from hf_methods.training.gbnn import GBNNMultinomialLoss

    return GBNNMultinomialLoss(num_labels=5, reduction=reduction)


def _squared(reduction):
    from hf_methods.training.gbnn import GBNNSquaredLoss

    return GBNNSquaredLoss(reduction=reduction)


def _binary_inputs(batch_size):
    g = torch.Generator().manual_seed(0)
    return {
        "logits": torch.randn(batch_size, generator=g) * 2.0,
        "labels": torch.randint(0, 2, (batch_size,), generator=g),
    }


def _regression_inputs(batch_size):
    g = torch.Generator().manual_seed(0)
    return {"logits": torch.randn(batch_size, 2, generator=g), "labels": torch.randn(batch_size, 2, generator=g)}


LOSS_CASES = [
    LossCase(
        name="gbnn-log-exponential",
        make_loss=_log_exponential,
        make_inputs=_binary_inputs,
        bad_inputs=[
            ("label 2", with_labels(lambda x: torch.full_like(x["labels"], 2)), ValueError, r"labels must lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            (
                "labels of another batch",
                with_labels(lambda x: x["labels"][:-1]),
                ValueError,
                r"labels must have shape",
            ),
            (
                "two scores per example",
                with_input("logits", lambda x: x["logits"][:, None].repeat(1, 2)),
                ValueError,
                r"one score per example",
            ),
        ],
    ),
    LossCase(
        name="gbnn-multinomial",
        make_loss=_multinomial,
        make_inputs=classification_inputs,
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"lie in"),
            ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("wrong class count", with_input("logits", lambda x: x["logits"][:, :3]), ValueError, r"num_labels=5"),
            ("3-D logits", with_input("logits", lambda x: x["logits"][None]), ValueError, r"logits must be 1-D"),
        ],
    ),
    LossCase(
        name="gbnn-squared",
        make_loss=_squared,
        make_inputs=_regression_inputs,
        bad_inputs=[
            ("integer targets", with_labels(lambda x: x["labels"].long()), TypeError, r"floating-point tensor"),
            (
                "targets of another shape",
                with_labels(lambda x: x["labels"][:, :1]),
                ValueError,
                r"shape of the logits",
            ),
            ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating-point"),
        ],
    ),
]
