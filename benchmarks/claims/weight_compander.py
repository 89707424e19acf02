"""Claim of P10 (Cakaj, Mehnert & Yang, IJCNN 2023): the weight compander regularises on top of standard methods.

The paper adds WC to CNNs on CIFAR-type benchmarks and reports modest accuracy gains; this CPU check keeps the intent
on a small task where overfitting is real. The compander is this project's reconstruction w = α·tanh(β·v/α) with
learnable per-layer α, β (initial α = 1, β = 2); the paper's exact equation is not public as code.

Setting: scikit-learn digits, 25% of the training split (359 images), test split of 360; ReLU MLP 64-256-256-10,
dropout 0.2, Adam lr 1e-3, L2 weight decay 5e-4 (α, β not decayed), batch 32, 60 epochs; 5 seeds, paired baseline
(same init seed, same data order) without WC. WC is baked before evaluation and saving.

Rules (fixed before the first run; unit = seed):

1. no harm: mean accuracy(WC) − accuracy(baseline) ≥ −0.005 (a gain is reported, not asserted: at this scale an
   improvement margin is not reliably detectable);
2. away from zero: the fraction of effective weights with |w| < 0.01·max|w| of their layer is ≥ 30% lower with WC
   than without, i.e. mean (1 − WC/baseline) ≥ 0.30;
3. vanilla checkpoint: the baked model's saved safetensors hold 32 bits per parameter (plain float32, nothing added).

Run: `python benchmarks/claims/weight_compander.py [--smoke]` (10 runs, about 2 minutes on one thread).
"""

from __future__ import annotations

from hf_methods.adapters.weight_compander.training import train_digits
from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="weight_compander",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "train_fraction": 0.25,
        "hidden_sizes": [256, 256],
        "dropout": 0.2,
        "weight_decay": 5e-4,
        "epochs": 60,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "alpha": 1.0,
        "beta": 2.0,
        "learnable": True,
        "compander": "tanh",
        "near_zero_relative": 0.01,
    },
    smoke={"epochs": 2},
    rules=[
        Compare("no harm: WC vs baseline", metric="accuracy", method="WC", baseline="baseline", margin=-0.005),
        Threshold("near-zero weights ≥30% fewer", metric="near_zero_reduction", method="WC", op=">=", value=0.30),
        Threshold("vanilla float32 checkpoint", metric="bits_per_weight", method="WC", op="<=", value=32.5),
    ],
)


def run(claim):
    s = dict(claim.settings)
    s.pop("near_zero_relative")
    s["hidden_sizes"] = tuple(s["hidden_sizes"])
    for seed in claim.seeds:
        base = claim.cached(f"baseline-seed{seed}", _train, False, seed, s)
        wc = claim.cached(f"wc-seed{seed}", _train, True, seed, s)
        claim.record("baseline", "accuracy", base["accuracy"], unit=f"seed{seed}")
        claim.record("WC", "accuracy", wc["accuracy"], unit=f"seed{seed}")
        claim.record("baseline", "near_zero_fraction", base["near_zero_fraction"], unit=f"seed{seed}")
        claim.record("WC", "near_zero_fraction", wc["near_zero_fraction"], unit=f"seed{seed}")
        reduction = 1.0 - wc["near_zero_fraction"] / max(base["near_zero_fraction"], 1e-12)
        claim.record("WC", "near_zero_reduction", reduction, unit=f"seed{seed}")
        claim.record("WC", "bits_per_weight", wc["bits_per_weight"], unit=f"seed{seed}")
        claim.note(f"seed {seed}: learned (alpha, beta) per layer = {wc['companders']}")
    claim.plot_points(
        "accuracy",
        ["accuracy", "near_zero_fraction"],
        methods=["baseline", "WC"],
        ylabel_near_zero_fraction="fraction of |w| < 0.01·max",
    )


def _train(use_compander, seed, settings):
    return train_digits(use_compander=use_compander, seed=seed, **settings)


if __name__ == "__main__":
    CLAIM.main(run)
