"""FedAU's round objective (P41 `fedau`) in the loss matrix (tests/test_loss_matrix.py): the participants' examples'
cross-entropies weighted by a_i = ω_n / (N m_n). The aggregation rules are tested in tests/training/test_fedau.py."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _weighted_ce(reduction):
    from hf_methods.training.fedau import FedAUWeightedCrossEntropy

    return FedAUWeightedCrossEntropy(reduction=reduction)


def _inputs(batch_size):
    inputs = classification_inputs(batch_size)
    g = torch.Generator().manual_seed(1)
    inputs["example_weights"] = torch.rand(batch_size, generator=g) + 0.1
    return inputs


LOSS_CASES = [
    LossCase(
        name="fedau-weighted-cross-entropy",
        make_loss=_weighted_ce,
        make_inputs=_inputs,
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
            ("negative weight", with_input("example_weights", lambda x: -x["example_weights"]), ValueError, r">= 0"),
            (
                "weights of another batch",
                with_input("example_weights", lambda x: x["example_weights"][:-1]),
                ValueError,
                r"example_weights must have shape",
            ),
            (
                "integer weights",
                with_input("example_weights", lambda x: x["example_weights"].long()),
                TypeError,
                r"floating-point",
            ),
        ],
    ),
]
