"""Prefill time of ACT's `act_eager` attention against eager and SDPA attention on SmolLM2-135M (CPU).

ACT needs the explicit N x N attention probabilities, so it costs what eager attention costs plus the calibration of
the selected heads; the target is a prefill time <= 1.3x eager. Measured as ratios of medians over interleaved runs
in one process (machine noise hits every side alike), never as a timed test:

- `eager`, `sdpa`: transformers' built-in attention;
- `act_none`: `act_eager` with no heads (eager math through the ACT function);
- `act_27`: one calibrated head in each of layers 2..28 (about the 10-18% of heads the official lists calibrate);
- `act_all`: every head of layers 2..28 calibrated (the worst case; the target is checked on this one).

Run: `python benchmarks/perf/act.py [--runs 5 --tokens 128]`; writes `benchmarks/results/perf-act.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from hf_methods.common.data import load_corpus, load_smollm2
from hf_methods.generation.act import ActConfig, act_calibrate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--target", type=float, default=1.3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2()
    model.eval()
    text = " ".join(load_corpus("bible", max_paragraphs=40))
    ids = tokenizer(text, return_tensors="pt")["input_ids"][:, : args.tokens].repeat(args.batch_size, 1)
    layers = range(2, model.config.num_hidden_layers - 1)
    n_heads = model.config.num_attention_heads
    settings = {
        "eager": ("eager", None),
        "sdpa": ("sdpa", None),
        "act_none": (None, ActConfig()),
        "act_27": (None, ActConfig(heads=[(layer, layer % n_heads) for layer in layers])),
        "act_all": (None, ActConfig(heads={layer: list(range(n_heads)) for layer in layers})),
    }

    def run(name: str) -> float:
        impl, act = settings[name]
        if act is None:
            model.set_attn_implementation(impl)
            start = time.perf_counter()
            model(input_ids=ids)
            return time.perf_counter() - start
        model.set_attn_implementation("eager")
        with act_calibrate(model, act):
            start = time.perf_counter()
            model(input_ids=ids)
            return time.perf_counter() - start

    times = {name: [] for name in settings}
    with torch.no_grad():
        for name in settings:  # warm-up
            run(name)
        for _ in range(args.runs):
            for name in settings:
                times[name].append(run(name))
    medians = {name: statistics.median(v) for name, v in times.items()}
    ratios = {f"{name}/eager": round(medians[name] / medians["eager"], 3) for name in settings if name != "eager"}
    ratios.update({f"{name}/sdpa": round(medians[name] / medians["sdpa"], 3) for name in settings if "act" in name})
    ratio = medians["act_all"] / medians["eager"]
    result = {
        "benchmark": "act",
        "model": "SmolLM2-135M-Instruct (fp32, CPU)",
        "shape": [args.batch_size, int(ids.shape[1])],
        "threads": args.threads,
        "runs": args.runs,
        "seconds": times,
        "median_s": medians,
        "ratios": ratios,
        "ratio": round(ratio, 3),
        "target_ratio": args.target,
        "met": ratio <= args.target,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-act.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median prefill ({args.batch_size}x{ids.shape[1]} tokens): "
          + ", ".join(f"{k} {v:.3f} s" for k, v in medians.items()))  # fmt: skip
    print(f"ratios: {ratios}; act_all/eager {ratio:.3f} (target <= {args.target})")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
