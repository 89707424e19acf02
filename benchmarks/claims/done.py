"""Claim of P18 (Sow, Lin, Wang & Liang, ICLR 2024): KL-DRO instance weights (DONE) raise the robustness of the weakest
classes over standard adversarial training (AT) without lowering average robustness.

DONE minimises r·log((1/n) Σ_i exp(ℓ_i/r)) of the per-example PGD losses ℓ_i, i.e. weights each adversarial loss by
w_i = exp(ℓ_i/r)/u with a running normaliser u ← (1 − β)u + β·mean_B exp(ℓ/r). The paper's experiments (CIFAR-10
and others, ResNets) are far beyond a CPU check; the +2-point bar below is this project's, not a number from the
paper, and at this scale the accuracy margins are soft (they may fail without the weights being wrong).

Rules:

1. weight properties (random losses, no training): (i) r = 1e4 gives max|w − 1/n| < 1e-3; (ii) r = 1e-3 puts all
   but < 1e-3 of the mass on the largest loss; (iii) the closed form softmax(ℓ/r) equals the maximiser of
   Σ w_i ℓ_i − r·KL(w ‖ 1/n) over the simplex found numerically (scipy SLSQP), max |Δw| < 1e-4; (iv) the running
   normaliser gives unbiased weights: over 2000 batches of i.i.d. losses, |mean weight − 1| < 0.05 for β ∈
   {0.1, 0.5, 0.9};
2. robustness: scikit-learn digits (balanced; 1437 train / 360 test per seed), ReLU MLP 64-256-256-10, SGD momentum
   0.9, lr 0.05 (/10 at 50% and 75% of the steps), weight decay 5e-4, batch 64, 40 epochs; training attack PGD-ℓ∞
   ε = 0.1, 5 steps of 2.5ε/5, random start; evaluation attack PGD-ℓ∞ ε = 0.1, 20 steps of 2.5ε/20, random start.
   AT (uniform weights) against DONE with r ∈ {0.5, 2}, β = 0.9; the same split, initial network, batch order and
   attack random starts per seed. Held when, for each r, DONE's worst-class robust test accuracy beats AT's by
   ≥ 0.02 and its mean robust test accuracy is ≥ AT's − 0.01 (mean paired differences over 10 seeds, unit = seed).
   10 seeds rather than 3 because a class has only about 36 test images (one image = 2.8 points of its accuracy).

Every (method, seed) run is cached (30 runs of about 7 s each on an idle core; the recorded run took 13 minutes
on a loaded 2-core machine). Run: `python benchmarks/claims/done.py [--smoke]`.
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.done.loss import KLDRONormalizer, kl_dro_weights
from hf_methods.training.done.training import train_robust_digits

WEIGHTS = "KL-DRO weights"

CLAIM = Claim(
    slug="done",
    seeds=list(range(10)),
    settings={
        "dataset": "sklearn digits (balanced), test_size 0.2",
        "model": "ReLU MLP 64-256-256-10",
        "epochs": 40,
        "batch_size": 64,
        "learning_rate": 0.05,
        "lr_decay": "/10 at 50% and 75% of the steps",
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "eps": 0.1,
        "attack_steps": 5,
        "eval_attack_steps": 20,
        "r_values": [0.5, 2.0],
        "beta": 0.9,
        "objective": "ce",
        "eval_every": 5,
        "normalizer_betas": [0.1, 0.5, 0.9],
        "normalizer_batches": 2000,
        "metric": "worst-class and mean PGD-20 robust test accuracy after the last epoch",
    },
    smoke={"epochs": 2, "eval_every": 1, "normalizer_batches": 200, "seeds": [0]},
    rules=[
        Compare(
            "DONE r=0.5 vs AT: worst-class robust accuracy",
            "worst_class_robust_accuracy",
            "DONE (r=0.5)",
            "AT",
            0.02,
        ),
        Compare(
            "DONE r=2 vs AT: worst-class robust accuracy", "worst_class_robust_accuracy", "DONE (r=2)", "AT", 0.02
        ),
        Compare(
            "DONE r=0.5 vs AT: mean robust accuracy (≥ AT − 0.01)", "robust_accuracy", "DONE (r=0.5)", "AT", -0.01
        ),
        Compare("DONE r=2 vs AT: mean robust accuracy (≥ AT − 0.01)", "robust_accuracy", "DONE (r=2)", "AT", -0.01),
        Threshold("(i) r = 1e4: max |w − 1/n|", "max_uniform_deviation", WEIGHTS, "<", 1e-3),
        Threshold("(ii) r = 1e-3: 1 − w[argmax loss]", "argmax_mass_deficit", WEIGHTS, "<", 1e-3),
        Threshold("(iii) closed form = numerical DRO maximiser", "max_deviation_from_solver", WEIGHTS, "<", 1e-4),
        Threshold("(iv) running normaliser: |mean weight − 1|", "max_mean_weight_bias", WEIGHTS, "<", 0.05),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "sklearn digits under PGD-ℓ∞ (ε = 0.1)",
        "dataset_type": "digits",
        "split": "test",
    },
)


def property_uniform_limit() -> float:
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for n in (2, 16, 256):
        losses = torch.rand(n, generator=gen, dtype=torch.float64) * 5.0
        worst = max(worst, (kl_dro_weights(losses, r=1e4) - 1.0 / n).abs().max().item())
    return worst


def property_argmax_limit() -> float:
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    for n in (2, 16, 256):
        losses = torch.randperm(n, generator=gen).double() * 0.05  # distinct losses, gaps of 0.05
        w = kl_dro_weights(losses, r=1e-3)
        worst = max(worst, 1.0 - w[losses.argmax()].item())
    return worst


def numerical_dro_weights(losses: np.ndarray, r: float) -> np.ndarray:
    """argmax_{w ∈ Δ_n} Σ w_i ℓ_i − r Σ w_i log(n w_i), by scipy's SLSQP with the analytic gradient."""
    from scipy.optimize import minimize
    from scipy.special import xlogy

    n = len(losses)

    def negative(w):
        return -(w @ losses - r * (xlogy(w, n * w).sum()))

    def gradient(w):
        return -(losses - r * (np.log(np.maximum(n * w, 1e-300)) + 1.0))

    result = minimize(
        negative,
        np.full(n, 1.0 / n),
        jac=gradient,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return result.x


def property_solver_agreement() -> float:
    rng = np.random.default_rng(2)
    worst = 0.0
    for n, r in [(5, 0.5), (8, 2.0), (12, 1.0), (20, 5.0)]:
        losses = rng.uniform(0.0, 3.0, size=n)
        closed = kl_dro_weights(torch.from_numpy(losses), r).numpy()
        worst = max(worst, float(np.abs(closed - numerical_dro_weights(losses, r)).max()))
    return worst


def property_normalizer_bias(betas, batches: int) -> float:
    """max over β of |mean over batches (after 50 burn-in) of the batch-mean weight − 1|, i.i.d. losses U(0, 3)."""
    worst = 0.0
    for beta in betas:
        gen = torch.Generator().manual_seed(3)
        normalizer = KLDRONormalizer(r=1.0, beta=beta)
        means = []
        for step in range(batches):
            losses = torch.rand(64, generator=gen) * 3.0
            w = normalizer(losses)
            if step >= 50:
                means.append(w.double().mean().item())
        worst = max(worst, abs(float(np.mean(means)) - 1.0))
    return worst


def train_run(r, seed: int, s: dict) -> dict:
    torch.set_num_threads(1)
    return train_robust_digits(
        seed,
        r,
        epochs=s["epochs"],
        lr=s["learning_rate"],
        beta=s["beta"],
        eps=s["eps"],
        attack_steps=s["attack_steps"],
        eval_attack_steps=s["eval_attack_steps"],
        batch_size=s["batch_size"],
        momentum=s["momentum"],
        weight_decay=s["weight_decay"],
        objective=s["objective"],
        eval_every=s["eval_every"],
    )


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    claim.record(WEIGHTS, "max_uniform_deviation", property_uniform_limit())
    claim.record(WEIGHTS, "argmax_mass_deficit", property_argmax_limit())
    claim.record(WEIGHTS, "max_deviation_from_solver", property_solver_agreement())
    claim.record(
        WEIGHTS, "max_mean_weight_bias", property_normalizer_bias(s["normalizer_betas"], s["normalizer_batches"])
    )

    methods = {"AT": None, **{f"DONE (r={r:g})": r for r in s["r_values"]}}
    worst_curves = {name: {} for name in methods}
    per_class = {name: [] for name in methods}
    for seed in claim.seeds:
        for name, r in methods.items():
            key = f"at-seed{seed}" if r is None else f"done-r{r:g}-seed{seed}"
            result = claim.cached(key, train_run, r, seed, s)
            for metric in (
                "worst_class_robust_accuracy",
                "robust_accuracy",
                "clean_accuracy",
                "worst_class_clean_accuracy",
                "train_robust_accuracy",
                "max_weight",
            ):
                claim.record(name, metric, result[metric], unit=seed)
            worst_curves[name][f"seed{seed}"] = [(epoch, worst) for epoch, _, worst in result["curve"]]
            per_class[name].append(result["robust_per_class"])
    claim.details["robust_accuracy_per_class_mean_over_seeds"] = {
        name: [round(float(v), 4) for v in np.nanmean(np.array(rows), axis=0)] for name, rows in per_class.items()
    }
    claim.plot_curves(
        "worst-class",
        worst_curves,
        xlabel="epoch",
        ylabel="worst-class PGD-20 robust test accuracy",
        title=f"digits, PGD-ℓ∞ ε={s['eps']}: AT vs DONE (mean ± std, {len(claim.seeds)} seeds)",
    )
    claim.note(
        "No official code was released; DONE is the paper's PGD / Danskin variant (attack first, weights "
        "w_i = exp(ℓ_i/r)/u detached, u a moving average with rate β, initialised to the first batch's mean). "
        "The r values, β and the schedule are not confirmed against the paper's experiments. "
        f"Mean per-class robust accuracies: {claim.details['robust_accuracy_per_class_mean_over_seeds']}."
    )


if __name__ == "__main__":
    CLAIM.main(run)
