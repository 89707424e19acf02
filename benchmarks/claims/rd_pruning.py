"""Claim check for P38 `rd_pruning`: rate–distortion layer-adaptive pruning (DP allocation) vs uniform and global
magnitude pruning, without fine-tuning.

Paper (Xu, Wang et al., ICCV 2023): the output distortion of pruning several layers is about the sum of the
single-layer distortions; the allocation solved by DP beats other layer-adaptive methods (CIFAR-10 up to +1.0 %
ResNet-32, ImageNet up to +4.6 % ResNet-50).

CPU-scale setting (declared below before any run): an MLP 64-256-256-10 (ReLU) trained with Adam on scikit-learn
digits (3 seeds = 3 models); 256 training images as calibration, S = 50 levels, mean squared-error distortion of the
logits; all three Linear layers pruned. Rules:

- (a) additivity: at uniform 50 % per layer, |joint − Σ_l δ_l| / joint < 0.25 (mean over seeds);
- (b) exactness: on 200 random 3-layer toys with 10 levels (random sizes, curves and budgets) the DP cost equals the
  brute-force optimum on every toy (fraction == 1);
- (c) at 90 % global sparsity, no fine-tuning, test accuracy RD ≥ uniform + 5 points and ≥ global − 1 point (mean
  paired difference over seeds), and the held-out output distortion of RD below both;
- the RD model, baked and saved with `save_pretrained`, reloads with `from_pretrained` to the same outputs
  (max |Δlogit| < 1e-6), and the fraction of the pruned weights kept, read from the saved safetensors, is ≤ 0.10.

Run: `python benchmarks/claims/rd_pruning.py [--smoke]`.
"""

from __future__ import annotations

import itertools
import tempfile

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="rd_pruning",
    settings={
        "model": {"hidden_sizes": [256, 256], "hidden_act": "relu"},
        "training": {"steps": 1500, "batch_size": 64, "learning_rate": 1e-3},
        "data": {"test_size": 0.2, "split_seed": 0, "calibration_size": 256},
        "pruning": {"levels": 50, "worst_case": False, "target_sparsity": 0.9, "additivity_amount": 0.5},
        "toy": {"instances": 200, "layers": 3, "levels": 10, "max_size": 40},
    },
    seeds=[0, 1, 2],
    rules=[
        Threshold("(a) additivity at uniform 50%", metric="additivity_rel_error", method="RD", op="<", value=0.25),
        Threshold("(b) DP equals brute force on toys", metric="dp_exact_fraction", method="DP", op="==", value=1.0),
        Compare("(c) RD vs uniform: accuracy", metric="test_accuracy", method="RD", baseline="uniform", margin=0.05),
        Compare("(c) RD vs global: accuracy", metric="test_accuracy", method="RD", baseline="global", margin=-0.01),
        Compare(
            "(c) RD vs uniform: distortion",
            metric="test_distortion",
            method="RD",
            baseline="uniform",
            higher_is_better=False,
        ),
        Compare(
            "(c) RD vs global: distortion",
            metric="test_distortion",
            method="RD",
            baseline="global",
            higher_is_better=False,
        ),
        Threshold("baked RD model reloads identically", metric="reload_max_abs_diff", method="RD", op="<", value=1e-6),
        Threshold(
            "fraction kept (saved files) <= 0.10", metric="saved_kept_fraction", method="RD", op="<=", value=0.1
        ),
    ],
    smoke={"training": {"steps": 50, "batch_size": 64, "learning_rate": 1e-3}, "seeds": [0]},
    task={
        "type": "image-classification",
        "dataset_name": "scikit-learn digits",
        "dataset_type": "sklearn-digits",
        "split": "test (20%)",
    },
)


def toy_exactness(settings: dict) -> dict:
    from hf_methods.adapters.rd_pruning import dp_allocate, kept_counts

    t = settings["toy"]
    g = torch.Generator().manual_seed(1234)
    exact = 0
    for _ in range(t["instances"]):
        sizes = [int(s) for s in torch.randint(1, t["max_size"] + 1, (t["layers"],), generator=g)]
        curves = [torch.rand(t["levels"] + 1, generator=g).tolist() for _ in sizes]
        budget = int(torch.randint(0, sum(sizes) + 1, (1,), generator=g))
        kept = [kept_counts(n, t["levels"]) for n in sizes]
        best = min(
            sum(c[i] for c, i in zip(curves, combo))
            for combo in itertools.product(range(t["levels"] + 1), repeat=t["layers"])
            if sum(k[i] for k, i in zip(kept, combo)) <= budget
        )
        level = dp_allocate(curves, sizes, budget)
        within = sum(k[i] for k, i in zip(kept, level)) <= budget
        exact += int(within and abs(sum(c[i] for c, i in zip(curves, level)) - best) <= 1e-12)
    return {"exact_fraction": exact / t["instances"]}


