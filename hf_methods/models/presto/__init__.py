"""PRESTO: "Predicting Rare Events by Shrinking Towards Proportional Odds" (Faletto & Bien, ICML 2023).

A cumulative-logit model with one slope per category boundary and an L1 penalty on the differences between adjacent
slopes, fitted by a proximal-gradient (FISTA) solver; λ → ∞ gives proportional odds.

Exports are lazy: the modeling module (a `PreTrainedModel`) is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PrestoConfig": ".configuration_presto",
        "PrestoForOrdinalClassification": ".modeling_presto",
        "PrestoPreTrainedModel": ".modeling_presto",
        "PrestoOutput": ".modeling_presto",
        "fista_presto": ".modeling_presto",
        "presto_penalty": ".modeling_presto",
        "PrestoFISTA": ".training",
        "ProximalL1Callback": ".training",
        "PrestoArguments": ".training",
        "presto_cv": ".training",
        "sparse_difference_simulation": ".training",
        "fit_proportional_odds": ".training",
        "logistic_rare_class": ".training",
    },
)
