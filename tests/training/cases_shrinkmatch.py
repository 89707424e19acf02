"""ShrinkMatch's shrink loss and the FixMatch consistency loss (P56) in the loss matrix (tests/test_loss_matrix.py).

Both take the strong-view `logits` and the weak-view probabilities `probs_weak` (targets). The inputs are built so
that the batch holds certain samples, uncertain samples whose shrunk confidence passes τ = 0.7 and, for FixMatch,
masked ones, none of them close to the threshold (float32 and float64 take the same decisions).
"""

import torch

from tests.cases import LossCase, with_input

THRESHOLD = 0.7


def _inputs(batch_size: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    weak_logits = torch.randn(batch_size, 5, generator=g) * 2.0
    weak_logits[::3, 0] += 6.0  # every third sample certain
    return {
        "logits": torch.randn(batch_size, 5, generator=g) * 2.0,
        "probs_weak": torch.softmax(weak_logits, dim=1),
    }


def _shrink(reduction):
    from hf_methods.training.shrinkmatch import ShrinkLoss

    return ShrinkLoss(threshold=THRESHOLD, reduction=reduction)


def _fixmatch(reduction):
    from hf_methods.training.shrinkmatch import FixMatchConsistencyLoss

    return FixMatchConsistencyLoss(threshold=THRESHOLD, reduction=reduction)


_BAD = [
    ("logits passed as probabilities", with_input("probs_weak", lambda x: x["logits"]), ValueError, r"sum to 1"),
    ("shape mismatch", with_input("logits", lambda x: x["logits"][:, :4]), ValueError, r"must have the shape"),
    ("1-D probabilities", with_input("probs_weak", lambda x: x["probs_weak"][:, 0]), ValueError, r"2-D"),
    ("integer probabilities", with_input("probs_weak", lambda x: x["probs_weak"].long()), TypeError, r"floating"),
    ("integer logits", with_input("logits", lambda x: x["logits"].long()), TypeError, r"floating"),
]

LOSS_CASES = [
    LossCase(name="shrinkmatch", make_loss=_shrink, make_inputs=_inputs, bad_inputs=_BAD),
    LossCase(name="shrinkmatch-fixmatch-consistency", make_loss=_fixmatch, make_inputs=_inputs, bad_inputs=_BAD),
]
