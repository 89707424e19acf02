"""The field-space KL of `binary_continual` (P42) in the loss matrix: gradients flow to the fields θ."""

import torch

from tests.cases import LossCase, with_input


def _kl(reduction):
    from hf_methods.training.binary_continual import BernoulliFieldKL

    return BernoulliFieldKL(beta=2.0, reduction=reduction)


def _fields(batch_size):
    # one row of fields per "example" (an output unit of a weight matrix); the KL of a row sums over its columns
    g = torch.Generator().manual_seed(0)
    return {"field": torch.randn(batch_size, 7, generator=g), "prior_field": torch.randn(batch_size, 7, generator=g)}


LOSS_CASES = [
    LossCase(
        name="binary_continual-field-kl",
        make_loss=_kl,
        make_inputs=_fields,
        input_key="field",
        bad_inputs=[
            (
                "prior of another shape",
                with_input("prior_field", lambda x: x["prior_field"][:, :-1]),
                ValueError,
                r"prior_field must have the shape",
            ),
            ("integer fields", with_input("field", lambda x: x["field"].long()), TypeError, r"field must be a float"),
            (
                "integer prior",
                with_input("prior_field", lambda x: x["prior_field"].long()),
                TypeError,
                r"prior_field must be a float",
            ),
        ],
    )
]
