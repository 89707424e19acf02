"""P05 `arphmm`: the partially-hidden forward-backward and the EM M-step against plain numpy loops, the reduction to
the ARHMM when pl ≡ 1, EM's monotone ascent, the RUL head, save/load after a fit, and clear input errors."""

import math

import numpy as np
import pytest
import torch

from hf_methods.models.arphmm import (
    ARPHMMConfig,
    ARPHMMModel,
    make_run_to_failure,
    soft_plausibilities,
)


def random_model(n_states=3, ar_order=2, left_to_right=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = ARPHMMModel(ARPHMMConfig(n_states=n_states, ar_order=ar_order, left_to_right=left_to_right)).double()
    with torch.no_grad():
        if not left_to_right:
            model.start_logits.copy_(torch.randn(n_states, generator=g, dtype=torch.float64))
            model.transition_logits.copy_(torch.randn(n_states, n_states, generator=g, dtype=torch.float64))
        model.ar_coefficients.copy_(0.4 * torch.randn(n_states, ar_order, generator=g, dtype=torch.float64))
        model.ar_bias.copy_(torch.randn(n_states, generator=g, dtype=torch.float64))
        model.log_variance.copy_(0.3 * torch.randn(n_states, generator=g, dtype=torch.float64))
    return model


def numpy_forward_backward(model, y, pl):
    """Scaled forward-backward in probability space, one step at a time (the paper's recursions written out)."""
    p = model.config.ar_order
    pi = torch.softmax(model.start_logits, -1).detach().numpy()
    a = torch.softmax(model.transition_logits, -1).detach().numpy()
    b_coef = model.ar_coefficients.detach().numpy()
    c = model.ar_bias.detach().numpy()
    var = model.log_variance.exp().detach().numpy()
    steps = len(y) - p
    q = len(pi)
    emit = np.zeros((steps, q))
    for s in range(steps):
        t = s + p
        x = np.array([y[t - lag] for lag in range(1, p + 1)])
        for k in range(q):
            mean = -b_coef[k] @ x + c[k]  # y_t = −B_k x_{t−1} + c_k
            emit[s, k] = math.exp(-0.5 * (y[t] - mean) ** 2 / var[k]) / math.sqrt(2 * math.pi * var[k]) * pl[t, k]
    alpha, scale = np.zeros((steps, q)), np.zeros(steps)
    for s in range(steps):
        alpha[s] = (pi if s == 0 else alpha[s - 1] @ a) * emit[s]
        scale[s] = alpha[s].sum()
        alpha[s] /= scale[s]
    beta = np.ones((steps, q))
    for s in range(steps - 2, -1, -1):
        beta[s] = a @ (emit[s + 1] * beta[s + 1]) / scale[s + 1]
    gamma = alpha * beta
    return np.log(scale).sum(), gamma / gamma.sum(1, keepdims=True), alpha


@pytest.mark.parametrize("left_to_right", [False, True])
def test_forward_backward_matches_numpy_loop_with_plausibilities(left_to_right):
    model = random_model(left_to_right=left_to_right)
    g = torch.Generator().manual_seed(1)
    y = torch.randn(30, generator=g, dtype=torch.float64).cumsum(0) * 0.3
    pl = torch.rand(30, 3, generator=g, dtype=torch.float64).clamp_min(0.05)
    log_lik, gamma, alpha = numpy_forward_backward(model, y.numpy(), pl.numpy())
    with torch.no_grad():
        out = model(y[None], plausibilities=pl[None])
    np.testing.assert_allclose(out.log_likelihood.item(), log_lik, rtol=1e-10)
    np.testing.assert_allclose(out.state_posteriors[0].numpy(), gamma, atol=1e-10)
    np.testing.assert_allclose(model.posterior_states(y, pl).numpy(), gamma, atol=1e-10)
    np.testing.assert_allclose(model.posterior_states(y, pl, filtered=True).numpy(), alpha, atol=1e-10)


def test_hard_labels_equal_one_hot_plausibilities_and_padding_is_ignored():
    model = random_model()
    g = torch.Generator().manual_seed(2)
    y = torch.randn(2, 20, generator=g, dtype=torch.float64)
    labels = torch.full((2, 20), -100)
    labels[:, 5:8] = 1
    pl = torch.ones(2, 20, 3, dtype=torch.float64)
    pl[:, 5:8] = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    with torch.no_grad():
        a, b = model(y, labels=labels), model(y, plausibilities=pl)
    torch.testing.assert_close(a.log_likelihood, b.log_likelihood)
    assert a.loss is not None and b.loss is None
    # a right-padded shorter sequence gives the result of the sequence alone
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 14:] = False
    with torch.no_grad():
        padded = model(y, attention_mask=mask)
        alone = model(y[1:, :14])
    torch.testing.assert_close(padded.log_likelihood[1], alone.log_likelihood[0])
    torch.testing.assert_close(padded.state_posteriors[1, :12], alone.state_posteriors[0])
    assert padded.state_posteriors[1, 12:].abs().max() == 0


