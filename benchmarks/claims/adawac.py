"""Claim of P34 (Dong, Xie & Ward, ICML 2023): AdaWAC's per-sample weights send label-sparse samples to the consistency
term and label-dense ones to the supervised loss, and this improves segmentation under label sparsity.

The paper trains UNet/TransUNet on Synapse and ACDC for 150 epochs; this CPU check is a synthetic stand-in, and the
margins below are this project's, not numbers from the paper.

Data: 16×16 noisy images of 1–2 discs and squares (2 classes), 480 training images of which 50% are label-sparse
(their masks zeroed: the shapes are there, the annotation is not). As in the paper's scans, where the label-sparse
slices are other anatomy, the label-sparse images form their own subpopulation: a faint striped background. The
test set is 500 fresh, fully labelled images of the label-dense kind. Both methods see two photometric views per
batch (intensity scale ±0.2, shift ±0.1, Gaussian noise 0.1; pixel-aligned, so latents are comparable).

Training: the tiny UNet of the room (8-16-32 channels, bottleneck 32×4×4 = the latent), SGD lr 0.01, momentum 0.9,
weight decay 1e-4 (official optimiser), batch 32, 30 epochs (450 steps: each sample's β takes 30 mirror steps; a
few epochs leave β dominated by the first visits, when the untrained model's losses say nothing about the sample),
λ_dice = 0.5, same initial weights, batches and views per seed. ERM = the official `--loss base`
(λ_dice·Dice + (1 − λ_dice)·CE of the first view); AdaWAC = `--loss adawac` with lr_w = 8 (the official UNet script),
dac_coef = 2.

Rules (fixed before the first run), seeds 0, 1, 2 (unit = seed, mean paired difference):

(a) mean final β^sup over label-dense samples − mean over label-sparse samples ≥ 0.2;
(b) test foreground Dice (mean over images) of AdaWAC − ERM ≥ 0.03;
(c) every β row stays on the simplex: max |β^sup + β^con − 1| and max(−β) below 1e-6.

Also recorded, under no rule: the same comparison when the label-sparse images look exactly like the label-dense
ones (no stripes: pure missing annotation, nothing tells the two kinds apart but the labels).

Every (method, variant, seed) run is cached (12 runs, about 6 minutes on one thread).
Run: `python benchmarks/claims/adawac.py [--smoke]`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.adawac.data import PhotometricAugmentation, make_shapes_segmentation
from hf_methods.training.adawac.training import train_segmentation

CLAIM = Claim(
    slug="adawac",
    seeds=[0, 1, 2],
    settings={
        "num_train": 480,
        "num_test": 500,
        "sparse_fraction": 0.5,
        "max_shapes": 2,
        "noise_std": 0.15,
        "stripe_amplitude": 0.15,
        "test_seed_offset": 1_000_000,
        "augmentation": {"scale": 0.2, "shift": 0.1, "noise_std": 0.1},
        "base_channels": 8,
        "depth": 2,
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "lr_w": 8.0,
        "dac_coef": 2.0,
        "dice_ratio": 0.5,
        "dice_mode": "batch (official DiceLossFull)",
        "variants": {"subpopulation": True, "same-looking": False},
        "ruled_variant": "subpopulation",
        "metric": "test foreground Dice after the last epoch, mean over test images",
    },
    smoke={"num_train": 64, "num_test": 50, "epochs": 1, "seeds": [0]},
    rules=[
        Compare(
            "(a) mean β^sup: label-dense − label-sparse ≥ 0.2",
            "mean_beta_sup",
            "AdaWAC label-dense",
            "AdaWAC label-sparse",
            0.2,
        ),
        Compare("(b) test Dice: AdaWAC − ERM ≥ 0.03", "test_dice", "AdaWAC", "ERM", 0.03),
        Threshold("(c) β rows stay on the simplex", "max_simplex_violation", "AdaWAC", "<", 1e-6),
    ],
    task={
        "type": "image-segmentation",
        "dataset_name": "synthetic 16x16 discs and squares, 50% label-sparse training masks",
        "dataset_type": "synthetic",
        "split": "test",
    },
)


def train_run(method: str, cue: bool, seed: int, s: dict) -> dict:
    """One (method, variant, seed) run; the data and the test set depend on the seed only."""
    torch.set_num_threads(1)
    data = dict(max_shapes=s["max_shapes"], noise_std=s["noise_std"], stripe_amplitude=s["stripe_amplitude"])
    train = make_shapes_segmentation(
        s["num_train"], seed=seed, sparse_fraction=s["sparse_fraction"], sparse_cue=cue, **data
    )
    test = make_shapes_segmentation(s["num_test"], seed=s["test_seed_offset"] + seed, **data)
    result = train_segmentation(
        train,
        test,
        method,
        seed=seed,
        epochs=s["epochs"],
        lr=s["learning_rate"],
        batch_size=s["batch_size"],
        lr_w=s["lr_w"],
        dac_coef=s["dac_coef"],
        dice_ratio=s["dice_ratio"],
        momentum=s["momentum"],
        weight_decay=s["weight_decay"],
        base_channels=s["base_channels"],
        depth=s["depth"],
        augmentation=PhotometricAugmentation(**s["augmentation"]),
    )
    if method == "adawac":
        beta_sup = torch.tensor(result.pop("beta_sup"))
        result["mean_beta_sup_sparse"] = beta_sup[train.sparse].mean().item()
        result["mean_beta_sup_dense"] = beta_sup[~train.sparse].mean().item()
        result["frac_sparse_to_consistency"] = (beta_sup[train.sparse] < 0.5).float().mean().item()
        result["frac_dense_to_supervised"] = (beta_sup[~train.sparse] > 0.5).float().mean().item()
    return result


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    curves = {}
    for variant, cue in s["variants"].items():
        suffix = "" if variant == s["ruled_variant"] else f" ({variant})"
        for seed in claim.seeds:
            erm = claim.cached(f"erm-{variant}-seed{seed}", train_run, "erm", cue, seed, s)
            ada = claim.cached(f"adawac-{variant}-seed{seed}", train_run, "adawac", cue, seed, s)
            claim.record(f"ERM{suffix}", "test_dice", erm["test_dice"], unit=seed)
            claim.record(f"AdaWAC{suffix}", "test_dice", ada["test_dice"], unit=seed)
            claim.record(f"AdaWAC{suffix}", "max_simplex_violation", ada["max_simplex_violation"], unit=seed)
            claim.record(f"AdaWAC label-sparse{suffix}", "mean_beta_sup", ada["mean_beta_sup_sparse"], unit=seed)
            claim.record(f"AdaWAC label-dense{suffix}", "mean_beta_sup", ada["mean_beta_sup_dense"], unit=seed)
            claim.record(f"AdaWAC{suffix}", "frac_sparse_to_consistency", ada["frac_sparse_to_consistency"], unit=seed)
            claim.record(f"AdaWAC{suffix}", "frac_dense_to_supervised", ada["frac_dense_to_supervised"], unit=seed)
            if not suffix:
                for name, result in (("ERM", erm), ("AdaWAC", ada)):
                    curves.setdefault(name, {})[f"seed{seed}"] = [(e + 1, d) for e, d in enumerate(result["curve"])]
    claim.plot_curves(
        "curves",
        curves,
        xlabel="epoch",
        ylabel="test foreground Dice",
        title=f"synthetic 16×16 segmentation, {s['sparse_fraction']:.0%} label-sparse (mean ± std, "
        f"{len(claim.seeds)} seeds)",
    )
    claim.note(
        "lr_w = 8 (the official UNet/TransUNet scripts; the code's default is 1). Deviations from the official "
        "setup: a tiny UNet trained from scratch on synthetic 16×16 images for 30 epochs (not a pretrained encoder "
        "on Synapse/ACDC for 150 epochs), photometric augmentations (the official code compares the bottleneck "
        "features of independently rotated/flipped views), a constant learning rate."
    )


if __name__ == "__main__":
    CLAIM.main(run)
