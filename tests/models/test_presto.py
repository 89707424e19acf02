"""PRESTO (P40): the cumulative-logit math against numpy, the FISTA solution against its optimality conditions and a
direct proportional-odds fit (λ → ∞), the Trainer proximal step, the CV path, save/load, and bad inputs."""

import numpy as np
import pytest
import torch

from hf_methods.models.presto import PrestoConfig, PrestoFISTA, PrestoForOrdinalClassification
from hf_methods.models.presto.modeling_presto import (
    cumulative_logits,
    fista_presto,
    ordinal_log_likelihood,
    presto_penalty,
    soft_threshold,
)
from hf_methods.models.presto.training import (
    ProximalL1Callback,
    apply_proximal_step,
    brier_score,
    fit_proportional_odds,
    lambda_max,
    presto_cv,
    sparse_difference_simulation,
)


def _data(n=400, seed=0, deviation_prob=0.5):
    train, _, _ = sparse_difference_simulation(
        n, n_features=4, intercepts=(0.0, 1.5, 3.0), deviation_prob=deviation_prob, seed=seed
    )
    return torch.as_tensor(train.inputs), torch.as_tensor(train.labels)


def _model(p=4, k=4, **kw):
    return PrestoForOrdinalClassification(PrestoConfig(n_features=p, num_classes=k, **kw)).double()


def test_probabilities_and_likelihood_match_numpy_loop():
    g = torch.Generator().manual_seed(0)
    model = _model()
    with torch.no_grad():
        model.intercepts.copy_(torch.tensor([-1.0, 0.5, 2.0]))
        model.psi.copy_(torch.randn(3, 4, generator=g, dtype=torch.float64) * 0.3)
    x = torch.randn(7, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (7,), generator=g)
    out = model(x, labels=y)
    a, psi, xs = model.intercepts.detach().numpy(), model.psi.detach().numpy(), x.numpy()
    betas = [psi[: k + 1].sum(0) for k in range(3)]  # β_k = ψ_1 + … + ψ_k
    nll = 0.0
    for i in range(7):
        cdf = [0.0] + [1 / (1 + np.exp(-(a[k] + xs[i] @ betas[k]))) for k in range(3)] + [1.0]
        probs = [cdf[k + 1] - cdf[k] for k in range(4)]
        np.testing.assert_allclose(out.probs[i].detach().numpy(), probs, rtol=1e-12, atol=1e-14)
        nll -= np.log(probs[int(y[i])]) / 7
    assert out.loss.item() == pytest.approx(nll, rel=1e-10)
    assert not out.crossed.any()


def test_crossed_boundaries_are_flagged_not_clipped():
    model = _model(p=1, k=3)
    with torch.no_grad():
        model.intercepts.copy_(torch.tensor([0.0, 0.1]))
        model.psi.copy_(torch.tensor([[1.0], [-2.0]]))  # β_1 = 1, β_2 = −1: the boundaries cross for x > 0.05
    x = torch.tensor([[-1.0], [2.0]], dtype=torch.float64)
    out = model(x)
    assert out.crossed.tolist() == [False, True]
    assert out.probs[1, 1] < 0  # a negative probability, reported as is
    assert torch.isinf(ordinal_log_likelihood(out.logits, torch.tensor([1, 1]))[1])
    with pytest.raises(ValueError, match="crossed boundaries"):
        model.predict_proba(x)


def test_soft_threshold_and_penalty():
    v = torch.tensor([-3.0, -0.5, 0.0, 0.2, 2.0])
    assert soft_threshold(v, 1.0).tolist() == [-2.0, 0.0, 0.0, 0.0, 1.0]
    psi = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert presto_penalty(psi, 2.0).item() == pytest.approx(7.0)
    assert presto_penalty(psi, 2.0, penalize_first_slope=False).item() == pytest.approx(1.0)


@pytest.mark.parametrize("penalize_first_slope", [True, False])
def test_fista_solution_satisfies_the_lasso_optimality_conditions(penalize_first_slope):
    x, y = _data()
    lam = 0.02
    model = _model(penalize_first_slope=penalize_first_slope).fit(x, y, lam, max_iter=2000, tol=1e-12)
    a = model.intercepts.detach().clone().requires_grad_(True)
    psi = model.psi.detach().clone().requires_grad_(True)
    nll = -ordinal_log_likelihood(cumulative_logits(x, a, psi), y).mean()
    ga, gpsi = torch.autograd.grad(nll, (a, psi))
    assert ga.abs().max() < 1e-5  # intercepts are unpenalised
    lams = torch.full_like(psi, lam)
    if not penalize_first_slope:
        lams[0] = 0.0
    nonzero = psi.detach() != 0
    # KKT: ∇ = −λ sign(ψ) where ψ ≠ 0, |∇| ≤ λ where ψ = 0
    assert (gpsi + lams * torch.sign(psi.detach()))[nonzero].abs().max() < 1e-4
    assert (gpsi.abs() - lams)[~nonzero].max() < 1e-4 if (~nonzero).any() else True
    assert (~nonzero[1:]).any()  # the penalty does zero some differences
    if not penalize_first_slope:
        assert nonzero[0].all()


def test_huge_lambda_on_differences_is_proportional_odds():
    x, y = _data(seed=1)
    model = _model(penalize_first_slope=False).fit(x, y, 1e6, max_iter=300, tol=1e-12)
    alphas, beta = fit_proportional_odds(x.numpy(), y.numpy(), 4)  # independent scipy/numpy fit
    assert torch.all(model.psi[1:] == 0)
    np.testing.assert_allclose(model.intercepts.detach().numpy(), alphas, atol=1e-3)
    np.testing.assert_allclose(model.slopes.detach().numpy(), np.tile(beta, (3, 1)), atol=1e-3)


