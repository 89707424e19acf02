"""Inductive-bias estimation against known distributions, the GP posterior written out, and the errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.analysis.inductive_bias import (
    NCX2Fit,
    fit_error_distribution,
    gp_posterior_errors,
    inductive_bias_from_errors,
    inductive_bias_models,
    ncx2_inductive_bias,
    one_hot_targets,
    rbf_kernel,
)


def test_known_ncx2_gives_minus_log_cdf_in_nats_and_bits():
    from scipy.stats import ncx2

    fit = NCX2Fit(df=10.0, nc=3.0, loc=0.0, scale=0.1)
    eps = float(ncx2.ppf(0.02, 10, 3, scale=0.1))
    nats, method = ncx2_inductive_bias(eps, fit)
    assert method == "logcdf" and nats == pytest.approx(-math.log(0.02), rel=1e-6)
    result = inductive_bias_from_errors(ncx2.rvs(10, 3, scale=0.1, size=50, random_state=0), eps, fit=fit)
    assert result.bits == pytest.approx(result.nats / math.log(2))


def test_fit_recovers_the_inductive_bias_of_a_sampled_ncx2():
    from scipy.stats import ncx2

    draws = ncx2.rvs(20, 5, scale=0.01, size=3000, random_state=1)
    eps = float(ncx2.ppf(0.05, 20, 5, scale=0.01))
    estimate = inductive_bias_from_errors(draws, eps)
    assert estimate.nats == pytest.approx(-math.log(0.05), rel=0.1)
    assert estimate.empirical_fraction_below == pytest.approx(0.05, abs=0.015)


def test_normal_tail_branch_is_used_where_the_log_cdf_underflows():
    from scipy.stats import ncx2

    fit = NCX2Fit(df=1000.0, nc=10.0, loc=0.0, scale=1.0)
    assert ncx2.logcdf(10.0, 1000.0, 10.0) == -np.inf  # far below the mode of ~1000: underflow
    nats, method = ncx2_inductive_bias(10.0, fit)
    assert method == "normal-tail" and np.isfinite(nats) and nats > 700
    # the branch agrees with the exact log-CDF where both exist (moderate tail, 1e-6 quantile)
    eps = float(ncx2.ppf(1e-6, 1000.0, 10.0))
    from scipy.special import log_ndtr

    from hf_methods.analysis.inductive_bias.estimate import _sankaran_z

    assert -log_ndtr(_sankaran_z(eps, fit)) == pytest.approx(-math.log(1e-6), rel=0.05)


def test_gp_posterior_matches_the_equations_written_out():
    g = torch.Generator().manual_seed(0)
    x, xt = torch.rand(6, 2, generator=g, dtype=torch.float64), torch.rand(4, 2, generator=g, dtype=torch.float64)
    y, yt = one_hot_targets(torch.tensor([0, 1, 0, 1, 1, 0])), one_hot_targets(torch.tensor([1, 0, 0, 1]))
    kernel = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * 0.7**2))  # noqa: E731
    k_xx, k_tx, k_tt = kernel(x.numpy(), x.numpy()), kernel(xt.numpy(), x.numpy()), kernel(xt.numpy(), xt.numpy())
    mean = k_tx @ np.linalg.solve(k_xx, y.numpy())
    cov = k_tt - k_tx @ np.linalg.solve(k_xx, k_tx.T)
    errors = gp_posterior_errors(x, y, xt, yt, n_samples=20000, sigma=0.7, jitter=0.0, seed=3)
    # E[MSE] = mean of (mean − y)² + trace(cov)/n_test  (each of the k outputs gets independent noise)
    expected = ((mean - yt.numpy()) ** 2).mean() + np.trace(cov) / 4
    assert errors.mean() == pytest.approx(expected, rel=0.02)
    torch.testing.assert_close(rbf_kernel(x, xt, 0.7).numpy(), kernel(x.numpy(), xt.numpy()))


def test_gp_interpolates_the_training_points():
    x = torch.rand(5, 3, dtype=torch.float64)
    y = one_hot_targets(torch.tensor([0, 1, 2, 0, 1]))
    errors = gp_posterior_errors(x, y, x, y, n_samples=50, sigma=1.0, jitter=1e-10)
    assert errors.max() < 1e-6  # the noise-free posterior passes through its training targets


def test_model_space_trains_each_trial():
    from hf_methods.common.data import load_digits

    train, test = load_digits()
    result = inductive_bias_models(
        lambda seed: nn.Linear(64, 10), train.x[:200], train.y[:200], test.x[:100], test.y[:100],
        target_error=0.05, n_trials=4, epochs=1,
    )  # fmt: skip
    assert result.n_samples == 4 and len(set(result.errors)) == 4 and result.nats > 0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least 3"):
        fit_error_distribution([0.1, 0.2])
    with pytest.raises(ValueError, match="positive"):
        fit_error_distribution([0.1, -0.2, 0.3])
    with pytest.raises(ValueError, match="target_error"):
        ncx2_inductive_bias(0.0, NCX2Fit(2.0, 1.0, 0.0, 1.0))
    x = torch.rand(4, 2)
    y = one_hot_targets(torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="same number of features"):
        gp_posterior_errors(x, y, torch.rand(3, 5), y[:3])
    with pytest.raises(ValueError, match="target matrices"):
        gp_posterior_errors(x, y[:3], x, y)
    with pytest.raises(ValueError, match="sigma"):
        gp_posterior_errors(x, y, x, y, sigma=0)
    with pytest.raises(ValueError, match="outputs"):
        inductive_bias_models(lambda s: nn.Linear(2, 3), x, torch.tensor([0, 1, 0, 1]), x,
                              torch.tensor([0, 1, 0, 1]), target_error=0.1, n_trials=1)  # fmt: skip


def test_recipe_saves_the_best_network_and_the_analysis(tmp_path):
    import json

    from hf_methods.common.mlp import MLPForImageClassification
    from recipes.inductive_bias import main

    metrics = main(["--output_dir", str(tmp_path), "--n_trials", "3", "--epochs", "1", "--n_train", "300",
                    "--kernel_samples", "100", "--quantiles", "0.5"])  # fmt: skip
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert len(analysis["mlp_errors"]) == 3 and "kernel_bits" in analysis["targets"][0]
    assert metrics["eval/best_test_mse"] == min(analysis["mlp_errors"])
    assert isinstance(MLPForImageClassification.from_pretrained(tmp_path), MLPForImageClassification)


def test_recipe_arguments_are_validated():
    from hf_methods.analysis.inductive_bias.training import InductiveBiasArguments

    with pytest.raises(ValueError, match="--quantiles"):
        InductiveBiasArguments(output_dir="unused", quantiles="0.5,1.5").validate()
    with pytest.raises(ValueError, match="--n_trials"):
        InductiveBiasArguments(output_dir="unused", n_trials=2).validate()
