"""Detector comparison shared by the claim check and the tests: PAWN, MPN and a fine-tuned MiniLM on the same texts.

- [`paired_auroc_interval`]: a paired document bootstrap of an AUROC difference;
- [`score_detectors`]: trains PAWN, MPN (paper-size heads, cached backbone features) and all-MiniLM-L6-v2 on one
  training set and returns each detector's AUROC (and mean log-probability's, the zero-shot reference) per test set.
"""

from __future__ import annotations

import numpy as np
import torch

HEAD = {"num_features": 256, "num_gates": 256, "mlp_hidden_size": 256, "mlp_num_layers": 3}


def paired_auroc_interval(a, b, labels, samples: int, seed: int) -> list[float]:
    """95% percentile interval of AUROC(a) − AUROC(b) over test documents resampled with replacement (paired)."""
    from hf_methods.models.pawn.baselines import auroc

    rng, diffs = np.random.default_rng(seed), []
    while len(diffs) < samples:
        i = rng.integers(0, len(labels), len(labels))
        if 0 < labels[i].sum() < len(i):
            diffs.append(auroc(a[i], labels[i]) - auroc(b[i], labels[i]))
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def score_detectors(
    lm, tokenizer, train, tests: dict, s: dict, seed: int, max_length: int, backbone_kwargs: dict | None = None
) -> dict:
    """Trains PAWN, MPN and MiniLM on `train` (a `datasets.Dataset` with `text`, `label`); AUROCs on each test set.

    `s` holds `train` (head optimiser: epochs, batch_size, learning_rate, weight_decay, max_grad_norm), `minilm`
    (epochs, batch_size, learning_rate, max_length) and `document_bootstrap_samples`. The backbone is named by
    `backbone_kwargs` (default: its in-code config and `seed`). Returns `{test: {detector: AUROC, "A − B interval":
    [low, high]}}`.
    """
    from datasets import concatenate_datasets

    from hf_methods.models.pawn import (
        PawnConfig,
        PawnForSequenceClassification,
        cache_pawn_features,
        fit_metric_normalization,
        fit_pawn_head,
        predict_logits,
    )
    from hf_methods.models.pawn.baselines import auroc, train_minilm_detector, zero_shot_scores

    backbone_kwargs = backbone_kwargs or {"backbone_config": lm.config.to_dict(), "backbone_seed": seed}
    kw = {**backbone_kwargs, "max_length": max_length, **HEAD}
    extractor = PawnForSequenceClassification(PawnConfig(**kw), backbone=lm)
    everything = concatenate_datasets([train, *tests.values()])
    feats = cache_pawn_features(everything, extractor, tokenizer, batch_size=64)
    cuts = np.cumsum([0, len(train), *(len(t) for t in tests.values())])
    parts = {name: feats.select(range(cuts[i + 1], cuts[i + 2])) for i, name in enumerate(tests)}
    train_feats = feats.select(range(cuts[0], cuts[1]))
    scores = {name: {} for name in tests}
    for name, aggregation in (("PAWN", "pawn"), ("MPN", "mpn")):
        torch.manual_seed(seed)
        detector = PawnForSequenceClassification(PawnConfig(**kw, aggregation=aggregation), backbone=lm)
        fit_metric_normalization(train_feats, detector)
        fit_pawn_head(detector, train_feats, seed=seed, **{k: v for k, v in s["train"].items()})
        for test in tests:
            scores[test][name] = predict_logits(detector, parts[test]).numpy()
    minilm_kw = {k: s["minilm"][k] for k in ("epochs", "batch_size", "learning_rate", "max_length")}
    minilm = train_minilm_detector(train["text"], train["label"], seed=seed, **minilm_kw)
    out = {}
    for test, data in tests.items():
        scores[test]["MiniLM"] = minilm(data["text"])
        rows = parts[test].with_format("torch")["metrics"]
        scores[test]["mean log-probability"] = zero_shot_scores(rows, extractor.config.metrics, "mean_log_prob")
        labels = np.array(data["label"])
        out[test] = {name: auroc(v, labels) for name, v in scores[test].items()}
        for a, b in (("PAWN", "MPN"), ("PAWN", "MiniLM")):
            n = s["document_bootstrap_samples"]
            out[test][f"{a} − {b} interval"] = paired_auroc_interval(scores[test][a], scores[test][b], labels, n, seed)
    return out
