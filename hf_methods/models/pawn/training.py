"""Training pieces shared by `recipes/pawn.py`, the claim check and the tests.

- [`PawnArguments`]: the recipe's arguments; `args.pawn_config(**backbone_kwargs)` builds the `PawnConfig`;
- [`build_backbone`]: the frozen causal LM named by `--model_name_or_path` (or the in-code tiny Llama), its
  tokenizer and the Hub id the card names;
- [`load_detection_data`]: the committed detection set, or a user data set with `text` / `label` fields;
- [`split`]: train / in-domain / unseen-domain rows of the detection set, openings never shared across splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hf_methods.harness.recipe import PretrainedRecipeArguments

from .configuration_pawn import PawnConfig

TEXT_FIELD, LABEL_FIELD = "text", "label"
LABEL_NAMES = {"human": 0, "machine": 1}
DEFAULT_DATASET_NAME = "hf-methods/pawn-detection (data/pawn/detection.jsonl)"


@dataclass
class PawnArguments(PretrainedRecipeArguments):
    """Arguments of `recipes/pawn.py`. The shared `--model_name_or_path` is the frozen backbone: the offline
    SmolLM2-135M-Instruct alias (default), `tiny` (a random in-code tiny Llama with a byte tokenizer, for smoke runs;
    rebuilt from the saved config), a local folder or a Hub id. `--dataset_name_or_path` is a JSON/JSONL file (or
    `datasets` name) whose rows have `text` and `label` (1 or "machine" = machine-written, 0 or "human"); default:
    the committed detection set `data/pawn/detection.jsonl`."""

    train_domains: str = field(
        default="bible,python-docs",
        metadata={"help": "Comma-separated training domains (data with a `domain` field)."},
    )
    eval_domain: str = field(
        default="jargon", metadata={"help": "Held-out (unseen) domain evaluated at the end (data with `domain`)."}
    )
    eval_fraction: float = field(
        default=0.3,
        metadata={"help": "Share of training-domain openings held out (of the rows, for data without `domain`)."},
    )
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
    """`(config kwargs naming the backbone, the loaded LM or None, its tokenizer, the base's Hub id or None)`.

    `tiny` is built from its config by the detector (seeded with `--seed`), so a saved detector rebuilds it; any other
    name loads with `hf_methods.common.data.load_causal_lm` and is stored in the config as given (the SmolLM2 alias
    resolves offline wherever hf-methods' converted folder is).
    """
    if args.model_name_or_path == "tiny":
        from hf_methods.common.tiny import byte_tokenizer, tiny_llama_config

        backbone = {"backbone_config": tiny_llama_config().to_dict(), "backbone_seed": args.seed}
        return backbone, None, byte_tokenizer(), None
    from hf_methods.common.data import load_causal_lm

    lm, tokenizer, hub_id = load_causal_lm(args.model_name_or_path)
    backbone = {"backbone_name_or_path": args.model_name_or_path, "backbone_hidden_size": lm.config.hidden_size}
    return backbone, lm, tokenizer, None if hub_id and Path(hub_id).expanduser().exists() else hub_id


def load_detection_data(args: PawnArguments):
    """`(dataset, name for the card)`: the committed detection set, or `--dataset_name_or_path` checked for a `text`
    field and a `label` field (0/1, or "human"/"machine", turned into 0/1).

    Raises:
        `ValueError`: a missing field (naming the fields the data has), an empty text or an unknown label.
    """
    from .features import load_pawn_dataset

    if args.dataset_name_or_path is None:
        return load_pawn_dataset(), DEFAULT_DATASET_NAME
    from hf_methods.common.data import load_user_dataset

    name = args.dataset_name_or_path
    dataset = load_user_dataset(name)
    missing = [f for f in (TEXT_FIELD, LABEL_FIELD) if f not in dataset.column_names]
    if missing:
        raise ValueError(
            f"--dataset_name_or_path: every row needs the fields {TEXT_FIELD!r} (the document) and {LABEL_FIELD!r} "
            f"(1 or 'machine' for machine-written, 0 or 'human'); this data set lacks {missing} and has "
            f"{dataset.column_names}"
        )
    labels = []
    for i, value in enumerate(dataset[LABEL_FIELD]):
        label = LABEL_NAMES.get(value.strip().lower()) if isinstance(value, str) else value
        if label not in (0, 1) or isinstance(label, float) and not label.is_integer():
            raise ValueError(f"--dataset_name_or_path: row {i} has label {value!r}; use 0/1 or 'human'/'machine'")
        labels.append(int(label))
    if len(set(labels)) < 2:
        raise ValueError("--dataset_name_or_path: the data needs both human (0) and machine (1) texts")
    dataset = dataset.remove_columns(LABEL_FIELD).add_column(LABEL_FIELD, labels)
    return dataset, (Path(name).name if Path(name).expanduser().exists() else name)


def split(dataset, args: PawnArguments) -> dict[str, list[int]]:
    """Row indices: `train` and `in_domain` (held-out openings of the training domains), `unseen_domain`.

    Data without a `domain` field (a user's `text`/`label` file) has no unseen domain: a seeded `--eval_fraction`
    of its rows is held out as `in_domain`.
    """
    if "domain" not in dataset.column_names:
        order = np.random.default_rng(args.seed).permutation(len(dataset)).tolist()
        n_held = max(1, int(round(args.eval_fraction * len(dataset))))
        if n_held >= len(dataset):
            raise ValueError(f"--dataset_name_or_path has {len(dataset)} rows: too few to hold out and train")
        return {"train": sorted(order[n_held:]), "in_domain": sorted(order[:n_held]), "unseen_domain": []}
    train_domains = [d.strip() for d in args.train_domains.split(",") if d.strip()]
    domains = set(dataset.unique("domain"))
    for d in train_domains + [args.eval_domain]:
        if d not in domains:
            raise ValueError(
                f"domain {d!r} is not in the data set ({sorted(domains)}): set --train_domains / --eval_domain"
            )
    # texts continuing one opening stay together; without `opening_id` each row is its own group
    groups = dataset["opening_id"] if "opening_id" in dataset.column_names else list(range(len(dataset)))
    openings = sorted({o for o, d in zip(groups, dataset["domain"]) if d in train_domains})
    np.random.default_rng(args.seed).shuffle(openings)
    held = set(openings[: int(round(args.eval_fraction * len(openings)))])
    idx = {"train": [], "in_domain": [], "unseen_domain": []}
    for i, (o, d) in enumerate(zip(groups, dataset["domain"])):
        if d == args.eval_domain:
            idx["unseen_domain"].append(i)
        elif d in train_domains:
            idx["in_domain" if o in held else "train"].append(i)
    return idx
