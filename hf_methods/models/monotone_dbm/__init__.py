"""Monotone deep Boltzmann machines: "Monotone deep Boltzmann machines" (Feng, Winston, Kolter, 2023).

Exports are lazy: the modeling module (a `PreTrainedModel`) is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MonotoneDBMConfig": ".configuration_monotone_dbm",
        "MonotoneDBMModel": ".modeling_monotone_dbm",
        "MonotoneDBMPreTrainedModel": ".modeling_monotone_dbm",
        "MonotoneDBMOutput": ".modeling_monotone_dbm",
        "ProxSoftmax": ".modeling_monotone_dbm",
        "prox_softmax": ".modeling_monotone_dbm",
        "naive_mean_field": ".training",
        "fit_monotone_dbm": ".training",
        "evaluate_monotone_dbm": ".training",
        "MonotoneDBMArguments": ".training",
    },
)
