"""Claim of P06 (Yu et al., ICML 2024): ACT, a training-free calibration of hidden attention sinks, raises accuracy.

Paper (abstract): attention sinks occur not only at the first token but also at later tokens ("hidden" sinks), not
all of them help, and calibrating them on a few heads chosen offline improves accuracy "up to 7.30%" on average across
datasets for Llama-30B. A CPU check can only use SmolLM2-135M-Instruct (the offline model) on small, short prompts.

Task: "corpus-source", a 3-way in-context classification built from offline prose (which corpus a passage comes from:
King James Bible / Jargon File / Python docs), 3 demonstrations of 8-word passages per prompt (~80 tokens), scored by
the label word's log-softmax at the last position as the official code scores its classification tasks. For each seed
a calibration split (12 prompts) and a disjoint held-out split (32 prompts) are drawn; the greedy head search runs on
the calibration split over the 6 heads of layers 2..28 with the most hidden-sink mass, with the official defaults
beta = 0.4 and threshold = 0.1; the held-out split is scored with and without the found heads.

Checks (thresholds fixed before the first run, never tuned):

1. hidden sinks exist: the fraction of heads of layers 2..28 with a hidden (non-initial) sink in at least half the
   calibration prompts, mean over seeds, is >= 0.10;
2. the head search does no harm on its own data: ACT calibration accuracy >= uncalibrated, on every seed;
3. the paper's claim: mean held-out accuracy with ACT >= without ACT + 0.01 (one point; the paper reports up to 7.30
   on a 30B model, so a 135M model is not expected to show it, and 32 test prompts resolve about 3 points).

Run: `python benchmarks/claims/act.py` (about 8 minutes on a loaded 2-core machine, one thread); writes
`benchmarks/results/act.json` and `benchmarks/results/act-sinks.png`.
"""

from __future__ import annotations

import argparse
import time

import torch

from hf_methods.harness.claims import ClaimCheck, ClaimReport, mean_std
from hf_methods.common.data import load_smollm2
from hf_methods.generation.act import (
    ActConfig,
    act_calibrate,
    choice_accuracy,
    find_act_heads,
    plot_attention_sinks,
    sink_statistics,
)
from hf_methods.generation.act.tasks import build_fewshot_task
from hf_methods.zoo import repo_root

SLUG = "act"
SEEDS = [0, 1, 2]
TASK, SHOTS, WORDS = "corpus-source", 3, 8
N_CAL, N_TEST = 12, 32
BETA, THRESHOLD = 0.4, 0.1
MAX_CANDIDATES = 6
STRATEGY = "greedy"
SINK_RATE, MIN_FRACTION = 0.5, 0.10
MARGIN = 0.01
PLOT = "benchmarks/results/act-sinks.png"


