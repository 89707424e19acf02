"""Side by side: the zoo's methods for training on noisy labels against plain cross-entropy.

One shared task and one shared training loop, so the only thing that differs between rows is what the loop is fed and
the loss it minimises:

- task: scikit-learn digits split 80/20 by seed, a fraction of the training labels moved uniformly to another class
  (`hf_methods.training.ldr.training.noisy_digits`), at 10% and 40% noise; evaluation on the clean test labels;
- model: the ReLU MLP 64-256-256-10, the same initial weights and batch order for every row of a seed;
- training: Adam (lr 1e-3, weight decay 5e-4), batch 64, 900 steps, learning rate ÷10 at 50% and 75%. (A first run
  with SGD at lr 0.05 and 600 steps left self-distillation's MSE-on-softmax objective far from converged, 0.61 test
  accuracy at 10% noise against 0.97 for CE: the shared optimizer, not the method, decided that row, so the loop
  uses Adam, as the self-distillation recipe does.)

Rows (each with its recipe's defaults, none tuned here):

- CE: cross-entropy on every noisy label;
- ALDR-KL (λ0 = 10, margin 0.1, α = 2): the adaptive label-distributionally-robust loss (`ldr`);
- Data Diet: EL2N scores after 3 epochs (mean of 5 scoring runs), keep 60% of the training set, hardest first after
  skipping the top 5%, then CE on that subset for the same 900 steps (`data_diet`);
- Self-distillation (α = 0.5, MSE on softmax): a fresh student fits 0.5·labels + 0.5·the CE row's predictions
  (`self_distillation`, one distillation step).

This is a comparison, not a claim: it has no pass/fail rule (each method's own claim tests its paper). Run:
`OMP_NUM_THREADS=1 python benchmarks/compare/noisy_labels.py` (a few minutes on one thread; `--smoke` for a short
run). Writes `benchmarks/results/compare-noisy_labels.json` and `.png`.
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn.functional as F

from hf_methods.common.evaluation import accuracy
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
from hf_methods.harness.compare import report_comparison
from hf_methods.training.data_diet import el2n_scores
from hf_methods.training.data_diet.prune import select_by_score
from hf_methods.training.ldr.training import loss_for, noisy_digits
from hf_methods.training.self_distillation import self_distillation_loss

SETTINGS = {
    "seeds": [0, 1, 2],
    "noise_rates": [0.1, 0.4],
    "steps": 900,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 5e-4,
    "ldr": {"lambda_": 10.0, "margin": 0.1, "alpha": 2.0},
    "data_diet": {"score_epochs": 3, "n_runs": 5, "keep_frac": 0.6, "offset_frac": 0.05},
    "self_distillation": {"alpha": 0.5, "objective": "mse"},
}
METHODS = ("CE", "ALDR-KL", "Data Diet", "Self-distillation")


def mlp(seed: int) -> MLPForImageClassification:
    torch.manual_seed(seed)
    return MLPForImageClassification(
        MLPConfig(input_size=64, hidden_sizes=[256, 256], hidden_act="relu", num_labels=10)
    )


def fit(model, x, y, *, seed: int, steps: int, s: dict, loss_fn=None, decay: bool = True):
    """Adam on `(x, y)` for `steps` steps; `loss_fn(logits, labels, idx)` (default cross-entropy)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=s["learning_rate"], weight_decay=s["weight_decay"])
    milestones = [steps // 2, 3 * steps // 4] if decay else []
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    order = torch.Generator().manual_seed(seed)
    batches = iter(())
    model.train()
    for _ in range(steps):
        idx = next(batches, None)
        if idx is None:
            batches = iter(torch.randperm(len(y), generator=order).split(s["batch_size"]))
            idx = next(batches)
        logits = model(pixel_values=x[idx]).logits
        loss = F.cross_entropy(logits, y[idx]) if loss_fn is None else loss_fn(logits, y[idx], idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model


@torch.no_grad()
def logits_on(model, x):
    model.eval()
    return model(pixel_values=x).logits


def run_seed(seed: int, noise: float, s: dict) -> dict[str, float]:
    data = noisy_digits(seed, noise)
    x, y = data.x, data.y_noisy
    steps = s["steps"]
    results = {}
    ce_model = fit(mlp(seed), x, y, seed=seed, steps=steps, s=s)
    results["CE"] = accuracy(ce_model, data.x_test, data.y_test)

    aldr = loss_for("aldr_kl", len(y), **s["ldr"])
    model = mlp(seed)
    fit(model, x, y, seed=seed, steps=steps, s=s, loss_fn=lambda logits, labels, idx: aldr(logits, labels, idx))
    results["ALDR-KL"] = accuracy(model, data.x_test, data.y_test)

    d = s["data_diet"]
    epoch_steps = -(-len(y) // s["batch_size"])
    scores = torch.zeros(len(y))
    for run in range(d["n_runs"]):
        scorer = fit(
            mlp(10_000 + 100 * seed + run),
            x,
            y,
            seed=10_000 + 100 * seed + run,
            steps=d["score_epochs"] * epoch_steps,
            s=s,
            decay=False,
        )
        scores += el2n_scores(logits_on(scorer, x), y) / d["n_runs"]
    keep = torch.as_tensor(select_by_score(scores.numpy(), d["keep_frac"], offset_frac=d["offset_frac"]))
    model = fit(mlp(seed), x[keep], y[keep], seed=seed, steps=steps, s=s)
    results["Data Diet"] = accuracy(model, data.x_test, data.y_test)

    teacher_logits = logits_on(ce_model, x)
    sd = s["self_distillation"]
    model = mlp(seed + 1)
    fit(
        model,
        x,
        y,
        seed=seed,
        steps=steps,
        s=s,
        loss_fn=lambda logits, labels, idx: self_distillation_loss(logits, labels, teacher_logits[idx], **sd),
    )
    results["Self-distillation"] = accuracy(model, data.x_test, data.y_test)
    return results


def main() -> None:
    s = json.loads(json.dumps(SETTINGS))
    smoke = "--smoke" in sys.argv
    if smoke:
        s.update(seeds=[0], steps=40)
        s["data_diet"].update(n_runs=1, score_epochs=1)
    # one dict per seed and method, its metrics the noise rates
    per_seed: dict[str, list[dict[str, float]]] = {m: [{} for _ in s["seeds"]] for m in METHODS}
    start = time.time()
    for noise in s["noise_rates"]:
        for position, seed in enumerate(s["seeds"]):
            result = run_seed(seed, noise, s)
            for m in METHODS:
                per_seed[m][position][f"{noise:.0%} noise"] = result[m]
            print(f"noise {noise} seed {seed} " + " ".join(f"{m}={v:.3f}" for m, v in result.items()), flush=True)
    report_comparison(
        "noisy_labels",
        description="noisy-label methods vs cross-entropy on digits with uniform label noise (clean test accuracy)",
        settings=s,
        per_seed=per_seed,
        started=start,
        title="Training on noisy digits labels",
        ylabel=f"clean test accuracy (mean ± std, {len(s['seeds'])} seeds)",
        ylim=(0.5, 1.0),
        smoke=smoke,
    )


if __name__ == "__main__":
    main()
