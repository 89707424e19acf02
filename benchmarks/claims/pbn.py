"""Claim check of PBN (P23, Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data").

Paper: on tabular data, without novel labels and without knowing the number of novel classes, a simple
projection-based network (PBN) tuned by a k-fold search over hidden *known* classes competes with complex NCD
methods, and its latent space estimates the number of novel classes.

CPU check (scikit-learn digits as 64-feature tabular data, all 1797 samples; digits 0–4 known and labelled, 5–9
unlabelled; PBN 64 → 64 → 16, AdamW lr 1e-3, batch 128, 30 epochs; 3 seeds, one unit per seed). Rules fixed before
the first run:

1. (hard, Compare) Hungarian accuracy of PBN (w = 0.5) + k-means (k = 5) on the novel samples ≥ raw-feature k-means
   + 0.05 (mean paired difference over seeds).
2. (hard, Threshold) the silhouette-estimated number of novel classes on the PBN latents (k ∈ 2..10) lies in
   {4, 5, 6} on every seed (metric `k_in_4_to_6`, mean over seeds must be 1).

Soft checks, recorded as metrics and notes, not as rules (they do not change the outcome):

3. PBN with w = 0.5 ≥ both w = 1 (cross-entropy only) and w = 0 (reconstruction only) − 0.01.
4. The configuration chosen by the k-fold hidden-class search (3 folds hiding 2 of the 5 known classes; grid
   w ∈ {0, 0.5, 1} × lr ∈ {1e-3, 3e-3}; novel labels never read) is within 0.03 of the oracle-best configuration of
   the same grid scored on the true novel classes.

Also recorded: NCD k-means (frozen known-class centroids) against k-means on the same PBN latents.
"""

from __future__ import annotations

import numpy as np

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="pbn",
    seeds=[0, 1, 2],
    settings={
        "dataset": "sklearn digits (1797 samples, 64 features in [0, 1])",
        "known_classes": [0, 1, 2, 3, 4],
        "hidden_dims": [64],
        "latent_dim": 16,
        "epochs": 30,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "w": 0.5,
        "k_range": [2, 10],
        "kmeans_n_init": 10,
        "search_grid": {"w": [0.0, 0.5, 1.0], "learning_rate": [1e-3, 3e-3]},
        "search_folds": 3,
        "search_hidden_per_fold": 2,
        "margin_vs_raw": 0.05,
        "soft_w_tolerance": 0.01,
        "soft_search_tolerance": 0.03,
    },
    smoke={"epochs": 2, "seeds": [0], "search_grid": {"w": [0.5], "learning_rate": [1e-3]}, "search_folds": 1},
    rules=[
        Compare(
            "PBN + k-means vs raw k-means",
            metric="novel_accuracy",
            method="PBN w=0.5 + k-means",
            baseline="raw k-means",
            margin=0.05,
        ),
        Threshold("estimated k in {4,5,6}", metric="k_in_4_to_6", method="PBN w=0.5", op=">=", value=1.0),
    ],
    task={
        "type": "novel-class-discovery",
        "dataset_name": "sklearn digits (5 novel classes)",
        "dataset_type": "digits",
    },
)


def _params(settings, **overrides):
    params = {
        "w": settings["w"],
        "learning_rate": settings["learning_rate"],
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "hidden_dims": settings["hidden_dims"],
        "latent_dim": settings["latent_dim"],
    }
    params.update(overrides)
    return params


