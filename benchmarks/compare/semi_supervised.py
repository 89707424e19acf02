"""Side by side: the zoo's semi-supervised methods when the unlabelled pool holds images of unknown classes.

One shared split per seed, so rows differ only in how they use the unlabelled pool:

- task: scikit-learn digits split 80/20 by seed; known classes 0–5 with 10 labelled images each; an unlabelled pool in
  which 60% of the images belong to the unknown classes 6–9 (`hf_methods.training.wad.training.mismatch_digits`, the
  class-distribution-mismatch setting of open-set semi-supervised learning); test on the known-class test images;
- model: a ReLU MLP 64-128-128-6 for every row (`hidden_size=128`).

Rows (each with its claim's settings, none tuned here; the training loops are the methods' own):

- labelled only: the labelled images alone, Adam 5e-4, 1,500 steps (`wad`'s `labelled_only`);
- naive pseudo-labelling: pseudo-labels from a PCA-32 teacher's nearest labelled example, every weight 1, 6 rounds of
  250 steps with promotions (`wad`'s `naive`);
- WAD: the same with WAD's per-sample weights (`wad`);
- FixMatch: weak/strong consistency with a 0.95 confidence threshold, SGD 0.03, 1,200 steps of 16 labelled + 112
  unlabelled images, EMA model evaluated (`shrinkmatch`'s `fixmatch`);
- ShrinkMatch: FixMatch plus the shrunk-class-space loss on uncertain images (`shrinkmatch`).

The budgets differ as the methods' own loops do (printed in the settings). This is a comparison, not a claim: no
pass/fail rule (each method's own claim tests its paper). Run: `OMP_NUM_THREADS=1 python
benchmarks/compare/semi_supervised.py` (`--smoke` for a short run). Writes
`benchmarks/results/compare-semi_supervised.json` and `.png`.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from hf_methods.harness.compare import report_comparison
from hf_methods.training.shrinkmatch.training import train_ssl
from hf_methods.training.wad.training import PCATeacher, mismatch_digits, train_wad_student

SETTINGS = {
    "seeds": [0, 1, 2],
    "split": {"known_classes": [0, 1, 2, 3, 4, 5], "labels_per_class": 10, "mismatch": 0.6, "test_size": 0.2},
    "hidden_size": 128,
    "wad": {"pca_components": 32, "rounds": 5, "steps_per_round": 250, "alpha": 0.1, "lr": 5e-4, "batch_size": 32},
    "fixmatch": {"steps": 1200, "batch_size": 16, "mu": 7, "lr": 0.03, "threshold": 0.95, "ema_momentum": 0.99},
}
METHODS = ("labelled only", "naive pseudo-labelling", "WAD", "FixMatch", "ShrinkMatch")


def run_seed(seed: int, s: dict) -> dict[str, dict[str, float]]:
    torch.set_num_threads(1)
    split = s["split"]
    data = mismatch_digits(
        seed,
        known_classes=tuple(split["known_classes"]),
        labels_per_class=split["labels_per_class"],
        mismatch=split["mismatch"],
        test_size=split["test_size"],
    )
    w = s["wad"]
    teacher = PCATeacher(torch.cat([data.x_labelled, data.x_unlabelled]), w["pca_components"])
    with torch.no_grad():
        feats_l, feats_u = teacher(data.x_labelled), teacher(data.x_unlabelled)
    out = {}
    for name, method in (("labelled only", "labelled_only"), ("naive pseudo-labelling", "naive"), ("WAD", "wad")):
        result = train_wad_student(
            data,
            feats_l,
            feats_u,
            method,
            seed=seed,
            rounds=w["rounds"],
            alpha=w["alpha"],
            steps_per_round=w["steps_per_round"],
            batch_size=w["batch_size"],
            lr=w["lr"],
            hidden_size=s["hidden_size"],
        )
        out[name] = {"test_accuracy": float(result["test_accuracy"])}
    f = s["fixmatch"]
    for name, method in (("FixMatch", "fixmatch"), ("ShrinkMatch", "shrinkmatch")):
        result = train_ssl(
            data.x_labelled,
            data.y_labelled,
            data.x_unlabelled,
            data.x_test,
            data.y_test,
            method=method,
            seed=seed,
            steps=f["steps"],
            batch_size=f["batch_size"],
            mu=f["mu"],
            lr=f["lr"],
            threshold=f["threshold"],
            ema_momentum=f["ema_momentum"],
            ratio_momentum=f["ema_momentum"],
            hidden_size=s["hidden_size"],
            eval_every=f["steps"],
        )
        out[name] = {"test_accuracy": float(result["test_accuracy"])}
    return out


def main() -> None:
    s = json.loads(json.dumps(SETTINGS))
    smoke = "--smoke" in sys.argv
    if smoke:
        s.update(seeds=[0])
        s["wad"].update(rounds=1, steps_per_round=20)
        s["fixmatch"].update(steps=20)
    per_seed: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    start = time.time()
    for seed in s["seeds"]:
        result = run_seed(seed, s)
        for method in METHODS:
            per_seed[method].append(result[method])
        print(f"seed {seed}: " + ", ".join(f"{m} {result[m]['test_accuracy']:.3f}" for m in METHODS), flush=True)
    report_comparison(
        "semi_supervised",
        description=__doc__,
        settings=s,
        per_seed=per_seed,
        started=start,
        title="Digits, 10 labels per known class, unlabelled pool 60% unknown classes",
        ylabel="known-class test accuracy",
        smoke=smoke,
    )


if __name__ == "__main__":
    main()
