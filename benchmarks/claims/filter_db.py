"""Claim of P30 (Gavrikov & Keuper, CVPR 2022, "CNN Filter DB"): trained 3×3 filter distributions shift little across
datasets (and training runs) but vary with depth, and over-parameterised models carry degenerate filters (low variance
entropy, high sparsity), unlike random initialisation.

The paper measures 1.4 billion filters of hundreds of public CNNs; this CPU check trains its own tiny transformers
`ResNetForImageClassification`s (basic blocks, stages of width and 2·width channels, one block each: four 3×3 convs;
the 7×7 stem and the 1×1 shortcut are skipped) and measures them with `measure_conv_quality` and
`filter_distribution_shift`. The settings and margins below are this project's, fixed before the first run.

Data: Fashion-MNIST (8000 training images drawn with the seed, 2000 test images, 3 epochs) and scikit-learn digits
(80/20 split by the seed, resized to 28×28, 15 epochs). Models: narrow (width 8) and 4× wider (width 32), AdamW
(lr 2e-3, weight decay 0.01, linear decay, batch 128), initialisation and batch order from the seed; the metrics are
tracked every 20 steps with `FilterQualityCallback`. Filter shift D = Σ_i ρ_i [KL(P_i‖Q_i) + KL(Q_i‖P_i)] over 70-bin
histograms of the 9 PCA coefficients of peak-scaled filters, one PCA basis and range fitted on the first and last 3×3
layers of every trained model (the "database"). Every D is computed on 1024 filters drawn from each of its two sets
(the wide model's first layer holds 1024): the histogram estimate of KL has a small-sample bias of about
(bins − 1) / N per set, so pairs are only comparable at equal N (the paper's groups hold millions of filters).

Rules (seeds 0, 1, 2):

1. properties (per seed): a Kaiming-normal 64×64 3×3 layer has normalised variance entropy ≥ 0.9; a layer of copies of
   one random filter has variance entropy < 1e-6; a 20×20 layer with 40% of its 400 filters set to zero has sparsity
   within 0.01 of 0.4;
2. against random initialisation: the mean normalised variance entropy over the 3×3 layers is at least 0.05 lower
   after training than at initialisation (mean paired difference; unit = dataset × width × seed);
3. width: the deepest 3×3 conv of the 4× wider model is more degenerate than the narrow model's by ≥ 0.05 in
   degeneracy = sparsity + (1 − normalised variance entropy) (i.e. lower entropy or higher sparsity; unit = dataset ×
   seed);
4. seeds vs depth: for the wide models, D(first layer of seed s, first layer of seed s + 1) is smaller than D(first
   layer, last layer of seed s) (unit = dataset × seed);
5. datasets vs depth: D(first layer trained on digits, first layer trained on Fashion-MNIST, same seed) is smaller than
   D(first layer, last layer) on Fashion-MNIST (unit = seed).

Run: `python benchmarks/claims/filter_db.py [--smoke]` (about 5 minutes on one idle thread; each training is cached).
"""

from __future__ import annotations

import base64

import numpy as np
import torch
from torch import nn

from hf_methods.analysis.filter_db import (
    filter_distribution_shift,
    filter_sparsity,
    fit_filter_basis,
    load_image_data,
    train_filter_classifier,
    variance_entropy,
)
from hf_methods.harness.claims import Claim, Compare, Threshold

KAIMING, COPIES, SPARSE = "Kaiming-normal layer", "copies of one filter", "40% zero filters"
TRAINED, INIT = "trained", "random init"
WIDE, NARROW = "wide (4×)", "narrow"
ACROSS_SEEDS, ACROSS_DATASETS, ACROSS_DEPTH = (
    "first layer, seed s vs s+1",
    "first layer, digits vs Fashion-MNIST",
    "first vs last layer",
)