def one_seed(seed: int, settings: dict) -> dict:
    from sklearn.cluster import KMeans

    from hf_methods.common.clustering import cluster_accuracy
    from hf_methods.models.pbn import discover_novel_classes, estimate_num_novel_classes
    from hf_methods.models.pbn.training import digits_ncd, ncd_kfold_hparam_search, train_and_discover

    split = digits_ncd(settings["known_classes"])
    k = split.num_novel
    n_init = settings["kmeans_n_init"]
    raw = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(split.x_unlabelled.numpy())
    out = {"raw_kmeans": cluster_accuracy(raw, split.y_novel)}

    # every configuration of the grid, scored on the true novel classes (the oracle; evaluation only)
    grid = settings["search_grid"]
    oracle = {}
    main = None
    for w in grid["w"]:
        for lr in grid["learning_rate"]:
            result = train_and_discover(split, _params(settings, w=w, learning_rate=lr), seed=seed)
            oracle[f"w={w},lr={lr}"] = result["accuracy"]
            if w == settings["w"] and lr == settings["learning_rate"]:
                main = result
    for w in (0.0, 0.5, 1.0):
        key = f"w={w},lr={settings['learning_rate']}"
        if key not in oracle:
            oracle[key] = train_and_discover(split, _params(settings, w=w), seed=seed)["accuracy"]
    if main is None:
        main = train_and_discover(split, _params(settings), seed=seed)
    out["oracle"] = oracle
    out["pbn_kmeans"] = main["accuracy"]

    model = main["model"]
    ncd = discover_novel_classes(
        model, split.x_unlabelled, k, method="ncd_kmeans", x_known=split.x_known, y_known=split.y_known, seed=seed
    )
    out["pbn_ncd_kmeans"] = cluster_accuracy(ncd, split.y_novel)
    low, high = settings["k_range"]
    out["k_hat"] = estimate_num_novel_classes(
        model.encode(split.x_unlabelled).detach(), range(low, high + 1), seed=seed, n_init=n_init
    )

    # the practical search: known classes only
    best, results = ncd_kfold_hparam_search(
        split.x_known,
        split.y_known,
        {
            "w": grid["w"],
            "learning_rate": grid["learning_rate"],
            "epochs": [settings["epochs"]],
            "batch_size": [settings["batch_size"]],
            "hidden_dims": [settings["hidden_dims"]],
            "latent_dim": [settings["latent_dim"]],
        },
        n_folds=settings["search_folds"],
        hidden_per_fold=settings["search_hidden_per_fold"],
        seed=seed,
    )
    out["search_scores"] = {f"w={p['w']},lr={p['learning_rate']}": s for p, s in results}
    out["search_choice"] = f"w={best['w']},lr={best['learning_rate']}"
    out["search_choice_novel_accuracy"] = oracle[out["search_choice"]]
    out["oracle_best_novel_accuracy"] = max(
        oracle[f"w={w},lr={lr}"] for w in grid["w"] for lr in grid["learning_rate"]
    )
    return out


def run(claim):
    s = claim.settings
    lr = s["learning_rate"]
    soft_w, soft_search = [], []
    for seed in claim.seeds:
        r = claim.cached(f"seed{seed}", one_seed, seed, s)
        unit = f"seed{seed}"
        claim.record("raw k-means", "novel_accuracy", r["raw_kmeans"], unit=unit)
        claim.record("PBN w=0.5 + k-means", "novel_accuracy", r["pbn_kmeans"], unit=unit)
        claim.record("PBN w=0.5 + NCD k-means", "novel_accuracy", r["pbn_ncd_kmeans"], unit=unit)
        claim.record("PBN w=1 + k-means", "novel_accuracy", r["oracle"][f"w=1.0,lr={lr}"], unit=unit)
        claim.record("PBN w=0 + k-means", "novel_accuracy", r["oracle"][f"w=0.0,lr={lr}"], unit=unit)
        claim.record("k-fold search choice", "novel_accuracy", r["search_choice_novel_accuracy"], unit=unit)
        claim.record("oracle-best of grid", "novel_accuracy", r["oracle_best_novel_accuracy"], unit=unit)
        claim.record("PBN w=0.5", "k_hat", r["k_hat"], unit=unit)
        claim.record("PBN w=0.5", "k_in_4_to_6", float(4 <= r["k_hat"] <= 6), unit=unit)
        soft_w.append(r["pbn_kmeans"] - max(r["oracle"][f"w=1.0,lr={lr}"], r["oracle"][f"w=0.0,lr={lr}"]))
        soft_search.append(r["search_choice_novel_accuracy"] - r["oracle_best_novel_accuracy"])
        claim.note(f"seed {seed}: search chose {r['search_choice']}; fold scores {r['search_scores']}")
    w_gap, search_gap = float(np.mean(soft_w)), float(np.mean(soft_search))
    claim.note(
        f"soft check 3 (w=0.5 ≥ max(w=1, w=0) − {s['soft_w_tolerance']}): mean gap {w_gap:+.4f} → "
        f"{'met' if w_gap >= -s['soft_w_tolerance'] else 'missed'}"
    )
    claim.note(
        f"soft check 4 (search choice ≥ oracle-best − {s['soft_search_tolerance']}): mean gap {search_gap:+.4f} → "
        f"{'met' if search_gap >= -s['soft_search_tolerance'] else 'missed'}"
    )
    claim.plot_points(
        "novel-accuracy",
        ["novel_accuracy"],
        title="Digits 5–9 discovered (Hungarian accuracy), 3 seeds",
    )


if __name__ == "__main__":
    CLAIM.main(run)
