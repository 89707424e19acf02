"""Exact inductive bias (Boopathy et al., IJCAI 2024): −log P(error ≤ ε) over a hypothesis space, from the test
errors of sampled hypotheses through a fitted scaled non-central χ².

- `inductive_bias_from_errors` (→ `InductiveBias` with `save_plot`), `fit_error_distribution`,
  `ncx2_inductive_bias` (log-CDF, or Sankaran's normal approximation where it underflows);
- hypothesis spaces: `inductive_bias_kernel` / `gp_posterior_errors` (the RBF-GP posterior, exact Cholesky solves),
  `inductive_bias_models` / `model_errors` (any `nn.Module` factory trained from random seeds); `rbf_kernel`,
  `one_hot_targets`.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "InductiveBias": ".estimate",
        "NCX2Fit": ".estimate",
        "fit_error_distribution": ".estimate",
        "inductive_bias_from_errors": ".estimate",
        "ncx2_inductive_bias": ".estimate",
        "gp_posterior_errors": ".spaces",
        "inductive_bias_kernel": ".spaces",
        "inductive_bias_models": ".spaces",
        "model_errors": ".spaces",
        "one_hot_targets": ".spaces",
        "rbf_kernel": ".spaces",
    },
)
