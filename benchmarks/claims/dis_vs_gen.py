"""Claim of P51 (Zheng et al., ICML 2023): multiclass naive Bayes approaches its asymptotic error with O(log n)
training samples, multiclass logistic regression with O(n) (n: feature dimension), so naive Bayes is the better
linear-evaluation head when data are few.

Setting: the paper's "easy" Gaussian mixture (official `data/generate_data.py`: K classes with mean −1 (k = 0) or
2^{k−1} (k ≥ 1) on every coordinate, covariance diag(n on the first ⌊n/2⌋ coordinates, 1 on the rest)), K = 3,
balanced training draws of m examples, naive Bayes with the pooled prior-weighted diagonal variance (official
`models/gaussnb.py`) against scikit-learn's L-BFGS logistic regression with C = 1 (official `models/logistic.py`).

Part 1 (the curve): n = 100, m ∈ {9, 18, 36, 72, 144, 288, 576}, 5 001 test points, 3 repeats (units).
Part 2 (the scaling the theory predicts): n ∈ {25, 50, 100, 200}, m ∈ {6, 12, …, 3072} (doubling), 3 000 test
points, 3 repeats; m*(n) = the smallest m from which the mean test error stays ≤ 0.05; the log-log slope of m* against
n is fitted by least squares for each head (O(n) → slope ≈ 1; O(log n) → slope ≈ 0.24 over this range of n).

Rules (fixed before the first run; part 1's bars are from a prototype of this check, part 2's are this project's):
1. naive Bayes mean test error at m = 36 ≤ 0.02;
2. logistic regression mean test error at m = 144 ≥ 0.2;
3. logistic regression's m* slope ≥ 0.7;
4. naive Bayes's m* slope ≤ 0.4;
5. naive Bayes's m* < logistic regression's m* at every n (fraction of the four n ≥ 1).
Run: `python benchmarks/claims/dis_vs_gen.py [--smoke]` (each part is cached per n).
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.analysis.dis_vs_gen import gaussian_mixture, sample_complexity_curve, samples_to_reach
from hf_methods.harness.claims import Claim, Threshold

CLAIM = Claim(
    slug="dis_vs_gen",
    seeds=[0, 1, 2],
    settings={
        "num_classes": 3,
        "curve_features": 100,
        "curve_sizes": [9, 18, 36, 72, 144, 288, 576],
        "curve_test_per_class": 1667,
        "scaling_features": [25, 50, 100, 200],
        "scaling_sizes": [6 * 2**i for i in range(10)],
        "scaling_test_per_class": 1000,
        "target_error": 0.05,
        "logistic_C": 1.0,
    },
    smoke={"seeds": [0], "scaling_features": [25, 50], "scaling_sizes": [6, 12, 24, 48, 96, 192]},
    rules=[
        Threshold("naive Bayes error at m = 36 ≤ 0.02", "error_m36", "naive Bayes", "<=", 0.02),
        Threshold("logistic regression error at m = 144 ≥ 0.2", "error_m144", "logistic regression", ">=", 0.2),
        Threshold("logistic regression m*(n) log-log slope ≥ 0.7", "mstar_slope", "logistic regression", ">=", 0.7),
        Threshold("naive Bayes m*(n) log-log slope ≤ 0.4", "mstar_slope", "naive Bayes", "<=", 0.4),
        Threshold("naive Bayes needs fewer samples at every n", "nb_fewer_at_every_n", "naive Bayes", ">=", 1.0),
    ],
    task={
        "type": "tabular-classification",
        "dataset_name": "easy Gaussian mixture (Zheng et al. 2023 simulation)",
        "dataset_type": "synthetic",
        "split": "test",
    },
)

NAMES = {"naive_bayes": "naive Bayes", "logistic_regression": "logistic regression"}


def curve_run(n: int, sizes: list[int], test_per_class: int, seeds: list[int], s: dict) -> dict:
    torch.set_num_threads(1)
    k = s["num_classes"]
    test_x, test_y = gaussian_mixture(n, k, test_per_class, seed=np.random.default_rng(1000 + n))
    out = {}
    for seed in seeds:  # one repeat per seed: a fresh balanced draw of each size from a fresh pool
        pool_x, pool_y = gaussian_mixture(n, k, max(sizes) // k, seed=np.random.default_rng(10_000 * n + seed))
        curve = sample_complexity_curve(pool_x, pool_y, test_x, test_y, sizes, repeats=1, seed=seed, C=s["logistic_C"])
        out[str(seed)] = {head: curve.mean_error[head] for head in curve.mean_error}
    return {"sizes": sizes, "errors": out}


def run(claim) -> None:
    s = claim.settings
    seeds = claim.seeds
    # part 1: the curve at n = 100
    part1 = claim.cached(
        "curve", curve_run, s["curve_features"], s["curve_sizes"], s["curve_test_per_class"], seeds, s
    )
    sizes = part1["sizes"]
    for seed in seeds:
        for head, errors in part1["errors"][str(seed)].items():
            curve = dict(zip(sizes, errors))
            claim.record(NAMES[head], "error_m36", curve[36], unit=seed)
            claim.record(NAMES[head], "error_m144", curve[144], unit=seed)
    # part 2: m*(n)
    mstar = {head: {} for head in NAMES}
    curves = {}
    for n in s["scaling_features"]:
        r = claim.cached(f"scaling-n{n}", curve_run, n, s["scaling_sizes"], s["scaling_test_per_class"], seeds, s)
        from hf_methods.analysis.dis_vs_gen.analysis import SampleComplexityCurve

        per_head = {h: np.array([r["errors"][str(seed)][h] for seed in seeds]) for h in NAMES}
        curve = SampleComplexityCurve(
            sizes=r["sizes"],
            mean_error={h: per_head[h].mean(0).tolist() for h in NAMES},
            std_error={h: per_head[h].std(0).tolist() for h in NAMES},
            label=f"n = {n}",
        )
        curves[n] = curve
        for head in NAMES:
            mstar[head][n] = samples_to_reach(curve, head, s["target_error"])
    slopes = {}
    for head in NAMES:
        ns = [n for n in s["scaling_features"] if mstar[head][n] is not None]
        if len(ns) >= 2:
            slope = float(np.polyfit(np.log(ns), np.log([mstar[head][n] for n in ns]), 1)[0])
        else:
            slope = float("nan")
        slopes[head] = slope
        claim.record(NAMES[head], "mstar_slope", slope)
    fewer = [
        mstar["naive_bayes"][n] is not None
        and (mstar["logistic_regression"][n] is None or mstar["naive_bayes"][n] < mstar["logistic_regression"][n])
        for n in s["scaling_features"]
    ]
    claim.record("naive Bayes", "nb_fewer_at_every_n", float(np.mean(fewer)))
    claim.details["curve_n100"] = part1
    claim.details["mstar"] = {NAMES[h]: {str(n): v for n, v in mstar[h].items()} for h in NAMES}
    claim.details["mstar_slopes"] = {NAMES[h]: v for h, v in slopes.items()}
    claim.details["scaling_mean_errors"] = {str(n): c.mean_error for n, c in curves.items()}
    _plot(claim, part1, mstar, s)


def _plot(claim, part1, mstar, s) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    sizes = part1["sizes"]
    for i, head in enumerate(NAMES):
        errors = np.array([part1["errors"][str(seed)][head] for seed in claim.seeds])
        left.errorbar(sizes, errors.mean(0), yerr=errors.std(0), fmt="o-", color=f"C{i}", label=NAMES[head])
    left.set_xscale("log")
    left.set_xlabel("training examples m")
    left.set_ylabel("test error")
    left.set_title(f"n = {s['curve_features']}, K = {s['num_classes']}", fontsize=9)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    ns = np.array(s["scaling_features"], dtype=float)
    for i, head in enumerate(NAMES):
        points = [(n, mstar[head][int(n)]) for n in ns if mstar[head][int(n)] is not None]
        if points:
            right.plot(*zip(*points), "o-", color=f"C{i}", label=f"{NAMES[head]} (measured)")
    anchor_lr = mstar["logistic_regression"][int(ns[0])]
    anchor_nb = mstar["naive_bayes"][int(ns[0])]
    if anchor_lr:
        right.plot(ns, anchor_lr * ns / ns[0], "--", color="C1", alpha=0.6, label="∝ n (theory, LR)")
    if anchor_nb:
        right.plot(
            ns, anchor_nb * np.log(ns) / np.log(ns[0]), "--", color="C0", alpha=0.6, label="∝ log n (theory, NB)"
        )
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("feature dimension n")
    right.set_ylabel(f"m* (error ≤ {s['target_error']})")
    right.set_title("samples needed vs dimension", fontsize=9)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(claim.plot_path("sample-complexity"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    CLAIM.main(run)
