"""Loki (Roberts et al., NeurIPS 2023): predict with the Fréchet mean of a classifier's distribution under a metric on
the label space, instead of argmax — classes the model never saw become predictable, with no training.

- `LokiPredictor` (`.predict(probs)`, `.predict_logits(logits)`, `save_pretrained`/`from_pretrained`),
  `frechet_variance_scores`, `expected_squared_distance`, `loki_compute_metrics` (a Trainer `compute_metrics`);
- label metrics: `line_sq_dist`, `discrete_sq_dist`, `graph_sq_dist`, `embedding_sq_dist`;
- `LokiLogitsProcessor` / `loki_generate` (the rule at every greedy decoding step), `LokiTextClassificationPipeline`.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LokiPredictor": ".prediction",
        "frechet_variance_scores": ".prediction",
        "expected_squared_distance": ".prediction",
        "loki_compute_metrics": ".prediction",
        "line_sq_dist": ".label_metrics",
        "discrete_sq_dist": ".label_metrics",
        "graph_sq_dist": ".label_metrics",
        "embedding_sq_dist": ".label_metrics",
        "validate_sq_dist": ".label_metrics",
        "LokiLogitsProcessor": ".generation",
        "LokiTextClassificationPipeline": ".generation",
        "loki_generate": ".generation",
    },
)
