"""`hf_methods.common.unlearning`: metrics against direct counts, the attack on separable features, baselines."""

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.common.unlearning import (
    UnlearningMetrics,
    membership_attack_efficacy,
    regression_unlearning_metrics,
    unlearn_baseline,
    unlearning_metrics,
)


def _data(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return x, y


def test_metrics_match_direct_counts_and_gap():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = _data()
    forget, retain, test = (x[:30], y[:30]), (x[30:90], y[30:90]), (x[90:], y[90:])
    metrics = unlearning_metrics(model, forget, retain, test)
    with torch.no_grad():
        acc = lambda s: (model(s[0]).argmax(-1) == s[1]).float().mean().item()  # noqa: E731
    assert metrics.unlearning_accuracy == pytest.approx(1 - acc(forget))
    assert metrics.remaining_accuracy == pytest.approx(acc(retain))
    assert metrics.testing_accuracy == pytest.approx(acc(test))
    assert 0 <= metrics.mia_efficacy <= 1
    other = UnlearningMetrics(0.0, 1.0, 1.0, 0.0)
    d = metrics.to_dict()
    expected = np.mean(
        [d["unlearning_accuracy"], 1 - d["remaining_accuracy"], 1 - d["testing_accuracy"], d["mia_efficacy"]]
    )
    assert metrics.average_gap(other) == pytest.approx(expected)


def test_membership_attack_separates_separable_features():
    rng = np.random.default_rng(0)
    members, non_members = rng.uniform(0.9, 1.0, 50), rng.uniform(0.0, 0.3, 50)
    assert membership_attack_efficacy(members, non_members, rng.uniform(0.0, 0.3, 20)) == 1.0
    assert membership_attack_efficacy(members, non_members, rng.uniform(0.9, 1.0, 20)) == 0.0


def test_baselines_leave_the_original_untouched_and_do_what_they_say():
    torch.manual_seed(0)
    x, y = _data(200)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    forget, retain = (x[:40], y[:40]), (x[40:], y[40:])
    original = {k: v.clone() for k, v in model.state_dict().items()}
    ascended = unlearn_baseline("gradient_ascent", model, forget, retain, epochs=3, lr=0.05)
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())
    loss = lambda m: nn.functional.cross_entropy(m(forget[0]), forget[1]).item()  # noqa: E731
    assert loss(ascended) > loss(model)
    retrained = unlearn_baseline(
        "retrain",
        model,
        forget,
        retain,
        epochs=20,
        lr=0.05,
        model_init=lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)),
    )
    assert unlearning_metrics(retrained, forget, retain, retain).remaining_accuracy > 0.8
    for name in ("finetune", "random_label"):
        out = unlearn_baseline(name, model, forget, retain, epochs=1, lr=0.01, num_classes=3)
        assert out is not model


def test_regression_metrics():
    x = torch.randn(60, 2)
    model = nn.Linear(2, 1)
    y = model(x).detach().squeeze(1)
    out = regression_unlearning_metrics(model, (x[:20], y[:20]), (x[20:40], y[20:40]), (x[40:], y[40:] + 1))
    assert out["forget_mse"] < 1e-10 and out["test_mse"] == pytest.approx(1.0, rel=1e-4)


def test_errors():
    x, y = _data()
    model = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="name must be one of"):
        unlearn_baseline("forget", model, (x, y), (x, y), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="needs model_init"):
        unlearn_baseline("retrain", model, (x, y), (x, y), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="needs num_classes"):
        unlearn_baseline("random_label", model, (x, y), (x, y), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="epochs must be"):
        unlearn_baseline("finetune", model, (x, y), (x, y), epochs=0, lr=0.1)
    with pytest.raises(TypeError, match="forget must be a pair"):
        unlearning_metrics(model, x, (x, y), (x, y))
    with pytest.raises(ValueError, match="same non-zero length"):
        unlearning_metrics(model, (x, y[:-1]), (x, y), (x, y))
