"""`hf_methods.common.adversarial`: PGD against a closed form and a plain loop, the penalised ascent, class-wise
accuracy against a loop, and the errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hf_methods.common.adversarial import (
    PGDConfig,
    classwise_accuracy,
    classwise_robust_accuracy,
    logits_of,
    penalized_inner_max,
    pgd_attack,
    project,
)


def _linear(seed: int = 0, d: int = 6, k: int = 3) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, k)


def _batch(n: int = 8, d: int = 6, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


def test_linf_pgd_on_a_linear_margin_reaches_the_closed_form_corner():
    """For the loss w·x (one score), the ℓ∞ maximiser in the box is x + eps·sign(w), clipped to [0, 1]."""
    w = torch.tensor([[1.0, -2.0, 0.5, -0.1]], dtype=torch.float64)
    model = lambda x: x @ w.T  # noqa: E731
    x = torch.tensor([[0.5, 0.5, 0.95, 0.02]], dtype=torch.float64)
    config = PGDConfig(eps=0.1, steps=20, step_size=0.02, random_start=False)
    x_adv = pgd_attack(model, x, torch.zeros(1), config, loss_fn=lambda s, y: s[:, 0])
    expected = (x + 0.1 * w.sign()).clamp(0, 1)
    torch.testing.assert_close(x_adv, expected)


def test_l2_pgd_on_a_linear_margin_moves_along_the_weight():
    """For the loss w·x without clipping, the ℓ2 maximiser is x + eps·w/‖w‖."""
    w = torch.tensor([[3.0, -4.0]], dtype=torch.float64)
    model = lambda x: x @ w.T  # noqa: E731
    x = torch.tensor([[0.1, 0.2], [-1.0, 2.0]], dtype=torch.float64)
    config = PGDConfig(eps=0.5, steps=10, norm="l2", clamp=None, random_start=False)
    x_adv = pgd_attack(model, x, torch.zeros(2), config, loss_fn=lambda s, y: s[:, 0])
    torch.testing.assert_close(x_adv, x + 0.5 * w / w.norm())


def test_pgd_matches_a_plain_loop_per_sample():
    """Each sample's trajectory equals the one-sample loop of x ← clip(Π(x + α sign ∇ℓ)) (no random start)."""
    model = _linear().double()
    x, y = _batch()
    config = PGDConfig(eps=0.2, steps=4, random_start=False)
    batched = pgd_attack(model, x, y, config)
    for i in range(len(x)):
        xi = x[i : i + 1].clone()
        for _ in range(config.steps):
            xi.requires_grad_(True)
            loss = nn.functional.cross_entropy(model(xi), y[i : i + 1])
            (g,) = torch.autograd.grad(loss, xi)
            xi = (x[i : i + 1] + (xi.detach() + config.step_size * g.sign() - x[i : i + 1]).clamp(-0.2, 0.2)).clamp(
                0, 1
            )
        torch.testing.assert_close(batched[i : i + 1], xi)


def test_pgd_stays_in_the_ball_and_range_raises_the_loss_and_spares_parameter_grads():
    model = _linear()
    x, y = _batch(n=32)
    x = x.float()
    for norm, eps in (("linf", 0.1), ("l2", 0.5)):
        x_adv = pgd_attack(
            model, x, y, PGDConfig(eps=eps, steps=10, norm=norm), generator=torch.Generator().manual_seed(0)
        )
        delta = (x_adv - x).flatten(1)
        size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
        assert (size <= eps + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
        clean = nn.functional.cross_entropy(model(x), y)
        assert nn.functional.cross_entropy(model(x_adv), y) > clean
    assert all(p.grad is None for p in model.parameters())


def test_project_and_zero_eps():
    delta = torch.tensor([[3.0, 4.0], [0.1, 0.0]])
    torch.testing.assert_close(project(delta, 1.0, "l2"), torch.tensor([[0.6, 0.8], [0.1, 0.0]]))
    torch.testing.assert_close(project(delta, 0.5, "linf"), torch.tensor([[0.5, 0.5], [0.1, 0.0]]))
    x, y = _batch()
    assert torch.equal(pgd_attack(_linear().double(), x, y, PGDConfig(eps=0.0, steps=0)), x)


def test_penalized_inner_max_matches_the_closed_form_of_a_linear_loss():
    """max_x' w·x' − γ‖x' − x‖² has the maximiser x + w/(2γ)."""
    w = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    x = torch.rand(4, 3, dtype=torch.float64)
    x_adv = penalized_inner_max(
        lambda t: t @ w.T, x, torch.zeros(4), gamma=2.0, steps=200, step_size=0.05, loss_fn=lambda s, y: s[:, 0]
    )
    torch.testing.assert_close(x_adv, x + w / 4.0)


def test_classwise_accuracy_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (50,), generator=g)
    labels[labels == 2] = 1  # class 2 absent
    predictions = torch.where(torch.rand(50, generator=g) < 0.7, labels, torch.randint(0, 4, (50,), generator=g))
    result = classwise_accuracy(predictions, labels, num_classes=4)
    per_class = []
    for c in range(4):
        members = [i for i in range(50) if labels[i] == c]
        per_class.append(sum(int(predictions[i] == c) for i in members) / len(members) if members else None)
    present = [a for a in per_class if a is not None]
    assert result.per_class[2] != result.per_class[2]  # NaN for the absent class
    assert [a for a in result.per_class if a == a] == pytest.approx(present)
    assert result.worst == pytest.approx(min(present)) and result.class_mean == pytest.approx(sum(present) / 3)
    assert result.worst_class == per_class.index(min(present))
    assert result.overall == pytest.approx((predictions == labels).float().mean().item())


