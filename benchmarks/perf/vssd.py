"""Cost of VSSD's NC-SSD mixer against sequence length, beside a same-width multi-head self-attention block (CPU).

The paper's efficiency claim: NC-SSD is linear in the number of tokens L (keys-values first, y = C (Bᵀ (dA ⊙ x)) +
D ⊙ x, O(L·N·P) per head), where softmax attention is quadratic. Measured here, forward only in one process:

- `nc_ssd`: the whole `NonCausalSSD` mixer (in/out projections, 3×3 depthwise conv, NC-SSD, gate) of a VSSD-Tiny
  stage-1 block (width 64, 2 heads, expansion 2, state 64);
- `attention`: `VSSDAttention` of the same width and heads (the mixer of VSSD's last stage; torch SDPA);
- `causal_ssd`: the same mixer in Mamba2's causal mode written in its quadratic masked form (the pure-torch reference
  the model offers for ablations; not Mamba2's chunked scan kernel, which is linear too).

For each square grid side s (L = s²) the medians of interleaved runs (`time_ratio` of the claims harness: warm-up,
then a, b, a, b, ...) give ratios, never absolute seconds: attention / NC-SSD at each L, and each block's time at L
over its time at the smallest L, with the log-log slope (1 = linear, 2 = quadratic). Target: NC-SSD's slope over the
sides measured is <= 1.25 and attention / NC-SSD grows with L.

Run: `python benchmarks/perf/vssd.py [--sides 16 32 64 96 128 --repeats 5 --threads 1]`; writes
`benchmarks/results/perf-vssd.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from hf_methods.harness.claims import time_ratio
from hf_methods.models.vssd import NonCausalSSD, VSSDAttention


def slope(lengths: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(L)."""
    xs, ys = [math.log(v) for v in lengths], [math.log(v) for v in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[16, 32, 64, 96, 128])
    parser.add_argument("--causal_max_side", type=int, default=64, help="largest side for the O(L²) causal form")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--state", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--target_slope", type=float, default=1.25)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nc = NonCausalSSD(args.width, args.heads, state_size=args.state).eval()
    causal = NonCausalSSD(args.width, args.heads, state_size=args.state, mode="causal").eval()
    causal.load_state_dict(nc.state_dict())
    attention = VSSDAttention(args.width, args.heads).eval()

    rows = []
    with torch.no_grad():
        for side in args.sides:
            tokens = torch.randn(args.batch_size, side * side, args.width)
            timing = time_ratio(
                lambda: attention(tokens, side, side), lambda: nc(tokens, side, side), repeats=args.repeats
            )
            row = {
                "side": side,
                "tokens": side * side,
                "attention_s": timing["a_median_s"],
                "nc_ssd_s": timing["b_median_s"],
                "attention_over_nc_ssd": round(timing["ratio"], 3),
            }
            if side <= args.causal_max_side:
                causal_timing = time_ratio(
                    lambda: causal(tokens, side, side), lambda: nc(tokens, side, side), repeats=args.repeats
                )
                row["causal_ssd_s"] = causal_timing["a_median_s"]
                row["causal_ssd_over_nc_ssd"] = round(causal_timing["ratio"], 3)
            rows.append(row)
            print(
                f"L={side * side:6d}: attention/NC-SSD {row['attention_over_nc_ssd']:.2f}"
                + (f", causal(quadratic)/NC-SSD {row['causal_ssd_over_nc_ssd']:.2f}" if "causal_ssd_s" in row else "")
            )
    lengths = [r["tokens"] for r in rows]
    slopes = {
        "nc_ssd": round(slope(lengths, [r["nc_ssd_s"] for r in rows]), 3),
        "attention": round(slope(lengths, [r["attention_s"] for r in rows]), 3),
    }
    causal_rows = [r for r in rows if "causal_ssd_s" in r]
    if len(causal_rows) >= 2:
        slopes["causal_ssd_quadratic"] = round(
            slope([r["tokens"] for r in causal_rows], [r["causal_ssd_s"] for r in causal_rows]), 3
        )
    growth = {
        name: round(rows[-1][f"{name}_s"] / rows[0][f"{name}_s"], 2) for name in ("nc_ssd", "attention")
    }  # time at the largest L over time at the smallest
    ratios = [r["attention_over_nc_ssd"] for r in rows]
    met = slopes["nc_ssd"] <= args.target_slope and ratios[-1] > ratios[0]
    result = {
        "benchmark": "vssd",
        "blocks": (
            f"NonCausalSSD(width {args.width}, {args.heads} heads, expansion 2, state {args.state}) vs "
            f"VSSDAttention(width {args.width}, {args.heads} heads), fp32 forward, CPU"
        ),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "rows": rows,
        "tokens_growth": round(lengths[-1] / lengths[0], 2),
        "time_growth": growth,
        "loglog_slopes": slopes,
        "ratio": ratios[-1],
        "ratio_name": f"attention / NC-SSD time at L = {lengths[-1]}",
        "target": f"NC-SSD log-log slope <= {args.target_slope} and attention/NC-SSD growing with L",
        "met": bool(met),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-vssd.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"log-log slopes {slopes}; L grew {result['tokens_growth']}x, time grew {growth}; target met: {met}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
