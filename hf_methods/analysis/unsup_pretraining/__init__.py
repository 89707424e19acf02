"""The provable advantage of unsupervised pretraining (Ge, Tang, Fan & Jin, ICLR 2024), as a measuring tool.

- `MLEPretrainThenERM`: maximum-likelihood pretraining of a latent-variable model (factor analysis or a Gaussian
  mixture, through scikit-learn) on unlabelled data, then ERM of a downstream predictor on its representation;
  `FactorRegressionModel`, the fitted factor-model estimator as a torch module (`to_module()`, Hub mixin);
- `excess_risk_curve` (the paper's factor-model instance, excess risk against its closed-form Bayes predictor),
  `heldout_risk_curve` (the same comparison on your own data, by test MSE) → `ExcessRiskCurve` with `save_plot`;
- `factor_model`, `two_cluster_mixture`, `loglog_slope`.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MLEPretrainThenERM": ".estimator",
        "FactorRegressionModel": ".estimator",
        "ExcessRiskCurve": ".analysis",
        "FactorModel": ".analysis",
        "excess_risk_curve": ".analysis",
        "heldout_risk_curve": ".analysis",
        "factor_model": ".analysis",
        "two_cluster_mixture": ".analysis",
        "loglog_slope": ".analysis",
    },
)
