"""Claim of P29 (Radhakrishnan, Belkin & Uhler, PNAS 2023): infinitely wide and deep networks classify like one of
three classical classifiers, decided by the slope ξ = ψ'(1) of the activation's dual ψ at its fixed point ρ = 1:
1-nearest neighbour (ξ > 1), majority vote (ξ < 1) or a singular kernel classifier (ξ = 1, e.g. ReLU).

The paper's results are theorems about L → ∞; this check measures how far the depth-L NTK classifier (interpolating
kernel regression on one-hot labels, `numpy.linalg.lstsq` with rcond 1e-12 in float64, the kernel divided by its
diagonal at every layer) agrees with each limit at fixed large depths. Settings and margins are this project's, fixed
before the first run of this script.

Majority vote with ties: the stratified splits give several digit classes the same (largest) training count, so the
majority vote is a set; a prediction agrees with it when it is any of those classes. The first run of this script
(settings hash 2a8404cd19d6, kept in the results' history) compared with the smallest tied label only, and rules 2 and
3 failed on one seed (agreement 0.0 and 0.017) for that reason alone: the kernel there is constant and the NTK picked
another of the tied classes. That run's settings and rules are otherwise identical to this one's.

Data (per seed): scikit-learn digits, a stratified split seeded by the seed, 300 training and 300 test digits, PCA(10)
fitted on the training digits, every row put on the unit sphere. Unit = seed (5 seeds). Agreement = the fraction of
test digits on which the NTK classifier and the limit predict the same label.

Activations (a_i: Hermite coefficients of φ, ψ(ρ) = Σ a_i² ρ^i):

- "ξ = 2.5, ψ'(0) = 0": a_2² = a_3² = 1/2 (ψ = (ρ² + ρ³)/2). Off-diagonal correlations fall to the attracting fixed
  point ρ = 0 where ψ' vanishes, so the normalised kernel becomes diagonal faster than any power of the distance:
  the 1-NN end.
- "ξ = 1.5, ψ'(0) = 1/2": a_1² = a_2² = 1/2. A development run (seed 0, before this script existed) found its deep
  classifier agreeing with 1-NN on 95% of digits but with a singular kernel classifier (α ≈ 4.5) on 99.7%: when
  ψ'(ρ*) = s > 0 at the attracting fixed point ρ*, the ratio Kᴸ(x, z)/Kᴸ(x, x) behaves like ‖x − z‖^{−2(1 + log(1/s) /
  log ξ)} times a factor shared by all pairs, a singular kernel of finite order (≈ 5.4 here) rather than 1-NN. It is
  recorded under no rule.
- "ξ = 0.75": a_0² = 1/2, a_1² = a_2² = 1/4. Every correlation flows to ρ = 1 and the normalised kernel to the
  all-ones matrix: the majority-vote end. "ξ = 0.5, affine": a_0² = a_1² = 1/2 (ψ(ρ) = (1 + ρ)/2) gives a kernel of
  rank d + 1 at every depth (least-squares linear regression until the kernel is constant to within rcond).
- "ReLU": the arc-cosine kernel, ξ = 1, the singular-kernel regime; α searched on the grid 1, 1.5, ..., 20.

Rules:

1. (1-NN, ξ > 1) "ξ = 2.5, ψ'(0) = 0" at L = 100: mean agreement with 1-NN ≥ 0.97;
2. (majority vote, ξ < 1) "ξ = 0.75" at L = 200: mean agreement with the majority vote ≥ 0.97;
3. (majority vote, the affine case) "ξ = 0.5, affine" at L = 50: mean agreement with the majority vote ≥ 0.97;
4. (singular kernel, ξ = 1) ReLU at L = 500: mean agreement with the best-α singular kernel classifier ≥ 0.95;
5. (depth moves the classifier to its limit) "ξ = 2.5, ψ'(0) = 0": agreement with 1-NN at L = 100 minus at L = 1 > 0,
   whole bootstrap interval over seeds;
6. (the empirical NTK is the closed form) width-4096 ReLU networks with one hidden layer (NTK parameterisation, 5
   seeds, 12 test digits): mean relative Frobenius error ‖Θ − K¹‖ / ‖K¹‖ < 0.05;
7. (and the error shrinks with width) the same error at width 64 minus at width 4096 > 0 (whole interval over seeds).

Recorded under no rule: every activation's agreement curves over depths 1 … 1000, best α per depth, accuracies, the
off-diagonal mean of the normalised kernel, and depth-3 ReLU networks of widths 64, 256, 1024.

Run: `python benchmarks/claims/deep_ntk.py [--smoke]` (about a minute on one idle thread; each seed is cached).
"""

