"""LightHuBERT (P07): "LightHuBERT: Lightweight and Configurable Speech Representation Learning with Once-for-All
Hidden-Unit BERT" (Wang, Bai, Zhou, Chen, Li, Zhang, Lin; Interspeech 2022; arXiv 2203.15610).

A HuBERT-style encoder with per-layer widths (`LightHuBERTModel`, Auto classes, remote code), the once-for-all
supernet in which all subnets of a search space are nested (`LightHuBERTSupernet`: `set_subnet`, `sample_subnet`,
`extract_subnet`), the two-stage distillation `Trainer` and the training pieces of the recipe and the claim check.
Exports are lazy.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LightHuBERTConfig": ".configuration_lighthubert",
        "LightHuBERTModel": ".modeling_lighthubert",
        "LightHuBERTPreTrainedModel": ".modeling_lighthubert",
        "LightHuBERTOutput": ".modeling_lighthubert",
        "masked_prediction_loss": ".modeling_lighthubert",
        "LightHuBERTSupernet": ".supernet",
        "OnceForAllDistillationTrainer": ".trainer",
        "LightHuBERTArguments": ".training",
        "LightHuBERTMaskingCollator": ".training",
        "distill_supernet": ".training",
        "evaluate_subnets": ".training",
        "lighthubert_feature_extractor": ".training",
        "synthetic_speech": ".training",
        "tiny_hubert_teacher": ".training",
        "toy_supernet_config": ".training",
    },
)
