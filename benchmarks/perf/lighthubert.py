"""LightHuBERT's subnet sizes: parameters and CPU forward time of subnets of the paper's Base supernet, as ratios
against the full supernet (HuBERT Base size), measured in one run.

Subnets (all 12 layers, of the Base search space embed {512, 640, 768} × heads {8, 10, 12} × FFN ratio {3.5, 4}):

- `max`: 768 wide, 12 heads, FFN 3072 (the whole supernet, the baseline);
- `official_base`: 640 wide, 10 heads, FFN 2560 (the subnet the official code ships as the Base default);
- `min`: 512 wide, 8 heads, FFN 1792.

Parameters are those of the standalone subnets (waveform encoder included, the pre-training prediction head
excluded), counted on the meta device. Timings are medians of interleaved forward passes on `--seconds` of 16 kHz
noise (`hf_methods.harness.claims.time_ratio`), for the extracted standalone subnet and for the supernet computing
with the subnet's slice (the cost of slicing on the fly). Random weights: only sizes and times are measured.

Run: `python benchmarks/perf/lighthubert.py [--seconds 2 --repeats 5 --threads 1]`; writes
`benchmarks/results/perf-lighthubert.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

from hf_methods.harness.claims import time_ratio
from hf_methods.models.lighthubert import LightHuBERTConfig, LightHuBERTSupernet


def subnet(embed: int, heads: int, ratio: float, depth: int = 12) -> dict:
    return {
        "embed_dim": embed,
        "layer_num": depth,
        "heads_num": [heads] * depth,
        "ffn_embed": [int(ratio * embed)] * depth,
    }


SUBNETS = {"max": subnet(768, 12, 4.0), "official_base": subnet(640, 10, 4.0), "min": subnet(512, 8, 3.5)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="audio length of the timed forward pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = LightHuBERTConfig.base(teacher_hidden_size=None, hidden_dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    supernet = LightHuBERTSupernet(config).eval()
    audio = torch.randn(1, int(16000 * args.seconds), generator=torch.Generator().manual_seed(0))
    full = supernet.extract_subnet(SUBNETS["max"]).eval()

    def forward(model, sub=None):
        def call():
            with torch.no_grad():
                if sub is not None:
                    model.set_subnet(sub)
                model(audio)

        return call

    results = {}
    max_params = supernet.num_subnet_parameters(SUBNETS["max"])
    for name, sub in SUBNETS.items():
        standalone = supernet.extract_subnet(sub).eval()
        params = supernet.num_subnet_parameters(sub)
        extracted = time_ratio(forward(standalone), forward(full), repeats=args.repeats)
        sliced = time_ratio(forward(supernet, sub), forward(standalone), repeats=args.repeats)
        results[name] = {
            "subnet": {k: v[0] if isinstance(v, list) else v for k, v in sub.items()},
            "parameters": params,
            "parameter_ratio_vs_max": params / max_params,
            "parameter_reduction": 1 - params / max_params,
            "forward_time_ratio_vs_max": extracted["ratio"],
            "sliced_supernet_vs_extracted_time_ratio": sliced["ratio"],
        }
        print(
            f"{name:14s} {params / 1e6:6.1f}M params ({params / max_params:.2f}× max), forward {extracted['ratio']:.2f}× "
            f"max; sliced supernet {sliced['ratio']:.2f}× the extracted subnet"
        )
    out = {
        "benchmark": "lighthubert",
        "what": "LightHuBERT Base search space: subnet parameters and CPU forward-time ratios against the full supernet",
        "audio_seconds": args.seconds,
        "threads": args.threads,
        "repeats": args.repeats,
        "search_space_subnets": {"base": config.num_subnets, "small": LightHuBERTConfig.small().num_subnets},
        "subnets": results,
        "paper": "the paper reports a 29% smaller Base-space subnet comparable to the teacher in most SUPERB tasks",
        "machine": platform.machine(),
        "torch": torch.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = Path(__file__).resolve().parents[1] / "results" / "perf-lighthubert.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
