"""Claim of P35 (Zhu, Ying & Yang, ICML 2023): LDR-KL and adaptive ALDR-KL losses are robust to label noise.

The LDR-KL loss λ·log((1/K) Σ_k exp((c·1[k≠y] + f_k − f_y)/λ)) contains cross-entropy (c = 0, λ = 1) and the
Crammer–Singer hinge (λ → 0); ALDR-KL gives each example its own λ_i ∈ [λ0(1 − 1/α), λ0]. The paper's experiments
are far larger than a CPU check; the +5-point bar below is this project's, not a number from the paper.

Rules:

1. exact properties (random logits, no training): (i) c = 0, λ = 1, raw logits: LDR-KL = CE − log K (float64,
   max |deviation| < 1e-6); (ii) λ = 1e-3: LDR-KL = max_k(c·1[k≠y] + f_k − f_y) within 1e-2; (iii) ALDR-KL's λ_i
   never leave [λ0(1 − 1/α), λ0];
2. noise robustness: scikit-learn digits (1437 train / 360 test per seed), 60% of the training labels moved to another
   class uniformly, tanh MLP 64-256-256-10, SGD momentum 0.9, batch 64, 100 epochs, lr/10 at epochs 50 and 75, weight
   decay 5e-3, c = 0.1, α = 2 (the official defaults). As the official code does, λ (λ0 for ALDR-KL) is chosen per
   seed from {0.1, 1, 10}: 20% of the *noisy* training set is held out as a validation part, each λ is trained on the
   other 80%, and the λ with the best noisy-validation accuracy is kept (under uniform noise, noisy accuracy is
   0.067 + 0.333 × clean accuracy in expectation, so it ranks models as clean accuracy would). Cross-entropy gets the
   same budget, three values, over its learning rate {1e-3, 3e-3, 1e-2}: the official 1e-3 and two half-decade steps
   up, because at 1e-3 cross-entropy has not yet fitted even the clean signal after 100 epochs (clean training
   accuracy ≈ 0.82 in this project's earlier run), while the noisy validation split guards against the
   memorisation a larger rate brings. Held when the selected LDR-KL and ALDR-KL each beat the selected
   cross-entropy by ≥ 5 points of clean test accuracy, mean paired difference over 5 seeds (unit = seed).

Every (loss, λ or learning rate, seed) run is cached, so an interrupted run restarts where it stopped (45 runs,
about 5 minutes on one thread). Run: `python benchmarks/claims/ldr.py [--smoke]`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.ldr.loss import ALDRKLLoss, ldr_kl_loss
from hf_methods.training.ldr.training import noisy_digits, train_on_noisy_digits

K = 10
NAMES = {"ce": "CE", "ldr_kl": "LDR-KL", "aldr_kl": "ALDR-KL"}

CLAIM = Claim(
    slug="ldr",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "noise_rate": 0.6,
        "noise_kind": "uniform",
        "test_size": 0.2,
        "validation_size": 0.2,
        "epochs": 100,
        "batch_size": 64,
        "momentum": 0.9,
        "weight_decay": 5e-3,
        "ldr_learning_rate": 1e-3,
        "lambda_grid": [0.1, 1.0, 10.0],
        "ce_learning_rate_grid": [1e-3, 3e-3, 1e-2],
        "margin": 0.1,
        "alpha": 2.0,
        "selection": "best noisy-validation accuracy per (loss, seed); first grid value on ties",
        "metric": "clean test accuracy after the last epoch of the selected run",
    },
    smoke={"epochs": 2, "seeds": [0]},
    rules=[
        Compare(
            "LDR-KL vs CE (λ and CE's lr chosen on noisy validation)", "clean_test_accuracy", "LDR-KL", "CE", 0.05
        ),
        Compare(
            "ALDR-KL vs CE (λ0 and CE's lr chosen on noisy validation)", "clean_test_accuracy", "ALDR-KL", "CE", 0.05
        ),
        Threshold("(i) c=0, λ=1, raw logits: LDR-KL = CE − log K", "max_abs_deviation", "LDR-KL", "<", 1e-6),
        Threshold("(ii) λ=1e-3: LDR-KL = max_k(c·1[k≠y] + f_k − f_y)", "max_hinge_deviation", "LDR-KL", "<", 1e-2),
        Threshold("(iii) ALDR-KL λ_i stays in [λ0(1 − 1/α), λ0]", "max_bound_violation", "ALDR-KL", "<=", 0.0),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "sklearn digits with 60% uniform label noise",
        "dataset_type": "digits",
        "split": "test",
    },
)


def property_ce_limit() -> float:
    """(i) max |LDR-KL(c=0, λ=1, raw) − (CE − log K)| over random logits of several scales (float64)."""
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for scale in (0.1, 1.0, 10.0, 100.0):
        logits = torch.randn(2000, K, generator=gen, dtype=torch.float64) * scale
        labels = torch.randint(0, K, (2000,), generator=gen)
        ldr = ldr_kl_loss(logits, labels, lambda_=1.0, margin=0.0, normalize=False, reduction="none")
        worst = max(worst, (ldr - F.cross_entropy(logits, labels, reduction="none") + math.log(K)).abs().max().item())
    return worst


def property_hinge_limit(margin: float) -> float:
    """(ii) max |LDR-KL(λ=1e-3) − max_k(c·1[k≠y] + f_k − f_y)| for normalised and raw scores (float32)."""
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    for normalize in (True, False):
        for scale in (0.1, 1.0, 10.0):
            logits = torch.randn(2000, K, generator=gen) * scale
            labels = torch.randint(0, K, (2000,), generator=gen)
            scores = F.softplus(logits) / F.softplus(logits).mean(1, keepdim=True) if normalize else logits
            d = margin * (1 - F.one_hot(labels, K)).float() + scores - scores.gather(1, labels[:, None])
            ldr = ldr_kl_loss(logits, labels, lambda_=1e-3, margin=margin, normalize=normalize, reduction="none")
            worst = max(worst, (ldr - d.max(dim=1).values).abs().max().item())
    return worst


def property_aldr_bounds(margin: float) -> float:
    """(iii) largest distance of any λ_i outside [λ0(1 − 1/α), λ0] over 200 updates on random logits."""
    gen = torch.Generator().manual_seed(2)
    worst = 0.0
    for normalize, lambda0, alpha in [(True, 10.0, 2.0), (False, 1.0, 2.0), (False, 0.5, 1.5), (False, 2.0, 4.0)]:
        loss_fn = ALDRKLLoss(512, lambda0=lambda0, alpha=alpha, margin=margin, normalize=normalize)
        for step in range(200):
            logits = torch.randn(128, K, generator=gen) * 10.0 ** (step % 6 - 2)
            loss_fn(logits, torch.randint(0, K, (128,), generator=gen), torch.randperm(512, generator=gen)[:128])
            lam, low = loss_fn.lambdas, lambda0 * (1 - 1 / alpha)
            worst = max(worst, (low - lam).clamp_min(0).max().item(), (lam - lambda0).clamp_min(0).max().item())
    return worst


def train_run(loss: str, seed: int, value: float, s: dict) -> dict:
    """One (loss, λ or learning rate, seed) run on the 80% fitting part; scored on validation and clean test."""
    torch.set_num_threads(1)
    data = noisy_digits(
        seed, s["noise_rate"], kind=s["noise_kind"], test_size=s["test_size"], validation_size=s["validation_size"]
    )
    lr, lambda_ = (value, 1.0) if loss == "ce" else (s["ldr_learning_rate"], value)
    hyper = {k: s[k] for k in ("epochs", "batch_size", "momentum", "weight_decay", "margin", "alpha")}
    return train_on_noisy_digits(data, loss, seed=seed, lr=lr, lambda_=lambda_, **hyper)


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    claim.record("LDR-KL", "max_abs_deviation", property_ce_limit())
    claim.record("LDR-KL", "max_hinge_deviation", property_hinge_limit(s["margin"]))
    claim.record("ALDR-KL", "max_bound_violation", property_aldr_bounds(s["margin"]))

    grids = {"ce": s["ce_learning_rate_grid"], "ldr_kl": s["lambda_grid"], "aldr_kl": s["lambda_grid"]}
    chosen, curves = {}, {NAMES[loss]: {} for loss in NAMES}
    for seed in claim.seeds:
        for loss, grid in grids.items():
            runs = {
                value: claim.cached(f"{loss}-{value:g}-seed{seed}", train_run, loss, seed, value, s) for value in grid
            }
            best = max(grid, key=lambda v: runs[v]["noisy_validation_accuracy"])  # max keeps the first on ties
            name, result = NAMES[loss], runs[best]
            chosen.setdefault(name, {})[f"seed{seed}"] = best
            for metric in ("clean_test_accuracy", "noisy_validation_accuracy", "clean_train_accuracy"):
                claim.record(name, metric, result[metric], unit=seed)
            for value, other in runs.items():  # every grid point, for the record (not used by any rule)
                label = f"{name} {'lr' if loss == 'ce' else 'λ'}={value:g}"
                claim.record(label, "clean_test_accuracy", other["clean_test_accuracy"], unit=seed)
                claim.record(label, "noisy_validation_accuracy", other["noisy_validation_accuracy"], unit=seed)
            curves[name][f"seed{seed}"] = [(epoch + 1, acc) for epoch, acc in enumerate(result["curve"])]
    claim.details["selected"] = chosen
    claim.plot_curves(
        "curves",
        curves,
        xlabel="epoch",
        ylabel="clean test accuracy",
        title=f"digits, {s['noise_rate']:.0%} uniform label noise, selected runs (mean ± std, {len(claim.seeds)} seeds)",
    )
    claim.note(
        "λ (λ0 for ALDR-KL) and cross-entropy's learning rate are chosen per seed on a noisy validation split "
        f"(selected values per seed: {chosen}); the models are trained on the remaining 80% of the training set and "
        "not retrained on all of it. Deviations from the official setup: hidden width 256, label noise always moves "
        "a label to another class, shuffled batches, one validation split instead of 5-fold cross-validation."
    )


if __name__ == "__main__":
    CLAIM.main(run)
