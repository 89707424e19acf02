"""Acceptance and wall-clock speed of tree speculative decoding on SmolLM2-135M: greedy vs Medusa, Hydra, Hydra++.

Issue 5 targets: Hydra++ >= 3.0 tokens per base forward and >= 1.25x Medusa's; wall-clock >= 2.0x plain greedy on
CPU. The heads are the ones `recipes/hydra.py` trains (default folders `outputs/hydra-{medusa,hydra,hydra++}`):

    for k in medusa hydra hydra++; do
      accelerate launch recipes/hydra.py --head_kind $k --data_dir outputs/hydra-data --output_dir outputs/hydra-$k
    done
    python benchmarks/perf/hydra.py

Same held-out prompts (the recipe's distillation prompts never seen in training: the tail of the corpora) and the
same tree for every kind; runs are interleaved prompt by prompt so machine noise hits every strategy alike. Every
output is checked token for token against plain greedy `generate()`. The time split (base forwards, heads, other
Python) comes from `hydra_generate(stats=...)`. Writes benchmarks/results/perf-hydra.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hf_methods.generation.hydra.configuration_hydra import HEAD_KINDS as KINDS


def held_out_prompts(tokenizer, n: int, prompt_tokens: int) -> list[torch.Tensor]:
    from hf_methods.common.data import load_corpus

    pools = []
    for name in ("bible", "jargon"):
        pool = []
        for text in load_corpus(name)[-4 * n :: 4]:  # the end of each corpus: not among the recipe's prompts
            ids = tokenizer(text, add_special_tokens=False).input_ids
            if len(ids) >= prompt_tokens:
                pool.append(torch.tensor([ids[:prompt_tokens]]))
        pools.append(pool)
    return [p for pair in zip(*pools) for p in pair][:n]  # alternate the corpora


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads_dir", default="outputs", help="folder holding hydra-<kind> recipe outputs")
    parser.add_argument("--n_prompts", type=int, default=3)
    parser.add_argument("--prompt_tokens", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--tree_size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from hf_methods.common.data import load_smollm2
    from hf_methods.generation.hydra import HydraHeads, default_tree, hydra_generate

    base, tokenizer = load_smollm2()
    base.eval()
    # the saved heads reference the base: its embedding and lm_head are tied back in, not loaded from the folder
    heads = {k: HydraHeads.from_pretrained(Path(args.heads_dir) / f"hydra-{k}", base_model=base).eval() for k in KINDS}
    num_heads = min(h.config.num_heads for h in heads.values())
    tree = default_tree(num_heads, args.tree_size)
    prompts = held_out_prompts(tokenizer, args.n_prompts, args.prompt_tokens)

    rows = {
        name: {"new_tokens": 0, "base_forwards": 0, "seconds": 0.0, "time_base": 0.0, "time_heads": 0.0}
        for name in ("greedy", *KINDS)
    }
    lossless = {k: True for k in KINDS}
    with torch.no_grad():
        base.generate(prompts[0], attention_mask=torch.ones_like(prompts[0]), do_sample=False, max_new_tokens=4)
        for prompt in prompts:
            mask = torch.ones_like(prompt)
            t0 = time.perf_counter()
            ref = base.generate(prompt, attention_mask=mask, do_sample=False, max_new_tokens=args.max_new_tokens)
            row = rows["greedy"]
            row["seconds"] += time.perf_counter() - t0
            row["new_tokens"] += ref.shape[1] - prompt.shape[1]
            row["base_forwards"] += ref.shape[1] - prompt.shape[1]
            for kind in KINDS:
                stats = {}
                t0 = time.perf_counter()
                out = base.generate(
                    prompt,
                    attention_mask=mask,
                    do_sample=False,
                    max_new_tokens=args.max_new_tokens,
                    custom_generate=hydra_generate,
                    draft_heads=heads[kind],
                    tree_choices=tree,
                    stats=stats,
                )
                row = rows[kind]
                row["seconds"] += time.perf_counter() - t0
                lossless[kind] &= torch.equal(out, ref)
                for key in ("new_tokens", "base_forwards", "time_base", "time_heads"):
                    row[key] += stats[key]
            print(
                f"prompt done: {[(k, round(r['new_tokens'] / max(1, r['base_forwards']), 2)) for k, r in rows.items()]}"
            )

    greedy_tps = rows["greedy"]["new_tokens"] / rows["greedy"]["seconds"]
    results = {}
    for name, row in rows.items():
        tps = row["new_tokens"] / row["seconds"]
        results[name] = {
            "tokens_per_base_forward": round(row["new_tokens"] / row["base_forwards"], 3),
            "tokens_per_second": round(tps, 3),
            "speedup_vs_greedy": round(tps / greedy_tps, 3),
            "seconds": round(row["seconds"], 2),
        }
        if name != "greedy":
            per_forward = row["time_base"] / row["base_forwards"]
            results[name].update(
                lossless=lossless[name],
                share_time_base=round(row["time_base"] / row["seconds"], 3),
                share_time_heads=round(row["time_heads"] / row["seconds"], 3),
                seconds_per_base_forward=round(per_forward, 4),
            )
    results["greedy"]["seconds_per_base_forward"] = round(
        rows["greedy"]["seconds"] / rows["greedy"]["base_forwards"], 4
    )
    plus, medusa = results["hydra++"], results["medusa"]
    targets = {
        "hydra++ tokens per base forward >= 3.0": plus["tokens_per_base_forward"] >= 3.0,
        "hydra++ tokens per base forward >= 1.25x medusa": plus["tokens_per_base_forward"]
        >= 1.25 * medusa["tokens_per_base_forward"],
        "hydra++ wall-clock >= 2.0x greedy": plus["speedup_vs_greedy"] >= 2.0,
    }
    result = {
        "benchmark": "hydra",
        "model": "SmolLM2-135M-Instruct (fp32, CPU)",
        "threads": args.threads,
        "prompts": len(prompts),
        "prompt_tokens": args.prompt_tokens,
        "max_new_tokens": args.max_new_tokens,
        "tree_nodes": len(tree) + 1,
        "heads": {
            k: {
                "num_heads": h.config.num_heads,
                "num_layers": h.config.num_layers,
                "share_lm_head": h.config.share_lm_head,
            }
            for k, h in heads.items()
        },
        "results": results,
        "targets": targets,
        "met": all(targets.values()),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-hydra.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in results.items():
        print(f"{name:8s} {r}")
    print(f"targets: {targets}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