def run_seed(model, tokenizer, seed: int, layers: list[int]) -> dict:
    used: set[str] = set()
    cal = build_fewshot_task(TASK, N_CAL, SHOTS, WORDS, seed=seed, exclude=used)
    test = build_fewshot_task(TASK, N_TEST, SHOTS, WORDS, seed=10_000 + seed, exclude=used)
    t0 = time.perf_counter()
    stats = sink_statistics(model, cal, tokenizer, threshold=THRESHOLD, layers=layers)
    fraction = float((stats.hidden_sink_rate >= SINK_RATE).float().mean())
    config, history = find_act_heads(
        model, cal, tokenizer, beta=BETA, threshold=THRESHOLD, layers=layers, max_candidates=MAX_CANDIDATES,
        strategy=STRATEGY, statistics=stats, return_history=True,
    )  # fmt: skip
    base_test = choice_accuracy(model, test, tokenizer)
    with act_calibrate(model, config):
        act_test = choice_accuracy(model, test, tokenizer)
    out = {
        "seed": seed,
        "hidden_sink_fraction": fraction,
        "mean_hidden_sink_mass": float(stats.hidden_sink_mass.mean()),
        "cal_base": history["baseline"],
        "cal_act": history["final"],
        "test_base": base_test,
        "test_act": act_test,
        "heads": [list(h) for h in config.heads],
        "candidates": history["candidates"],
        "top_heads": [list(h) for h in stats.ranked_heads()[:MAX_CANDIDATES]],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"[act] seed {seed}: {out}", flush=True)
    out["_example"] = cal[0]["text"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2()
    model.eval()
    model.set_attn_implementation("eager")
    layers = list(range(2, model.config.num_hidden_layers - 1))
    report = ClaimReport(
        slug=SLUG,
        seeds=SEEDS,
        config={
            "model": "SmolLM2-135M-Instruct (offline GGUF, fp32)",
            "task": TASK,
            "shots": SHOTS,
            "words": WORDS,
            "n_calibration": N_CAL,
            "n_test": N_TEST,
            "beta": BETA,
            "threshold": THRESHOLD,
            "layers": "2..28",
            "max_candidates": MAX_CANDIDATES,
            "strategy": STRATEGY,
            "sink_rate": SINK_RATE,
            "margin": MARGIN,
        },  # fmt: skip
        task={
            "type": "text-classification",
            "dataset_name": "corpus-source (bible / jargon / python-docs), 3-shot",
            "dataset_type": "hf-methods/corpus-source",
            "split": "held-out",
        },
    )
    with torch.no_grad():
        runs = [run_seed(model, tokenizer, seed, layers) for seed in SEEDS]

    fractions = [r["hidden_sink_fraction"] for r in runs]
    f_mean, f_std = mean_std(fractions)
    report.add_check(
        ClaimCheck(
            name="hidden (non-initial) attention sinks exist in SmolLM2-135M",
            metric=f"fraction of heads (layers 2-28) with a hidden sink in >= {SINK_RATE:g} of prompts",
            method="SmolLM2-135M", method_value=f_mean, method_std=f_std, held=f_mean >= MIN_FRACTION,
            criterion=f"mean fraction >= {MIN_FRACTION:g}", per_seed={"SmolLM2-135M": fractions},
        )
    )  # fmt: skip
    report.record("SmolLM2-135M", "hidden_sink_fraction", fractions)
    cal_act, cal_base = [r["cal_act"] for r in runs], [r["cal_base"] for r in runs]
    no_harm = report.compare(
        "the head search never lowers calibration accuracy", "calibration accuracy", "ACT", cal_act,
        "no calibration", cal_base, margin=0.0,
    )  # fmt: skip
    no_harm.held = all(a >= b for a, b in zip(cal_act, cal_base))
    no_harm.criterion = "ACT >= no calibration on every seed"
    report.compare(
        "ACT improves held-out few-shot accuracy (paper: up to +7.30 points on Llama-30B)", "accuracy", "ACT",
        [r["test_act"] for r in runs], "no calibration", [r["test_base"] for r in runs], margin=MARGIN,
    )  # fmt: skip
    report.record("ACT", "heads_selected", [len(r["heads"]) for r in runs])

    # the sink plot: seed 0's heads, or its top hidden-sink heads when the search kept none
    first = runs[0]
    shown = first["heads"] or first["top_heads"][:2]
    plot_config = ActConfig(heads=shown, beta=BETA, threshold=THRESHOLD)
    plot_attention_sinks(
        model, tokenizer, first["_example"], layers=sorted({h[0] for h in shown})[:3], config=plot_config,
        path=repo_root() / PLOT,
    )  # fmt: skip
    report.plots.append(PLOT)
    for r in runs:
        r.pop("_example")
    report.config["per_seed"] = runs
    kept = ", ".join(f"seed {r['seed']}: {r['heads'] or 'none'}" for r in runs)
    report.notes = (
        f"SmolLM2-135M-Instruct, {TASK} {SHOTS}-shot prompts (~80 tokens), {N_CAL} calibration / {N_TEST} held-out "
        f"prompts per seed, greedy search over the {MAX_CANDIDATES} heads of layers 2-28 with the most hidden-sink "
        f"mass (beta {BETA}, threshold {THRESHOLD}). Heads kept: {kept}. The plot shows "
        f"{'the heads kept for seed 0' if first['heads'] else 'the two top hidden-sink heads (none were kept)'} on a "
        "calibration prompt. The scale is far below the paper's (7B-30B models, hundreds of calibration samples, real "
        "benchmarks); the held-out difference is within the resolution of 32 prompts."
    )
    report.write()


if __name__ == "__main__":
    main()
