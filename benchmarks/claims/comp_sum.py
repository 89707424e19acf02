"""Claim of P54 (Mao, Mohri & Zhong, ICML 2023): comp-sum losses and smooth adversarial comp-sum training.

The comp-sum family ℓ_τ = Φ^τ(Σ_{y'≠y} exp(h_{y'} − h_y)) contains the sum-exponential loss (τ = 0), cross-entropy
(τ = 1), generalised cross-entropy (τ = 1 + q) and the mean absolute error (τ = 2). The paper's theory (tight
H-consistency bounds) is not something a CPU run can check; what is checked is the implementation's exactness, the
paper's empirical ordering of the losses (CE-like τ train well, MAE is slow), and that ADV-COMP-SUM
(ℓ_τ + ν·sup‖Δh(x') − Δh(x)‖₂) gives adversarial robustness at a clean accuracy no worse than TRADES. The margins are
this project's, decided before the first run; the paper's experiments (CIFAR-10, wide ResNets) are far larger.

Rules:

(a) exact properties (random float64 logits of scales 0.1 to 20, no training), each a max deviation:
    τ = 1 vs `F.cross_entropy` (< 1e-12); τ = 2 vs 1 − softmax_y (< 1e-12); τ = 1.5 vs GCE (1 − p_y^0.5)/0.5
    written plainly (< 1e-12); τ = 0 vs Σ_{y'≠y} exp(h_{y'} − h_y) summed in a Python loop (relative, < 1e-12);
    continuity at τ → 1: for τ = 1 ± δ, δ ∈ {1e-2, 1e-4, 1.01e-6, 0.99e-6, 1e-8, 1e-12} (both sides of the branch
    to the expansion at |1 − τ| < 1e-6), the relative deviation from the general formula evaluated with 50-digit
    decimals (< 1e-10).
(b) digits (1437 train / 360 test per seed), ReLU MLP 64-256-256-10, SGD lr 0.05, momentum 0.9, weight decay 5e-4,
    batch 64, 20 epochs, one run per τ ∈ {0.5, 1, 1.5, 2} per seed (same initial weights and batches for every τ):
    τ = 0.5, 1 and 1.5 each reach a mean clean test accuracy ≥ 0.95 after 20 epochs; after 5 epochs, CE (τ = 1)
    leads MAE (τ = 2) by ≥ 0.05 (mean paired difference over seeds).
(c) adversarial, same data, model and optimiser, 50 epochs: standard training (CE), TRADES (β = 6) and ADV-COMP-SUM
    (τ = 1, ν = 6), training attack ℓ∞ ε = 0.1 of the [0, 1] range, PGD-10, step 0.025, random start, run in eval
    mode. Robust accuracy: PGD-10 on the cross-entropy (same ε, step 0.025, seeded random start) on the 360 test
    images. ADV-COMP-SUM's robust accuracy ≥ standard + 0.2, and its clean accuracy ≥ TRADES' − 0.02 (mean paired
    differences over seeds). Whether ADV-COMP-SUM beats TRADES in robust accuracy is recorded, not a rule; so is
    robust accuracy under a stronger PGD-50 (step 0.005).

Seeds 0-4; every run is cached. About 5 minutes on one thread. Run: `python benchmarks/claims/comp_sum.py [--smoke]`.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import torch
import torch.nn.functional as F

from hf_methods.common.adversarial import PGDConfig
from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.comp_sum.loss import comp_sum_loss
from hf_methods.training.comp_sum.training import digits_tensors, train_digits

K = 10
TAU_NAMES = {0.5: "τ=0.5", 1.0: "CE (τ=1)", 1.5: "GCE (τ=1.5)", 2.0: "MAE (τ=2)"}
ADV_NAMES = {"standard": "Standard", "trades": "TRADES", "adv_comp_sum": "ADV-COMP-SUM"}

CLAIM = Claim(
    slug="comp_sum",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "test_size": 0.2,
        "hidden_size": 256,
        "hidden_act": "relu",
        "optimizer": "SGD",
        "learning_rate": 0.05,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 64,
        "taus": [0.5, 1.0, 1.5, 2.0],
        "tau_epochs": 20,
        "early_epoch": 5,
        "adv_epochs": 50,
        "eps": 0.1,
        "norm": "linf",
        "train_pgd_steps": 10,
        "train_pgd_step_size": 0.025,
        "eval_pgd_steps": 10,
        "eval_pgd_step_size": 0.025,
        "strong_eval_pgd_steps": 50,
        "strong_eval_pgd_step_size": 0.005,
        "adv_tau": 1.0,
        "nu": 6.0,
        "trades_beta": 6.0,
        "continuity_deltas": [1e-2, 1e-4, 1.01e-6, 0.99e-6, 1e-8, 1e-12],
        "decimal_digits": 50,
    },
    smoke={"tau_epochs": 6, "adv_epochs": 1, "seeds": [0]},
    rules=[
        Threshold("(a) τ=1 equals F.cross_entropy", "max_abs_deviation_ce", "comp-sum", "<", 1e-12),
        Threshold("(a) τ=2 equals 1 − softmax_y", "max_abs_deviation_mae", "comp-sum", "<", 1e-12),
        Threshold("(a) τ=1.5 equals GCE (q=0.5)", "max_abs_deviation_gce", "comp-sum", "<", 1e-12),
        Threshold("(a) τ=0 equals Σ exp differences", "max_rel_deviation_exp", "comp-sum", "<", 1e-12),
        Threshold("(a) continuity at τ → 1", "max_rel_deviation_near_one", "comp-sum", "<", 1e-10),
        Threshold("(b) τ=0.5 reaches 0.95", "clean_test_accuracy", TAU_NAMES[0.5], ">=", 0.95),
        Threshold("(b) CE reaches 0.95", "clean_test_accuracy", TAU_NAMES[1.0], ">=", 0.95),
        Threshold("(b) GCE reaches 0.95", "clean_test_accuracy", TAU_NAMES[1.5], ">=", 0.95),
        Compare("(b) MAE is slower: CE − MAE at epoch 5", "accuracy_epoch5", TAU_NAMES[1.0], TAU_NAMES[2.0], 0.05),
        Compare("(c) robust: ADV-COMP-SUM vs standard", "robust_test_accuracy", "ADV-COMP-SUM", "Standard", 0.2),
        Compare("(c) clean: ADV-COMP-SUM vs TRADES", "clean_test_accuracy", "ADV-COMP-SUM", "TRADES", -0.02),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "sklearn digits",
        "dataset_type": "digits",
        "split": "test",
    },
)


# ----------------------------------------------------------------------------------------------------------- (a)


def _random_logits(seed: int):
    gen = torch.Generator().manual_seed(seed)
    for scale in (0.1, 1.0, 5.0, 20.0):
        logits = torch.randn(500, K, generator=gen, dtype=torch.float64) * scale
        yield logits, torch.randint(0, K, (500,), generator=gen)


def _decimal_comp_sum(row: list[float], y: int, tau: float) -> Decimal:
    """Φ^τ(u) = ((1 + u)^{1−τ} − 1)/(1 − τ) (log(1 + u) at τ = 1) with u summed in high-precision decimals."""
    u = sum((Decimal(row[k]) - Decimal(row[y])).exp() for k in range(len(row)) if k != y)
    a = Decimal(1) - Decimal(tau)
    if a == 0:
        return (1 + u).ln()
    return ((a * (1 + u).ln()).exp() - 1) / a


def exact_properties(settings: dict) -> dict:
    worst = {"ce": 0.0, "mae": 0.0, "gce": 0.0, "exp": 0.0, "near_one": 0.0}
    for logits, labels in _random_logits(0):
        p_y = torch.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        loss = lambda tau: comp_sum_loss(logits, labels, tau, reduction="none")  # noqa: E731
        ce = F.cross_entropy(logits, labels, reduction="none")
        worst["ce"] = max(worst["ce"], (loss(1.0) - ce).abs().max().item())
        worst["mae"] = max(worst["mae"], (loss(2.0) - (1 - p_y)).abs().max().item())
        worst["gce"] = max(worst["gce"], (loss(1.5) - (1 - p_y.sqrt()) / 0.5).abs().max().item())
        exp_loop = torch.tensor(
            [
                math.fsum(math.exp(row[k] - row[y]) for k in range(K) if k != y)
                for row, y in zip(logits.tolist(), labels.tolist())
            ],
            dtype=torch.float64,
        )
        worst["exp"] = max(worst["exp"], ((loss(0.0) - exp_loop).abs() / exp_loop).max().item())
    getcontext().prec = settings["decimal_digits"]
    gen = torch.Generator().manual_seed(1)
    logits = torch.cat([torch.randn(50, K, generator=gen), 5 * torch.randn(50, K, generator=gen)]).double()
    labels = torch.randint(0, K, (100,), generator=gen)
    for delta in settings["continuity_deltas"]:
        for tau in (1.0 - delta, 1.0 + delta):
            ours = comp_sum_loss(logits, labels, tau, reduction="none").tolist()
            for value, row, y in zip(ours, logits.tolist(), labels.tolist()):
                ref = _decimal_comp_sum(row, y, tau)
                worst["near_one"] = max(worst["near_one"], float(abs(Decimal(value) - ref) / ref))
    return worst


# ----------------------------------------------------------------------------------------------------------- (b), (c)


def _common(s: dict) -> dict:
    return {
        "lr": s["learning_rate"],
        "momentum": s["momentum"],
        "weight_decay": s["weight_decay"],
        "batch_size": s["batch_size"],
        "hidden_size": s["hidden_size"],
    }


def tau_run(tau: float, seed: int, s: dict) -> dict:
    torch.set_num_threads(1)
    data = digits_tensors(seed, s["test_size"])
    epochs = (s["early_epoch"],)
    return train_digits(data, "comp_sum", seed=seed, epochs=s["tau_epochs"], tau=tau, eval_epochs=epochs, **_common(s))


def adversarial_run(kind: str, seed: int, s: dict) -> dict:
    torch.set_num_threads(1)
    data = digits_tensors(seed, s["test_size"])
    train_attack = PGDConfig(eps=s["eps"], steps=s["train_pgd_steps"], step_size=s["train_pgd_step_size"])
    eval_attack = PGDConfig(eps=s["eps"], steps=s["eval_pgd_steps"], step_size=s["eval_pgd_step_size"])
    strong = PGDConfig(eps=s["eps"], steps=s["strong_eval_pgd_steps"], step_size=s["strong_eval_pgd_step_size"])
    objective = {"standard": "comp_sum", "trades": "trades", "adv_comp_sum": "adv_comp_sum"}[kind]
    return train_digits(
        data,
        objective,
        seed=seed,
        epochs=s["adv_epochs"],
        tau=s["adv_tau"],
        nu=s["nu"],
        beta=s["trades_beta"],
        attack=train_attack,
        eval_attacks={"robust_test_accuracy": eval_attack, "robust_test_accuracy_pgd50": strong},
        **_common(s),
    )


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    worst = exact_properties(s)
    for key, metric in [
        ("ce", "max_abs_deviation_ce"),
        ("mae", "max_abs_deviation_mae"),
        ("gce", "max_abs_deviation_gce"),
        ("exp", "max_rel_deviation_exp"),
        ("near_one", "max_rel_deviation_near_one"),
    ]:
        claim.record("comp-sum", metric, worst[key])

    curves = {name: {} for name in TAU_NAMES.values()}
    for seed in claim.seeds:
        for tau in s["taus"]:
            result = claim.cached(f"tau{tau:g}-seed{seed}", tau_run, tau, seed, s)
            name = TAU_NAMES[tau]
            claim.record(name, "clean_test_accuracy", result["clean_test_accuracy"], unit=seed)
            claim.record(
                name,
                f"accuracy_epoch{s['early_epoch']}",
                result["accuracy_at_epoch"][str(s["early_epoch"])],
                unit=seed,
            )
            claim.record(name, "train_accuracy", result["train_accuracy"], unit=seed)
            curves[name][f"seed{seed}"] = [(epoch + 1, acc) for epoch, acc in enumerate(result["curve"])]
    claim.plot_curves(
        "taus",
        curves,
        xlabel="epoch",
        ylabel="clean test accuracy",
        title=f"digits, comp-sum losses, SGD lr {s['learning_rate']} (mean ± std, {len(claim.seeds)} seeds)",
    )

    adv_curves = {name: {} for name in ADV_NAMES.values()}
    for seed in claim.seeds:
        for kind, name in ADV_NAMES.items():
            result = claim.cached(f"{kind}-seed{seed}", adversarial_run, kind, seed, s)
            for metric in (
                "clean_test_accuracy",
                "robust_test_accuracy",
                "robust_test_accuracy_pgd50",
                "train_accuracy",
            ):
                claim.record(name, metric, result[metric], unit=seed)
            adv_curves[name][f"seed{seed}"] = [(epoch + 1, acc) for epoch, acc in enumerate(result["curve"])]
    claim.plot_curves(
        "adversarial",
        adv_curves,
        xlabel="epoch",
        ylabel="clean test accuracy",
        title=f"digits, ε={s['eps']} ℓ∞ adversarial training (mean ± std, {len(claim.seeds)} seeds)",
    )

    def mean_of(name, metric):
        values = claim.records[name][metric]
        return sum(values.values()) / len(values)

    reported = {
        metric: mean_of("ADV-COMP-SUM", metric) - mean_of("TRADES", metric)
        for metric in ("robust_test_accuracy", "robust_test_accuracy_pgd50", "clean_test_accuracy")
    }
    claim.details["adv_comp_sum_minus_trades"] = reported
    claim.note(
        "Reported, not a rule: ADV-COMP-SUM − TRADES robust accuracy "
        f"{reported['robust_test_accuracy']:+.3f} (PGD-10), {reported['robust_test_accuracy_pgd50']:+.3f} (PGD-50); "
        f"clean {reported['clean_test_accuracy']:+.3f}. ν = 6 and τ = 1 are TRADES-style guesses, not the paper's "
        "settings; the robust evaluation is PGD on the cross-entropy, not AutoAttack as in the paper."
    )
    adv_clean = mean_of("ADV-COMP-SUM", "clean_test_accuracy")
    if adv_clean < 0.2:  # chance is 0.1 on ten balanced classes
        claim.note(
            f"ADV-COMP-SUM ended at chance level (clean test accuracy {adv_clean:.3f}, also on the training set): with "
            f"ν = {s['nu']:g} the smooth term ν‖Δh(x') − Δh(x)‖₂, which is not squared and so keeps a gradient of "
            "size ν however small the score differences are, outweighs the comp-sum term from the first steps and "
            "drives the network to a constant function (distance 0). This is what the declared setting gives, not "
            "the paper's result: a fair test needs ν chosen for the task (e.g. on a validation split by robust "
            "accuracy, with TRADES' β chosen the same way)."
        )


if __name__ == "__main__":
    CLAIM.main(run)
