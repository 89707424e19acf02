"""Time of the vectorised empirical NTK (`torch.func` vmap + jacrev) against a per-sample autograd loop (CPU).

The loop is what one writes without `torch.func`: for each sample and each output, one `torch.autograd.grad` call
for the Jacobian row, then J Jᵀ. Both compute the same `(N, N)` traced kernel of a digits-sized MLP (checked equal
here to 1e-5 relative); the ratio loop / vectorised is reported, never a timed test. A target of ≥ 3× is the reason
the block exists; it is reported as met or not.

Run: `python benchmarks/perf/ntk.py [--samples 64 --hidden 128 --repeats 5]`; writes `benchmarks/results/perf-ntk.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from hf_methods.common.ntk import empirical_ntk
from hf_methods.harness.claims import time_ratio


def loop_ntk(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i : i + 1]).reshape(-1)
        rows.append(
            torch.stack(
                [
                    torch.cat([g.reshape(-1) for g in torch.autograd.grad(out[k], params, retain_graph=True)])
                    for k in range(out.shape[0])
                ]
            )
        )
    jac = torch.stack(rows)
    return torch.einsum("nkp,mkp->nm", jac, jac)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--target", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, args.outputs))
    x = torch.rand(args.samples, 64)
    vectorised, looped = empirical_ntk(model, x), loop_ntk(model, x)
    torch.testing.assert_close(vectorised, looped, rtol=1e-5, atol=1e-4)
    timing = time_ratio(lambda: loop_ntk(model, x), lambda: empirical_ntk(model, x), repeats=args.repeats)
    speedup = timing["ratio"]
    result = {
        "benchmark": "ntk",
        "setting": (
            f"traced empirical NTK of an MLP 64-{args.hidden}-{args.outputs} "
            f"({sum(p.numel() for p in model.parameters())} parameters) on {args.samples} inputs, fp32, CPU"
        ),
        "threads": args.threads,
        "repeats": args.repeats,
        "loop_median_s": timing["a_median_s"],
        "vectorised_median_s": timing["b_median_s"],
        "ratio": round(speedup, 2),
        "ratio_name": "per-sample autograd loop time / torch.func (vmap + jacrev) time",
        "target": f">= {args.target}x",
        "met": bool(speedup >= args.target),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-ntk.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"loop {timing['a_median_s']:.3f} s, vectorised {timing['b_median_s']:.3f} s: {speedup:.1f}x")


if __name__ == "__main__":
    main()