def run_seed(settings: dict, seed: int) -> dict:
    from hf_methods.adapters.rd_pruning import output_distortion, saved_kept_fraction
    from hf_methods.adapters.rd_pruning.training import accuracy, digits_mlp, prune_copy, train_dense
    from hf_methods.common.data import load_digits
    from hf_methods.common.masks import bake, magnitude_masks

    d, m, tr, p = settings["data"], settings["model"], settings["training"], settings["pruning"]
    train, test = load_digits(test_size=d["test_size"], seed=d["split_seed"])
    x, y = torch.tensor(train.x), torch.tensor(train.y)
    xt, yt = torch.tensor(test.x), torch.tensor(test.y)
    model = digits_mlp(m["hidden_sizes"], m["hidden_act"], seed=seed)
    loss = train_dense(model, x, y, steps=tr["steps"], batch_size=tr["batch_size"], lr=tr["learning_rate"], seed=seed)
    model.eval()
    calib = {
        "pixel_values": x[
            torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: d["calibration_size"]]
        ]
    }
    out = {"dense_accuracy": accuracy(model, xt, yt), "final_train_loss": loss}
    for kind in ("rd", "uniform", "global"):
        pruned, masks, pruner = prune_copy(
            model, kind, p["target_sparsity"], calib, levels=p["levels"], worst_case=p["worst_case"]
        )
        out[kind] = {
            "test_accuracy": accuracy(pruned, xt, yt),
            "test_distortion": output_distortion(model, masks, {"pixel_values": xt}),
            "calibration_distortion": output_distortion(model, masks, calib),
            "kept_fraction": sum(int(v.sum()) for v in masks.values()) / sum(v.numel() for v in masks.values()),
            "layer_sparsity": {n: 1 - v.float().mean().item() for n, v in masks.items()},
        }
        if kind == "rd":
            out["rd"]["amounts"] = pruner.amounts
            # (a) additivity at a uniform amount: joint distortion vs the sum of the curves at that level
            level = round(p["additivity_amount"] * p["levels"])
            uniform_half = magnitude_masks(model, 1 - p["additivity_amount"], scope="layer")
            joint = output_distortion(model, uniform_half, calib)
            summed = sum(c[level] for c in pruner.curves.values())
            out["additivity"] = {"joint": joint, "sum": summed, "rel_error": abs(joint - summed) / joint}
            with torch.no_grad():
                before = pruned(pixel_values=xt).logits
            bake(pruned)
            with tempfile.TemporaryDirectory() as folder:
                pruned.save_pretrained(folder)
                cls = type(pruned)  # the digits MLP is a transformers PreTrainedModel; reload by its own class
                reloaded = cls.from_pretrained(folder).eval()
                with torch.no_grad():
                    after = reloaded(pixel_values=xt).logits
                out["rd"]["reload_max_abs_diff"] = (after - before).abs().max().item()
                out["rd"]["saved_kept_fraction"] = saved_kept_fraction(folder, list(masks))
    return out


def run(claim):
    s = claim.settings
    toy = claim.cached("toy", toy_exactness, s)
    claim.record("DP", "dp_exact_fraction", toy["exact_fraction"])
    for seed in claim.seeds:
        r = claim.cached(f"seed{seed}", run_seed, s, seed)
        unit = f"seed{seed}"
        claim.record("RD", "additivity_rel_error", r["additivity"]["rel_error"], unit=unit)
        claim.record("dense", "test_accuracy", r["dense_accuracy"], unit=unit)
        for kind, name in (("rd", "RD"), ("uniform", "uniform"), ("global", "global")):
            for metric in ("test_accuracy", "test_distortion", "kept_fraction"):
                claim.record(name, metric, r[kind][metric], unit=unit)
        claim.record("RD", "reload_max_abs_diff", r["rd"]["reload_max_abs_diff"], unit=unit)
        claim.record("RD", "saved_kept_fraction", r["rd"]["saved_kept_fraction"], unit=unit)
        claim.note(f"seed {seed}: RD amounts {r['rd']['amounts']}; additivity {r['additivity']}")
    claim.plot_points(
        "accuracy",
        ["test_accuracy", "test_distortion"],
        methods=["dense", "uniform", "global", "RD"],
        ylabel_test_accuracy="test accuracy",
        ylabel_test_distortion="output distortion (test)",
    )


if __name__ == "__main__":
    CLAIM.main(run)
