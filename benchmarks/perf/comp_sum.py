"""Cost of an ADV-COMP-SUM training step (`AdvCompSumTrainer`) as a ratio to plain training of the same model (CPU).

One step = the trainer's `compute_loss` on a batch of digits, `backward()`, an SGD step and `zero_grad()`, for the
ReLU MLP 64-256-256-10 of the recipe and the claim. Compared, each against plain training (`transformers.Trainer`'s
own `compute_loss`: the model's cross-entropy on clean inputs):

- `adv_comp_sum_pgd{K}`: `AdvCompSumTrainer(tau=1, nu=6, attack=PGDConfig(eps=0.1, steps=K))` for K ∈ {1, 5, 10, 20};
- `nu0`: `AdvCompSumTrainer(nu=0)`, which skips the attack (the overhead of the trainer itself);
- `trades_pgd10`: the room's `trades_loss` baseline with PGD-10 (same step otherwise).

Every ratio comes from `hf_methods.harness.claims.time_ratio`: the two steps interleaved, `WARMUP` warm-up steps each,
then the median of `REPEATS` timed steps each, in one process on one thread, at batch sizes 64 and 256. The expected
cost in forward/backward passes: plain = 1 forward + 1 backward; ADV-COMP-SUM = 1 forward without gradients (the fixed
clean scores) + K × (forward + backward to the input) + 2 forwards (clean and attacked) + 1 backward through both,
so about K + 2 times plain when a backward costs about a forward; `expected_ratio` = (1 + 2K + 2 + 2) / 2.

Run: `python benchmarks/perf/comp_sum.py`; writes `benchmarks/results/perf-comp_sum.json`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from hf_methods.harness.claims import library_versions, time_ratio  # noqa: E402
from hf_methods.zoo import repo_root  # noqa: E402

# ------------------------------------------------------------------------------------------ settings (before any run)
SEED = 0
THREADS = 1
BATCH_SIZES = (64, 256)
PGD_STEPS = (1, 5, 10, 20)
EPS = 0.1
TAU, NU, TRADES_BETA = 1.0, 6.0, 6.0
WARMUP, REPEATS = 3, 15
LEARNING_RATE = 0.05


def _trainer(cls, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.training.comp_sum.training import digits_mlp

    torch.manual_seed(SEED)
    args = TrainingArguments(
        tempfile.mkdtemp(prefix="perf-comp_sum-"), report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True
    )
    return cls(model=digits_mlp(256), args=args, **kwargs)


def stepper(compute_loss, model, batch):
    """One training step with `compute_loss(model, batch)`, as a function of no arguments (for `time_ratio`)."""
    from hf_methods.training.comp_sum.training import make_optimizer

    optimizer = make_optimizer(model, LEARNING_RATE)
    model.train()

    def step():
        loss = compute_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main() -> None:
    from transformers import Trainer

    from hf_methods.common.adversarial import PGDConfig
    from hf_methods.training.comp_sum import AdvCompSumTrainer, trades_loss
    from hf_methods.training.comp_sum.training import digits_tensors

    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    data = digits_tensors(SEED)
    plain = _trainer(Trainer)
    results = {}
    for batch_size in BATCH_SIZES:
        batch = {"pixel_values": data.x[:batch_size], "labels": data.y[:batch_size]}
        baseline = stepper(plain.compute_loss, plain.model, batch)
        rows = {}
        for steps in PGD_STEPS:
            adv = _trainer(AdvCompSumTrainer, tau=TAU, nu=NU, attack=PGDConfig(eps=EPS, steps=steps), log_terms=False)
            timing = time_ratio(stepper(adv.compute_loss, adv.model, batch), baseline, warmup=WARMUP, repeats=REPEATS)
            rows[f"adv_comp_sum_pgd{steps}"] = {**timing, "expected_ratio": (1 + 2 * steps + 2 + 2) / 2}
            print(batch_size, steps, round(timing["ratio"], 2), flush=True)
        no_attack = _trainer(AdvCompSumTrainer, tau=TAU, nu=0.0)
        rows["nu0"] = time_ratio(
            stepper(no_attack.compute_loss, no_attack.model, batch), baseline, warmup=WARMUP, repeats=REPEATS
        )

        def trades_step(model, b):
            attack = PGDConfig(eps=EPS, steps=10)
            return trades_loss(
                lambda z: model(pixel_values=z).logits, b["pixel_values"], b["labels"], TRADES_BETA, attack
            )

        rows["trades_pgd10"] = time_ratio(
            stepper(trades_step, _trainer(Trainer).model, batch), baseline, warmup=WARMUP, repeats=REPEATS
        )
        rows["trades_pgd10"]["expected_ratio"] = (1 + 2 * 10 + 2 + 2) / 2
        results[str(batch_size)] = {k: {m: round(v, 5) for m, v in row.items()} for k, row in rows.items()}

    report = {
        "name": "comp_sum",
        "baseline": "plain transformers.Trainer step (cross-entropy on clean inputs), same model and batch",
        "what": "step time of AdvCompSumTrainer (ν=6, τ=1, ℓ∞ ε=0.1, PGD-K) and of the TRADES baseline as ratios to "
        "plain training; 'ratio' = median(method step) / median(plain step)",
        "settings": {
            "model": "MLPForImageClassification 64-256-256-10, ReLU",
            "batch_sizes": list(BATCH_SIZES),
            "pgd_steps": list(PGD_STEPS),
            "eps": EPS,
            "tau": TAU,
            "nu": NU,
            "trades_beta": TRADES_BETA,
            "optimizer": f"SGD lr {LEARNING_RATE}, momentum 0.9, weight decay 5e-4",
            "warmup": WARMUP,
            "repeats": REPEATS,
            "threads": THREADS,
        },
        "results": results,
        "summary": {
            f"batch{b}": {name: round(row["ratio"], 2) for name, row in rows_b.items()}
            for b, rows_b in results.items()
        },
        "notes": "Ratios, not seconds: the machine is shared with other jobs. 'expected_ratio' counts forward and "
        "backward passes as equal cost; on a model this small, per-call overhead (Python, autograd bookkeeping) is a "
        "large share of each pass, so the measured ratio can differ from the count. TRADES and ADV-COMP-SUM make the "
        "same number of passes.",
        "versions": library_versions(),
    }
    report["runtime_s"] = round(time.perf_counter() - start, 1)
    path = repo_root() / "benchmarks" / "results" / "perf-comp_sum.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
