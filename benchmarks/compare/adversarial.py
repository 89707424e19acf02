"""Side by side: the adversarial-training objectives of the zoo against plain PGD adversarial training (AT).

One shared task and one shared training loop, so the only thing that differs between rows is the objective:

- task: scikit-learn digits, split 80/20 by seed; in training, classes 5-9 keep 15 examples each (a step imbalance),
  the test set stays balanced (`hf_methods.training.srat.training.imbalanced_digits`);
- model: the ReLU MLP 64-256-256-10 (`MLPForImageClassification`), the same initial weights and batch order for every
  objective of a seed;
- training: AdamW (lr 1e-3), batch 64, 30 epochs, ℓ∞ PGD with ε = 0.1, 5 steps, attacks in eval mode;
- evaluation: clean accuracy, robust accuracy under PGD-20 (same ε), the worst class's robust accuracy and the mean
  robust accuracy of the five minority classes, on the balanced test set.

Rows (each method with its recipe's default hyper-parameters, none tuned here):

- AT: cross-entropy on the PGD examples (Madry et al.);
- DONE (r = 2, β = 0.9): the same per-example adversarial losses reweighted by KL-DRO weights (`done`);
- ADV-COMP-SUM (τ = 1, ν = 0.5): the comp-sum loss plus the smooth adversarial term (`comp_sum`);
- SRAT: effective-number class weights from epoch 20 (deferred re-weighting) plus the feature-separation loss
  (λ = 1, temperature 0.1) on the PGD examples (`srat`).

This is a comparison, not a claim: it has no pass/fail rule. Each method's own claim (benchmarks/claims/) tests what
its paper says on the task the paper's effect needs. Run: `OMP_NUM_THREADS=1 python benchmarks/compare/adversarial.py`
(about 10 minutes on one thread; `--smoke` for a 2-epoch, 1-seed run). Writes
`benchmarks/results/compare-adversarial.json` and `compare-adversarial.png`.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from hf_methods.common.adversarial import PGDConfig, classwise_robust_accuracy
from hf_methods.harness.compare import report_comparison
from hf_methods.training.comp_sum.training import training_loss as comp_sum_training_loss
from hf_methods.training.done.loss import DONEWeightedLoss
from hf_methods.training.done.training import robust_training_loss
from hf_methods.training.srat.loss import DeferredReweighting, SeparableReweightedATLoss
from hf_methods.training.srat.training import (
    NUM_CLASSES,
    adversarial_examples,
    digits_mlp,
    imbalanced_digits,
    logits_and_features,
)

SETTINGS = {
    "seeds": [0, 1, 2],
    "epochs": 30,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "eps": 0.1,
    "train_pgd_steps": 5,
    "eval_pgd_steps": 20,
    "minority_count": 15,
    "done": {"r": 2.0, "beta": 0.9},
    "comp_sum": {"tau": 1.0, "nu": 0.5},
    "srat": {"drw_start": 20, "separation_weight": 1.0, "temperature": 0.1, "beta": 0.9999},
}
METHODS = ("AT", "DONE", "ADV-COMP-SUM", "SRAT")


def train(method: str, data, seed: int, s: dict) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = digits_mlp(256)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s["learning_rate"], weight_decay=0.0)
    attack = PGDConfig(eps=s["eps"], steps=s["train_pgd_steps"])
    order = torch.Generator().manual_seed(seed)
    attack_rng = torch.Generator().manual_seed(10_000 + seed)
    done_loss = DONEWeightedLoss(**s["done"]) if method == "DONE" else None
    schedule = DeferredReweighting(
        data.class_counts, "effective_num", drw_start=s["srat"]["drw_start"], beta=s["srat"]["beta"]
    )
    srat_loss = SeparableReweightedATLoss(
        separation_weight=s["srat"]["separation_weight"], temperature=s["srat"]["temperature"]
    )
    model.train()
    for epoch in range(s["epochs"]):
        class_weights = schedule.weights_at(epoch).float()
        for idx in torch.randperm(len(data.y), generator=order).split(s["batch_size"]):
            x, y = data.x[idx], data.y[idx]
            if method in ("AT", "DONE"):
                loss, _, _ = robust_training_loss(model, x, y, attack, done_loss, generator=attack_rng)
            elif method == "ADV-COMP-SUM":
                loss = comp_sum_training_loss(model, x, y, "adv_comp_sum", attack=attack, **s["comp_sum"])
            else:
                x_adv = adversarial_examples(model, x, y, attack, attack_rng)
                model.train()
                logits, features = logits_and_features(model, x_adv)
                classification, separation = srat_loss.terms(logits, features, y, class_weights)
                loss = (classification + srat_loss.separation_weight * separation).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def evaluate(model, data, seed: int, s: dict) -> dict[str, float]:
    attack = PGDConfig(eps=s["eps"], steps=s["eval_pgd_steps"])
    robust = classwise_robust_accuracy(
        model, data.x_test, data.y_test, attack, NUM_CLASSES, generator=torch.Generator().manual_seed(seed)
    )
    clean = classwise_robust_accuracy(model, data.x_test, data.y_test, None, NUM_CLASSES)
    return {
        "clean_accuracy": clean.overall,
        "robust_accuracy": robust.overall,
        "worst_class_robust_accuracy": robust.worst,
        "minority_robust_accuracy": float(np.mean([robust.per_class[c] for c in data.minority_classes])),
    }


def main() -> None:
    s = json.loads(json.dumps(SETTINGS))
    smoke = "--smoke" in sys.argv
    if smoke:
        s.update(seeds=[0], epochs=2)
        s["srat"]["drw_start"] = 1
    per_seed: dict[str, list[dict]] = {m: [] for m in METHODS}
    start = time.time()
    for seed in s["seeds"]:
        data = imbalanced_digits(seed, minority_count=s["minority_count"])
        for method in METHODS:
            result = evaluate(train(method, data, seed, s), data, seed, s)
            per_seed[method].append(result)
            print(f"seed {seed} {method:13s} " + " ".join(f"{k}={v:.3f}" for k, v in result.items()), flush=True)
    report_comparison(
        "adversarial",
        description="adversarial training objectives vs AT on step-imbalanced digits",
        settings=s,
        per_seed=per_seed,
        started=start,
        title="Adversarial training objectives on step-imbalanced digits (PGD-20, ε = 0.1)",
        ylabel=f"test accuracy (mean ± std, {len(s['seeds'])} seeds)",
        smoke=smoke,
    )


if __name__ == "__main__":
    main()
