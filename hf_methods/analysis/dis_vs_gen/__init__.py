"""Discriminative vs generative linear-evaluation heads (Zheng et al., ICML 2023): naive Bayes reaches its asymptotic
error with O(log n) samples, logistic regression with O(n).

- `GaussianNBHead`: multiclass Gaussian naive Bayes with a pooled diagonal variance, fitted in one pass, mergeable,
  convertible to an `nn.Linear` head;
- `linear_eval`, `sample_complexity_curve` (→ `SampleComplexityCurve` with `save_plot`), `samples_to_reach`,
  `extract_features` (frozen features of a transformers model), `gaussian_mixture` (the paper's simulation).
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "GaussianNBHead": ".naive_bayes",
        "linear_eval": ".analysis",
        "sample_complexity_curve": ".analysis",
        "samples_to_reach": ".analysis",
        "extract_features": ".analysis",
        "gaussian_mixture": ".analysis",
        "LinearEvalResult": ".analysis",
        "SampleComplexityCurve": ".analysis",
    },
)
