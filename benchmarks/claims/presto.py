"""Claim of P40 (Faletto & Bien, ICML 2023): PRESTO — a cumulative-logit model with one slope per boundary and an L1
penalty on the differences between adjacent slopes — estimates rare-class probabilities better than logistic
regression on the rare class (which cannot borrow strength from the common boundaries) and than proportional odds
(too rigid when the last boundary's slope differs).

Setting (the sparse-difference simulation of §4.1, drawn as the official generator `sim_relaxed_prop_odds_rand`
does): n = 2500 training points, p = 10 features x ~ U[−1, 1]^p, K = 4 classes, intercepts (0, 3, 5); each
coordinate of the first slope is 0.5 with probability 1/3 (else 0) and each later boundary's slope differs from the
previous one by ±0.5 in each coordinate with probability 1/3 (random sign); draws with crossed boundaries are
rejected. 20 repetitions (unit = seed), rare-class (y = K) probability MSE against the true probabilities on
10 000 test points. PRESTO's λ is chosen by 5-fold CV (Brier score) over 10
values from λ_max down to 0.01·λ_max with warm starts; ψ_1 = β_1 is penalised too (as in the official code).
Baselines: unpenalised logistic regression of 1[y = K] (scikit-learn), maximum-likelihood proportional odds (scipy).

History: a first run used x ~ N(0, I), a dense first slope and a deviation at the last boundary only (this
project's first reading of the setting, before checking the official generator); it is kept in the results'
history. The generator was then corrected to the official one; the rules below did not change.

Rules (fixed before the first run; the 0.9 factor and the 60% win rate are this project's bar, not the paper's):
1. mean PRESTO MSE ≤ 0.9 × mean logistic MSE and ≤ 0.9 × mean proportional-odds MSE (Compare against the baseline
   MSE scaled by 0.9, mean paired difference ≤ 0);
2. PRESTO has the lower MSE than each baseline in ≥ 60% of the repetitions;
3. property: with λ = 1e6 on the differences only (ψ_1 unpenalised), the PRESTO slopes and intercepts match a direct
   scipy proportional-odds fit within 1e-3 (max abs deviation).
Run: `python benchmarks/claims/presto.py [--smoke]` (each repetition is cached).
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.models.presto.configuration_presto import PrestoConfig
from hf_methods.models.presto.modeling_presto import PrestoForOrdinalClassification
from hf_methods.models.presto.training import (
    fit_proportional_odds,
    logistic_rare_class,
    presto_cv,
    proportional_odds_probs,
    sparse_difference_simulation,
)

CLAIM = Claim(
    slug="presto",
    seeds=list(range(20)),
    settings={
        "n_train": 2500,
        "n_test": 10000,
        "n_features": 10,
        "num_classes": 4,
        "intercepts": [0.0, 3.0, 5.0],
        "beta": 0.5,
        "deviation": 0.5,
        "deviation_prob": 1 / 3,
        "features": "uniform",
        "generator": "official (sparse first slope, deviations at every boundary, rejection of crossed draws)",
        "n_lambdas": 10,
        "lambda_min_ratio": 0.01,
        "n_folds": 5,
        "penalize_first_slope": True,
        "ratio_bar": 0.9,
        "win_rate_bar": 0.6,
        "limit_lambda": 1e6,
        "limit_tolerance": 1e-3,
    },
    smoke={"seeds": [0], "n_test": 1000, "n_lambdas": 3, "n_folds": 2},
    rules=[
        Compare("PRESTO ≤ 0.9 × logistic (rare-class MSE)", "rare_mse", "PRESTO", "0.9 × logistic", 0.0, False),
        Compare("PRESTO ≤ 0.9 × proportional odds (rare-class MSE)", "rare_mse", "PRESTO", "0.9 × PO", 0.0, False),
        Threshold("PRESTO beats logistic in ≥ 60% of reps", "beats_logistic", "PRESTO", ">=", 0.6),
        Threshold("PRESTO beats proportional odds in ≥ 60% of reps", "beats_po", "PRESTO", ">=", 0.6),
        Threshold(
            "λ → ∞ on the differences gives proportional odds", "max_abs_deviation_from_po", "PRESTO", "<", 1e-3
        ),
    ],
    task={
        "type": "tabular-classification",
        "dataset_name": "sparse-difference ordinal simulation (Faletto & Bien §4.1)",
        "dataset_type": "synthetic",
        "split": "test",
    },
)


def repetition(seed: int, s: dict) -> dict:
    torch.set_num_threads(1)
    train, test, _ = sparse_difference_simulation(
        s["n_train"], n_features=s["n_features"], intercepts=tuple(s["intercepts"]), beta=s["beta"],
        deviation=s["deviation"], deviation_prob=s["deviation_prob"], features=s["features"], seed=seed,
        n_test=s["n_test"],
    )  # fmt: skip
    k = s["num_classes"]
    truth = test.probs[:, -1]
    model, info = presto_cv(
        train.inputs, train.labels, k, n_lambdas=s["n_lambdas"], min_ratio=s["lambda_min_ratio"],
        n_folds=s["n_folds"], seed=seed, penalize_first_slope=s["penalize_first_slope"],
    )  # fmt: skip
    with torch.no_grad():
        presto = model(torch.as_tensor(test.inputs)).probs[:, -1].numpy()
    logistic = logistic_rare_class(train.inputs, train.labels, k).predict_proba(test.inputs)[:, 1]
    alphas, beta = fit_proportional_odds(train.inputs, train.labels, k)
    po = proportional_odds_probs(test.inputs, alphas, beta)[:, -1]
    return {
        "presto": float(np.mean((presto - truth) ** 2)),
        "logistic": float(np.mean((logistic - truth) ** 2)),
        "po": float(np.mean((po - truth) ** 2)),
        "lambda": info["lambda"],
        "rare_fraction": float(np.mean(train.labels == k - 1)),
    }


def limit_property(s: dict) -> float:
    """Max |PRESTO(λ huge, ψ_1 free) − direct proportional-odds fit| over the intercepts and slopes."""
    train, _, _ = sparse_difference_simulation(
        s["n_train"], n_features=s["n_features"], features=s["features"], seed=1000
    )
    k = s["num_classes"]
    config = PrestoConfig(n_features=s["n_features"], num_classes=k, penalize_first_slope=False)
    model = PrestoForOrdinalClassification(config).double()
    model.fit(
        torch.as_tensor(train.inputs), torch.as_tensor(train.labels), s["limit_lambda"], max_iter=3000, tol=1e-15
    )
    alphas, beta = fit_proportional_odds(train.inputs, train.labels, k)
    deviation = max(
        np.abs(model.intercepts.detach().numpy() - alphas).max(),
        np.abs(model.slopes.detach().numpy() - beta[None, :]).max(),
    )
    return float(deviation)


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    claim.record(
        "PRESTO", "max_abs_deviation_from_po", claim.cached("limit", lambda: {"value": limit_property(s)})["value"]
    )
    rows = {}
    for seed in claim.seeds:
        r = claim.cached(f"rep-{seed}", repetition, seed, s)
        rows[seed] = r
        claim.record("PRESTO", "rare_mse", r["presto"], unit=seed)
        claim.record("logistic", "rare_mse", r["logistic"], unit=seed)
        claim.record("proportional odds", "rare_mse", r["po"], unit=seed)
        claim.record("0.9 × logistic", "rare_mse", s["ratio_bar"] * r["logistic"], unit=seed)
        claim.record("0.9 × PO", "rare_mse", s["ratio_bar"] * r["po"], unit=seed)
        claim.record("PRESTO", "beats_logistic", float(r["presto"] < r["logistic"]), unit=seed)
        claim.record("PRESTO", "beats_po", float(r["presto"] < r["po"]), unit=seed)
    claim.details["per_seed"] = {str(k): v for k, v in rows.items()}
    claim.plot_points(
        "rare-mse", ["rare_mse"], methods=["PRESTO", "logistic", "proportional odds"],
        title="Rare-class probability MSE on the sparse-difference simulation (per repetition)",
    )  # fmt: skip


if __name__ == "__main__":
    CLAIM.main(run)
