"""Claim of P33 (Paul, Ganguli & Dziugaite, NeurIPS 2021): EL2N scores early in training find noisy and important
examples, so a large part of the training set can be pruned without losing accuracy.

The paper works on CIFAR-10/100 with ResNets (EL2N at epoch 20, averaged over 10 initialisations; pruning 50% of
CIFAR-10 keeps test accuracy). This CPU check uses scikit-learn's digits (1437 train / 360 test per seed) with 10% of
the training labels moved to another class, a ReLU MLP 64-256-256-10 and the official optimiser (SGD, Nesterov
momentum 0.9, learning rate 0.1, weight decay 5e-4, batch 128). Scores: EL2N after 3 epochs and GraNd at
initialisation, each averaged over 5 runs (`EL2NScorer`, `GraNdScorer`). Final training: a fresh MLP for 1000 steps
on the kept subset (the same number of steps whatever the subset's size, as the official code), learning rate ×0.2
at 30/60/80% of the steps. The bars below are this project's, fixed before the first run.

Rules (unit = seed, 5 seeds, mean paired difference):

1. noise detection: the 10% highest-EL2N training examples contain ≥ 50% of the corrupted examples (chance: 10%);
2. pruning at keep 60%, skipping the 5% highest EL2N (the paper's offset for noisy data): clean test accuracy
   ≥ that of a uniformly random 60% subset − 0.5 points (no loss against random pruning);
3. the same subset beats the 60% *easiest* examples (lowest EL2N) by ≥ 2 points of test accuracy;
4. GraNd through `torch.func.vmap(grad)` equals a per-example autograd loop within 1e-5 (float64, 64 examples).

Also recorded, with no rule: the full-data accuracy, keep-hardest without the offset, GraNd keep-hardest with the
offset, GraNd's noise detection and the fraction of corrupted labels left in each subset. Every scoring and training
run is cached, so an interrupted run restarts where it stopped (about 4 minutes on one idle thread).
Run: `python benchmarks/claims/data_diet.py [--smoke]`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.data_diet import EL2NScorer, GraNdScorer, compute_grand, prune_dataset
from hf_methods.training.data_diet.training import (
    accuracy,
    digits_mlp,
    noisy_digits_dataset,
    scoring_args,
    train_classifier,
)

HARDEST = "EL2N keep-hardest 60% (skip top 5%)"
RANDOM = "random 60%"
EASIEST = "EL2N keep-easiest 60%"
#: condition -> (cache key, score, mode, offset): "offset_frac" reads the setting, a number is used as is
CONDITIONS = {
    "full data": ("full", None, None, None),
    RANDOM: ("random", "el2n", "random", 0.0),
    HARDEST: ("el2n-max-offset", "el2n", "keep_max", "offset_frac"),
    EASIEST: ("el2n-min", "el2n", "keep_min", 0.0),
    "EL2N keep-hardest 60% (no skip)": ("el2n-max", "el2n", "keep_max", 0.0),
    "GraNd keep-hardest 60% (skip top 5%)": ("grand-max-offset", "grand", "keep_max", "offset_frac"),
}

CLAIM = Claim(
    slug="data_diet",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "data": "sklearn digits, stratified 80/20 split per seed",
        "test_size": 0.2,
        "noise_rate": 0.1,
        "noise_kind": "uniform (always another class)",
        "hidden_size": 256,
        "hidden_act": "relu",
        "n_runs": 5,
        "el2n_epoch": 3,
        "grand_epoch": 0,
        "learning_rate": 0.1,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "batch_size": 128,
        "detection_top_frac": 0.1,
        "keep_frac": 0.6,
        "offset_frac": 0.05,
        "final_steps": 1000,
        "final_decay": "x0.2 at 30/60/80% of the steps",
        "property_examples": 64,
    },
    smoke={"n_runs": 1, "final_steps": 20, "seeds": [0]},
    rules=[
        Threshold(
            "noise detection: top-10% EL2N holds ≥50% of the flipped labels", "noisy_recall_top10", "EL2N", ">=", 0.5
        ),
        Compare(f"{HARDEST} vs {RANDOM}", "test_accuracy", HARDEST, RANDOM, margin=-0.005),
        Compare(f"{HARDEST} vs {EASIEST}", "test_accuracy", HARDEST, EASIEST, margin=0.02),
        Threshold("GraNd: vmap(grad) = per-example loop", "max_abs_deviation", "GraNd", "<", 1e-5),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "sklearn digits with 10% label noise, pruned to 60%",
        "dataset_type": "digits",
        "split": "test",
    },
)


def grand_property(n: int) -> float:
    """Max |GraNd(vmap) − GraNd(loop)| on `n` digits for a float64 MLP (the loop: one autograd backward each)."""
    torch.manual_seed(0)
    model = digits_mlp(32).double()
    data = noisy_digits_dataset(0, 0.1).train.select(range(n))
    fast = compute_grand(model, data, batch_size=16).double()
    table = data.with_format("torch")[:]
    loop = []
    for x, y in zip(table["pixel_values"].double(), table["labels"]):
        model.zero_grad()
        F.cross_entropy(model(pixel_values=x[None]).logits, y[None]).backward()
        loop.append(torch.sqrt(sum((p.grad**2).sum() for p in model.parameters())).item())
    return (fast - torch.tensor(loop, dtype=torch.float64)).abs().max().item()


def score_run(kind: str, seed: int, s: dict) -> dict:
    """The averaged scores of one seed's training set (5 scoring runs, seeded 1000·seed + r)."""
    torch.set_num_threads(1)
    data = noisy_digits_dataset(seed, s["noise_rate"], test_size=s["test_size"])
    cls, epoch = (EL2NScorer, s["el2n_epoch"]) if kind == "el2n" else (GraNdScorer, s["grand_epoch"])
    args = scoring_args(
        learning_rate=s["learning_rate"],
        momentum=s["momentum"],
        weight_decay=s["weight_decay"],
        batch_size=s["batch_size"],
    )
    scorer = cls(
        lambda: digits_mlp(s["hidden_size"]),
        n_runs=s["n_runs"],
        score_epoch=epoch,
        training_args=args,
        seed=1000 * seed,
    )
    return {"scores": scorer.score(data.train).tolist()}


