"""AdvUnlearn (P53) in the loss matrix (tests/test_loss_matrix.py): the ESD erasing loss on noise predictions.

`ESDLoss()(prediction, unconditional, concept)` compares the erased model's prediction with the frozen model's
negatively guided prediction; gradients must reach `prediction`. The retain loss is the same per-sample mean squared
error without guidance (tested in tests/training/test_advunlearn.py); the attack needs a model and is tested there."""

import torch

from tests.cases import LossCase, with_input


def _inputs(batch_size):
    g = torch.Generator().manual_seed(0)
    return {
        "prediction": torch.randn(batch_size, 1, 4, 4, generator=g),
        "unconditional": torch.randn(batch_size, 1, 4, 4, generator=g),
        "concept": torch.randn(batch_size, 1, 4, 4, generator=g),
    }


def _loss(reduction):
    from hf_methods.training.advunlearn import ESDLoss

    return ESDLoss(negative_guidance=1.0, reduction=reduction)


_BAD_INPUTS = [
    ("targets of another shape", with_input("concept", lambda x: x["concept"][:, :, :2]), ValueError, r"must share one shape"),
    ("integer prediction", with_input("prediction", lambda x: x["prediction"].long()), TypeError, r"prediction must be a float tensor"),
    ("no batch dimension", with_input("unconditional", lambda x: x["unconditional"].flatten()), ValueError, r"batch dimension"),
]  # fmt: skip

LOSS_CASES = [
    LossCase(
        name="advunlearn-esd",
        make_loss=_loss,
        make_inputs=_inputs,
        bad_inputs=_BAD_INPUTS,
        input_key="prediction",
    ),
]
