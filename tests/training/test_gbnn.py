"""P11 `gbnn`: gradient-boosted neural networks (Emami & Martínez-Muñoz).

Checked against independent references: the inner learner's hand-written gradient against torch autograd; the losses
against their formulas evaluated example by example; the pseudo-residuals and Newton steps against autograd's first
and second derivatives; the assembled network against the staged boosting sum F_0 + Σ_t ρ_t f_t (also after
truncation); a resumed fit against an uninterrupted one; the save → `AutoModel.from_pretrained` round trip.
"""

import math

import numpy as np
import pytest
import torch

from hf_methods.training.gbnn import (
    GBNNLogExponentialLoss,
    GBNNMultinomialLoss,
    GBNNSquaredLoss,
    GradientBoostedMLPConfig,
    GradientBoostedMLPModel,
    GradientBoostedMLPTrainer,
)
from hf_methods.training.gbnn.trainer import fit_mlp_lbfgs, mlp_forward, mlp_objective


def _data(kind: str, n: int = 60, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    if kind == "squared":
        return x, x @ w + 0.1 * rng.standard_normal(n) + 3.0
    if kind == "log_exponential":
        return x, (x @ w + 0.3 * rng.standard_normal(n) > 0.3).astype(np.int64)
    scores = x @ rng.standard_normal((d, 3))
    return x, scores.argmax(1).astype(np.int64)


def _small_trainer(**kwargs):
    defaults = dict(total_units=6, units_per_step=2, eta=0.5, subsample=0.7, inner_max_iter=15, seed=3)
    return GradientBoostedMLPTrainer(**{**defaults, **kwargs})


# ------------------------------------------------------------------------------------------------ the inner learner


@pytest.mark.parametrize("output_loss", ["squared", "log_exponential", "multinomial"])
@pytest.mark.parametrize("activation", ["logistic", "tanh"])
def test_mlp_objective_gradient_matches_autograd(output_loss, activation):
    rng = np.random.default_rng(0)
    n, d, h = 7, 4, 3
    m = 1 if output_loss == "log_exponential" else 3
    x = rng.standard_normal((n, d))
    if output_loss == "squared":
        targets = rng.standard_normal((n, m))
    elif output_loss == "log_exponential":
        targets = rng.choice([-1.0, 1.0], size=(n, 1))
    else:
        targets = np.eye(m)[rng.integers(0, m, n)]
    theta = rng.standard_normal(d * h + h + h * m + m)
    value, grad = mlp_objective(theta, x, targets, h, activation, 0.3, output_loss)

    # reference: the objective written with torch ops, differentiated by autograd
    t = torch.tensor(theta, requires_grad=True)
    w1, b1, w2, b2 = torch.split(t, [d * h, h, h * m, m])
    act = torch.sigmoid if activation == "logistic" else torch.tanh
    out = act(torch.tensor(x) @ w1.reshape(d, h) + b1) @ w2.reshape(h, m) + b2
    y = torch.tensor(targets)
    if output_loss == "squared":
        data = 0.5 * ((out - y) ** 2).sum() / n
    elif output_loss == "log_exponential":
        data = torch.log1p(torch.exp(-2 * y * out)).sum() / n
    else:
        data = -(y * torch.log_softmax(out, -1)).sum() / n
    reference = data + 0.3 / (2 * n) * ((w1**2).sum() + (w2**2).sum())
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_lbfgs_learner_fits_a_one_unit_target():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((80, 2))
    target = (2.0 / (1 + np.exp(-(1.5 * x[:, :1] - x[:, 1:] + 0.3))) - 0.5).reshape(-1, 1)
    params = fit_mlp_lbfgs(x, target, 1, l2=0.0, max_iter=200, rng=0)
    assert np.abs(mlp_forward(params, x) - target).max() < 1e-3  # a one-unit network can represent it exactly


# ------------------------------------------------------------------------------------------------------------ losses


def test_losses_match_their_formulas_example_by_example():
    logits = torch.tensor([0.3, -1.2, 2.0, 0.0], dtype=torch.float64)
    labels = torch.tensor([1, 0, 0, 1])
    per = GBNNLogExponentialLoss(reduction="none")(logits, labels)
    for i in range(4):
        y = 1.0 if labels[i] == 1 else -1.0
        assert per[i].item() == pytest.approx(math.log(1 + math.exp(-2 * y * logits[i].item())), rel=1e-12)
    scores = torch.tensor([[0.1, 2.0, -1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    per = GBNNMultinomialLoss(3, reduction="none")(scores, torch.tensor([2, 0]))
    for i, k in enumerate((2, 0)):
        row = scores[i].tolist()
        assert per[i].item() == pytest.approx(-row[k] + math.log(sum(math.exp(v) for v in row)), rel=1e-12)
    per = GBNNSquaredLoss(reduction="none")(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, 4.0]]))
    assert per.item() == pytest.approx(0.25 + 4.0)


@pytest.mark.parametrize("loss", [GBNNLogExponentialLoss(), GBNNMultinomialLoss(4)], ids=["binary", "multinomial"])
def test_residuals_and_newton_step_from_autograd_derivatives(loss):
    g = torch.Generator().manual_seed(0)
    n, m = 9, (1 if isinstance(loss, GBNNLogExponentialLoss) else 4)
    labels = torch.randint(0, 2 if m == 1 else m, (n,), generator=g)
    y = loss.encode_labels(labels)
    scores = torch.randn(n, m, generator=g, dtype=torch.float64)
    f = torch.randn(n, m, generator=g, dtype=torch.float64)
    r = loss.pseudo_residuals(y, scores)

    # reference: r = −∂L/∂F and the Newton step −Σ g f / Σ H_diag f² (diagonal Hessian) by autograd
    def total(s):
        return GBNNLogExponentialLoss(reduction="sum")(s, labels) if m == 1 else loss.__class__(m, "sum")(s, labels)

    s = scores.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(total(s), s, create_graph=True)
    hess_diag = torch.stack(
        [torch.autograd.grad(grad[:, k].sum(), s, retain_graph=True)[0][:, k] for k in range(m)], dim=1
    )
    torch.testing.assert_close(r, -grad.detach(), rtol=1e-10, atol=1e-12)
    expected = (-(grad * f).sum() / (hess_diag * f * f).sum()).item()
    assert loss.newton_step(y, r, f) == pytest.approx(expected, rel=1e-10)


def test_initial_scores_minimise_the_mean_loss():
    labels = torch.tensor([1, 1, 1, 0])
    loss = GBNNLogExponentialLoss()
    f0 = loss.initial_score(loss.encode_labels(labels)).item()
    assert f0 == pytest.approx(0.5 * math.log((1 + 0.5) / (1 - 0.5)))
    grid = [f0 + d for d in (-1e-3, 0.0, 1e-3)]
    values = [loss(torch.full((4,), v, dtype=torch.float64), labels).item() for v in grid]
    assert values[1] <= min(values[0], values[2])
    squared = GBNNSquaredLoss()
    assert squared.initial_score(squared.encode_labels(torch.tensor([1.0, 2.0, 6.0]))).item() == pytest.approx(3.0)
    assert squared.newton_step(None, None, None) == 1.0
    multi = GBNNMultinomialLoss(3)
    assert torch.equal(
        multi.initial_score(multi.encode_labels(torch.tensor([0, 2]))), torch.zeros(3, dtype=torch.float64)
    )


# ----------------------------------------------------------------------------------------------- boosting, assembly


@pytest.mark.parametrize("kind", ["squared", "log_exponential", "multinomial"])
def test_assembled_network_equals_staged_boosting_and_truncation_is_exact(kind):
    x, y = _data(kind)
    trainer = _small_trainer()
    model = trainer.fit(x, y)
    assert trainer.resolved_objective == kind and model.config.objective == kind
    assert model.config.hidden_size == 6 and len(trainer.steps) == 3
    x_new = np.random.default_rng(5).standard_normal((11, x.shape[1]))
    net = trainer.to_model(torch.float64)
    staged = trainer.decision_function(x_new)
    # float64 network vs float64 staged sum of learners: same numbers, summed in another order
    np.testing.assert_allclose(net(torch.tensor(x_new)).decision_function.detach().numpy(), staged, atol=1e-10)
    # float32 network (the default dtype): float32 rounding only
    f32 = model(torch.tensor(x_new, dtype=torch.float32)).decision_function.detach().double().numpy()
    np.testing.assert_allclose(f32, staged, atol=1e-4)
    for t in (1, 2):
        cut = trainer.to_model(torch.float64).truncate_hidden(2 * t)
        np.testing.assert_allclose(
            cut(torch.tensor(x_new)).decision_function.detach().numpy(),
            trainer.decision_function(x_new, t),
            atol=1e-10,
        )
        assert cut.config.hidden_size == 2 * t
    # the initial model is F_0 alone
    np.testing.assert_allclose(
        trainer.decision_function(x_new, 0), np.broadcast_to(trainer.initial_score, staged.shape)
    )


def test_binary_network_outputs_2F_and_its_logits_are_two_class_logits():
    x, y = _data("log_exponential")
    trainer = _small_trainer()
    trainer.fit(x, y)
    model = trainer.to_model(torch.float64)
    out = model(torch.tensor(x), labels=torch.tensor(y))
    decision = torch.tensor(trainer.decision_function(x))
    torch.testing.assert_close(out.decision_function, decision)
    torch.testing.assert_close(out.logits, torch.cat([torch.zeros_like(decision), 2 * decision], -1))
    torch.testing.assert_close(out.logits.softmax(-1)[:, 1:], torch.sigmoid(2 * decision))  # p(y=1) = σ(2F)
    torch.testing.assert_close(out.loss, GBNNLogExponentialLoss()(decision, torch.tensor(y)))
    assert out.loss.item() == pytest.approx(trainer.train_losses[-1], rel=1e-9)


def test_newton_steps_and_residual_fits_follow_the_algorithm():
    """Step t, redone by hand: residuals at F_{t−1}, the same seeded learner, ρ = η·ρ̂ on the whole training set."""
    x, y = _data("multinomial")
    trainer = _small_trainer(total_units=4, units_per_step=1, subsample=0.5)
    trainer.fit(x, y)
    loss = GBNNMultinomialLoss(3)
    target = loss.encode_labels(torch.tensor(y))
    scores = trainer.decision_function(x, 2)
    r = loss.pseudo_residuals(target, torch.tensor(scores)).numpy()
    rng = np.random.default_rng([3, 2])
    rows = np.sort(rng.choice(len(x), len(x) // 2, replace=False))
    learner = fit_mlp_lbfgs(x[rows], r[rows], 1, l2=1e-4, max_iter=15, rng=rng)
    f = mlp_forward(learner, x)
    rho = 0.5 * loss.newton_step(target, torch.tensor(r), torch.tensor(f))
    assert trainer.steps[2] == pytest.approx(rho, rel=1e-9)
    np.testing.assert_allclose(trainer.learners[2]["w1"], learner["w1"])


def test_training_loss_decreases_and_fit_is_seeded():
    x, y = _data("log_exponential")
    a = _small_trainer(total_units=8, units_per_step=1, eta=0.3)
    a.fit(x, y)
    assert a.train_losses[-1] < a.train_losses[0] < math.log(2)
    b = _small_trainer(total_units=8, units_per_step=1, eta=0.3)
    b.fit(x, y)
    assert a.steps == b.steps
    c = _small_trainer(total_units=8, units_per_step=1, eta=0.3, seed=4)
    c.fit(x, y)
    assert c.steps != a.steps


def test_resumed_fit_matches_an_uninterrupted_one():
    x, y = _data("squared")
    full = _small_trainer()
    full.fit(x, y)
    first = _small_trainer()
    first.start(x, y)
    first.step()
    state = first.state_dict()
    resumed = _small_trainer()
    resumed.start(x, y)
    resumed.load_state_dict(state)
    while resumed.step_count < resumed.num_steps:
        resumed.step()
    assert resumed.steps == full.steps
    np.testing.assert_array_equal(resumed.decision_function(x), full.decision_function(x))


# ----------------------------------------------------------------------------------------------- the transformers model


def test_save_and_auto_model_round_trip_after_truncation(tmp_path):
    from transformers import AutoConfig, AutoModel

    import hf_methods  # noqa: F401  (registers the Auto classes)

    x, y = _data("multinomial")
    model = _small_trainer().fit(x, y).truncate_hidden(4)
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "hfm-gbnn"
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "GradientBoostedMLPModel" and loaded.config.hidden_size == 4
    inputs = torch.tensor(x, dtype=torch.float32)
    torch.testing.assert_close(loaded(inputs).logits, model(inputs).logits)
    torch.testing.assert_close(loaded.unit_output_bias, model.unit_output_bias)
    # the per-unit bias shares survive: cutting the loaded model again matches cutting the original
    torch.testing.assert_close(loaded.truncate_hidden(2)(inputs).logits, model.truncate_hidden(2)(inputs).logits)


def test_keep_hidden_units_switches_units_off():
    torch.manual_seed(0)
    config = GradientBoostedMLPConfig(input_size=3, hidden_size=5, objective="multinomial", num_labels=3)
    model = GradientBoostedMLPModel(config).eval()
    x = torch.randn(4, 3)
    with torch.no_grad():
        hidden = torch.sigmoid(model.hidden(x))
        expected = hidden[:, [0, 3]] @ model.output.weight[:, [0, 3]].T + model.output.bias
    torch.testing.assert_close(model.keep_hidden_units([0, 3])(x).logits, expected)


def test_regression_model_loss_and_output_shapes():
    x, y = _data("squared")
    model = _small_trainer().fit(x, y)
    out = model(torch.tensor(x, dtype=torch.float32), labels=torch.tensor(y, dtype=torch.float32))
    assert out.logits.shape == (60, 1) and out.hidden_states.shape == (60, 6)
    assert out.loss.item() == pytest.approx(float(np.mean((out.logits[:, 0].detach().numpy() - y) ** 2)), rel=1e-5)
    assert isinstance(model(torch.tensor(x, dtype=torch.float32), return_dict=False), tuple)


def test_baselines_train_the_same_architecture():
    from hf_methods.training.gbnn.training import evaluate, train_mlp_end_to_end

    x, y = _data("multinomial")
    lbfgs = train_mlp_end_to_end(x, y, hidden_size=8, optimizer="lbfgs", max_iter=100)
    assert lbfgs.config.objective == "multinomial" and lbfgs.config.hidden_size == 8
    assert evaluate(lbfgs, x, y)["accuracy"] > 0.95  # it fits the training set
    start = train_mlp_end_to_end(x, y, hidden_size=8, optimizer="adam", epochs=0)
    adam = train_mlp_end_to_end(x, y, hidden_size=8, optimizer="adam", epochs=5)
    inputs, labels = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    assert adam(inputs, labels=labels).loss < start(inputs, labels=labels).loss  # same seeded start, 5 epochs later
    assert torch.equal(start.unit_output_bias, torch.zeros(8, 3))
    binary = train_mlp_end_to_end(*_data("log_exponential"), hidden_size=4, optimizer="lbfgs", max_iter=5)
    assert binary.config.objective == "log_exponential"


@pytest.mark.slow
def test_adam_baseline_learns_iris():
    from hf_methods.training.gbnn.training import evaluate, tabular_split, train_mlp_end_to_end

    data = tabular_split("iris", seed=0)
    adam = train_mlp_end_to_end(data.x_train, data.y_train, hidden_size=8, epochs=100, learning_rate=0.05)
    assert evaluate(adam, data.x_train, data.y_train)["accuracy"] > 0.95


def test_tabular_split_is_seeded_and_standardised():
    from hf_methods.training.gbnn.training import tabular_split

    a, b = tabular_split("wine", seed=1), tabular_split("wine", seed=1)
    assert np.array_equal(a.x_test, b.x_test) and len(a.y_test) == 36
    np.testing.assert_allclose(a.x_train.mean(0), 0.0, atol=1e-10)
    assert tabular_split("diabetes").y_train.dtype == np.float64


# ------------------------------------------------------------------------------------------------------ clear errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"total_units": 0}, "total_units"),
        ({"units_per_step": 0}, "units_per_step"),
        ({"total_units": 5, "units_per_step": 2}, "multiple of `units_per_step`"),
        ({"eta": 0.0}, "eta"),
        ({"subsample": 0.0}, "subsample"),
        ({"subsample": 1.5}, "subsample"),
        ({"inner_max_iter": 0}, "inner_max_iter"),
        ({"inner_l2": -1.0}, "inner_l2"),
        ({"inner_tol": -1.0}, "inner_tol"),
        ({"activation": "swish"}, "activation"),
        ({"objective": "hinge"}, "objective"),
        ({"num_labels": 1}, "num_labels"),
    ],
)
def test_error_trainer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientBoostedMLPTrainer(**kwargs)


def test_error_inputs_not_2d():
    with pytest.raises(ValueError, match="`inputs` must be 2-D"):
        _small_trainer().fit(np.zeros(5), np.zeros(5, dtype=np.int64))


def test_error_inputs_not_numeric():
    with pytest.raises(TypeError, match="`inputs` must be a numeric"):
        _small_trainer().fit([["a", "b"], ["c", "d"]], [0, 1])


def test_error_inputs_not_finite():
    x, y = _data("squared")
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="`inputs` must be finite"):
        _small_trainer().fit(x, y)


