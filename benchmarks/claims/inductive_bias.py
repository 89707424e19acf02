"""Claim of P25 (Boopathy et al., IJCAI 2024): inductive bias can be estimated directly as −log P(err ≤ ε) from a
scaled non-central χ² fitted to sampled hypotheses' test errors; more training data means less inductive bias is
needed, higher-dimensional tasks need more, and architectures differ (convolutional networks encode more than
fully connected ones of the same size).

Settings (fixed before the first run; 3 seeds = units):
(a) Estimator: 5 000 draws from ncx2(df = 20, nc = 5, scale = 0.01); the fitted I(ε) at ε = the true 1% quantile
    (true I = ln 100 = 4.61 nats) must be within 5% of the truth; the normal-tail fallback (Sankaran) at the true
    1e-12 quantile (true I = 27.6 nats, where the log-CDF is still finite) within 5% of the exact value.
(b) Kernel space: the RBF-GP posterior (exact Cholesky solves, jitter 1e-8) on scikit-learn digits (pixels / 16,
    64-d, one-hot targets), 200 test images, 10 000 sampled hypotheses; σ = the median pairwise distance of the
    training inputs (the official default σ = 1 makes every test digit look independent of the training set at
    this pixel scale — a documented departure). b1: I(ε) strictly decreases over ε at the 0.1%, 1%, 10% and 50%
    quantiles of the n_train = 200 errors; b2: I with n_train = 400 < I with n_train = 100 at ε = the 10% quantile of
    the n_train = 400 errors; b3: dimension — iris projected on its first 2 principal components (standardised)
    against digits (64-d), both with n_train = 100, n_test = 50, at ε = 0.8 × each task's median sampled error:
    I(iris-2d) < I(digits).
(c) Model space: 20 trained networks each (Adam 1e-3, batch 32, 3 epochs, MSE to one-hot targets, digits 8×8):
    a CNN (two 3×3 convolutions, 16 and 32 channels, ReLU, 2×2 max pooling after each, then a linear layer; 6 090
    parameters) and an MLP 64-80-10 (5 990 parameters); at ε = the MLP's median test error, I(CNN) < I(MLP).
Rules: (a) both relative errors ≤ 0.05 (max over seeds); (b1), (b2), (b3), (c) hold on every seed (fraction = 1).
Run: `python benchmarks/claims/inductive_bias.py [--smoke]`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hf_methods.analysis.inductive_bias import (
    NCX2Fit,
    fit_error_distribution,
    gp_posterior_errors,
    inductive_bias_from_errors,
    model_errors,
    ncx2_inductive_bias,
    one_hot_targets,
)
from hf_methods.analysis.inductive_bias.estimate import _sankaran_z
from hf_methods.harness.claims import Claim, Threshold

CLAIM = Claim(
    slug="inductive_bias",
    seeds=[0, 1, 2],
    settings={
        "ncx2": {"df": 20.0, "nc": 5.0, "scale": 0.01},
        "ncx2_draws": 5000,
        "recovery_quantile": 0.01,
        "tail_quantile": 1e-12,
        "recovery_tolerance": 0.05,
        "gp_samples": 10000,
        "gp_test": 200,
        "n_train_grid": [100, 200, 400],
        "epsilon_quantiles": [0.001, 0.01, 0.1, 0.5],
        "dimension_n_train": 100,
        "dimension_n_test": 50,
        "dimension_relative_error": 0.8,
        "nn_trials": 20,
        "nn_epochs": 3,
        "nn_lr": 1e-3,
        "nn_batch": 32,
    },
    smoke={"seeds": [0], "gp_samples": 1000, "nn_trials": 4},
    rules=[
        Threshold("(a) fitted I(ε) within 5% of the truth", "recovery_relative_error", "estimator", "<=", 0.05),
        Threshold(
            "(a) normal-tail fallback within 5% of the exact tail", "tail_relative_error", "estimator", "<=", 0.05
        ),
        Threshold("(b1) I(ε) decreases in ε", "monotone_in_epsilon", "RBF-GP", ">=", 1.0),
        Threshold("(b2) more training data needs less inductive bias", "less_with_more_data", "RBF-GP", ">=", 1.0),
        Threshold("(b3) the 2-d task needs less than the 64-d task", "less_in_low_dimension", "RBF-GP", ">=", 1.0),
        Threshold("(c) the CNN encodes more inductive bias than the MLP", "cnn_below_mlp", "CNN vs MLP", ">=", 1.0),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "scikit-learn digits and iris (hypothesis-space sampling)",
        "dataset_type": "digits / iris",
        "split": "test",
    },
)


def _median_distance(x: np.ndarray) -> float:
    d = torch.cdist(torch.as_tensor(x).double(), torch.as_tensor(x).double())
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), 1)].median())


def estimator_units(seed: int, s: dict) -> dict:
    from scipy.stats import ncx2

    p = s["ncx2"]
    draws = ncx2.rvs(p["df"], p["nc"], scale=p["scale"], size=s["ncx2_draws"], random_state=seed)
    fit = fit_error_distribution(draws)
    eps = float(ncx2.ppf(s["recovery_quantile"], p["df"], p["nc"], scale=p["scale"]))
    estimated, _ = ncx2_inductive_bias(eps, fit)
    truth = -math.log(s["recovery_quantile"])
    true_fit = NCX2Fit(df=p["df"], nc=p["nc"], loc=0.0, scale=p["scale"])
    tail_eps = float(ncx2.ppf(s["tail_quantile"], p["df"], p["nc"], scale=p["scale"]))
    exact_tail = -float(ncx2.logcdf(tail_eps, p["df"], p["nc"], scale=p["scale"]))
    from scipy.special import log_ndtr

    approx_tail = float(-log_ndtr(_sankaran_z(tail_eps, true_fit)))
    return {
        "recovery_relative_error": abs(estimated - truth) / truth,
        "estimated": estimated,
        "truth": truth,
        "fit": [fit.df, fit.nc, fit.scale],
        "tail_relative_error": abs(approx_tail - exact_tail) / exact_tail,
        "tail_exact": exact_tail,
        "tail_approx": approx_tail,
    }


def _digits(seed: int, n_train: int, n_test: int):
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=0.2, seed=seed)
    return train.x[:n_train], train.y[:n_train], test.x[:n_test], test.y[:n_test]


def _gp(x_tr, y_tr, x_te, y_te, s, seed, k):
    sigma = _median_distance(x_tr)
    errors = gp_posterior_errors(
        x_tr, one_hot_targets(y_tr, k), x_te, one_hot_targets(y_te, k), n_samples=s["gp_samples"], sigma=sigma,
        seed=seed,
    )  # fmt: skip
    return errors, sigma


def kernel_units(seed: int, s: dict) -> dict:
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    errors = {}
    for n in s["n_train_grid"]:
        errors[n], _ = _gp(*_digits(seed, n, s["gp_test"]), s, seed, 10)
    # b1: monotone in ε
    e200 = errors[200]
    eps_grid = [float(np.quantile(e200, q)) for q in s["epsilon_quantiles"]]
    fit200 = fit_error_distribution(e200)
    ib_grid = [inductive_bias_from_errors(e200, eps, fit=fit200).nats for eps in eps_grid]
    # b2: more data, less inductive bias
    eps_b2 = float(np.quantile(errors[400], 0.1))
    ib_100 = inductive_bias_from_errors(errors[100], eps_b2).nats
    ib_400 = inductive_bias_from_errors(errors[400], eps_b2).nats
    # b3: dimension
    n_tr, n_te = s["dimension_n_train"], s["dimension_n_test"]
    iris = load_iris()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(iris.target))
    x_iris = PCA(2).fit_transform(StandardScaler().fit_transform(iris.data))[order]
    y_iris = iris.target[order]
    e_iris, _ = _gp(x_iris[:n_tr], y_iris[:n_tr], x_iris[n_tr : n_tr + n_te], y_iris[n_tr : n_tr + n_te], s, seed, 3)
    e_digits, _ = _gp(*_digits(seed, n_tr, n_te), s, seed, 10)
    rel = s["dimension_relative_error"]
    ib_iris = inductive_bias_from_errors(e_iris, rel * float(np.median(e_iris)))
    ib_digits = inductive_bias_from_errors(e_digits, rel * float(np.median(e_digits)))
    return {
        "epsilon_grid": eps_grid,
        "ib_grid": ib_grid,
        "monotone": float(all(a > b for a, b in zip(ib_grid, ib_grid[1:]))),
        "eps_b2": eps_b2,
        "ib_n100": ib_100,
        "ib_n400": ib_400,
        "ib_iris": ib_iris.nats,
        "ib_iris_method": ib_iris.method,
        "ib_digits": ib_digits.nats,
        "ib_digits_method": ib_digits.method,
        "mean_error": {str(n): float(e.mean()) for n, e in errors.items()},
        "errors_n200_sample": e200[:2000].tolist(),
    }


def _cnn(seed: int) -> nn.Module:
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )  # fmt: skip


def _mlp(seed: int) -> nn.Module:
    return nn.Sequential(nn.Linear(64, 80), nn.ReLU(), nn.Linear(80, 10))


def model_units(seed: int, s: dict) -> dict:
    torch.set_num_threads(1)
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=0.2, seed=seed)
    kwargs = {"n_trials": s["nn_trials"], "epochs": s["nn_epochs"], "batch_size": s["nn_batch"],
              "learning_rate": s["nn_lr"], "seed": seed}  # fmt: skip
    cnn = model_errors(_cnn, train.x, train.y, test.x, test.y, **kwargs)
    mlp = model_errors(_mlp, train.x, train.y, test.x, test.y, **kwargs)
    eps = float(np.median(mlp))
    ib_cnn = inductive_bias_from_errors(cnn, eps)
    ib_mlp = inductive_bias_from_errors(mlp, eps)
    return {"cnn_errors": cnn.tolist(), "mlp_errors": mlp.tolist(), "epsilon": eps, "ib_cnn": ib_cnn.nats,
            "ib_mlp": ib_mlp.nats, "cnn_params": sum(p.numel() for p in _cnn(0).parameters()),
            "mlp_params": sum(p.numel() for p in _mlp(0).parameters())}  # fmt: skip


def run(claim) -> None:
    s = claim.settings
    rows = {}
    for seed in claim.seeds:
        a = claim.cached(f"estimator-{seed}", estimator_units, seed, s)
        b = claim.cached(f"kernel-{seed}", kernel_units, seed, s)
        c = claim.cached(f"models-{seed}", model_units, seed, s)
        rows[seed] = {"estimator": a, "kernel": {k: v for k, v in b.items() if k != "errors_n200_sample"}, "models": c}
        claim.record("estimator", "recovery_relative_error", a["recovery_relative_error"], unit=seed)
        claim.record("estimator", "tail_relative_error", a["tail_relative_error"], unit=seed)
        claim.record("RBF-GP", "monotone_in_epsilon", b["monotone"], unit=seed)
        claim.record("RBF-GP", "less_with_more_data", float(b["ib_n400"] < b["ib_n100"]), unit=seed)
        claim.record("RBF-GP", "less_in_low_dimension", float(b["ib_iris"] < b["ib_digits"]), unit=seed)
        claim.record("CNN vs MLP", "cnn_below_mlp", float(c["ib_cnn"] < c["ib_mlp"]), unit=seed)
        claim.record("CNN", "inductive_bias_nats", c["ib_cnn"], unit=seed)
        claim.record("MLP", "inductive_bias_nats", c["ib_mlp"], unit=seed)
        claim.record("digits n=100", "inductive_bias_nats", b["ib_n100"], unit=seed)
        claim.record("digits n=400", "inductive_bias_nats", b["ib_n400"], unit=seed)
    claim.details["per_seed"] = {str(k): v for k, v in rows.items()}
    claim.plot_points(
        "nats",
        ["inductive_bias_nats"],
        methods=["digits n=100", "digits n=400", "MLP", "CNN"],
        title="inductive bias (nats): RBF-GP on digits by training size (b2), MLP vs CNN at the MLP's median error (c)",
    )


if __name__ == "__main__":
    CLAIM.main(run)
