"""Cost of a DONE training step against plain training and standard adversarial training (AT) of the same model.

A DONE step is an AT step (a K-step PGD attack, then forward + backward + optimizer step on the attacked batch) plus
the KL-DRO weights: one `exp` per example and a moving-average update of the normaliser. So DONE should cost about
what AT costs (ratio ≈ 1), and both about K + 1 forward-backward passes of plain training. Measured as ratios of
medians from `hf_methods.harness.claims.time_ratio` (warm-up calls, then interleaved timed calls of the two sides in
one process, so machine load hits both alike), never absolute seconds. One timed call = `STEPS_PER_CALL` training
steps on fixed batches, SGD, one thread. Two models:

- `digits`: the claim's ReLU MLP 64-256-256-10, batch 64, PGD-ℓ∞ ε = 0.1 × 5 steps (tiny: overheads matter);
- `wide`: a ReLU MLP 3072-1024-1024-10 (CIFAR-sized inputs), batch 128, the same attack (matmul-bound).

Ratios: `done_vs_plain`, `at_vs_plain`, `done_vs_at`. Run: `python benchmarks/perf/done.py [--repeats 9]`; writes
`benchmarks/results/perf-done.json`.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hf_methods.common.adversarial import PGDConfig
from hf_methods.harness.claims import library_versions, time_ratio
from hf_methods.training.done.loss import DONEWeightedLoss
from hf_methods.training.done.training import make_optimizer, robust_training_loss

SEED = 0
STEPS_PER_CALL = 5
ATTACK = {"eps": 0.1, "steps": 5}
MODELS = {
    "digits": {"input_size": 64, "hidden_sizes": [256, 256], "batch_size": 64},
    "wide": {"input_size": 3072, "hidden_sizes": [1024, 1024], "batch_size": 128},
}


def build(spec: dict):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(SEED)
    config = MLPConfig(
        input_size=spec["input_size"], hidden_sizes=spec["hidden_sizes"], hidden_act="relu", num_labels=10
    )
    return MLPForImageClassification(config).train()


def stepper(model, x, y, kind: str, attack: PGDConfig):
    """`STEPS_PER_CALL` training steps of `kind` ("plain", "at" or "done") as a function of no arguments."""
    optimizer = make_optimizer(model, 0.01)
    weighted = DONEWeightedLoss(r=2.0, beta=0.9) if kind == "done" else None

    def step():
        for _ in range(STEPS_PER_CALL):
            if kind == "plain":
                loss = F.cross_entropy(model(pixel_values=x).logits, y)
            else:
                loss, _, _ = robust_training_loss(model, x, y, attack, weighted)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return step


def measure(spec: dict, repeats: int, warmup: int) -> dict:
    gen = torch.Generator().manual_seed(SEED)
    x = torch.rand(spec["batch_size"], spec["input_size"], generator=gen)
    y = torch.randint(0, 10, (spec["batch_size"],), generator=gen)
    attack = PGDConfig(**ATTACK)
    base = build(spec)
    steps = {kind: stepper(copy.deepcopy(base), x, y, kind, attack) for kind in ("plain", "at", "done")}
    pairs = {"done_vs_plain": ("done", "plain"), "at_vs_plain": ("at", "plain"), "done_vs_at": ("done", "at")}
    out = {}
    for name, (a, b) in pairs.items():
        timing = time_ratio(steps[a], steps[b], warmup=warmup, repeats=repeats)
        out[name] = {k: round(v, 5) if isinstance(v, float) else v for k, v in timing.items()}
        print(f"[perf-done] {name}: ratio {timing['ratio']:.3f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per side (>= 5)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = {}
    for name, spec in MODELS.items():
        print(f"[perf-done] {name}: {spec}", flush=True)
        results[name] = {"model": spec, **measure(spec, args.repeats, args.warmup)}
    report = {
        "benchmark": "done",
        "baseline": "plain (clean) training of the same model; also standard PGD adversarial training (AT)",
        "what": "time per training step (forward + backward + SGD step, attack included) as ratios of medians",
        "settings": {
            "attack": {**ATTACK, "norm": "linf", "step_size": "2.5·eps/steps", "random_start": True},
            "r": 2.0,
            "beta": 0.9,
            "steps_per_call": STEPS_PER_CALL,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "threads": args.threads,
        },
        "results": results,
        "ratios": {
            f"{model}/{name}": results[model][name]["ratio"]
            for model in results
            for name in results[model]
            if name != "model"
        },  # fmt: skip
        "expected": "done_vs_at ≈ 1 (the weights cost one exp per example); at/done_vs_plain ≈ attack steps + 1",
        "versions": library_versions(),
        "runtime_s": round(time.perf_counter() - start, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-done.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report["ratios"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
