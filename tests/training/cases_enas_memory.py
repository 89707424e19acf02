"""The memory-buffer reconstruction loss of `enas_memory` (P47) in the loss matrix (tests/test_loss_matrix.py): the
cross-entropy of decoding every decision of a buffered architecture from the controller's final hidden state, on
`logits` of shape (batch, ΣK_t) and `decisions` of shape (batch, T).

REINFORCE, the search, the Trainer and the hidden-state analysis need a controller and a supernet; they are tested in
tests/training/test_enas_memory.py."""

import torch

from tests.cases import LossCase, with_input

SIZES = [3, 1, 3, 2, 3, 3, 3]  # 4 nodes, 3 activations


def _inputs(batch_size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return {
        "logits": torch.randn(batch_size, sum(SIZES), generator=g) * 2.0,
        "decisions": torch.stack([torch.randint(0, k, (batch_size,), generator=g) for k in SIZES], 1),
    }


def _loss(reduction):
    from hf_methods.training.enas_memory import MemoryReconstructionLoss

    return MemoryReconstructionLoss(SIZES, reduction=reduction)


def _column(t: int, value: int):
    def change(x):
        decisions = x["decisions"].clone()
        decisions[:, t] = value
        return decisions

    return change


LOSS_CASES = [
    LossCase(
        name="enas_memory-reconstruction",
        make_loss=_loss,
        make_inputs=_inputs,
        bad_inputs=[
            ("node 1 reads node 1", with_input("decisions", _column(1, 1)), ValueError, r"must lie in \[0, K_t\)"),
            ("negative decision", with_input("decisions", _column(0, -1)), ValueError, r"must lie in \[0, K_t\)"),
            ("float decisions", with_input("decisions", lambda x: x["decisions"].float()), TypeError, r"integer"),
            ("too few decisions", with_input("decisions", lambda x: x["decisions"][:, :-1]), ValueError, r"shape"),
            (
                "decisions of another batch",
                with_input("decisions", lambda x: x["decisions"][:-1]),
                ValueError,
                r"batch",
            ),
            ("logits of the wrong width", with_input("logits", lambda x: x["logits"][:, :-1]), ValueError, r"logits"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][0]), ValueError, r"logits must be 2-D"),
            ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating-point"),
        ],
    ),
]
