"""Autoregressive partially-hidden Markov models: "Autoregressive Hidden Markov Models with partial knowledge on
latent space applied to aero-engines prognostics" (Juesas, Ramasso, Drujont, Placet, PHME 2016).

Exports are lazy: the modeling module (a `PreTrainedModel`) is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ARPHMMConfig": ".configuration_arphmm",
        "ARPHMMModel": ".modeling_arphmm",
        "ARPHMMPreTrainedModel": ".modeling_arphmm",
        "ARPHMMOutput": ".modeling_arphmm",
        "make_run_to_failure": ".data",
        "soft_plausibilities": ".data",
        "RunToFailure": ".data",
        "ARPHMMArguments": ".training",
    },
)
