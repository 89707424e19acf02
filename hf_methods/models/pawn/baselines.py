"""Baselines and detection metrics of the PAWN claim check, sharing PAWN's feature extractor.

- zero-shot detectors: a document's mean of one next-token metric (mean log-likelihood, mean entropy, mean rank);
- a fine-tuned encoder classifier (all-MiniLM-L6-v2 + a linear head; the paper's fine-tuned LM baselines are
  RoBERTa / Longformer, far larger);
- metrics: AUROC, macro-F1 at a threshold chosen on the training set, recall at 5 % false-positive rate (threshold at
  the 95th percentile of the evaluated human scores, RAID-style per-domain threshold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

# zero-shot score = sign · mean(metric); the sign makes "higher = more machine-like"
ZERO_SHOT = {"mean_log_prob": ("log_prob", 1.0), "mean_entropy": ("entropy", -1.0), "mean_rank": ("rank", -1.0)}


def zero_shot_scores(metrics_rows: Sequence[torch.Tensor], metric_names: Sequence[str], detector: str) -> np.ndarray:
    """Mean over tokens of one metric per document (`detector` in `ZERO_SHOT`), signed so higher = machine."""
    if detector not in ZERO_SHOT:
        raise ValueError(f"`detector` must be one of {tuple(ZERO_SHOT)}, got {detector!r}.")
    name, sign = ZERO_SHOT[detector]
    if name not in metric_names:
        raise ValueError(f"`metric_names` lacks {name!r}, needed by {detector!r}.")
    col = list(metric_names).index(name)
    return np.array([sign * float(torch.as_tensor(m)[:, col].double().mean()) for m in metrics_rows])


def auroc(scores, labels) -> float:
    """Area under the ROC curve (Mann–Whitney U with tie correction); labels 1 = positive (machine)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("`labels` must contain both classes.")
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks of ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def best_threshold(scores, labels) -> float:
    """The threshold (midpoint between sorted scores) with the highest accuracy on `scores`; used on training data."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    uniq = np.unique(scores)
    candidates = np.concatenate([[uniq[0] - 1], (uniq[1:] + uniq[:-1]) / 2, [uniq[-1] + 1]])
    acc = [((scores > t) == labels).mean() for t in candidates]
    return float(candidates[int(np.argmax(acc))])


def macro_f1(predictions, labels) -> float:
    predictions, labels = np.asarray(predictions).astype(bool), np.asarray(labels).astype(bool)
    f1s = []
    for positive in (True, False):
        tp = np.sum((predictions == positive) & (labels == positive))
        fp = np.sum((predictions == positive) & (labels != positive))
        fn = np.sum((predictions != positive) & (labels == positive))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(f1s))


def recall_at_fpr(scores, labels, fpr: float = 0.05) -> float:
    """Share of machine documents scored above the lowest threshold that flags at most `fpr` of the human ones."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    human = np.sort(scores[~labels])[::-1]
    threshold = human[min(int(np.floor(fpr * len(human))), len(human) - 1)]  # at most floor(fpr·n) humans above it
    return float((scores[labels] > threshold).mean())


def detection_metrics(scores, labels, threshold: float) -> dict[str, float]:
    """`{"auroc", "macro_f1", "recall@5%fpr"}`; `threshold` (from training data) sets the macro-F1 decision."""
    if not math.isfinite(threshold):
        raise ValueError(f"`threshold` must be finite, got {threshold}.")
    scores = np.asarray(scores, dtype=float)
    return {
        "auroc": auroc(scores, labels),
        "macro_f1": macro_f1(scores > threshold, labels),
        "recall@5%fpr": recall_at_fpr(scores, labels, 0.05),
    }


def train_minilm_detector(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    *,
    epochs: int = 2,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    seed: int = 0,
    model_path: str | None = None,
):
    """Fine-tunes all-MiniLM-L6-v2 (offline asset) with one logit and BCE on `train_texts`; returns `score(texts)`.

    The function it returns gives one logit per text (higher = machine). Full fine-tuning, AdamW, linear warm-up free.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    if model_path is None:
        from hf_methods.common.data import minilm_path

        model_path = str(minilm_path())
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    labels = torch.as_tensor(list(train_labels), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_texts), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [train_texts[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            logits = model(**enc).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
    model.eval()

    @torch.no_grad()
    def score(texts: Sequence[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), 32):
            enc = tokenizer(
                list(texts[start : start + 32]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out.append(model(**enc).logits.squeeze(-1))
        return torch.cat(out).numpy()

    score.model = model
    return score


__all__ = [
    "ZERO_SHOT",
    "auroc",
    "best_threshold",
    "detection_metrics",
    "macro_f1",
    "recall_at_fpr",
    "train_minilm_detector",
    "zero_shot_scores",
]
