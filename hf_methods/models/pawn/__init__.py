"""PAWN (P08): "Not all tokens are created equal: Perplexity Attention Weighted Networks for AI generated text
detection" (Miralles-González, Huertas-Tato, Martín, Camacho; arXiv 2501.03940).

A `transformers` sequence classifier over a frozen causal LM, feature caching with `datasets.map`, the offline
detection data set and the baselines of the claim check. Exports are lazy.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PAWN_METRICS": ".configuration_pawn",
        "PawnConfig": ".configuration_pawn",
        "PawnForSequenceClassification": ".modeling_pawn",
        "PawnPreTrainedModel": ".modeling_pawn",
        "next_token_metrics": ".modeling_pawn",
        "pawn_features": ".modeling_pawn",
        "resolve_backbone_path": ".modeling_pawn",
        "PawnFeatureCollator": ".features",
        "cache_pawn_features": ".features",
        "check_feature_backbone": ".features",
        "fit_metric_normalization": ".features",
        "fit_pawn_head": ".features",
        "predict_logits": ".features",
        "load_pawn_dataset": ".features",
        "detection_metrics": ".baselines",
        "zero_shot_scores": ".baselines",
        "train_minilm_detector": ".baselines",
    },
)
