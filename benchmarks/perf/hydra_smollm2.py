"""Hydra++ heads trained at scale on SmolLM2-135M: tree size from a measured cost model, then speed against greedy.

The heads come from a long, resumable recipe run (≥ 1,000 steps on ≥ 2,000 self-distilled sequences):

    accelerate launch recipes/hydra.py --output_dir outputs/hydra-smollm2 --data_dir outputs/hydra-smollm2-data \\
        --head_kind hydra++ --num_heads 4 --n_sequences 2020 --n_eval 20 --prompt_tokens 16 --new_tokens 48 \\
        --gen_batch_size 32 --batch_size 8 --max_steps 1000 --checkpoint_every 50 \\
        --corpora bible,jargon,python-docs --cpu_threads 1
    python benchmarks/perf/hydra_smollm2.py --heads outputs/hydra-smollm2 --data_dir outputs/hydra-smollm2-data

Settings fixed before the measurement (one thread; prompts of 16 tokens from the end of the offline corpora, none of
them a training prompt):

1. Cost model. For every candidate tree size S: t(S), the median time of one verification forward of the base over
   the S + 1 tree tokens on a 64-token cache (the heads' own time is measured alongside), and τ(S), the mean accepted
   tokens per base forward on 8 calibration prompts × 64 new tokens with `default_tree(num_heads, S)`. The predicted
   speed-up over greedy is τ(S) · t(0) / (t(S) + t_heads); the tree size with the largest prediction is used below.
2. Measurement. 20 held-out prompts × 128 new tokens, greedy `generate()` and Hydra++ interleaved prompt by prompt;
   every Hydra++ output must equal greedy's token for token. Reported: τ, tokens per second of both, their ratio,
   and where the time goes (base forwards, heads, other). Targets of the issue: τ ≥ 2.5 and ≥ 1.5× greedy tokens per
   second (reported, with the shortfall explained, not tuned).

Writes the `smollm2_trained` section of benchmarks/results/perf-hydra.json (the earlier sections are kept).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

TREE_SIZES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)


def corpus_prompts(tokenizer, n: int, prompt_tokens: int, exclude: set[tuple[int, ...]], skip: int = 0):
    """`n` prompts from the end of the three corpora (alternating), none of them in `exclude`."""
    from hf_methods.common.data import load_corpus

    pools = []
    for name in ("bible", "jargon", "python-docs"):
        pool = []
        for text in reversed(load_corpus(name)):
            ids = tokenizer(text, add_special_tokens=False).input_ids
            if len(ids) >= prompt_tokens and tuple(ids[:prompt_tokens]) not in exclude:
                pool.append(torch.tensor([ids[:prompt_tokens]]))
            if len(pool) >= (n + skip) // 3 + 2:
                break
        pools.append(pool)
    mixed = [p for group in zip(*pools) for p in group]
    return mixed[skip : skip + n]


def verify_time(base, tree_tokens: int, cache_tokens: int = 64, repeats: int = 7) -> float:
    """Median seconds of one base forward over `tree_tokens` new tokens on a `cache_tokens` KV cache."""
    from transformers import DynamicCache

    ids = torch.randint(100, 1000, (1, cache_tokens), generator=torch.Generator().manual_seed(0))
    new = torch.randint(100, 1000, (1, tree_tokens), generator=torch.Generator().manual_seed(1))
    times = []
    with torch.no_grad():
        for _ in range(repeats + 2):
            cache = DynamicCache()
            base(input_ids=ids, past_key_values=cache, use_cache=True)
            t0 = time.perf_counter()
            base(input_ids=new, past_key_values=cache, use_cache=True)
            times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def decode(base, heads, prompt, tree, max_new_tokens):
    from hf_methods.generation.hydra import hydra_generate

    stats = {}
    t0 = time.perf_counter()
    out = base.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        custom_generate=hydra_generate,
        draft_heads=heads,
        tree_choices=tree,
        stats=stats,
    )
    return out, time.perf_counter() - t0, stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", default="outputs/hydra-smollm2")
    parser.add_argument("--data_dir", default="outputs/hydra-smollm2-data", help="the recipe's distilled data")
    parser.add_argument("--n_prompts", type=int, default=20)
    parser.add_argument("--n_calibration", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=128)
    parser.add_argument("--calibration_new_tokens", type=int, default=64)
    parser.add_argument("--prompt_tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import datasets

    from hf_methods.common.data import load_smollm2
    from hf_methods.generation.hydra import HydraHeads, default_tree

    base, tokenizer = load_smollm2()
    base.eval()
    heads = HydraHeads.from_pretrained(args.heads, base_model=base).eval()
    training = datasets.load_from_disk(str(Path(args.data_dir) / "dataset"))
    seen = {tuple(ids[: args.prompt_tokens]) for ids in training["input_ids"]}
    calibration = corpus_prompts(tokenizer, args.n_calibration, args.prompt_tokens, seen)
    prompts = corpus_prompts(tokenizer, args.n_prompts, args.prompt_tokens, seen, skip=args.n_calibration + 3)
    num_heads = heads.config.num_heads

    # ---- 1. cost model
    t0_forward = verify_time(base, 1)
    cost = {}
    with torch.no_grad():
        for size in TREE_SIZES:
            tree = default_tree(num_heads, size)
            accepted, forwards, head_time = 0, 0, 0.0
            for prompt in calibration:
                _, _, stats = decode(base, heads, prompt, tree, args.calibration_new_tokens)
                accepted += stats["new_tokens"]
                forwards += stats["base_forwards"]
                head_time += stats["time_heads"]
            tau = accepted / forwards
            t_verify = verify_time(base, len(tree) + 1)
            t_heads = head_time / forwards
            cost[size] = {
                "tau": round(tau, 3),
                "verify_seconds": round(t_verify, 5),
                "heads_seconds_per_forward": round(t_heads, 5),
                "predicted_speedup": round(tau * t0_forward / (t_verify + t_heads), 3),
            }
            print(f"tree {size:3d}: {cost[size]}", flush=True)
    best = max(cost, key=lambda s: cost[s]["predicted_speedup"])
    tree = default_tree(num_heads, best)

    # ---- 2. measurement, interleaved
    rows = {"greedy": {"tokens": 0, "seconds": 0.0}, "hydra++": {"tokens": 0, "seconds": 0.0}}
    split = {"base_forwards": 0, "time_base": 0.0, "time_heads": 0.0}
    lossless = True
    with torch.no_grad():
        base.generate(prompts[0], attention_mask=torch.ones_like(prompts[0]), do_sample=False, max_new_tokens=4)
        for prompt in prompts:
            t0 = time.perf_counter()
            ref = base.generate(
                prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=args.max_new_tokens
            )
            rows["greedy"]["seconds"] += time.perf_counter() - t0
            rows["greedy"]["tokens"] += ref.shape[1] - prompt.shape[1]
            out, seconds, stats = decode(base, heads, prompt, tree, args.max_new_tokens)
            lossless &= torch.equal(out, ref)
            rows["hydra++"]["seconds"] += seconds
            rows["hydra++"]["tokens"] += stats["new_tokens"]
            for key in split:
                split[key] += stats[key]
            print(f"prompt done, τ so far {rows['hydra++']['tokens'] / split['base_forwards']:.2f}", flush=True)
    greedy_tps = rows["greedy"]["tokens"] / rows["greedy"]["seconds"]
    hydra_tps = rows["hydra++"]["tokens"] / rows["hydra++"]["seconds"]
    tau = rows["hydra++"]["tokens"] / split["base_forwards"]
    section = {
        "heads": args.heads,
        "heads_config": {
            "num_heads": num_heads,
            "num_layers": heads.config.num_layers,
            "kind": heads.config.head_kind,
        },
        "threads": args.threads,
        "cost_model": {"single_token_forward_seconds": round(t0_forward, 5), "by_tree_size": cost},
        "tree_size": best,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "lossless": lossless,
        "tau": round(tau, 3),
        "greedy_tokens_per_second": round(greedy_tps, 3),
        "hydra_tokens_per_second": round(hydra_tps, 3),
        "speedup_vs_greedy": round(hydra_tps / greedy_tps, 3),
        "time_split": {
            "base": round(split["time_base"] / rows["hydra++"]["seconds"], 3),
            "heads": round(split["time_heads"] / rows["hydra++"]["seconds"], 3),
            "other": round(1 - (split["time_base"] + split["time_heads"]) / rows["hydra++"]["seconds"], 3),
        },
        "targets": {"tau >= 2.5": tau >= 2.5, "speedup >= 1.5x greedy": hydra_tps / greedy_tps >= 1.5},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = Path(__file__).resolve().parents[1] / "results" / "perf-hydra.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data["smollm2_trained"] = section
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(section, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