def test_error_labels_length():
    x, y = _data("squared")
    with pytest.raises(ValueError, match=r"`labels` must have shape \(60,\)"):
        _small_trainer().fit(x, y[:-1])


def test_error_labels_negative():
    x, y = _data("multinomial")
    y[0] = -1
    with pytest.raises(ValueError, match="`labels` must lie in"):
        _small_trainer().fit(x, y)


def test_error_labels_not_integer_for_classification():
    x, y = _data("squared")
    with pytest.raises(ValueError, match="integer class indices"):
        _small_trainer(objective="multinomial").fit(x, y)


def test_error_binary_objective_with_three_classes():
    x, y = _data("multinomial")
    with pytest.raises(ValueError, match="log_exponential objective is binary"):
        _small_trainer(objective="log_exponential").fit(x, y)


def test_error_multinomial_objective_with_two_classes():
    x, y = _data("log_exponential")
    with pytest.raises(ValueError, match="multinomial objective needs >= 3 classes"):
        _small_trainer(objective="multinomial").fit(x, y)


def test_error_binary_labels_of_one_class():
    x, _ = _data("log_exponential")
    with pytest.raises(ValueError, match="both classes"):
        _small_trainer(num_labels=2).fit(x, np.ones(len(x), dtype=np.int64))


def test_error_step_and_model_before_fit():
    with pytest.raises(RuntimeError, match="call `start"):
        _small_trainer().step()
    with pytest.raises(RuntimeError, match="has not been fitted"):
        _small_trainer().decision_function(np.zeros((2, 5)))


