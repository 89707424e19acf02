"""The catalogue record of `loki` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="loki",
    paper_id="P64",
    title="Geometry-Aware Adaptation for Pretrained Models",
    arxiv="2307.12226",
    official_code="SprocketLab/loki",
    kind="generation",
    tags=("prediction-rule", "label-metric", "zero-shot"),
    entry_points=(
        "hf_methods.generation.loki:LokiPredictor",
        "hf_methods.generation.loki:frechet_variance_scores",
    ),
    recipe="recipes/loki.py",
    claim=(
        "Replacing argmax by the Fréchet mean over a label metric lets a classifier predict unseen classes and "
        "lowers the expected squared distance (up to 29.7% over SimCLR on ImageNet); on a 20-class line metric "
        "trained on even classes only the check asserts ≥10% lower E[d²] and ≥0.2 accuracy on the unseen classes."
    ),
    venue="NeurIPS 2023",
    usage=(
        "loki = LokiPredictor(sq_dist=D2, observed=obs_ids)\n"
        "y_hat = loki.predict(model(**batch).logits.softmax(-1))"
    ),
)
