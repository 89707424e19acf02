"""Train a PAWN machine-written-text detector (P08) on cached backbone features.

    accelerate launch recipes/pawn.py                                  # SmolLM2-135M backbone, committed data set
    accelerate launch recipes/pawn.py --backbone tiny --max_steps 20   # seconds: in-code tiny Llama, smoke test
    accelerate launch recipes/pawn.py --resume_from_checkpoint latest

Steps: load `data/pawn/detection.jsonl`; keep `--train_domains`, split their openings into train / in-domain eval
(`--eval_fraction`), the `--eval_domain` is the unseen domain; run the frozen backbone once over every text with
`datasets.map` (cached under `--feature_cache_dir`, recomputed when the backbone, tokenizer or `--max_length` changes);
standardise the metrics with training statistics; train only the heads (AdamW, clip 1, label smoothing 0.2, 15 %
token dropout: the paper's Table 1); evaluate AUROC / macro-F1 / recall at 5 % FPR; write a Hub-ready folder (head
weights, config naming the backbone, remote code, tokenizer, card). The backbone is not saved.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_methods.harness.recipe import RecipeArguments, RecipeRunner, parse_recipe_args  # noqa: E402

SLUG = "pawn"


@dataclass
class PawnArguments(RecipeArguments):
    backbone: str = field(
        default="smollm2-135m-instruct",
        metadata={
            "help": "Frozen causal LM: 'smollm2-135m-instruct' (offline asset), a local folder, or 'tiny' "
            "(a random in-code tiny Llama with a byte tokenizer, for smoke tests)."
        },
    )
    data_file: str | None = field(
        default=None, metadata={"help": "Detection JSONL (default: data/pawn/detection.jsonl)."}
    )
    train_domains: str = field(default="bible,python-docs", metadata={"help": "Comma-separated training domains."})
    eval_domain: str = field(default="jargon", metadata={"help": "Held-out (unseen) domain evaluated at the end."})
    eval_fraction: float = field(default=0.3, metadata={"help": "Share of training-domain openings held out."})
    max_length: int = field(default=128, metadata={"help": "Tokens per text (longer texts are truncated)."})
    aggregation: str = field(default="pawn", metadata={"help": "'pawn', or the paper's ablations 'mpn' / 'hsff'."})
    num_features: int = field(default=256, metadata={"help": "Metric feature width F."})
    num_gates: int = field(default=256, metadata={"help": "Number of gates G (divides F)."})
    mlp_hidden_size: int = field(default=256, metadata={"help": "Hidden width of the three MLPs."})
    mlp_num_layers: int = field(default=3, metadata={"help": "Hidden layers of each MLP."})
    dropout_tokens: float = field(default=0.15, metadata={"help": "Training token dropout rate."})
    label_smoothing: float = field(default=0.2, metadata={"help": "Label smoothing ε."})
    pos_weight: float = field(default=1.0, metadata={"help": "BCE weight of the machine class."})
    batch_size: int = field(default=16, metadata={"help": "Documents per step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    feature_batch_size: int = field(default=8, metadata={"help": "Texts per backbone forward when caching."})
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "Arrow cache of the features (default: ~/.cache/hf_methods/pawn-features)."}
    )
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch's default)."})

    def validate(self) -> None:
        super().validate()
        if not 0 < self.eval_fraction < 1:
            raise ValueError(f"--eval_fraction must be in (0, 1), got {self.eval_fraction}")
        if self.max_length < 2:
            raise ValueError(f"--max_length must be >= 2, got {self.max_length}")
        if self.batch_size <= 0:
            raise ValueError(f"--batch_size must be positive, got {self.batch_size}")


def build_backbone(args):
    """(config kwargs naming the backbone, the loaded LM, its tokenizer)."""
    if args.backbone == "tiny":
        from hf_methods.common.tiny import byte_tokenizer, tiny_llama_config

        return {"backbone_config": tiny_llama_config().to_dict(), "backbone_seed": args.seed}, None, byte_tokenizer()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_methods.models.pawn import resolve_backbone_path

    path = resolve_backbone_path(args.backbone)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return (
        {"backbone_name_or_path": args.backbone, "backbone_hidden_size": lm.config.hidden_size},
        lm,
        AutoTokenizer.from_pretrained(path),
    )


def split(dataset, args):
    import numpy as np

    train_domains = [d.strip() for d in args.train_domains.split(",") if d.strip()]
    domains = set(dataset.unique("domain"))
    for d in train_domains + [args.eval_domain]:
        if d not in domains:
            raise ValueError(f"domain {d!r} is not in the data set ({sorted(domains)})")
    openings = sorted({o for o, d in zip(dataset["opening_id"], dataset["domain"]) if d in train_domains})
    np.random.default_rng(args.seed).shuffle(openings)
    held = set(openings[: int(round(args.eval_fraction * len(openings)))])
    idx = {"train": [], "in_domain": [], "unseen_domain": []}
    for i, (o, d) in enumerate(zip(dataset["opening_id"], dataset["domain"])):
        if d == args.eval_domain:
            idx["unseen_domain"].append(i)
        elif d in train_domains:
            idx["in_domain" if o in held else "train"].append(i)
    return idx


def main(argv=None):
    args = parse_recipe_args(PawnArguments, argv, slug=SLUG)
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from hf_methods.common.data import cache_dir
    from hf_methods.models.pawn import (
        PawnConfig,
        PawnFeatureCollator,
        PawnForSequenceClassification,
        cache_pawn_features,
        fit_metric_normalization,
        load_pawn_dataset,
        predict_logits,
    )
    from hf_methods.models.pawn.baselines import best_threshold, detection_metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    runner = RecipeRunner(args, slug=SLUG)
    backbone_kwargs, lm, tokenizer = build_backbone(args)
    config = PawnConfig(
        **backbone_kwargs,
        max_length=args.max_length,
        pos_scale=max(args.max_length, 512),
        aggregation=args.aggregation,
        num_features=args.num_features,
        num_gates=args.num_gates,
        mlp_hidden_size=args.mlp_hidden_size,
        mlp_num_layers=args.mlp_num_layers,
        dropout_tokens=args.dropout_tokens,
        label_smoothing=args.label_smoothing,
        pos_weight=args.pos_weight,
    )
    model = PawnForSequenceClassification(config, backbone=lm)

    data = load_pawn_dataset(args.data_file)
    idx = split(data, args)
    feature_dir = Path(args.feature_cache_dir) if args.feature_cache_dir else cache_dir() / "pawn-features"
    with runner.accelerator.main_process_first():  # one process computes the cache, the others read it
        feats = cache_pawn_features(data, model, tokenizer, batch_size=args.feature_batch_size, cache_dir=feature_dir)
    train = feats.select(idx["train"])
    fit_metric_normalization(train, model)
    runner.print(f"[{SLUG}] {len(train)} training documents, features of {len(feats)} cached in {feature_dir}")

    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=PawnFeatureCollator())
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.learning_rate, weight_decay=args.weight_decay
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = model(**batch).loss
        runner.accelerator.backward(loss)
        runner.accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    detector = runner.accelerator.unwrap_model(model).eval()
    labels = np.array(data["label"])
    threshold = best_threshold(predict_logits(detector, train).numpy(), labels[idx["train"]])
    metrics = {}
    for name in ("in_domain", "unseen_domain"):
        if idx[name]:
            scores = predict_logits(detector, feats.select(idx[name])).numpy()
            for k, v in detection_metrics(scores, labels[idx[name]], threshold).items():
                metrics[f"eval/{name}/{k}"] = v
    detector.config.decision_threshold = float(threshold)  # logit threshold chosen on the training set
    runner.log(metrics, runner.step, force=True)
    runner.print(f"[{SLUG}] " + ", ".join(f"{k} = {v:.3f}" for k, v in metrics.items()))
    base = None if args.backbone == "tiny" else "HuggingFaceTB/SmolLM2-135M-Instruct"
    runner.finish(
        detector,
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=base,
        datasets=["hf-methods/pawn-detection (data/pawn/detection.jsonl)"],
    )


if __name__ == "__main__":
    main()