from __future__ import annotations

import dataclasses
import math

from hf_methods.analysis.deep_ntk.analysis import (
    DepthLimitAgreement,
    WidthConvergence,
    depth_limit_agreement,
    empirical_ntk_convergence,
    plot_depth_limits,
    plot_width_convergence,
)
from hf_methods.analysis.deep_ntk.training import sphere_digits
from hf_methods.harness.claims import Claim, Compare, Threshold

H = math.sqrt(0.5)
Q = 0.5  # √(1/4)
ACTIVATIONS = {
    "ξ = 2.5, ψ'(0) = 0": {"hermite_coeffs": [0.0, 0.0, H, H]},
    "ξ = 1.5, ψ'(0) = 1/2": {"hermite_coeffs": [0.0, H, H]},
    "ξ = 0.75": {"hermite_coeffs": [H, Q, Q]},
    "ξ = 0.5, affine": {"hermite_coeffs": [H, H]},
    "ReLU": {"activation": "relu"},
}
ONE_NN, VOTE, AFFINE, RELU = "ξ = 2.5, ψ'(0) = 0", "ξ = 0.75", "ξ = 0.5, affine", "ReLU"

CLAIM = Claim(
    slug="deep_ntk",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "n_train": 300,
        "n_test": 300,
        "pca_dim": 10,
        "rcond": 1e-12,
        "alphas": [1.0 + 0.5 * i for i in range(39)],
        "depths": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
        "activations": ACTIVATIONS,
        "rule_depths": {ONE_NN: 100, VOTE: 200, AFFINE: 50, RELU: 500},
        "majority_ties": "any most frequent training class counts as the majority vote",
        "shallow_depth": 1,
        "empirical_points": 12,
        "empirical_widths": [64, 256, 1024, 4096],
        "empirical_depth": 1,
        "empirical_deep_widths": [64, 256, 1024],
        "empirical_deep_depth": 3,
    },
    smoke={"depths": [1, 10, 50, 100, 200, 500], "empirical_widths": [64, 4096], "empirical_deep_widths": [64]},
    rules=[
        Threshold("(1) ξ > 1, ψ'(0) = 0 → 1-NN (L = 100)", "agreement_1nn@100", ONE_NN, ">=", 0.97),
        Threshold("(2) ξ < 1 → majority vote (L = 200)", "agreement_majority@200", VOTE, ">=", 0.97),
        Threshold("(3) ξ = 0.5 affine → majority vote (L = 50)", "agreement_majority@50", AFFINE, ">=", 0.97),
        Threshold("(4) ReLU (ξ = 1) → singular kernel (L = 500)", "agreement_singular@500", RELU, ">=", 0.95),
        Compare(
            "(5) depth moves the ξ > 1 classifier to 1-NN",
            "agreement_1nn",
            f"{ONE_NN} @ L=100",
            f"{ONE_NN} @ L=1",
            margin=0.0,
            decide_by="interval",
        ),
        Threshold(
            "(6) empirical NTK ≈ closed form (ReLU, L = 1, width 4096)", "relative_error", "width 4096", "<", 0.05
        ),
        Compare(
            "(7) the error shrinks with width",
            "relative_error",
            "width 64",
            "width 4096",
            margin=0.0,
            higher_is_better=True,
            decide_by="interval",
        ),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "scikit-learn digits (PCA 10, projected onto the unit sphere)",
        "dataset_type": "sklearn-digits",
        "split": "test",
    },
)