def test_m_step_is_weighted_least_squares_written_plainly():
    model = random_model(left_to_right=False)
    g = torch.Generator().manual_seed(3)
    y = torch.randn(1, 40, generator=g, dtype=torch.float64).cumsum(-1) * 0.2
    mask = torch.ones(1, 38, dtype=torch.bool)
    gamma = torch.softmax(torch.randn(1, 38, 3, generator=g, dtype=torch.float64), -1)
    xi = torch.rand(1, 3, 3, generator=g, dtype=torch.float64)
    model._m_step(y, mask, gamma, xi, update_chain=True)
    yn, gn = y[0].numpy(), gamma[0].numpy()
    design = np.array([[yn[t - 1], yn[t - 2], 1.0] for t in range(2, 40)])
    target = yn[2:]
    for k in range(3):
        w = np.sqrt(gn[:, k])
        coef = np.linalg.lstsq(design * w[:, None], target * w, rcond=None)[0]
        np.testing.assert_allclose(-model.ar_coefficients[k].detach().numpy(), coef[:2], atol=1e-8)
        np.testing.assert_allclose(model.ar_bias[k].item(), coef[2], atol=1e-8)
        variance = (gn[:, k] * (target - design @ coef) ** 2).sum() / gn[:, k].sum()
        np.testing.assert_allclose(model.log_variance[k].exp().item(), variance, rtol=1e-8)
    counts = xi[0].numpy() + 1e-5
    np.testing.assert_allclose(
        torch.softmax(model.transition_logits, -1).detach().numpy(), counts / counts.sum(1, keepdims=True), rtol=1e-10
    )


@pytest.fixture(scope="module")
def units():
    data = make_run_to_failure(5, 60, 90, seed=0)
    return data, [soft_plausibilities(u.states, 4, seed=i) for i, u in enumerate(data)]


def test_all_ones_plausibilities_give_the_plain_arhmm_and_em_is_monotone(units):
    data, pls = units
    signals = [u.signal for u in data]
    plain = ARPHMMModel(ARPHMMConfig(n_states=4)).fit(signals, max_iter=15, tol=0.0)
    ones = ARPHMMModel(ARPHMMConfig(n_states=4)).fit(
        signals, [torch.ones(len(s), 4, dtype=torch.float64) for s in signals], max_iter=15, tol=0.0
    )
    assert plain.fit_history == ones.fit_history and len(plain.fit_history) == 15
    for key, value in plain.state_dict().items():
        assert torch.equal(value, ones.state_dict()[key]), key
    partial = ARPHMMModel(ARPHMMConfig(n_states=4)).fit(signals, pls, max_iter=15, tol=0.0)
    for history in (plain.fit_history, partial.fit_history):
        assert min(b - a for a, b in zip(history, history[1:])) >= -1e-6
    # the plausibilities weight the likelihood down (pl ≤ 1): a lower objective than the plain one at its optimum
    assert partial.fit_history[-1] < plain.fit_history[-1]


def test_fit_returns_the_model_and_left_to_right_structure_survives_em(units, tmp_path):
    data, pls = units
    model = ARPHMMModel(ARPHMMConfig(n_states=4))
    signals = [u.signal for u in data]
    assert model.fit(signals, pls, max_iter=5) is model
    assert model.start_logits.dtype == torch.float32
    transition = torch.softmax(model.transition_logits, -1)
    assert torch.equal(transition.triu(2), torch.zeros_like(transition)) and transition.tril(-1).abs().max() == 0
    model.fit_rul(signals, [u.rul for u in data], pls)
    rul = model.predict_rul(data[0].signal)
    assert rul.shape == (len(data[0].signal) - 2,) and torch.isfinite(rul).all()
    # filtered and smoothed posteriors agree at the last step; the filtered ones sum to one
    filt, smooth = model.posterior_states(data[0].signal, filtered=True), model.posterior_states(data[0].signal)
    torch.testing.assert_close(filt[-1], smooth[-1])
    torch.testing.assert_close(filt.sum(-1), torch.ones(len(filt), dtype=filt.dtype))
    assert model.predict(data[0].signal).shape == rul.shape
    model.save_pretrained(tmp_path)
    reloaded = ARPHMMModel.from_pretrained(tmp_path)
    assert torch.equal(reloaded.predict_rul(data[0].signal), rul)