CLAIM = Claim(
    slug="filter_db",
    seeds=[0, 1, 2],
    settings={
        "datasets": {
            "fashion_mnist": {"num_train": 8000, "num_test": 2000, "epochs": 3},
            "digits": {"num_train": None, "num_test": None, "epochs": 15},
        },
        "image_size": 28,
        "widths": {"narrow": 8, "wide": 32},
        "depths": [1, 1],
        "batch_size": 128,
        "learning_rate": 2e-3,
        "weight_decay": 0.01,
        "track_every": 20,
        "sparsity_eps": 0.01,
        "bins": 70,
        "shift_sample_size": 1024,
        "weighting": "explained_variance",
        "kaiming_channels": 64,
        "copies_shape": [32, 16],
        "sparse_channels": 20,
        "sparse_fraction": 0.4,
        "entropy_margin_vs_init": 0.05,
        "degeneracy_margin_wide": 0.05,
    },
    smoke={
        "datasets": {
            "fashion_mnist": {"num_train": 256, "num_test": 200, "epochs": 1},
            "digits": {"num_train": 256, "num_test": 200, "epochs": 1},
        },
        "seeds": [0, 1],
    },
    rules=[
        Threshold("(1a) random Kaiming layer: normalised entropy ≥ 0.9", "variance_entropy_norm", KAIMING, ">=", 0.9),
        Threshold("(1b) copies of one filter: entropy ≈ 0", "variance_entropy", COPIES, "<", 1e-6),
        Threshold("(1c) 40% zero filters: sparsity 0.4 ± 0.01", "sparsity_error", SPARSE, "<=", 0.01),
        Compare(
            "(2) training lowers variance entropy below random init",
            "mean_variance_entropy_norm",
            TRAINED,
            INIT,
            margin=0.05,
            higher_is_better=False,
        ),
        Compare("(3) the 4× wider model's deepest conv is more degenerate", "deepest_degeneracy", WIDE, NARROW, 0.05),
        Compare("(4) seed-to-seed shift < depth shift", "shift", ACROSS_SEEDS, ACROSS_DEPTH, higher_is_better=False),
        Compare("(5) dataset shift < depth shift", "shift", ACROSS_DATASETS, ACROSS_DEPTH, higher_is_better=False),
    ],
    task={"type": "image-classification", "dataset_name": "Fashion-MNIST and digits", "dataset_type": "fashion_mnist"},
)


def _encode(weight: torch.Tensor) -> str:
    return base64.b64encode(weight.detach().reshape(-1, 9).numpy().astype(np.float16).tobytes()).decode()


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float64).reshape(-1, 9)


def properties(seed: int, settings: dict) -> dict:
    """The metrics on constructed layers: Kaiming-normal, copies of one filter, 40% zero filters."""
    generator = torch.Generator().manual_seed(seed)
    channels = settings["kaiming_channels"]
    kaiming = torch.empty(channels, channels, 3, 3)
    nn.init.kaiming_normal_(kaiming, generator=generator)
    c_out, c_in = settings["copies_shape"]
    copies = torch.randn(1, 1, 3, 3, generator=generator).expand(c_out, c_in, 3, 3).contiguous()
    n = settings["sparse_channels"]
    sparse = torch.randn(n, n, 3, 3, generator=generator)
    zero = torch.randperm(n * n, generator=generator)[: round(settings["sparse_fraction"] * n * n)]
    sparse.view(n * n, 9)[zero] = 0.0
    return {
        "kaiming_entropy_norm": variance_entropy(kaiming)[1],
        "copies_entropy": variance_entropy(copies)[0],
        "sparsity_error": abs(filter_sparsity(sparse, settings["sparsity_eps"])[0] - settings["sparse_fraction"]),
    }


