"""`hf_methods.common.contrastive`: NT-Xent and SupCon against the equations written as plain loops."""

import math

import pytest
import torch

from hf_methods.common.contrastive import nt_xent_loss, supcon_loss


def _cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def _nt_xent_loop(z1, z2, tau):
    views = list(z1) + list(z2)
    n = len(z1)
    losses = []
    for i, anchor in enumerate(views):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(_cos(anchor, views[k]) / tau) for k in range(2 * n) if k != i)
        losses.append(-math.log(math.exp(_cos(anchor, views[positive]) / tau) / denominator))
    return losses


def _supcon_loop(z, labels, tau):
    losses = []
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and labels[p] == labels[i]]
        if not positives:
            losses.append(None)
            continue
        denominator = sum(math.exp(_cos(z[i], z[k]) / tau) for k in range(len(z)) if k != i)
        losses.append(
            -sum(math.log(math.exp(_cos(z[i], z[p]) / tau) / denominator) for p in positives) / len(positives)
        )
    return losses


def test_nt_xent_matches_the_loop():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g, dtype=torch.float64)
    expected = _nt_xent_loop(z1, z2, 0.5)
    torch.testing.assert_close(
        nt_xent_loss(z1, z2, temperature=0.5, reduction="none"), torch.tensor(expected, dtype=torch.float64)
    )
    assert nt_xent_loss(z1, z2, temperature=0.5).item() == pytest.approx(sum(expected) / 10)
    # identical views of orthogonal images: the positive dominates and the loss falls towards 0 as τ shrinks
    eye = torch.eye(4)
    assert nt_xent_loss(eye, eye, temperature=0.05) < 1e-6


def test_supcon_matches_the_loop_and_skips_anchors_without_positives():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(7, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3])  # classes 2 and 3 have one view: no positive
    expected = _supcon_loop(z, labels.tolist(), 0.1)
    got = supcon_loss(z, labels, temperature=0.1, reduction="none")
    for value, want in zip(got.tolist(), expected):
        assert value == pytest.approx(0.0 if want is None else want)
    kept = [v for v in expected if v is not None]
    assert supcon_loss(z, labels, temperature=0.1).item() == pytest.approx(sum(kept) / len(kept))
    # with one label per image pair, SupCon over both views equals NT-Xent
    z1, z2 = z[:3], torch.randn(3, 6, generator=g, dtype=torch.float64)
    pair_labels = torch.arange(3).repeat(2)
    torch.testing.assert_close(
        supcon_loss(torch.cat([z1, z2]), pair_labels, temperature=0.3), nt_xent_loss(z1, z2, temperature=0.3)
    )


def test_gradients_reach_the_embeddings():
    z1 = torch.randn(4, 3, requires_grad=True)
    z2 = torch.randn(4, 3, requires_grad=True)
    nt_xent_loss(z1, z2).backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


def test_bad_inputs_raise_clear_errors():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(z, torch.randn(3, 3))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent_loss(z[:1], z[:1])
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(z, z, temperature=0)
    with pytest.raises(TypeError, match="2-D float"):
        nt_xent_loss(z[0], z[0])
    with pytest.raises(ValueError, match="reduction"):
        nt_xent_loss(z, z, reduction="avg")
    with pytest.raises(ValueError, match="labels"):
        supcon_loss(z, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="no view has a positive"):
        supcon_loss(z, torch.arange(4))
