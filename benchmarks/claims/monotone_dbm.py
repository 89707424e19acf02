"""Claim of P32 (Feng, Winston, Kolter, 2023): monotone DBMs have a unique mean-field fixed point and do joint
completion and classification in one model.

Paper: restricting the couplings to W = −(AᵀA − blockdiag(AᵀA)) with ‖A_g‖₂² ≤ 1 − m makes the damped
forward–backward iteration q ← prox_f^α((1 − α)q + α(Wq + b)) converge to a unique mean-field fixed point, where
unrestricted mean-field may oscillate or have several fixed points; the model completes images and classifies them.
The paper's experiments are MNIST/CIFAR-10 convolutional models; this is the project's CPU check on 8×8 digits.

Check (settings below, fixed before the first run):

1. prox-softmax: the largest deviation from scipy's SLSQP minimiser of ½(1 − α)‖p‖² − xᵀp + α Σ p log p over the
   simplex (20 random rows of 5, α ∈ {0.05, 0.125, 0.5, 0.9}) is < 1e-3, and its gap to softmax at α = 0.999 < 1e-3;
2. uniqueness: from 5 random initialisations (tolerance 1e-8), the fixed points of a random monotone DBM (64 binary
   pixels, 8 hidden groups of 8, 10 labels, 40% pixels observed) agree within 1e-3 (max abs difference); with the
   same layout and an unrestricted hollow symmetric W (entries ~ N(0, 4²)), naive synchronous mean-field
   q ← softmax(Wq + b) from the same initialisations is non-unique (spread > 0.1) or does not converge
   (last relative residual > 1e-3) — recorded as 1;
3. training (digits binarised at 0.5, 80/20 split, 40% of pixels observed at random, 3 seeds): held-out label accuracy
   ≥ 0.75 (seed mean), and completion accuracy on the unobserved test pixels beats the per-pixel marginal baseline
   (the most frequent training value of each pixel, same masks) by ≥ 0.05 (mean paired difference over seeds).

Run: `python benchmarks/claims/monotone_dbm.py [--smoke]`; writes `benchmarks/results/monotone_dbm.json` and
`benchmarks/results/monotone_dbm-training.png`.
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="monotone_dbm",
    seeds=[0, 1, 2],
    settings={
        "layout": {"group_counts": [64, 8, 1], "group_sizes": [2, 8, 10]},
        "alpha": 0.125,
        "monotone_margin": 0.01,
        "prox_alphas": [0.05, 0.125, 0.5, 0.9],
        "prox_rows": 20,
        "uniqueness_inits": 5,
        "uniqueness_tol": 1e-8,
        "uniqueness_initializer_range": 3.0,
        "naive_weight_std": 4.0,
        "naive_max_iter": 500,
        "observe_fraction": 0.4,
        "binarise_threshold": 0.5,
        "epochs": 5,
        "batch_size": 64,
        "learning_rate": 0.01,
        "train_tol": 1e-3,
        "train_max_iter": 100,
        "focal_gamma": 2.0,
        "loss_weights": {"classification": 0.5, "completion": 0.5},
    },
    smoke={"seeds": [0], "epochs": 1, "prox_rows": 3},
    rules=[
        Threshold("prox-softmax matches scipy's convex solver", "max_abs_error_vs_scipy", "prox-softmax", "<", 1e-3),
        Threshold("prox-softmax tends to softmax (α = 0.999)", "max_abs_gap_to_softmax", "prox-softmax", "<", 1e-3),
        Threshold("monotone DBM fixed point is unique (5 inits)", "spread", "monotone DBM mean-field", "<", 1e-3),
        Threshold(
            "naive mean-field with unrestricted W is non-unique or does not converge",
            "nonunique_or_diverges",
            "naive mean-field",
            "==",
            1,
        ),
        Threshold("label accuracy ≥ 0.75", "label_accuracy", "monotone DBM", ">=", 0.75),
        Compare(
            "completion beats the per-pixel marginal baseline by ≥ 5 points",
            "completion_accuracy",
            "monotone DBM",
            "per-pixel marginal",
            margin=0.05,
        ),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "digits (binarised)",
        "dataset_type": "sklearn",
        "split": "test",
    },
)


def _config(s, **extra):
    from hf_methods.models.monotone_dbm import MonotoneDBMConfig

    return MonotoneDBMConfig(
        **s["layout"],
        alpha=s["alpha"],
        monotone_margin=s["monotone_margin"],
        focal_gamma=s["focal_gamma"],
        classification_weight=s["loss_weights"]["classification"],
        completion_weight=s["loss_weights"]["completion"],
        **extra,
    )


def prox_check(s) -> dict:
    from scipy.optimize import minimize

    from hf_methods.models.monotone_dbm import prox_softmax

    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for alpha in s["prox_alphas"]:
        x = torch.randn(s["prox_rows"], 5, generator=g, dtype=torch.float64) * 2
        p = prox_softmax(x, alpha).numpy()
        for row, out in zip(x.numpy(), p):
            res = minimize(
                lambda q: 0.5 * (1 - alpha) * q @ q - row @ q + alpha * np.sum(q * np.log(np.clip(q, 1e-300, None))),
                np.full(5, 0.2),
                jac=lambda q: (1 - alpha) * q - row + alpha * (np.log(np.clip(q, 1e-300, None)) + 1),
                method="SLSQP",
                bounds=[(1e-12, 1.0)] * 5,
                constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1}],
                options={"ftol": 1e-14, "maxiter": 500},
            )
            worst = max(worst, float(np.abs(out - res.x).max()))
    x = torch.randn(50, 5, generator=g, dtype=torch.float64) * 2
    gap = (prox_softmax(x, 0.999) - x.softmax(-1)).abs().max().item()
    return {"max_abs_error_vs_scipy": worst, "max_abs_gap_to_softmax": gap}


def uniqueness_check(s, seed: int) -> dict:
    from hf_methods.models.monotone_dbm import MonotoneDBMModel
    from hf_methods.models.monotone_dbm.training import naive_mean_field

    torch.manual_seed(seed)
    cfg = _config(s, initializer_range=s["uniqueness_initializer_range"], max_iter=20000)
    model = MonotoneDBMModel(cfg).double().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.bias.normal_(0, 1.0, generator=g)
    pixels = torch.randint(0, 2, (4, cfg.num_pixels), generator=g)
    mask = torch.rand(4, cfg.num_pixels, generator=g) < s["observe_fraction"]
    inits = [torch.rand(4, cfg.num_variables, generator=g, dtype=torch.float64) for _ in range(s["uniqueness_inits"])]
    finals, iterations = [], []
    for init in inits:
        q, residual, it = model.mean_field(pixels, mask, init=init, tol=s["uniqueness_tol"])
        finals.append(q)
        iterations.append(it)
    spread = max((q - finals[0]).abs().max().item() for q in finals)
    raw = torch.randn(cfg.num_variables, cfg.num_variables, generator=g, dtype=torch.float64) * s["naive_weight_std"]
    weight = (raw + raw.T) / 2**0.5 * (1 - model.block_mask().double())
    bias = torch.randn(cfg.num_variables, generator=g, dtype=torch.float64)
    naive, residuals = [], []
    for init in inits:
        q, res = naive_mean_field(weight, bias, cfg.group_sizes, cfg.group_counts, init, max_iter=s["naive_max_iter"])
        naive.append(q)
        residuals.append(res)
    naive_spread = max((q - naive[0]).abs().max().item() for q in naive)
    return {
        "spread": spread,
        "max_iterations": max(iterations),
        "naive_spread": naive_spread,
        "naive_max_residual": max(residuals),
        "nonunique_or_diverges": int(naive_spread > 0.1 or max(residuals) > 1e-3),
    }


def train_one(s, seed: int) -> dict:
    from hf_methods.models.monotone_dbm import MonotoneDBMModel
    from hf_methods.models.monotone_dbm.training import (
        binarised_digits,
        evaluate_monotone_dbm,
        fit_monotone_dbm,
        marginal_baseline_accuracy,
    )

    torch.set_num_threads(1)
    (x_train, y_train), (x_test, y_test) = binarised_digits(seed=0, threshold=s["binarise_threshold"])
    torch.manual_seed(seed)
    cfg = _config(
        s,
        tol=s["train_tol"],
        backward_tol=s["train_tol"],
        max_iter=s["train_max_iter"],
        backward_max_iter=s["train_max_iter"],
    )
    model = MonotoneDBMModel(cfg)
    steps_per_epoch = -(-len(x_train) // s["batch_size"])
    curve = []

    def callback(step, loss):
        if step % steps_per_epoch == 0:
            r = evaluate_monotone_dbm(model, x_test, y_test, observe_fraction=s["observe_fraction"], seed=100 + seed)
            model.train()
            curve.append([step // steps_per_epoch, r["label_accuracy"], r["completion_accuracy"]])

    fit_monotone_dbm(
        model,
        x_train,
        y_train,
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        learning_rate=s["learning_rate"],
        observe_fraction=s["observe_fraction"],
        seed=seed,
        callback=callback,
    )
    r = evaluate_monotone_dbm(model, x_test, y_test, observe_fraction=s["observe_fraction"], seed=100 + seed)
    return {
        "label_accuracy": r["label_accuracy"],
        "completion_accuracy": r["completion_accuracy"],
        "baseline_completion_accuracy": marginal_baseline_accuracy(x_train, x_test, r["mask"]),
        "curve": curve,
    }


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    prox = claim.cached("prox", prox_check, s)
    for metric in ("max_abs_error_vs_scipy", "max_abs_gap_to_softmax"):
        claim.record("prox-softmax", metric, prox[metric])
    for seed in claim.seeds:
        u = claim.cached(f"uniqueness-seed{seed}", uniqueness_check, s, seed)
        claim.record("monotone DBM mean-field", "spread", u["spread"], unit=f"seed{seed}")
        claim.record("monotone DBM mean-field", "max_iterations", u["max_iterations"], unit=f"seed{seed}")
        claim.record("naive mean-field", "spread", u["naive_spread"], unit=f"seed{seed}")
        claim.record("naive mean-field", "max_residual", u["naive_max_residual"], unit=f"seed{seed}")
        claim.record("naive mean-field", "nonunique_or_diverges", u["nonunique_or_diverges"], unit=f"seed{seed}")
    curves = {"label accuracy": {}, "completion accuracy (unobserved pixels)": {}}
    for seed in claim.seeds:
        t = claim.cached(f"train-seed{seed}", train_one, s, seed)
        claim.record("monotone DBM", "label_accuracy", t["label_accuracy"], unit=f"seed{seed}")
        claim.record("monotone DBM", "completion_accuracy", t["completion_accuracy"], unit=f"seed{seed}")
        claim.record(
            "per-pixel marginal", "completion_accuracy", t["baseline_completion_accuracy"], unit=f"seed{seed}"
        )
        curves["label accuracy"][seed] = [(e, a) for e, a, _ in t["curve"]]
        curves["completion accuracy (unobserved pixels)"][seed] = [(e, c) for e, _, c in t["curve"]]
        print(
            f"seed {seed}: {t['label_accuracy']:.3f} label, {t['completion_accuracy']:.3f} completion, "
            f"{t['baseline_completion_accuracy']:.3f} baseline"
        )
    claim.plot_curves(
        "training",
        curves,
        xlabel="epoch",
        ylabel="held-out accuracy",
        title=f"Monotone DBM on binarised digits, 40% pixels observed (mean ± std, {len(claim.seeds)} seeds)",
    )


if __name__ == "__main__":
    CLAIM.main(run)