def test_error_to_model_before_any_step():
    x, y = _data("squared")
    trainer = _small_trainer()
    trainer.start(x, y)
    with pytest.raises(RuntimeError, match="no boosting step"):
        trainer.to_model()


def test_error_step_after_the_last():
    x, y = _data("squared")
    trainer = _small_trainer(total_units=2)
    trainer.fit(x, y)
    with pytest.raises(RuntimeError, match="all 1 boosting steps are done"):
        trainer.step()


def test_error_decision_function_arguments():
    x, y = _data("squared")
    trainer = _small_trainer()
    trainer.fit(x, y)
    with pytest.raises(ValueError, match="`num_steps` must be in"):
        trainer.decision_function(x, 4)
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(n, 5\)"):
        trainer.decision_function(x[:, :3])


@pytest.mark.parametrize("n_units", [0, 7, 2.0])
def test_error_truncate_hidden(n_units):
    model = GradientBoostedMLPModel(GradientBoostedMLPConfig(input_size=2, hidden_size=6))
    with pytest.raises(ValueError, match="`n_units` must be an int in"):
        model.truncate_hidden(n_units)


@pytest.mark.parametrize("keep", [[0, 0], [6], []])
def test_error_keep_hidden_units(keep):
    model = GradientBoostedMLPModel(GradientBoostedMLPConfig(input_size=2, hidden_size=6))
    with pytest.raises(ValueError, match="`keep` must"):
        model.keep_hidden_units(keep)