def test_generator_and_plausibilities():
    unit = make_run_to_failure(1, 50, 50, seed=4)[0]
    assert unit.signal.shape == unit.states.shape == unit.rul.shape == (50,)
    assert (unit.states.diff() >= 0).all() and unit.rul[-1] == 0
    pl = soft_plausibilities(unit.states, 4, unknown_fraction=0.0, seed=0)
    assert torch.equal(pl[torch.arange(50), unit.states], torch.ones(50, dtype=torch.float64))
    others = pl[pl < 1]
    assert others.numel() == 150 and others.min() >= 0.1 and others.max() <= 0.5
    assert (soft_plausibilities(unit.states, 4, unknown_fraction=1.0) == 1).all()


# ----------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_states": 0}, "n_states"),
        ({"ar_order": -1}, "ar_order"),
        ({"min_variance": 0.0}, "min_variance"),
        ({"prior_count": -1.0}, "prior_count"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ARPHMMConfig(**kwargs)


def test_plausibilities_outside_unit_interval_are_rejected():
    with pytest.raises(ValueError, match="plausibilities"):
        ARPHMMModel(ARPHMMConfig(n_states=2)).fit([torch.randn(10)], [torch.full((10, 2), 1.5)])


def test_plausibilities_of_wrong_shape_are_rejected():
    with pytest.raises(ValueError, match=r"plausibilities\[0\]"):
        ARPHMMModel(ARPHMMConfig(n_states=2)).fit([torch.randn(10)], [torch.ones(9, 2)])


def test_all_zero_plausibility_row_is_rejected():
    pl = torch.ones(10, 2)
    pl[5] = 0
    with pytest.raises(ValueError, match="plausible state"):
        ARPHMMModel(ARPHMMConfig(n_states=2)).fit([torch.randn(10)], [pl])


def test_labels_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="labels"):
        ARPHMMModel(ARPHMMConfig(n_states=2))(torch.randn(1, 10), labels=torch.full((1, 10), 3))


def test_too_short_sequence_is_rejected():
    with pytest.raises(ValueError, match="ar_order"):
        ARPHMMModel(ARPHMMConfig(n_states=2, ar_order=3)).fit([torch.randn(3)])


def test_non_tensor_sequence_is_rejected():
    with pytest.raises(TypeError, match=r"sequences\[0\]"):
        ARPHMMModel(ARPHMMConfig(n_states=2)).fit([[0.1, 0.2, 0.3, 0.4]])


def test_integer_input_values_are_rejected():
    with pytest.raises(TypeError, match="input_values"):
        ARPHMMModel(ARPHMMConfig(n_states=2))(torch.arange(10)[None])


@pytest.mark.parametrize("kwargs, match", [({"max_iter": 0}, "max_iter"), ({"tol": -1.0}, "tol")])
def test_bad_em_settings_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ARPHMMModel(ARPHMMConfig(n_states=2)).fit([torch.randn(10)], **kwargs)


def test_ruls_of_wrong_length_are_rejected():
    with pytest.raises(ValueError, match="ruls"):
        ARPHMMModel(ARPHMMConfig(n_states=2)).fit_rul([torch.randn(10)], [torch.arange(9.0)])


def test_generator_arguments_are_validated():
    with pytest.raises(ValueError, match="num_sequences"):
        make_run_to_failure(0)
    with pytest.raises(ValueError, match="min_length"):
        make_run_to_failure(2, 100, 50)
    with pytest.raises(ValueError, match="unknown_fraction"):
        soft_plausibilities(torch.zeros(5, dtype=torch.long), 2, unknown_fraction=1.5)


# ----------------------------------------------------------------------------------------------- recipe and record
def test_recipe_arguments_are_validated():
    from hf_methods.models.arphmm.training import ARPHMMArguments

    with pytest.raises(ValueError, match="unknown_fraction"):
        ARPHMMArguments(output_dir="unused", unknown_fraction=2.0).validate()
    with pytest.raises(ValueError, match="min_length"):
        ARPHMMArguments(output_dir="unused", min_length=4).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    from recipes.arphmm import main

    metrics = main(
        [
            "--output_dir",
            str(tmp_path),
            "--max_iter",
            "3",
            "--num_train",
            "3",
            "--num_test",
            "2",
            "--min_length",
            "40",
            "--max_length",
            "60",
            "--report_to",
            "jsonl",
            "--cpu_threads",
            "1",
        ]
    )
    assert 0.0 <= metrics["eval/state_accuracy"] <= 1.0 and metrics["eval/rul_rmse"] > 0
    assert ARPHMMModel.from_pretrained(tmp_path).config.n_states == 4


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("arphmm").usage, namespace)
    assert namespace["gamma"].shape[1] == 4 and namespace["rul"].shape == namespace["gamma"].shape[:1]