def test_lambda_max_zeroes_every_slope_and_fit_returns_the_model():
    x, y = _data(seed=2)
    lam = lambda_max(x.numpy(), y.numpy(), 4)
    model = _model()
    assert PrestoFISTA(model, lam=lam * 1.01).fit(x, y) is model
    assert torch.all(model.psi == 0)
    model.fit(x, y, lam * 0.5)
    assert (model.psi != 0).any()


def test_proximal_callback_soft_thresholds_psi():
    model = _model(l1_lambda=0.5)
    with torch.no_grad():
        model.psi.copy_(torch.tensor([[1.0, -0.05, 0.0, 0.2]] * 3, dtype=torch.float64))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    ProximalL1Callback().on_optimizer_step(None, None, None, model=model, optimizer=optimizer)
    assert model.psi[0].tolist() == pytest.approx([0.9, 0.0, 0.0, 0.1])
    model2 = _model(l1_lambda=0.5, penalize_first_slope=False)
    with torch.no_grad():
        model2.psi.fill_(0.05)
    apply_proximal_step(model2, 0.2)
    assert torch.all(model2.psi[0] == 0.05) and torch.all(model2.psi[1:] == 0)


def test_cv_picks_a_lambda_on_the_grid_by_brier():
    x, y = _data(n=150, seed=3)
    model, info = presto_cv(x.numpy(), y.numpy(), 4, n_lambdas=3, n_folds=2, max_iter=100, tol=1e-6)
    assert info["lambda"] in info["lambdas"].tolist()
    assert info["cv_brier"].argmin() == info["lambdas"].tolist().index(info["lambda"])
    assert isinstance(model, PrestoForOrdinalClassification)
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert brier_score(probs, np.array([0, 1])) == pytest.approx((0 + 0.5) / 2)


def test_save_load_round_trip_after_fit(tmp_path):
    from transformers import AutoModel

    x, y = _data(n=200, seed=4)
    model = _model().fit(x, y, 0.01, max_iter=300)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).double()
    assert isinstance(loaded, PrestoForOrdinalClassification)
    torch.testing.assert_close(loaded(x).probs, model(x).probs, rtol=1e-6, atol=1e-7)


def test_fista_rejects_an_infeasible_start():
    x, y = _data(n=50)
    with pytest.raises(ValueError, match="starting point"):
        fista_presto(
            x, y, torch.tensor([3.0, 0.0, -3.0], dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64), 0.1
        )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x, y: m(x.numpy()), "inputs"),
        (lambda m, x, y: m(x[:, :3]), "inputs"),
        (lambda m, x, y: m(x, labels=y.double()), "labels"),
        (lambda m, x, y: m(x, labels=y[:5]), "labels"),
        (lambda m, x, y: m(x, labels=y + 4), "labels"),
        (lambda m, x, y: m.fit(x, y, lam=-1.0), "lam"),
        (lambda m, x, y: m.fit(x, y, max_iter=0), "max_iter"),
        (lambda m, x, y: PrestoFISTA("model"), "model"),
        (lambda m, x, y: ProximalL1Callback(lam=-1.0), "lam"),
        (lambda m, x, y: sparse_difference_simulation(0), "n"),
        (lambda m, x, y: sparse_difference_simulation(10, intercepts=(1.0, 0.0)), "intercepts"),
        (lambda m, x, y: sparse_difference_simulation(10, deviation_prob=2.0), "deviation_prob"),
        (lambda m, x, y: sparse_difference_simulation(10, features="cauchy"), "features"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    x, y = _data(n=20)
    with pytest.raises((ValueError, TypeError), match=match):
        call(_model(), x, y)


@pytest.mark.slow
def test_usage_snippet_runs():
    from hf_methods.models.presto.method import METHOD

    exec(METHOD.usage, {})


def test_recipe_runs_into_a_tmp_dir(tmp_path):
    import json

    from recipes.presto import main

    metrics = main(["--output_dir", str(tmp_path), "--n_train", "200", "--n_test", "200", "--n_lambdas", "2",
                    "--n_folds", "2", "--n_features", "3", "--cpu_threads", "1"])  # fmt: skip
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["eval/rare_class_mse"] == pytest.approx(
        metrics["eval/rare_class_mse"]
    )


def test_recipe_arguments_are_validated():
    from hf_methods.models.presto.training import PrestoArguments

    with pytest.raises(ValueError, match="--n_folds"):
        PrestoArguments(output_dir="unused", n_folds=1).validate()
    with pytest.raises(ValueError, match="--lambda_min_ratio"):
        PrestoArguments(output_dir="unused", lambda_min_ratio=2.0).validate()


def test_simulation_follows_its_definition():
    train, test, slopes = sparse_difference_simulation(3000, n_features=6, deviation_prob=0.5, seed=5, n_test=10)
    assert set(np.unique(slopes[0])) <= {0.0, 0.5}  # sparse first slope
    assert set(np.unique(np.round(np.diff(slopes, axis=0), 12))) <= {-0.5, 0.0, 0.5}  # sparse ±0.5 differences
    assert np.abs(train.inputs).max() <= 1 and train.probs.min() >= 0 and test.inputs.shape == (10, 6)
    eta = np.array([0.0, 3.0, 5.0]) + train.inputs @ slopes.T  # the probabilities written out
    np.testing.assert_allclose(train.probs[:, 0], 1 / (1 + np.exp(-eta[:, 0])))
    np.testing.assert_allclose(train.probs[:, -1], 1 - 1 / (1 + np.exp(-eta[:, -1])))
    empirical = np.bincount(train.labels, minlength=4) / 3000  # labels drawn from those probabilities
    np.testing.assert_allclose(empirical, train.probs.mean(0), atol=0.03)