def test_classwise_robust_accuracy_is_lower_under_attack_and_restores_train_mode():
    model = _linear()
    x, y = _batch(n=64)
    model.train()
    clean = classwise_robust_accuracy(model, x.float(), y, None, num_classes=3)
    attacked = classwise_robust_accuracy(
        model, x.float(), y, PGDConfig(eps=0.3, steps=5), num_classes=3, batch_size=16
    )
    assert attacked.overall <= clean.overall and model.training


def test_logits_of_reads_model_outputs():
    from transformers.modeling_outputs import SequenceClassifierOutput

    t = torch.ones(2, 3)
    assert logits_of(t) is t and logits_of(SequenceClassifierOutput(logits=t)) is t and logits_of((t, None)) is t
    assert logits_of({"logits": t}) is t
    with pytest.raises(TypeError, match="cannot find the scores"):
        logits_of("nope")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"norm": "l1"}, "norm must be one of"),
        ({"eps": -0.1}, "eps must be a number >= 0"),
        ({"steps": 0}, "steps must be an int >= 1"),
        ({"step_size": 0.0}, "step_size must be > 0"),
        ({"clamp": (1.0, 0.0)}, "clamp must be"),
    ],
)
def test_bad_pgd_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PGDConfig(**kwargs)


def test_bad_attack_inputs():
    model = _linear()
    x, y = _batch()
    with pytest.raises(TypeError, match="PGDConfig"):
        pgd_attack(model, x.float(), y, {"eps": 0.1})
    with pytest.raises(TypeError, match="floating-point"):
        pgd_attack(model, (x * 10).long(), y, PGDConfig())
    with pytest.raises(ValueError, match="one entry per input"):
        pgd_attack(model, x.float(), y[:-1], PGDConfig())
    with pytest.raises(ValueError, match="one loss per sample"):
        pgd_attack(model, x.float(), y, PGDConfig(), loss_fn=lambda s, t: s.sum())
    with pytest.raises(ValueError, match="gamma must be > 0"):
        penalized_inner_max(model, x.float(), y, gamma=0.0)
    with pytest.raises(ValueError, match="labels must lie in"):
        classwise_accuracy(y, y + 5, num_classes=3)
    with pytest.raises(ValueError, match="same shape"):
        classwise_accuracy(y[:-1], y, num_classes=3)
    with pytest.raises(ValueError, match="batch_size"):
        classwise_robust_accuracy(model, x.float(), y, None, num_classes=3, batch_size=0)


def test_trades_kl_is_the_kl_of_clean_to_adversarial_written_out():
    from hf_methods.common.adversarial import trades_kl

    gen = torch.Generator().manual_seed(0)
    adv, clean = (
        torch.randn(4, 3, generator=gen, dtype=torch.float64),
        torch.randn(4, 3, generator=gen, dtype=torch.float64),
    )
    p, q = clean.softmax(-1), adv.softmax(-1)
    expected = [sum(p[i, k] * (p[i, k].log() - q[i, k].log()) for k in range(3)).item() for i in range(4)]
    torch.testing.assert_close(trades_kl(adv, clean), torch.tensor(expected, dtype=torch.float64))
    assert trades_kl(clean, clean).abs().max() < 1e-12
