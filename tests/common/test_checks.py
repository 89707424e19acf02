"""The shared argument checks and reductions (`hf_methods.common.checks`)."""

import numpy as np
import pytest
import torch

from hf_methods.common.checks import REDUCTIONS, check_logits_labels, check_number, check_reduction, reduce_loss


def test_reduce_loss_matches_torch_reductions():
    values = torch.tensor([1.0, 2.0, 6.0])
    assert reduce_loss(values, "mean").item() == pytest.approx(3.0)
    assert reduce_loss(values, "sum").item() == pytest.approx(9.0)
    assert reduce_loss(values, "none") is values
    assert set(REDUCTIONS) == {"mean", "sum", "none"}


def test_bad_reduction_is_named():
    with pytest.raises(ValueError, match="reduction must be one of"):
        check_reduction("avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        reduce_loss(torch.ones(2), "avg")


def test_logits_labels_accepts_a_valid_pair_and_returns_the_class_count():
    assert check_logits_labels(torch.zeros(4, 3), torch.tensor([0, 1, 2, 2])) == 3


@pytest.mark.parametrize(
    ("logits", "labels", "error", "match"),
    [
        ([[0.0, 1.0]], torch.tensor([0]), TypeError, "logits must be a torch.Tensor"),
        (torch.zeros(1, 2), [0], TypeError, "labels must be a torch.Tensor"),
        (torch.zeros(2), torch.tensor([0, 1]), ValueError, "must be 2-D"),
        (torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]), TypeError, "floating-point"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), TypeError, "integer tensor"),
        (torch.zeros(2, 3), torch.tensor([0, 1, 2]), ValueError, "must have shape"),
        (torch.zeros(2, 1), torch.tensor([0, 0]), ValueError, "at least 2 classes"),
        (torch.zeros(2, 3), torch.tensor([0, 3]), ValueError, r"must lie in \[0, 3\)"),
    ],
)
def test_logits_labels_names_each_mistake(logits, labels, error, match):
    with pytest.raises(error, match=match):
        check_logits_labels(logits, labels)


def test_logits_labels_uses_the_callers_argument_names():
    with pytest.raises(ValueError, match="logits_2 must be 2-D"):
        check_logits_labels(torch.zeros(3), torch.zeros(3, dtype=torch.long), logits_name="logits_2")


def test_check_number_bounds():
    assert check_number("x", 0, low=0) == 0.0
    assert check_number("x", np.float32(0.5), low=0, high=1, low_open=True) == 0.5
    with pytest.raises(ValueError, match="x must be a finite number > 0, got 0.0"):
        check_number("x", 0, low=0, low_open=True)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        check_number("x", 1, low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match="<= 2"):
        check_number("x", 3, high=2)
    with pytest.raises(ValueError, match="finite"):
        check_number("x", float("nan"))
    with pytest.raises(TypeError, match="x must be a number, got bool"):
        check_number("x", True)
    with pytest.raises(TypeError, match="got str"):
        check_number("x", "1")


def test_sample_idx_check():
    from hf_methods.common.checks import check_sample_idx

    assert check_sample_idx(torch.tensor([0, 3], dtype=torch.int32), 2, 4).dtype == torch.int64
    with pytest.raises(TypeError, match="integer tensor"):
        check_sample_idx(torch.tensor([0.0, 1.0]), 2, 4)
    with pytest.raises(ValueError, match=r"shape \(3,\) to match logits1"):
        check_sample_idx(torch.tensor([0, 1]), 3, 4, matches="logits1")
    with pytest.raises(ValueError, match=r"\[0, num_samples=4\)"):
        check_sample_idx(torch.tensor([0, 4]), 2, 4)
