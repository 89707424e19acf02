"""Training pieces shared by `recipes/pawn.py`, the claim check and the tests.

- [`PawnArguments`]: the recipe's arguments; `args.pawn_config(**backbone_kwargs)` builds the `PawnConfig`;
- [`build_backbone`]: the frozen causal LM named by `--backbone` (or the in-code tiny Llama) and its tokenizer;
- [`split`]: train / in-domain / unseen-domain rows of the detection set, openings never shared across splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_pawn import PawnConfig
from .modeling_pawn import resolve_backbone_path


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

    def pawn_config(self, **backbone_kwargs) -> PawnConfig:
        """The `PawnConfig` of this run; `backbone_kwargs` name the backbone (see [`build_backbone`])."""
        return PawnConfig(
            **backbone_kwargs,
            max_length=self.max_length,
            pos_scale=max(self.max_length, 512),
            aggregation=self.aggregation,
            num_features=self.num_features,
            num_gates=self.num_gates,
            mlp_hidden_size=self.mlp_hidden_size,
            mlp_num_layers=self.mlp_num_layers,
            dropout_tokens=self.dropout_tokens,
            label_smoothing=self.label_smoothing,
            pos_weight=self.pos_weight,
        )


def build_backbone(args: PawnArguments):
    """(config kwargs naming the backbone, the loaded LM, its tokenizer)."""
    if args.backbone == "tiny":
        from hf_methods.common.tiny import byte_tokenizer, tiny_llama_config

        return {"backbone_config": tiny_llama_config().to_dict(), "backbone_seed": args.seed}, None, byte_tokenizer()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_backbone_path(args.backbone)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return (
        {"backbone_name_or_path": args.backbone, "backbone_hidden_size": lm.config.hidden_size},
        lm,
        AutoTokenizer.from_pretrained(path),
    )


def split(dataset, args: PawnArguments) -> dict[str, list[int]]:
    """Row indices: `train` and `in_domain` (held-out openings of the training domains), `unseen_domain`."""
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
