"""Pretrain-then-ERM against closed forms and brute force, the torch export, the curves and the errors."""

import itertools

import numpy as np
import pytest
import torch

from hf_methods.analysis.unsup_pretraining import (
    FactorRegressionModel,
    MLEPretrainThenERM,
    excess_risk_curve,
    factor_model,
    heldout_risk_curve,
    loglog_slope,
    two_cluster_mixture,
)


def test_bayes_predictor_is_the_gaussian_conditional_mean():
    """E[y | x] for jointly Gaussian (x, y) is Σ_yx Σ_xx⁻¹ x: the closed form must agree with it."""
    model = factor_model(12, 3, seed=1)
    b, psi, beta = model.loadings, model.psi, model.beta
    sigma_xx = b @ b.T + np.diag(psi)
    sigma_yx = beta @ b.T
    x = np.random.default_rng(0).standard_normal((7, 12))
    np.testing.assert_allclose(model.bayes_predictor(x), x @ np.linalg.solve(sigma_xx, sigma_yx), rtol=1e-9)


def test_factor_representation_is_sklearns_posterior_mean_and_the_module_reproduces_it(tmp_path):
    from sklearn.decomposition import FactorAnalysis

    model = factor_model(20, 3, seed=0)
    rng = np.random.default_rng(0)
    x_u, _ = model.sample(800, rng)
    x, y = model.sample(50, rng)
    est = MLEPretrainThenERM("factor", 3).fit_unlabeled(x_u).fit_labeled(x, y)
    reference = FactorAnalysis(n_components=3, random_state=0).fit(x_u)
    np.testing.assert_allclose(est.transform(x), reference.transform(x), rtol=1e-8, atol=1e-10)
    # least squares on E[z|x] written out
    design = np.c_[np.ones(50), reference.transform(x)]
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(est.predict(x[:5]), np.c_[np.ones(5), reference.transform(x[:5])] @ coef, rtol=1e-8)
    module = est.to_module()
    with torch.no_grad():
        torch.testing.assert_close(module(torch.from_numpy(x).float()).double(), torch.from_numpy(est.predict(x)),
                                   rtol=1e-4, atol=1e-4)  # fmt: skip
    module.save_pretrained(tmp_path)
    again = FactorRegressionModel.from_pretrained(tmp_path)
    torch.testing.assert_close(again(torch.from_numpy(x).float()), module(torch.from_numpy(x).float()))


def test_cluster_labels_minimise_the_training_errors_by_brute_force():
    x_u, _ = two_cluster_mixture(600, 5, separation=2.0, rng=0)
    est = MLEPretrainThenERM("gmm", 3, random_state=0).fit_unlabeled(x_u)
    x, y = two_cluster_mixture(30, 5, separation=2.0, rng=1)
    est.fit_labeled(x, y)
    clusters = est.transform(x).argmax(1)
    best = min((np.mean(np.array(labels)[clusters] != y), labels) for labels in itertools.product([0, 1], repeat=3))[0]
    assert np.mean(est.predict(x) != y) == pytest.approx(best)


def test_pretraining_beats_ridge_when_loadings_are_weak_and_unlabelled_data_plentiful():
    model = factor_model(60, 2, loading_scale=0.4, label_noise=0.1, seed=0)
    curve = excess_risk_curve(model, [15], m=3000, repeats=2, n_test=500)
    means = {k: v[0] for k, v in curve.mean_risk.items()}
    assert means["pretrain (m=3000)"] < means["ridge (CV)"]
    assert curve.ratio("pretrain (m=3000)", "ridge (CV)")[0] < 1


def test_heldout_curve_and_slope():
    model = factor_model(15, 2, seed=0)
    rng = np.random.default_rng(0)
    x_u, _ = model.sample(500, rng)
    x, y = model.sample(100, rng)
    xt, yt = model.sample(200, rng)
    curve = heldout_risk_curve(x_u, x, y, xt, yt, [10, 50], r=2, repeats=2)
    assert set(curve.mean_risk) == {"pretrain (m=500)", "ridge (CV)"} and curve.metric == "test MSE"
    assert loglog_slope([1, 10, 100], [1.0, 0.1, 0.01]) == pytest.approx(-1.0)


def test_bad_inputs_are_named():
    x = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(ValueError, match="latent"):
        MLEPretrainThenERM("pca")
    with pytest.raises(ValueError, match="clusters"):
        MLEPretrainThenERM("gmm", 1)
    with pytest.raises(ValueError, match="covariance_type"):
        MLEPretrainThenERM("gmm", 2, covariance_type="banded")
    with pytest.raises(ValueError, match="exceed"):
        MLEPretrainThenERM("factor", 5).fit_unlabeled(x)
    with pytest.raises(RuntimeError, match="fit_unlabeled"):
        MLEPretrainThenERM().transform(x)
    est = MLEPretrainThenERM("factor", 2).fit_unlabeled(x)
    with pytest.raises(RuntimeError, match="fit_labeled"):
        est.predict(x)
    with pytest.raises(ValueError, match="features"):
        est.transform(x[:, :3])
    with pytest.raises(ValueError, match="y must"):
        est.fit_labeled(x, np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        est.transform(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="exceed r"):
        excess_risk_curve(factor_model(10, 3), [4])
    with pytest.raises(ValueError, match="r = 4"):
        factor_model(3, 4)
    with pytest.raises(RuntimeError, match="to_module"):
        MLEPretrainThenERM("gmm", 2).to_module()


def test_recipe_writes_the_module_and_the_curve(tmp_path):
    import json

    from recipes.unsup_pretraining import main

    metrics = main(["--output_dir", str(tmp_path), "--d", "20", "--r", "2", "--m", "300", "--ns", "10,30",
                    "--repeats", "1", "--n_test", "100"])  # fmt: skip
    assert json.loads((tmp_path / "analysis.json").read_text())["ns"] == [10, 30]
    assert FactorRegressionModel.from_pretrained(tmp_path).latent_dim == 2
    assert "eval/pretrain_slope" in metrics


def test_recipe_arguments_are_validated():
    from hf_methods.analysis.unsup_pretraining.training import UnsupPretrainingArguments

    with pytest.raises(ValueError, match="--ns"):
        UnsupPretrainingArguments(output_dir="unused", ns="3,40").validate()
    with pytest.raises(ValueError, match="--r"):
        UnsupPretrainingArguments(output_dir="unused", d=4, r=5, ns="20").validate()
