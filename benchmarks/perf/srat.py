"""Cost of an SRAT training step relative to plain (clean, unweighted cross-entropy) training of the same model.

SRAT pays for the PGD attack (each of its `steps` is one forward and one input-gradient backward) and for the
B×B similarity matrix of the separation loss. Measured on the MLP 64-256-256-10 of the recipe and the claim, batches
of 64 step-imbalanced digits, one thread, with `hf_methods.harness.claims.time_ratio` (warm-up, then interleaved
calls, ratio of medians), each call being `STEPS_PER_CALL` optimisation steps on consecutive batches:

- `srat`: PGD-ℓ∞ (ε = 0.15, 5 steps) + SRAT loss (DRW weights active, λ = 1, τ = 0.1), the claim's setting;
- `at`: the same attack and plain cross-entropy (λ = 0, no weights), to isolate the separation loss;
- `srat_pgd10`: SRAT with a 10-step attack (the paper's CIFAR setting uses 10 steps);
- `plain`: clean cross-entropy training, the baseline of every ratio.

`srat` is also timed directly against `at` (`srat_over_at`): the cost of the separation loss alone. Expectation: a
ratio to plain below `steps + 1` (an attack pass computes no parameter gradients and takes no optimiser step), the
separation loss adding little at batch 64. The machine's load moves absolute times between calls; only the ratios,
each measured on interleaved calls, are meant to be compared. Run: `python benchmarks/perf/srat.py`; writes `benchmarks/results/perf-srat.json`.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from hf_methods.common.adversarial import PGDConfig
from hf_methods.harness.claims import library_versions, time_ratio
from hf_methods.training.srat.loss import DeferredReweighting, SeparableReweightedATLoss
from hf_methods.training.srat.training import digits_mlp, imbalanced_digits, make_optimizer, plain_step, srat_step

# ------------------------------------------------------------------------------------------ settings (before any run)
SEED = 0
THREADS = 1
BATCH = 64
STEPS_PER_CALL = 10
WARMUP, REPEATS = 2, 9
EPS = 0.15


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    data = imbalanced_digits(SEED)
    batches = [idx for idx in torch.randperm(len(data.y)).split(BATCH) if len(idx) == BATCH]
    weights = DeferredReweighting(data.class_counts, "effective_num", drw_start=0).weights_at(0).float()
    base = digits_mlp()

    def runner(kind: str):
        model = copy.deepcopy(base)
        optimizer = make_optimizer(model, 1e-3)
        attack = PGDConfig(eps=EPS, steps=10 if kind == "srat_pgd10" else 5)
        loss_fn = SeparableReweightedATLoss(separation_weight=0.0 if kind == "at" else 1.0, temperature=0.1)
        class_weights = None if kind == "at" else weights
        generator = torch.Generator().manual_seed(SEED)
        position = [0]

        def run() -> None:
            for _ in range(STEPS_PER_CALL):
                idx = batches[position[0] % len(batches)]
                position[0] += 1
                x, y = data.x[idx], data.y[idx]
                if kind == "plain":
                    plain_step(model, optimizer, x, y)
                else:
                    srat_step(model, optimizer, x, y, loss_fn, attack, class_weights, generator)

        return run

    plain = runner("plain")
    results = {}
    for kind in ("srat", "at", "srat_pgd10"):
        timing = time_ratio(runner(kind), plain, warmup=WARMUP, repeats=REPEATS)
        results[kind] = {
            "ratio_to_plain": round(timing["ratio"], 3),
            "step_ms_median": round(1000 * timing["a_median_s"] / STEPS_PER_CALL, 3),
            "plain_step_ms_median": round(1000 * timing["b_median_s"] / STEPS_PER_CALL, 3),
        }
        print(f"{kind}: {timing['ratio']:.2f}x plain per step", flush=True)
    srat_vs_at = time_ratio(runner("srat"), runner("at"), warmup=WARMUP, repeats=REPEATS)["ratio"]
    report = {
        "name": "srat",
        "baseline": "plain",
        "what": "time per optimisation step (attack + forward + backward + update) as a ratio to plain clean "
        "cross-entropy training of the same MLP 64-256-256-10 on batches of 64 digits",
        "ratio": results["srat"]["ratio_to_plain"],
        "results": results,
        "srat_over_at": round(srat_vs_at, 3),
        "settings": {
            "batch_size": BATCH,
            "steps_per_call": STEPS_PER_CALL,
            "warmup": WARMUP,
            "repeats": REPEATS,
            "eps": EPS,
            "threads": THREADS,
            "model": "MLP 64-256-256-10 (ReLU)",
        },
        "versions": library_versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-srat.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"SRAT step = {report['ratio']:.2f}x a plain step; SRAT / AT (same attack) = {srat_vs_at:.2f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
