"""Blindspot unlearning (P12) in the loss matrix (tests/test_loss_matrix.py): the per-example Blindspot objective on
a batch mixing forget and retain examples, with and without the attention-transfer term. The proxy model and the
trainer are tested in tests/training/test_blindspot.py."""

import torch

from tests.cases import LossCase, with_input, with_labels


def _inputs(with_activations: bool, outputs: int = 1):
    def make(batch_size: int) -> dict:
        g = torch.Generator().manual_seed(0)
        inputs = {
            "predictions": torch.randn(batch_size, outputs, generator=g),
            "labels": torch.randn(batch_size, outputs, generator=g),
            # alternate forget (1) and retain (0) examples so every slice of the batch has both kinds
            "forget_mask": torch.arange(batch_size) % 2,
            "proxy_predictions": torch.randn(batch_size, outputs, generator=g),
        }
        if with_activations:
            inputs["activations"] = torch.randn(batch_size, 3, 4, 4, generator=g)
            inputs["proxy_activations"] = torch.randn(batch_size, 3, 4, 4, generator=g)
        return inputs

    return make


def _loss(at_beta: float):
    def make(reduction: str):
        from hf_methods.training.blindspot import BlindspotUnlearningLoss

        return BlindspotUnlearningLoss(at_beta=at_beta, reduction=reduction)

    return make


_ERRORS = [
    ("integer labels", with_labels(lambda x: torch.zeros_like(x["labels"], dtype=torch.long)), TypeError, "labels"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, "labels must have"),
    ("forget flags of 2", with_input("forget_mask", lambda x: x["forget_mask"] * 2), ValueError, "forget_mask"),
    ("short forget mask", with_input("forget_mask", lambda x: x["forget_mask"][:-1]), ValueError, "forget_mask"),
    (
        "proxy of another shape",
        with_input("proxy_predictions", lambda x: x["proxy_predictions"][:-1]),
        ValueError,
        "proxy",
    ),
    ("3-D predictions", with_input("predictions", lambda x: x["predictions"][:, :, None]), ValueError, "predictions"),
]

LOSS_CASES = [
    LossCase(
        name="blindspot",
        make_loss=_loss(50.0),
        make_inputs=_inputs(with_activations=True),
        input_key="predictions",
        bad_inputs=[
            *_ERRORS,
            (
                "proxy activations of another size",
                with_input("proxy_activations", lambda x: x["proxy_activations"][:, :, :2]),
                ValueError,
                "activations",
            ),
        ],
    ),
    LossCase(
        name="blindspot-no-attention-transfer",
        make_loss=_loss(0.0),
        make_inputs=_inputs(with_activations=False, outputs=2),
        input_key="predictions",
        bad_inputs=_ERRORS,
    ),
]