def test_error_model_inputs():
    model = GradientBoostedMLPModel(GradientBoostedMLPConfig(input_size=2, hidden_size=3))
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(batch, input_size=2\)"):
        model(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="`inputs` must be a torch.Tensor"):
        model(np.zeros((4, 2)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_size": 0}, "input_size"),
        ({"hidden_size": -1}, "hidden_size"),
        ({"objective": "hinge"}, "objective"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"objective": "log_exponential", "num_labels": 3}, "num_labels"),
        ({"objective": "multinomial", "num_labels": 2}, "num_labels"),
    ],
)
def test_error_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientBoostedMLPConfig(**kwargs)


def test_error_loss_constructors():
    with pytest.raises(ValueError, match="reduction"):
        GBNNSquaredLoss(reduction="max")
    with pytest.raises(ValueError, match="num_labels"):
        GBNNMultinomialLoss(1)


def test_error_baseline_and_data_arguments():
    from hf_methods.training.gbnn.training import load_tabular, train_mlp_end_to_end

    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        train_mlp_end_to_end(np.zeros((4, 2)), np.array([0, 1, 0, 1]), optimizer="sgd")
    with pytest.raises(ValueError, match="`name` must be one of"):
        load_tabular("california_housing")


# ----------------------------------------------------------------------------------------------------------- recipe


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--dataset", "mnist"], "--dataset"),
        (["--eta", "0"], "--eta"),
        (["--subsample", "2"], "--subsample"),
        (["--units_per_step", "0"], "--units_per_step"),
        (["--inner_max_iter", "0"], "--inner_max_iter"),
        (["--inner_l2", "-1"], "--inner_l2"),
        (["--activation", "gelu"], "--activation"),
        (["--test_size", "1"], "--test_size"),
        (["--truncate_to", "500"], "--truncate_to"),
        (["--max_steps", "0"], "--max_steps"),
    ],
)
def test_error_recipe_arguments(flags, match, tmp_path):
    from hf_methods.harness.recipe import parse_recipe_args
    from hf_methods.training.gbnn.training import GBNNArguments

    with pytest.raises(ValueError, match=match):
        parse_recipe_args(GBNNArguments, ["--output_dir", str(tmp_path / "o"), *flags], slug="gbnn")