def final_run(condition: str, seed: int, scores: dict, s: dict) -> dict:
    """Prunes one seed's training set (score column, then select) and trains a fresh MLP on what is kept."""
    torch.set_num_threads(1)
    data = noisy_digits_dataset(seed, s["noise_rate"], test_size=s["test_size"])
    _, score, mode, offset = CONDITIONS[condition]
    subset = data.train
    if score is not None:
        offset = s["offset_frac"] if offset == "offset_frac" else offset
        subset = prune_dataset(
            data.train, scores[score], s["keep_frac"], offset_frac=offset, mode=mode, score_column=score, seed=seed
        )
    table = subset.with_format("torch")[:]
    model = train_classifier(
        table["pixel_values"],
        table["labels"],
        seed=seed,
        steps=s["final_steps"],
        lr=s["learning_rate"],
        momentum=s["momentum"],
        weight_decay=s["weight_decay"],
        batch_size=s["batch_size"],
        hidden_size=s["hidden_size"],
    )
    return {
        "test_accuracy": accuracy(model, data.x_test, data.y_test),
        "subset_size": len(subset),
        "subset_noise_fraction": (table["labels"] != table["clean_labels"]).float().mean().item(),
    }


def noisy_recall(scores: torch.Tensor, noisy: torch.Tensor, top_frac: float) -> float:
    """Fraction of the corrupted examples among the `top_frac` highest scores."""
    top = scores.argsort(descending=True, stable=True)[: round(top_frac * len(scores))]
    return noisy[top].sum().item() / max(noisy.sum().item(), 1)


def run(claim) -> None:
    import datasets

    datasets.disable_progress_bars()  # one `map` per pruned subset
    torch.set_num_threads(1)
    s = claim.settings
    claim.record("GraNd", "max_abs_deviation", grand_property(s["property_examples"]))
    curves = {"EL2N": {}, "GraNd": {}}
    fractions = [0.02 * k for k in range(1, 26)]
    for seed in claim.seeds:
        noisy = noisy_digits_dataset(seed, s["noise_rate"], test_size=s["test_size"]).is_noisy
        scores = {
            kind: claim.cached(f"{kind}-seed{seed}", score_run, kind, seed, s)["scores"] for kind in ("el2n", "grand")
        }
        for kind, name in (("el2n", "EL2N"), ("grand", "GraNd")):
            values = torch.tensor(scores[kind])
            claim.record(name, "noisy_recall_top10", noisy_recall(values, noisy, s["detection_top_frac"]), unit=seed)
            curves[name][f"seed{seed}"] = [(f, noisy_recall(values, noisy, f)) for f in fractions]
        for condition in CONDITIONS:
            key = f"final-{CONDITIONS[condition][0]}-seed{seed}"
            result = claim.cached(key, final_run, condition, seed, scores, s)
            for metric in ("test_accuracy", "subset_noise_fraction"):
                claim.record(condition, metric, result[metric], unit=seed)
    claim.plot_curves(
        "noise-detection",
        curves,
        xlabel="fraction of the training set, highest scores first",
        ylabel="fraction of the corrupted labels found",
        title=f"digits, {s['noise_rate']:.0%} label noise: EL2N (epoch {s['el2n_epoch']}) and GraNd (init), "
        f"{len(claim.seeds)} seeds",
    )
    claim.note(
        "Scores are averaged over 5 runs (the paper: 10) and EL2N is taken after 3 training epochs (the paper: "
        "epoch 20 of 200 on CIFAR-10); a digits MLP replaces the ResNets; the final models train for a "
        "fixed 1000 steps without data augmentation."
    )


if __name__ == "__main__":
    CLAIM.main(run)
