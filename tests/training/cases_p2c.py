"""The P2C objective (P60) in the loss matrix (tests/test_loss_matrix.py): a batch of same-label pairs with logits,
preferences and preference-head rewards of both members; a second case with the soft-label consistency."""

import torch

from tests.cases import LossCase, with_input, with_labels

HEADS = 3


def _pair_inputs(batch_size: int, num_classes: int = 3, seed: int = 0, soft: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "logits": torch.randn(batch_size, num_classes, generator=g) * 2.0,
        "labels": torch.randint(0, num_classes, (batch_size,), generator=g),
        "preference": torch.arange(batch_size) % 3,  # every kind: x₂ ≻ x₁, x₁ ≻ x₂, tie
        "pair_logits": torch.randn(batch_size, num_classes, generator=g) * 2.0,
        "rewards": torch.rand(batch_size, HEADS, generator=g) * 2 - 1,
        "pair_rewards": torch.rand(batch_size, HEADS, generator=g) * 2 - 1,
    }
    if soft:
        inputs["soft_labels"] = torch.softmax(torch.randn(batch_size, num_classes, generator=g), -1)
        inputs["pair_soft_labels"] = torch.softmax(torch.randn(batch_size, num_classes, generator=g), -1)
    return inputs


def _loss(consistency):
    def make(reduction):
        from hf_methods.training.p2c import P2CLoss

        return P2CLoss(lambda_cons=1.0, lambda_div=0.1, consistency=consistency, reduction=reduction)

    return make


_ERRORS = [
    ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 3)), ValueError, r"labels must lie in"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"labels must be an integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
    ("pair logits of another shape", with_input("pair_logits", lambda x: x["pair_logits"][:-1]), ValueError, "pair_"),
    (
        "preference 3",
        with_input("preference", lambda x: torch.full_like(x["preference"], 3)),
        ValueError,
        "preference",
    ),
    ("float preference", with_input("preference", lambda x: x["preference"].float()), TypeError, "preference must"),
    ("1-D rewards", with_input("rewards", lambda x: x["rewards"][:, 0]), ValueError, r"rewards must be 2-D"),
    ("rewards of another batch", with_input("rewards", lambda x: x["rewards"][:-1]), ValueError, r"same shape"),
    ("no rewards", lambda x: {k: v for k, v in x.items() if "rewards" not in k}, ValueError, r"needs rewards"),
]

LOSS_CASES = [
    LossCase(
        name="p2c",
        make_loss=_loss("preference"),
        make_inputs=_pair_inputs,
        bad_inputs=_ERRORS,
    ),
    LossCase(
        name="p2c-soft-label-consistency",
        make_loss=_loss("soft_label"),
        make_inputs=lambda batch_size: _pair_inputs(batch_size, soft=True),
        bad_inputs=[
            *_ERRORS,
            (
                "no soft labels",
                lambda x: {k: v for k, v in x.items() if "soft" not in k},
                ValueError,
                r"needs soft_labels",
            ),
            (
                "soft labels of another shape",
                with_input("soft_labels", lambda x: x["soft_labels"][:, :2]),
                ValueError,
                r"soft_labels must have the shape",
            ),
        ],
    ),
]