def _run_recipe(output_dir, *flags):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_gbnn", repo_root() / "recipes" / "gbnn.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    common = ["--dataset", "wine", "--inner_max_iter", "20", "--log_every", "1", "--cpu_threads", "1"]
    return recipe.main(["--output_dir", str(output_dir), *common, *flags])


def test_recipe_runs_a_few_steps_into_a_loadable_folder(tmp_path):
    from transformers import AutoModel

    import hf_methods  # noqa: F401

    metrics = _run_recipe(tmp_path, "--max_steps", "4", "--checkpoint_every", "2")
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0 and "eval/accuracy_first_3_units" in metrics
    assert (tmp_path / "README.md").is_file() and (tmp_path / "metrics.json").is_file()
    assert len(list((tmp_path / "checkpoints").iterdir())) == 2
    model = AutoModel.from_pretrained(tmp_path)
    assert model.config.hidden_size == 4 and model.config.objective == "multinomial"


@pytest.mark.slow
def test_recipe_resume_is_exact(tmp_path):
    from safetensors.torch import load_file

    _run_recipe(tmp_path / "a", "--max_steps", "6", "--checkpoint_every", "0")
    _run_recipe(tmp_path / "b", "--max_steps", "6", "--checkpoint_every", "3")
    first = sorted((tmp_path / "b" / "checkpoints").iterdir())[0]  # after step 3
    _run_recipe(tmp_path / "b", "--max_steps", "6", "--checkpoint_every", "3", "--resume_from_checkpoint", str(first))
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("gbnn").usage, namespace)
    assert namespace["model"].config.hidden_size == 15 and namespace["logits"].shape == (569, 2)
    assert namespace["reloaded"].config.hidden_size == 15
