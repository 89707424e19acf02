"""Side by side: the zoo's ways to prune a pretrained model without training its weights, at one sparsity.

One shared pretrained model per seed and one global budget, so rows differ only in how the kept weights are chosen:

- task: scikit-learn digits split 80/20 by seed; a dense tanh MLP 64-256-256-10 trained with Adam (lr 1e-3, batch
  64, 30 epochs) is "the pretrained model" (`hf_methods.adapters.lottery_jackpot.training.pretrain_digits_mlp`);
- budget: 90% of the weights of all three linear layers pruned (10% kept), no weight is trained after pruning;
- evaluation: test accuracy on the held-out 20%, and the fraction kept, counted from the masks.

Rows (each with its recipe's defaults, none tuned here):

- dense: the unpruned model;
- uniform magnitude: every layer keeps its largest 10%;
- global magnitude: one |w| threshold over all layers;
- RD: the rate–distortion allocation of per-layer amounts (`rd_pruning`: 50 levels, 256 training images for the
  distortion curves, the exact DP), then magnitude pruning within each layer;
- jackpot: the lottery-jackpot mask search (`lottery_jackpot`: scores on the frozen weights, SGD lr 0.1, momentum
  0.9, 15 epochs on the training set, the exact-count swap after every step) started from the global magnitude mask.

The rows use different amounts of data: magnitude pruning none, RD 256 unlabeled images (forward passes only), the
jackpot search the labelled training set for 15 epochs (backward passes through the scores). This is a comparison,
not a claim: no pass/fail rule (each method's own claim tests its paper). Run:
`OMP_NUM_THREADS=1 python benchmarks/compare/pruning.py` (a few minutes on one thread; `--smoke` for a short run).
Writes `benchmarks/results/compare-pruning.json` and `.png`.
"""

from __future__ import annotations

import copy
import json
import sys
import time

import torch

from hf_methods.adapters.lottery_jackpot import JackpotMaskConfig, apply_jackpot_masks, jackpot_masks
from hf_methods.adapters.lottery_jackpot.training import digits_tensors, pretrain_digits_mlp, search_jackpot
from hf_methods.adapters.rd_pruning import RDLayerAdaptivePruner
from hf_methods.common.evaluation import accuracy
from hf_methods.common.masks import apply_masks, masks_of
from hf_methods.harness.compare import report_comparison

SETTINGS = {
    "seeds": [0, 1, 2, 3, 4],
    "sparsity": 0.9,
    "pretrain_epochs": 30,
    "hidden_size": 256,
    "rd": {"levels": 50, "calibration_size": 256},
    "jackpot": {"epochs": 15, "lr": 0.1, "momentum": 0.9, "batch_size": 64},
}
METHODS = ("dense", "uniform magnitude", "global magnitude", "RD", "jackpot")


def kept_fraction(masks: dict[str, torch.Tensor]) -> float:
    return sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())


def jackpot_row(pretrained, x, y, s: dict, seed: int):
    """The jackpot search on a copy of `pretrained`, started from the global magnitude mask."""
    model = copy.deepcopy(pretrained)
    apply_jackpot_masks(model, JackpotMaskConfig(s["sparsity"], layerwise="l1"))
    j = s["jackpot"]
    search_jackpot(
        model, x, y, epochs=j["epochs"], lr=j["lr"], momentum=j["momentum"], batch_size=j["batch_size"], seed=seed
    )
    return model, jackpot_masks(model)


def run_seed(seed: int, s: dict) -> dict[str, dict[str, float]]:
    torch.set_num_threads(1)
    (x, y), (xt, yt) = digits_tensors(seed)
    pretrained = pretrain_digits_mlp(x, y, hidden_size=s["hidden_size"], epochs=s["pretrain_epochs"], seed=seed)
    out = {"dense": {"test_accuracy": accuracy(pretrained, xt, yt), "kept_fraction": 1.0}}

    calibration = x[
        torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: s["rd"]["calibration_size"]]
    ]
    rd_model = copy.deepcopy(pretrained)
    pruner = RDLayerAdaptivePruner(rd_model, {"pixel_values": calibration}, levels=s["rd"]["levels"])
    for kind in ("uniform", "global"):
        model = copy.deepcopy(pretrained)
        masks = pruner.baseline_masks(s["sparsity"], kind)
        apply_masks(model, masks)
        out[f"{kind} magnitude"] = {"test_accuracy": accuracy(model, xt, yt), "kept_fraction": kept_fraction(masks)}
    amounts = pruner.allocate(s["sparsity"])
    masks = pruner.apply(amounts)
    out["RD"] = {"test_accuracy": accuracy(rd_model, xt, yt), "kept_fraction": kept_fraction(masks)}

    model, masks = jackpot_row(pretrained, x, y, s, seed)
    out["jackpot"] = {"test_accuracy": accuracy(model, xt, yt), "kept_fraction": kept_fraction(masks)}
    assert all(abs(r["kept_fraction"] - (1 - s["sparsity"])) < 0.005 for k, r in out.items() if k != "dense")
    assert masks_of(rd_model)  # the RD row computed with its masks in place
    return out


def main() -> None:
    s = json.loads(json.dumps(SETTINGS))
    smoke = "--smoke" in sys.argv
    if smoke:
        s.update(seeds=[0], pretrain_epochs=3)
        s["rd"]["levels"] = 10
        s["jackpot"]["epochs"] = 1
    per_seed: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    start = time.time()
    for seed in s["seeds"]:
        result = run_seed(seed, s)
        for method in METHODS:
            per_seed[method].append(result[method])
        print(f"seed {seed}: " + ", ".join(f"{m} {result[m]['test_accuracy']:.3f}" for m in METHODS), flush=True)
    report_comparison(
        "pruning",
        description=__doc__,
        settings=s,
        per_seed=per_seed,
        started=start,
        title=f"Pruning a pretrained digits MLP to {1 - s['sparsity']:.0%} of its weights, no weight training",
        ylabel="test accuracy / fraction kept",
        smoke=smoke,
    )


if __name__ == "__main__":
    main()
