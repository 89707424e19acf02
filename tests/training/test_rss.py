"""P20 `rss`: closed forms against brute-force sups, the linear fit against numpy and torch's own optimizer, the
WRM objective against its 1-D maximiser, the Trainer, the recipe, and every rejected input."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from hf_methods.training.rss import (
    RobustRampLoss,
    binary_scores,
    linear_robust_ramp_loss,
    linear_robust_zero_one_loss,
    pseudo_labels,
    robust_self_training_loss,
)
from hf_methods.training.rss.data import bayes_accuracy, make_two_gaussian_task, two_gaussian_mixture
from hf_methods.training.rss.training import (
    RSSArguments,
    fit_linear_rss,
    linear_accuracy,
    rss_linear_objective,
    select_on_validation,
    unlabeled_batch_indices,
    xavier_uniform_columns,
)


def _scores(n=32, seed=0, scale=2.0):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=gen, dtype=torch.float64) * scale
    labels = torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1
    return scores, labels


# ----------------------------------------------------------------------------------------------------------- numpy reference


def numpy_ramp(margins, gamma):
    """clip(1 − γ·m, 0, 1), one value at a time in Python floats."""
    return np.array([min(1.0, max(0.0, 1.0 - gamma * m)) for m in margins])


def numpy_fit_linear_rss(x, y, xu, init, *, gamma, gamma_u, lam, wd, lr, epochs, patience, factor):
    """The official simulation's fit (`LinearTrainer` / `RobustTrainer` run + restarts), written plainly in numpy.

    Each restart (a column of `init`) runs alone: the ramp objective and its subgradient by hand, Adam with coupled
    L2, ReduceLROnPlateau(mode min, threshold 1e-4 rel); the restart with the lowest last-epoch loss is kept.
    """
    results = []
    for r in range(init.shape[1]):
        theta = init[:, r].copy()
        m, v = np.zeros_like(theta), np.zeros_like(theta)
        rate, best, bad = lr, math.inf, 0
        for t in range(1, epochs + 1):
            margin = y * (x @ theta)
            inside = (1 - gamma * margin >= 0) & (1 - gamma * margin <= 1)  # torch.clamp passes the gradient here
            loss = np.mean(np.clip(1 - gamma * margin, 0, 1))
            grad = -(gamma * (inside * y)[:, None] * x).mean(0)
            if xu is not None and lam > 0:
                s = xu @ theta
                inside_u = (1 - gamma_u * np.abs(s) >= 0) & (1 - gamma_u * np.abs(s) <= 1)
                loss += lam * np.mean(np.clip(1 - gamma_u * np.abs(s), 0, 1))
                grad += lam * -(gamma_u * (inside_u * np.sign(s))[:, None] * xu).mean(0)
            grad = grad + wd * theta
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad * grad
            theta = theta - rate / (1 - 0.9**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**t) + 1e-8)
            if loss < best * (1 - 1e-4):
                best, bad = loss, 0
            else:
                bad += 1
            if bad > patience:
                rate, bad = rate * factor, 0
        results.append((loss, theta))
    losses = [loss for loss, _ in results]
    keep = int(np.argmin(losses))
    return results[keep][1], keep, np.array(losses)


# ----------------------------------------------------------------------------------------------------------- closed forms


def test_ramp_matches_the_formula_and_self_training_form():
    scores, labels = _scores()
    loss = linear_robust_ramp_loss(scores, labels, gamma=0.7, reduction="none")
    np.testing.assert_allclose(loss.numpy(), numpy_ramp((labels * scores).tolist(), 0.7), atol=1e-12)
    unlabeled = linear_robust_ramp_loss(scores, None, gamma=0.7, reduction="none")
    np.testing.assert_allclose(unlabeled.numpy(), numpy_ramp(scores.abs().tolist(), 0.7), atol=1e-12)
    # the pseudo-label sign(θᵀx) gives the same loss as labelling by the prediction
    torch.testing.assert_close(unlabeled, linear_robust_ramp_loss(scores, torch.sign(scores), 0.7, "none"))
    torch.testing.assert_close(linear_robust_ramp_loss(scores, labels, 0.7), loss.mean())
    torch.testing.assert_close(linear_robust_ramp_loss(scores, labels, 0.7, "sum"), loss.sum())


@pytest.mark.parametrize("cost", ["l2", "squared_l2"])
def test_zero_one_closed_form_is_the_sup_over_moves_towards_the_boundary(cost):
    """sup_t 1[m − t‖θ‖ ≤ 0] − γ·c(t), c = t or t², by a fine search over t in numpy."""
    gen = np.random.default_rng(0)
    norm, gamma = 1.7, 0.8
    margins = gen.normal(size=40) * 2
    closed = linear_robust_zero_one_loss(torch.tensor(margins), norm, gamma, cost=cost).numpy()
    t, step = np.linspace(0, 6, 100_001, retstep=True)
    c = t if cost == "l2" else t**2
    brute = np.array([np.max((m - t * norm <= 0) - gamma * c) for m in margins])
    np.testing.assert_allclose(closed, brute, atol=gamma * 2 * 6 * step)  # the search's resolution: γ·max c'(t)·step


def test_zero_one_closed_form_is_never_beaten_by_random_moves_in_d_dimensions():
    """No z ∈ R^d does better than the closed form (the sup over all moves, not only along θ)."""
    gen = torch.Generator().manual_seed(1)
    theta = torch.randn(5, generator=gen, dtype=torch.float64)
    x = torch.randn(20, 5, generator=gen, dtype=torch.float64)
    y = torch.sign(torch.randn(20, generator=gen, dtype=torch.float64))
    gamma = 0.6
    closed = linear_robust_zero_one_loss(y * (x @ theta), theta.norm(), gamma, cost="squared_l2")
    z = x[:, None, :] + torch.randn(20, 20_000, 5, generator=gen, dtype=torch.float64) * 1.5
    objective = (y[:, None] * (z @ theta) <= 0).double() - gamma * (z - x[:, None, :]).pow(2).sum(-1)
    assert (objective.max(dim=1).values <= closed + 1e-12).all()
    # and the sup is attained: by z = x, or by the move onto the boundary (a hair past it, against round-off)
    margins = y * (x @ theta)
    t = margins.clamp_min(0) / theta.norm() + 1e-12
    z_star = torch.stack([x, x - (t * y)[:, None] * theta / theta.norm()], dim=1)
    attained = (y[:, None] * (z_star @ theta) <= 0).double() - gamma * (z_star - x[:, None, :]).pow(2).sum(-1)
    torch.testing.assert_close(attained.max(dim=1).values, closed, atol=1e-10, rtol=0)


def test_ramp_is_the_robust_zero_one_loss_under_the_scaled_l2_cost():
    gen = torch.Generator().manual_seed(2)
    theta = torch.randn(7, generator=gen, dtype=torch.float64)
    x = torch.randn(50, 7, generator=gen, dtype=torch.float64) * 2
    y = torch.sign(torch.randn(50, generator=gen, dtype=torch.float64))
    gamma = 0.9
    ramp = linear_robust_ramp_loss(x @ theta, y, gamma, "none")
    exact = linear_robust_zero_one_loss(y * (x @ theta), theta.norm(), gamma * theta.norm().item(), cost="l2")
    torch.testing.assert_close(ramp, exact, atol=1e-12, rtol=0)


def test_robust_ramp_module_on_two_logits_and_one_score():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(9, 2, generator=gen)
    labels = torch.randint(0, 2, (9,), generator=gen)
    score = logits[:, 1] - logits[:, 0]
    expected = torch.clamp(1 - 1.5 * (2 * labels - 1) * score, 0, 1)
    torch.testing.assert_close(RobustRampLoss(1.5, "none")(logits, labels), expected)
    torch.testing.assert_close(RobustRampLoss(1.5, "none")(score[:, None], labels), expected)
    torch.testing.assert_close(RobustRampLoss(1.5)(logits), torch.clamp(1 - 1.5 * score.abs(), 0, 1).mean())
    torch.testing.assert_close(binary_scores(logits), score)


# ----------------------------------------------------------------------------------------------------------- linear fit


def _tiny_problem(seed=0, d=6, m=8, n=12):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(m, d, generator=gen, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0] * (m // 2), dtype=torch.float64)
    x = x + 0.8 * y[:, None]
    xu = torch.randn(n, d, generator=gen, dtype=torch.float64) + torch.sign(torch.randn(n, 1, generator=gen)) * 0.8
    return x, y, xu


@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_fit_matches_the_numpy_reference(lam):
    x, y, xu = _tiny_problem()
    init = xavier_uniform_columns(6, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    kwargs = dict(gamma=1.3, gamma_unlabeled=0.4, lam=lam, weight_decay=0.05)
    fit = fit_linear_rss(x, y, xu, **kwargs, learning_rate=0.2, epochs=25, restarts=3, plateau_patience=2, init=init)
    theta, keep, losses = numpy_fit_linear_rss(
        x.numpy(), y.numpy(), xu.numpy(), init.numpy(), gamma=1.3, gamma_u=0.4, lam=lam, wd=0.05, lr=0.2, epochs=25,
        patience=2, factor=0.1,
    )  # fmt: skip
    assert fit.restart == keep
    np.testing.assert_allclose(fit.objectives.numpy(), losses, atol=1e-10)
    np.testing.assert_allclose(fit.weight.numpy(), theta, atol=1e-10)  # float64 on both sides


def test_each_restart_is_the_official_single_run_with_torch_adam_and_plateau():
    """One column of the batched fit = nn.Linear(bias=False) + torch.optim.Adam + ReduceLROnPlateau, as in the notebook."""
    x, y, xu = _tiny_problem(seed=1)
    init = xavier_uniform_columns(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fit = fit_linear_rss(
        x, y, xu, gamma=2.0, gamma_unlabeled=0.5, lam=1.0, weight_decay=0.1, learning_rate=0.3, epochs=30,
        restarts=2, plateau_patience=1, init=init,
    )  # fmt: skip
    for r in range(2):
        linear = torch.nn.Linear(6, 1, bias=False).double()
        with torch.no_grad():
            linear.weight.copy_(init[:, r][None])
        optimizer = torch.optim.Adam(linear.parameters(), lr=0.3, weight_decay=0.1)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=1)
        for _ in range(30):
            optimizer.zero_grad()
            loss = torch.clamp(1 - 2.0 * y[:, None] * linear(x), 0, 1).mean()
            loss = loss + 1.0 * torch.clamp(1 - 0.5 * linear(xu).abs(), 0, 1).mean()
            loss.backward()
            optimizer.step()
            plateau.step(loss.item())
        assert optimizer.param_groups[0]["lr"] < 0.3  # the plateau rule fired, so it is compared too
        # torch's Adam orders its float operations differently; Adam's 1/sqrt(v) amplifies that round-off
        torch.testing.assert_close(fit.weights[:, r], linear.weight[0].detach(), atol=1e-7, rtol=0)
        assert fit.objectives[r].item() == pytest.approx(loss.item(), abs=1e-7)


def test_objective_and_erm_ignore_unlabelled_data_when_lambda_is_zero():
    x, y, xu = _tiny_problem(seed=2)
    w = torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(
        rss_linear_objective(w, x, y, xu, 1.0, 0.5, 0.0), rss_linear_objective(w, x, y, None, 1.0, 0.5, 3.0)
    )
    a = fit_linear_rss(x, y, xu, lam=0.0, epochs=5, restarts=2, seed=3)
    b = fit_linear_rss(x, y, None, lam=0.0, epochs=5, restarts=2, seed=3)
    assert torch.equal(a.weights, b.weights)


def test_accuracy_and_selection():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert linear_accuracy(torch.tensor([1.0, 0.0]), x, y) == 0.5  # a zero score counts as wrong
    assert select_on_validation([({"a": 1}, 0.5), ({"a": 2}, 0.7), ({"a": 3}, 0.7)]) == ({"a": 2}, 0.7)
    with pytest.raises(ValueError, match="at least one"):
        select_on_validation([])


# ----------------------------------------------------------------------------------------------------------- data


def test_two_gaussian_task():
    task = make_two_gaussian_task(dim=30, num_labeled=10, num_unlabeled=400, num_validation=20, num_test=4000, seed=4)
    assert task.x_train.shape == (10, 30) and task.x_unlabeled.shape == (400, 30)
    assert task.y_train.sum() == 0 and task.y_test.sum() == 0  # balanced labelled and test sets
    torch.testing.assert_close(task.mean.norm(), torch.tensor(1.0))
    torch.testing.assert_close((task.mean_unlabeled - task.mean).norm(), torch.tensor(0.5))  # shift·‖μ₀‖
    # the Bayes classifier sign(μ₀ᵀx) reaches Φ(1) ≈ 0.841 on the test set (4000 points: ±0.02)
    assert abs(linear_accuracy(task.mean, task.x_test, task.y_test) - bayes_accuracy(1.0, 1.0)) < 0.02
    assert bayes_accuracy(1.0, 1.0) == pytest.approx(0.841345, abs=1e-6)
    # the unlabelled points cluster around ±μ₁: their projection on μ₁ is bimodal with mean |·| ≈ ‖μ₁‖² > 0
    proj = task.x_unlabeled.double() @ task.mean_unlabeled.double() / task.mean_unlabeled.double().norm()
    assert abs(proj.abs().mean().item() - 1.26) < 0.15
    other = make_two_gaussian_task(dim=30, num_labeled=10, num_unlabeled=50, num_validation=20, num_test=4000, seed=4)
    assert torch.equal(other.x_train, task.x_train) and torch.equal(other.x_test, task.x_test)
    gen = torch.Generator().manual_seed(0)
    _, y = two_gaussian_mixture(7, torch.zeros(3), generator=gen)
    assert y.sum() == 1  # ⌈7/2⌉ positives


def test_unlabeled_batch_indices_cover_a_pass_and_shard():
    batches = [unlabeled_batch_indices(s, 10, 4, seed=0) for s in range(3)]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))  # one pass: every example once
    assert torch.equal(unlabeled_batch_indices(1, 10, 4, seed=0), batches[1])  # from (seed, step) alone
    next_pass = torch.cat([unlabeled_batch_indices(s, 10, 4, seed=0) for s in range(3, 6)])
    assert sorted(next_pass.tolist()) == list(range(10)) and not torch.equal(next_pass, torch.cat(batches))
    shards = [unlabeled_batch_indices(0, 10, 4, seed=0, process_index=r, num_processes=2) for r in range(2)]
    assert sorted(torch.cat(shards).tolist()) == sorted(batches[0].tolist())


# ----------------------------------------------------------------------------------------------------------- any model


def _linear_two_logit_model(theta):
    """Logits (0, θᵀx): cross-entropy is then log(1 + exp(−y·θᵀx)), the logistic loss of the score."""
    return lambda z: torch.stack([torch.zeros(len(z), dtype=z.dtype), z @ theta], dim=1)


def test_wrm_objective_reaches_the_penalised_maximiser_of_a_logistic_linear_model():
    gen = torch.Generator().manual_seed(6)
    theta = torch.randn(4, generator=gen, dtype=torch.float64)
    theta = theta / theta.norm() * 1.2
    x = torch.randn(10, 4, generator=gen, dtype=torch.float64) * 2
    labels = torch.randint(0, 2, (10,), generator=gen)
    gamma = 1.0
    out = robust_self_training_loss(
        _linear_two_logit_model(theta), x, labels, gamma=gamma, inner_steps=200, inner_step_size=0.2
    )
    norm = theta.norm().item()
    margins = ((2 * labels - 1).double() * (x @ theta)).tolist()
    # z = x − t·yθ/‖θ‖: maximise softplus(t‖θ‖ − m) − γt² over t ∈ [0, ‖θ‖/(2γ)] (the maximiser lies there)
    grid = np.linspace(0, norm / (2 * gamma), 200_001)
    exact = [np.max(np.log1p(np.exp(grid * norm - m)) - gamma * grid**2) for m in margins]
    # without unlabelled data the objective is the labelled term: the mean of ℓ(z*) (the penalty is not minimised)
    assert out.loss.item() == pytest.approx(out.labeled_loss.item())
    phi = out.labeled_loss.item()
    assert phi > np.mean([np.log1p(np.exp(-m)) for m in margins])  # the robust loss exceeds the clean loss
    from hf_methods.common.adversarial import penalized_inner_max

    ce = lambda logits, y: torch.nn.functional.cross_entropy(logits, y, reduction="none")  # noqa: E731
    z = penalized_inner_max(_linear_two_logit_model(theta), x, labels, gamma, steps=200, step_size=0.2, loss_fn=ce)
    ascent = ce(_linear_two_logit_model(theta)(z), labels) - gamma * (z - x).pow(2).sum(1)
    np.testing.assert_allclose(ascent.numpy(), exact, atol=1e-6)  # grid step ~3e-6: its error is O(step²)
    np.testing.assert_allclose(phi, ce(_linear_two_logit_model(theta)(z), labels).mean().item(), atol=1e-12)


def test_pseudo_labels_follow_the_current_weights():
    x = torch.randn(16, 3, dtype=torch.float64)
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    labels = torch.zeros(4, dtype=torch.long)
    out = robust_self_training_loss(
        _linear_two_logit_model(theta), x[:4], labels, x, lam=1.0, inner_steps=1, inner_step_size=0.01
    )
    torch.testing.assert_close(out.pseudo_labels, (x @ theta > 0).long())
    flipped = robust_self_training_loss(
        _linear_two_logit_model(-theta), x[:4], labels, x, lam=1.0, inner_steps=1, inner_step_size=0.01
    )
    torch.testing.assert_close(flipped.pseudo_labels, 1 - out.pseudo_labels)
    assert torch.equal(pseudo_labels(torch.tensor([[0.3], [-0.2]])), torch.tensor([1, 0]))


def test_ramp_objective_equals_the_closed_forms_and_is_differentiable():
    gen = torch.Generator().manual_seed(7)
    theta = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)
    x, xu = (
        torch.randn(6, 5, generator=gen, dtype=torch.float64),
        torch.randn(9, 5, generator=gen, dtype=torch.float64),
    )
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    out = robust_self_training_loss(
        lambda z: (z @ theta)[:, None], x, labels, xu, gamma=0.8, gamma_unlabeled=0.3, lam=2.0, robust_loss="ramp"
    )
    expected = linear_robust_ramp_loss(x @ theta, (2 * labels - 1).double(), 0.8) + 2.0 * linear_robust_ramp_loss(
        xu @ theta, None, 0.3
    )
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert theta.grad is not None and theta.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------------------- bad input


def test_error_scores_not_1d_or_not_float():
    with pytest.raises(ValueError, match="scores must be 1-D"):
        linear_robust_ramp_loss(torch.zeros(3, 2), None)
    with pytest.raises(TypeError, match="scores must be a floating-point"):
        linear_robust_ramp_loss(torch.zeros(3, dtype=torch.long), None)
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        linear_robust_ramp_loss([0.1, 0.2], None)


def test_error_labels_not_plus_minus_one_or_wrong_shape():
    with pytest.raises(ValueError, match="labels must be −1 or \\+1"):
        linear_robust_ramp_loss(torch.zeros(3), torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="labels must have shape"):
        linear_robust_ramp_loss(torch.zeros(3), torch.ones(2))


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_error_gamma(value):
    with pytest.raises(ValueError, match="gamma must be"):
        linear_robust_ramp_loss(torch.zeros(3), None, gamma=value)
    with pytest.raises(ValueError, match="gamma must be"):
        RobustRampLoss(gamma=value)
    with pytest.raises(TypeError, match="gamma must be a number"):
        RobustRampLoss(gamma="1")


def test_error_reduction_cost_and_weight_norm():
    with pytest.raises(ValueError, match="reduction must be"):
        RobustRampLoss(reduction="avg")
    with pytest.raises(ValueError, match="cost must be"):
        linear_robust_zero_one_loss(torch.zeros(2), 1.0, 1.0, cost="l1")
    with pytest.raises(ValueError, match="weight_norm must be > 0"):
        linear_robust_zero_one_loss(torch.zeros(2), 0.0, 1.0)


def test_error_module_logits_and_class_labels():
    with pytest.raises(ValueError, match="logits must have shape"):
        RobustRampLoss()(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in \\[0, 2\\)"):
        RobustRampLoss()(torch.zeros(4, 2), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        RobustRampLoss()(torch.zeros(4, 2), torch.zeros(4))


def test_error_objective_options():
    model = _linear_two_logit_model(torch.ones(3))
    x, y = torch.randn(4, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="robust_loss must be one of"):
        robust_self_training_loss(model, x, y, robust_loss="pgd")
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        robust_self_training_loss(model, x, y, gamma=0.0)
    with pytest.raises(ValueError, match="lam must be"):
        robust_self_training_loss(model, x, y, lam=-1.0)
    with pytest.raises(ValueError, match="inner_steps must be"):
        robust_self_training_loss(model, x, y, inner_steps=0)
    with pytest.raises(ValueError, match="inner_step_size must be"):
        robust_self_training_loss(model, x, y, inner_step_size=0.0)
    with pytest.raises(ValueError, match="unlabeled_inputs must have the feature shape"):
        robust_self_training_loss(model, x, y, torch.randn(5, 2))


def test_error_fit_inputs():
    x, y, xu = _tiny_problem()
    with pytest.raises(ValueError, match="x must be"):
        fit_linear_rss(x[0], y)
    with pytest.raises(ValueError, match="y must be"):
        fit_linear_rss(x, y[:3])
    with pytest.raises(ValueError, match="x_unlabeled must be"):
        fit_linear_rss(x, y, xu[:, :2])
    with pytest.raises(ValueError, match="weight_decay must be"):
        fit_linear_rss(x, y, weight_decay=-0.1)
    with pytest.raises(ValueError, match="epochs must be"):
        fit_linear_rss(x, y, epochs=0)
    with pytest.raises(ValueError, match="init must have shape"):
        fit_linear_rss(x, y, restarts=2, init=torch.zeros(6, 3))


def test_error_task_arguments():
    with pytest.raises(ValueError, match="num_labeled must be >= 2"):
        make_two_gaussian_task(num_labeled=1)
    with pytest.raises(TypeError, match="dim must be an int"):
        make_two_gaussian_task(dim=2.5)
    with pytest.raises(ValueError, match="shift must be"):
        make_two_gaussian_task(shift=-0.5)
    with pytest.raises(ValueError, match="sigma must be"):
        make_two_gaussian_task(sigma=0.0)


def test_error_recipe_arguments():
    with pytest.raises(ValueError, match="--robust_loss"):
        RSSArguments(output_dir="x", robust_loss="pgd").validate()
    with pytest.raises(ValueError, match="--gamma must be > 0 with --robust_loss wrm"):
        RSSArguments(output_dir="x", robust_loss="wrm", gamma=0.0).validate()
    with pytest.raises(ValueError, match="--lam must be >= 0"):
        RSSArguments(output_dir="x", lam=-1.0).validate()
    with pytest.raises(ValueError, match="--lr_scheduler_type"):
        RSSArguments(output_dir="x", lr_scheduler_type="step").validate()
    with pytest.raises(ValueError, match="--num_labeled"):
        RSSArguments(output_dir="x", num_labeled=1).validate()


# ----------------------------------------------------------------------------------------------------------- Trainer


def _datasets(n_labeled=12, n_unlabeled=40, dim=6):
    from datasets import Dataset

    task = make_two_gaussian_task(dim, n_labeled, n_unlabeled, 0, 0, seed=0)
    labeled = Dataset.from_dict(
        {"pixel_values": task.x_train.tolist(), "labels": ((task.y_train + 1) / 2).long().tolist()}
    )
    # a label column in the unlabelled set is ignored
    unlabeled = Dataset.from_dict({"pixel_values": task.x_unlabeled.tolist(), "labels": [0] * n_unlabeled})
    return labeled, unlabeled


def _trainer(tmp_path, labeled, unlabeled, *, num_labels=2, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
    from hf_methods.training.rss import RobustSelfSupervisedTrainer

    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(input_size=6, hidden_sizes=[8], num_labels=num_labels))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=kwargs.pop("max_steps", 3), per_device_train_batch_size=6,
        learning_rate=0.05, report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    return RobustSelfSupervisedTrainer(
        model=model, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled, **kwargs
    )


def test_trainer_wrm_steps_change_weights_and_log_both_terms(tmp_path):
    labeled, unlabeled = _datasets()
    trainer = _trainer(tmp_path, labeled, unlabeled, gamma=2.0, gamma_unlabeled=1.0, lam=1.0, inner_steps=3,
                       unlabeled_batch_size=10)  # fmt: skip
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all("labeled_loss" in e and "unlabeled_loss" in e for e in logged)
    # loss = labelled + λ·unlabelled, averaged over the logging interval (one step here)
    assert logged[0]["loss"] == pytest.approx(logged[0]["labeled_loss"] + logged[0]["unlabeled_loss"], rel=1e-4)
    assert math.isfinite(trainer.evaluate(labeled)["eval_loss"])  # evaluation: the labelled robust term


@pytest.mark.slow
def test_trainer_ramp_with_one_score_and_the_unlabelled_batches_it_used(tmp_path):
    labeled, unlabeled = _datasets()
    trainer = _trainer(tmp_path, labeled, unlabeled, num_labels=1, robust_loss="ramp", gamma=1.0, lam=0.5,
                       unlabeled_batch_size=7)  # fmt: skip
    seen = []
    original = trainer.unlabeled_batch

    def spy(step, device, dtype):
        seen.append(step)
        return original(step, device, dtype)

    trainer.unlabeled_batch = spy
    trainer.train()
    assert seen == [0, 1, 2]
    expected = torch.tensor(
        unlabeled[unlabeled_batch_indices(1, 40, 7, seed=trainer.args.seed).tolist()]["pixel_values"]
    )
    torch.testing.assert_close(original(1, torch.device("cpu"), torch.float32), expected)


def test_trainer_rejects_bad_arguments(tmp_path):
    labeled, unlabeled = _datasets()
    with pytest.raises(ValueError, match="robust_loss must be one of"):
        _trainer(tmp_path, labeled, unlabeled, robust_loss="pgd")
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        _trainer(tmp_path, labeled, unlabeled, gamma=0.0)
    with pytest.raises(ValueError, match="lam must be"):
        _trainer(tmp_path, labeled, unlabeled, lam=-0.5)
    with pytest.raises(TypeError, match="unlabeled_dataset must be"):
        _trainer(tmp_path, labeled, None)
    with pytest.raises(ValueError, match="unlabeled_dataset is empty"):
        _trainer(tmp_path, labeled, unlabeled.select([]))
    with pytest.raises(ValueError, match="unlabeled_batch_size must be"):
        _trainer(tmp_path, labeled, unlabeled, unlabeled_batch_size=0)
    with pytest.raises(ValueError, match="inner_steps must be"):
        _trainer(tmp_path, labeled, unlabeled, inner_steps=0)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        _trainer(tmp_path, labeled, unlabeled, loss_fn="ce")


@pytest.mark.slow
def test_trainer_unlabeled_items_need_the_input_field(tmp_path):
    from datasets import Dataset

    labeled, _ = _datasets()
    trainer = _trainer(tmp_path, labeled, Dataset.from_dict({"features": [[0.0] * 6] * 4}))
    with pytest.raises(ValueError, match="must have the model input field 'pixel_values'"):
        trainer.train()


# ----------------------------------------------------------------------------------------------------------- recipe


def _recipe_main():
    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("rss_recipe", repo_root() / "recipes" / "rss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_recipe_runs_a_few_steps_into_a_folder(tmp_path):
    main = _recipe_main()
    out = tmp_path / "run"
    common = ["--dim", "20", "--num_unlabeled", "200", "--num_validation", "50", "--num_test", "200", "--log_every",
              "0", "--cpu_threads", "1", "--checkpoint_every", "2"]  # fmt: skip
    metrics = main(["--output_dir", out, "--max_steps", "4", *common])
    assert 0.0 <= metrics["eval/test_accuracy"] <= 1.0
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    # resuming from the step-2 checkpoint ends with the same weights as the uninterrupted run
    from safetensors.torch import load_file

    weights = load_file(out / "model.safetensors")["classifier.weight"]
    first = sorted((out / "checkpoints").iterdir())[0]
    resumed = main(["--output_dir", out, "--max_steps", "4", "--resume_from_checkpoint", first, *common])
    assert resumed["eval/test_accuracy"] == metrics["eval/test_accuracy"]
    assert torch.equal(load_file(out / "model.safetensors")["classifier.weight"], weights)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("rss").usage, namespace)
    assert namespace["trainer"].state.global_step == 4
    assert torch.isfinite(namespace["loss"]) and namespace["fit"].weight.shape == (20,)
