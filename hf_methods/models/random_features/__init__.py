"""Bandlimited random-feature networks: "How Powerful are Shallow Neural Networks with Bandlimited Random Weights?"
(Li, Sonoda, Cao, Wang, Liang, ICML 2023).

Exports are lazy: the modeling module (a `PreTrainedModel`) is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RandomFeatureConfig": ".configuration_random_features",
        "RandomFeatureModel": ".modeling_random_features",
        "RandomFeaturePreTrainedModel": ".modeling_random_features",
        "RandomFeatureOutput": ".modeling_random_features",
        "bandwidth_sweep": ".sweep",
        "SweepResult": ".sweep",
        "sinusoid_target": ".sweep",
    },
)
