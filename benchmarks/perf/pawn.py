"""PAWN (P08) cost: training an epoch on cached features vs fine-tuning MiniLM, and detection throughput.

Writes benchmarks/results/perf-pawn.json. All numbers are ratios of timings taken in the same run on the same
documents (the first `N_DOCS` of the committed detection set), so machine load cancels to first order.

- train epoch: PAWN heads (paper size) on cached SmolLM2 features vs one epoch of full all-MiniLM-L6-v2 fine-tuning
  (the paper: caching makes training 7–10× cheaper than running the LM; its fine-tuned baselines are larger LMs);
- caching: one pass of the SmolLM2 backbone over the documents (paid once);
- detection throughput (documents/s): PAWN on raw text (backbone + heads), PAWN on cached features, MiniLM.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import torch

N_DOCS = 64
BATCH = 16
MAX_LENGTH = 128


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    import tempfile

    from hf_methods.common.data import load_smollm2
    from hf_methods.models.pawn import (
        PawnConfig,
        PawnForSequenceClassification,
        cache_pawn_features,
        fit_metric_normalization,
        fit_pawn_head,
        load_pawn_dataset,
        predict_logits,
    )
    from hf_methods.models.pawn.baselines import train_minilm_detector

    torch.set_num_threads(int(os.environ.get("PAWN_THREADS", "1")))
    data = load_pawn_dataset().select(range(N_DOCS))
    texts, labels = list(data["text"]), list(data["label"])
    lm, tok = load_smollm2()
    torch.manual_seed(0)
    det = PawnForSequenceClassification(PawnConfig(max_length=MAX_LENGTH), backbone=lm)
    with tempfile.TemporaryDirectory() as tmp:  # a fresh cache: measure the one-time extraction
        cache_s, feats = timed(lambda: cache_pawn_features(data, det, tok, batch_size=8, cache_dir=tmp))
        feats = feats.flatten_indices() if hasattr(feats, "flatten_indices") else feats
        fit_metric_normalization(feats, det)
        pawn_epoch_s, _ = timed(lambda: fit_pawn_head(det, feats, epochs=1, batch_size=BATCH))
        cached_infer_s, _ = timed(lambda: predict_logits(det, feats))
    minilm_epoch_s, minilm = timed(
        lambda: train_minilm_detector(texts, labels, epochs=1, batch_size=BATCH, learning_rate=1e-4, max_length=64)
    )
    minilm_infer_s, _ = timed(lambda: minilm(texts))

    @torch.no_grad()
    def raw_pawn():
        det.eval()
        for start in range(0, N_DOCS, 8):
            enc = tok(
                texts[start : start + 8], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt"
            )
            det(**enc)

    raw_infer_s, _ = timed(raw_pawn)
    result = {
        "benchmark": "pawn",
        "documents": N_DOCS,
        "seconds": {
            "pawn_train_epoch_cached": pawn_epoch_s,
            "minilm_finetune_epoch": minilm_epoch_s,
            "feature_caching_once": cache_s,
            "pawn_detect_raw_text": raw_infer_s,
            "pawn_detect_cached": cached_infer_s,
            "minilm_detect": minilm_infer_s,
        },
        "ratios": {
            "minilm_epoch_over_pawn_cached_epoch": round(minilm_epoch_s / pawn_epoch_s, 2),
            "caching_over_pawn_cached_epoch": round(cache_s / pawn_epoch_s, 2),
            "pawn_raw_docs_per_s_over_minilm": round((N_DOCS / raw_infer_s) / (N_DOCS / minilm_infer_s), 3),
            "pawn_cached_docs_per_s_over_minilm": round((N_DOCS / cached_infer_s) / (N_DOCS / minilm_infer_s), 2),
        },
        "docs_per_s": {
            "pawn_raw_text": round(N_DOCS / raw_infer_s, 2),
            "pawn_cached": round(N_DOCS / cached_infer_s, 2),
            "minilm": round(N_DOCS / minilm_infer_s, 2),
        },
        "trainable_parameters": {
            "pawn_heads": sum(p.numel() for p in det.parameters() if p.requires_grad),
            "minilm": sum(p.numel() for p in minilm.model.parameters()),
        },
        "settings": {
            "batch_size": BATCH,
            "pawn_max_length": MAX_LENGTH,
            "minilm_max_length": 64,
            "backbone": "SmolLM2-135M-Instruct",
            "threads": torch.get_num_threads(),
        },
        "date": datetime.now().isoformat(timespec="seconds"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-pawn.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