def agreement_run(seed: int, name: str, settings: dict) -> dict:
    x_tr, y_tr, x_te, y_te = sphere_digits(settings["n_train"], settings["n_test"], settings["pca_dim"], seed)
    result = depth_limit_agreement(
        x_tr,
        y_tr,
        x_te,
        y_te,
        depths=settings["depths"],
        alphas=settings["alphas"],
        rcond=settings["rcond"],
        normalize_inputs=False,
        **settings["activations"][name],
    )
    return dataclasses.asdict(result)


def width_run(seed: int, widths: list[int], depth: int, settings: dict) -> dict:
    x_tr, *_ = sphere_digits(settings["n_train"], settings["n_test"], settings["pca_dim"], seed)
    result = empirical_ntk_convergence(
        x_tr[: settings["empirical_points"]], widths=widths, depth=depth, activation="relu", seeds=[seed]
    )
    return dataclasses.asdict(result)


def run(claim):
    s = claim.settings
    curves = {}
    for name in s["activations"]:
        per_seed = []
        for seed in claim.seeds:
            out = claim.cached(
                f"agreement-{list(s['activations']).index(name)}-seed{seed}", agreement_run, seed, name, s
            )
            per_seed.append(out)
            for i, depth in enumerate(out["depths"]):
                for metric in ("agreement_1nn", "agreement_majority", "agreement_singular", "best_alpha"):
                    claim.record(name, f"{metric}@{depth}", out[metric][i], unit=seed)
                    claim.record(f"{name} @ L={depth}", metric, out[metric][i], unit=seed)
                claim.record(name, f"ntk_accuracy@{depth}", out["ntk_accuracy"][i], unit=seed)
                claim.record(name, f"offdiag_mean@{depth}", out["offdiag_mean"][i], unit=seed)
            claim.record(name, "tied_majority_classes", out["majority_classes"], unit=seed)
            claim.record("1-NN", "accuracy", out["nn_accuracy"], unit=seed)
            claim.record("majority vote", "accuracy", out["majority_accuracy"], unit=seed)
        curves[name] = per_seed
    claim.details["slope_at_one"] = {name: curves[name][0]["slope_at_one"] for name in curves}
    claim.details["regime"] = {name: curves[name][0]["regime"] for name in curves}

    shallow, deep = {}, {}
    for seed in claim.seeds:
        out = claim.cached(f"width-seed{seed}", width_run, seed, s["empirical_widths"], s["empirical_depth"], s)
        shallow[seed] = out
        for width, error in zip(out["widths"], out["relative_error"]):
            claim.record(f"width {width}", "relative_error", error, unit=seed)
        out = claim.cached(
            f"width-deep-seed{seed}", width_run, seed, s["empirical_deep_widths"], s["empirical_deep_depth"], s
        )
        deep[seed] = out
        for width, error in zip(out["widths"], out["relative_error"]):
            claim.record(f"depth {s['empirical_deep_depth']}, width {width}", "relative_error", error, unit=seed)

    # plots: agreement curves of seed 0's split (the mean over seeds is in the metrics), width convergence over seeds
    plot_depth_limits([DepthLimitAgreement(**curves[name][0]) for name in curves], claim.plot_path("depth-limits"))
    for label, runs, depth in (
        ("width", shallow, s["empirical_depth"]),
        ("width-deep", deep, s["empirical_deep_depth"]),
    ):
        first = next(iter(runs.values()))
        merged = WidthConvergence(
            activation="relu",
            depth=depth,
            widths=first["widths"],
            relative_error=[
                sum(r["relative_error"][i] for r in runs.values()) / len(runs) for i in range(len(first["widths"]))
            ],
            relative_error_per_seed=[
                [r["relative_error"][i] for r in runs.values()] for i in range(len(first["widths"]))
            ],
        )
        plot_width_convergence(merged, claim.plot_path(f"{label}-convergence"))
    claim.note(
        "Agreement is measured at fixed depths, not at L = ∞. The ξ = 1.5 activation with ψ'(0) = 1/2 and the depth-3 "
        "empirical NTKs are recorded under no rule. For ξ < 1 the normalised kernel is the all-ones matrix to within "
        "float64 (see offdiag_mean) at the rule depths, so the majority vote there is the floating-point limit."
    )


if __name__ == "__main__":
    CLAIM.main(run)