def train_one(dataset: str, width: int, seed: int, settings: dict) -> dict:
    """Trains one tiny ResNet; returns its accuracy, metrics at init and after training, the tracked entropy and its
    first and last 3×3 layers' filters (float16, base64)."""
    config = settings["datasets"][dataset]
    data = load_image_data(
        dataset,
        seed=seed,
        num_train=config["num_train"],
        num_test=config["num_test"],
        image_size=settings["image_size"],
    )
    result = train_filter_classifier(
        data,
        width=width,
        depths=tuple(settings["depths"]),
        seed=seed,
        epochs=config["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        weight_decay=settings["weight_decay"],
        track_every=settings["track_every"],
    )
    modules = dict(result.model.named_modules())
    first, last = result.final.layers[0].name, result.final.layers[-1].name
    return {
        "accuracy": result.accuracy,
        "initial": result.initial.to_dict(),
        "final": result.final.to_dict(),
        "layers": result.final.names,
        "entropy_history": [(step, q.mean("variance_entropy_norm")) for step, q in result.history],
        "first_filters": _encode(modules[first].weight),
        "last_filters": _encode(modules[last].weight),
    }


def _mean(quality: dict, metric: str) -> float:
    return float(np.mean([layer[metric] for layer in quality.values()]))


def run(claim):
    settings = claim.settings
    for seed in claim.seeds:
        found = claim.cached(f"properties-seed{seed}", properties, seed, settings)
        claim.record(KAIMING, "variance_entropy_norm", found["kaiming_entropy_norm"], unit=f"seed{seed}")
        claim.record(COPIES, "variance_entropy", found["copies_entropy"], unit=f"seed{seed}")
        claim.record(SPARSE, "sparsity_error", found["sparsity_error"], unit=f"seed{seed}")

    runs = {}
    for dataset in settings["datasets"]:
        for size, width in settings["widths"].items():
            for seed in claim.seeds:
                key = f"{dataset}-{size}-seed{seed}"
                runs[dataset, size, seed] = result = claim.cached(key, train_one, dataset, width, seed, settings)
                for name, quality in ((TRAINED, result["final"]), (INIT, result["initial"])):
                    value = _mean(quality, "variance_entropy_norm")
                    claim.record(name, "mean_variance_entropy_norm", value, unit=key)
                deepest = result["final"][result["layers"][-1]]
                degeneracy = deepest["sparsity"] + 1.0 - deepest["variance_entropy_norm"]
                label = WIDE if size == "wide" else NARROW
                claim.record(label, "deepest_degeneracy", degeneracy, unit=f"{dataset}-seed{seed}")
                claim.record(label, "test_accuracy", result["accuracy"], unit=f"{dataset}-seed{seed}")
                for metric in ("sparsity", "variance_entropy_norm", "orthogonality"):
                    claim.record(f"{label} ({dataset})", f"deepest_{metric}", deepest[metric], unit=f"seed{seed}")

    # the "database": first and last 3x3 layers of every trained model, one PCA basis and histogram range
    filters = {key: (_decode(r["first_filters"]), _decode(r["last_filters"])) for key, r in runs.items()}
    basis = fit_filter_basis(np.concatenate([f for pair in filters.values() for f in pair]))
    claim.details["basis_explained_variance_ratio"] = basis.explained_variance_ratio.tolist()

    def shift(a, b):
        return filter_distribution_shift(
            a,
            b,
            basis=basis,
            bins=settings["bins"],
            weighting=settings["weighting"],
            sample_size=settings["shift_sample_size"],
            seed=0,
        )

    seeds = claim.seeds
    for dataset in settings["datasets"]:
        for i, seed in enumerate(seeds):
            first, last = filters[dataset, "wide", seed]
            other_first = filters[dataset, "wide", seeds[(i + 1) % len(seeds)]][0]
            unit = f"{dataset}-seed{seed}"
            depth = shift(first, last)
            claim.record(ACROSS_DEPTH, "shift", depth.distance, unit=unit)
            claim.record(ACROSS_SEEDS, "shift", shift(first, other_first).distance, unit=unit)
            if dataset == "fashion_mnist" and i == 0:
                depth.save_plot(
                    claim.plot_path("depth-shift"),
                    labels=("first 3×3 layer", "last 3×3 layer"),
                    title=f"Fashion-MNIST, wide, seed {seed}: first vs last layer, D = {depth.distance:.3f}",
                )
    if "digits" in settings["datasets"] and "fashion_mnist" in settings["datasets"]:
        for seed in seeds:
            across = shift(filters["digits", "wide", seed][0], filters["fashion_mnist", "wide", seed][0])
            claim.record(ACROSS_DATASETS, "shift", across.distance, unit=f"fashion_mnist-seed{seed}")

    curves = {
        f"{dataset} {size}": {f"seed{seed}": runs[dataset, size, seed]["entropy_history"] for seed in seeds}
        for dataset in settings["datasets"]
        for size in settings["widths"]
    }
    claim.plot_curves(
        "entropy",
        curves,
        xlabel="training step",
        ylabel="mean normalised variance entropy (3×3 layers)",
        title="3×3 filter variance entropy during training (1 = random initialisation)",
    )
    claim.plot_points(
        "points",
        ["mean_variance_entropy_norm", "deepest_degeneracy", "shift"],
        methods=[TRAINED, INIT, WIDE, NARROW, ACROSS_SEEDS, ACROSS_DATASETS, ACROSS_DEPTH],
    )
    claim.details["per_layer"] = {
        f"{dataset}-{size}-seed{seed}": {"initial": r["initial"], "final": r["final"], "accuracy": r["accuracy"]}
        for (dataset, size, seed), r in runs.items()
    }


if __name__ == "__main__":
    CLAIM.main(run)
