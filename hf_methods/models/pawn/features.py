"""Feature caching for PAWN: run the frozen backbone once with `datasets.map`, train the heads on cached features.

The paper caches the backbone's last hidden states and next-token metrics on disk, which makes an epoch 7–10× cheaper
than running the LM. Here [`cache_pawn_features`] maps a text data set to `metrics` (float32, `(N-1, num_metrics)`)
and `hidden_states` (float16, `(N, d)`) columns; the Arrow cache file is named by a fingerprint of the data set, the
backbone, the tokenizer, the metrics and `max_length`, so changing any of them recomputes the features. Each row also
stores `backbone`, checked by [`check_feature_backbone`] before training or inference.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .configuration_pawn import PawnConfig

DATA_FILE = Path(__file__).resolve().parents[3] / "data" / "pawn" / "detection.jsonl"


def load_pawn_dataset(path: str | Path | None = None, domains: list[str] | tuple[str, ...] | None = None):
    """The committed offline detection set (`data/pawn/detection.jsonl`, see its DATASHEET.md) as a `datasets.Dataset`.

    Columns: `id`, `domain`, `opening_id`, `opening`, `label` (1 = machine), `decoding`, `text`.
    """
    from datasets import load_dataset

    path = Path(path) if path is not None else DATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"No detection set at {path}; build it with `python scripts/build_pawn_dataset.py`.")
    dataset = load_dataset("json", data_files=str(path), split="train")
    if domains is not None:
        unknown = set(domains) - set(dataset.unique("domain"))
        if unknown:
            raise ValueError(
                f"`domains` has unknown domains {sorted(unknown)}; the set has {dataset.unique('domain')}."
            )
        dataset = dataset.filter(lambda d: d in domains, input_columns="domain")
    return dataset


def feature_fingerprint(dataset, config: PawnConfig, tokenizer) -> str:
    """Hash of everything the cached features depend on: data, backbone, tokenizer, metrics, `max_length`."""
    vocab = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else str(tokenizer)
    key = json.dumps(
        {
            "data": getattr(dataset, "_fingerprint", None),
            "backbone": config.backbone_id,
            "backbone_config": config.backbone_config,
            "tokenizer": hashlib.sha256(vocab.encode()).hexdigest(),
            "metrics": list(config.metrics),
            "max_length": config.max_length,
            "version": 1,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def cache_pawn_features(
    dataset,
    detector,
    tokenizer,
    *,
    text_column: str = "text",
    batch_size: int = 8,
    cache_dir: str | Path | None = None,
    keep_columns: tuple[str, ...] = ("label", "domain", "id"),
):
    """
    Adds the backbone's cached features to `dataset` with `datasets.map(batched=True)` under `torch.no_grad()`.

    Args:
        dataset (`datasets.Dataset`): with a text column.
        detector ([`PawnForSequenceClassification`]): gives the backbone (`get_backbone()`), metrics and `max_length`.
        tokenizer: the backbone's tokenizer; texts are truncated to `config.max_length` tokens (documented truncation).
        cache_dir: folder of the Arrow cache files (default: the data set's own cache, or no file for in-memory data).

    Returns:
        A `datasets.Dataset` with columns `metrics`, `hidden_states`, `length`, `backbone` and `keep_columns`,
        formatted as torch tensors.
    """
    from datasets import Array2D, Features, Value

    config = detector.config
    if text_column not in dataset.column_names:
        raise ValueError(f"`text_column` {text_column!r} is not a column of the data set ({dataset.column_names}).")
    texts = dataset[text_column]
    empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if empty:
        raise ValueError(f"`dataset` has empty texts in column {text_column!r} at rows {empty[:5]}.")
    fingerprint = feature_fingerprint(dataset, config, tokenizer)
    backbone = detector.get_backbone()
    backbone_id = config.backbone_id

    def extract(batch):
        enc = tokenizer(
            batch[text_column], truncation=True, max_length=config.max_length, padding=True, return_tensors="pt"
        )
        if enc["input_ids"].shape[1] < 2:
            raise ValueError("Every text needs at least 2 tokens after tokenisation.")
        metrics, hidden = [], []
        with torch.no_grad():
            m, h = detector.features(enc["input_ids"], enc["attention_mask"])
        lengths = enc["attention_mask"].sum(-1).tolist()
        for row, n in enumerate(lengths):
            idx = enc["attention_mask"][row].bool()  # works for left and right padding
            metrics.append(m[row][idx[1:] & idx[:-1]].float().cpu().numpy())
            hidden.append(h[row][idx].to(torch.float16).cpu().numpy())
        return {
            "metrics": metrics,
            "hidden_states": hidden,
            "length": lengths,
            "backbone": [backbone_id] * len(lengths),
        }

    features = Features(
        {
            **{c: dataset.features[c] for c in keep_columns if c in dataset.column_names},
            "metrics": Array2D(shape=(None, config.num_metrics), dtype="float32"),
            "hidden_states": Array2D(shape=(None, config.backbone_hidden_size), dtype="float16"),
            "length": Value("int32"),
            "backbone": Value("string"),
        }
    )
    remove = [c for c in dataset.column_names if c not in keep_columns]
    kwargs: dict[str, Any] = {}
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        kwargs["cache_file_name"] = str(Path(cache_dir) / f"pawn-features-{fingerprint}.arrow")
    was_training = backbone.training
    out = dataset.map(
        extract,
        batched=True,
        batch_size=batch_size,
        remove_columns=remove,
        features=features,
        new_fingerprint=fingerprint,
        load_from_cache_file=True,
        desc="PAWN features",
        **kwargs,
    )
    backbone.train(was_training)
    return out.with_format("torch")


def check_feature_backbone(features_dataset, config: PawnConfig) -> None:
    """Raises `ValueError` when cached features were made by another backbone than `config`'s."""
    found = set(features_dataset.unique("backbone")) if "backbone" in features_dataset.column_names else {None}
    if found != {config.backbone_id}:
        raise ValueError(
            f"Cached features come from backbone {sorted(map(str, found))}, but the detector uses "
            f"{config.backbone_id!r}; recompute them with `cache_pawn_features`."
        )


def fit_metric_normalization(features_dataset, detector) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and sd of each metric over all cached tokens; sets them on `detector` and returns them."""
    rows = [torch.as_tensor(m) for m in features_dataset.with_format("torch")["metrics"]]
    stacked = torch.cat(rows).double()
    mean, std = stacked.mean(0).float(), stacked.std(0).clamp(min=1e-6).float()
    detector.set_metric_normalization(mean, std)
    return mean, std


@dataclass
class PawnFeatureCollator:
    """Pads cached `metrics` / `hidden_states` on the right into a batch with an `attention_mask` (and `labels`)."""

    label_column: str = "label"

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        hidden = [torch.as_tensor(r["hidden_states"]) for r in rows]
        metrics = [torch.as_tensor(r["metrics"]) for r in rows]
        length = max(h.shape[0] for h in hidden)
        d, m = hidden[0].shape[1], metrics[0].shape[1]
        batch_hidden = torch.zeros(len(rows), length, d, dtype=hidden[0].dtype)
        batch_metrics = torch.zeros(len(rows), length - 1, m, dtype=torch.float32)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, (h, mt) in enumerate(zip(hidden, metrics)):
            batch_hidden[i, : h.shape[0]] = h
            batch_metrics[i, : mt.shape[0]] = mt
            mask[i, : h.shape[0]] = 1
        out = {"hidden_states": batch_hidden, "metrics": batch_metrics, "attention_mask": mask}
        if self.label_column in rows[0]:
            out["labels"] = torch.as_tensor([float(r[self.label_column]) for r in rows])
        return out


def fit_pawn_head(
    detector,
    features_dataset,
    *,
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    seed: int = 0,
) -> list[float]:
    """Trains the heads on cached features with the paper's Table 1 optimiser (AdamW, clip 1); returns step losses.

    The backbone never runs. Standardise the metrics first with [`fit_metric_normalization`].
    """
    from torch.utils.data import DataLoader

    check_feature_backbone(features_dataset, detector.config)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        features_dataset, batch_size=batch_size, shuffle=True, generator=generator, collate_fn=PawnFeatureCollator()
    )
    params = [p for p in detector.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    detector.train()
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # token dropout
        for _ in range(epochs):
            for batch in loader:
                loss = detector(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.item())
    detector.eval()
    return losses


@torch.no_grad()
def predict_logits(detector, features_dataset, batch_size: int = 64) -> torch.Tensor:
    """The detector's `machine_logit` per row of a cached-features data set (higher = machine; no threshold)."""
    check_feature_backbone(features_dataset, detector.config)
    collate = PawnFeatureCollator()
    detector.eval()
    out = []
    for start in range(0, len(features_dataset), batch_size):
        rows = [features_dataset[i] for i in range(start, min(start + batch_size, len(features_dataset)))]
        batch = collate(rows)
        batch.pop("labels", None)
        out.append(detector(**batch).machine_logit)
    return torch.cat(out)


__all__ = [
    "PawnFeatureCollator",
    "fit_pawn_head",
    "predict_logits",
    "cache_pawn_features",
    "check_feature_backbone",
    "feature_fingerprint",
    "fit_metric_normalization",
    "load_pawn_dataset",
]
