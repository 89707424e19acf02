"""P29 `deep_ntk`: wide and deep NTK classifiers and their infinite-depth limits (Radhakrishnan, Belkin & Uhler, PNAS
2023, "Wide and Deep Neural Networks Achieve Optimality for Classification").

```python
from hf_methods.analysis.deep_ntk import DeepNTKClassifier, depth_limit_agreement, ntk_kernel

K = ntk_kernel(X, depth=10, activation="relu")              # closed-form NTK, rows of X on the unit sphere
clf = DeepNTKClassifier(depth=100, hermite_coeffs=[0, 0.5**0.5, 0.5**0.5]).fit(X, y)   # ξ = ψ'(1) = 1.5
res = depth_limit_agreement(X, y, X_test, depths=[1, 10, 100], hermite_coeffs=[0, 0.5**0.5, 0.5**0.5])
res.agreement_1nn, res.agreement_majority, res.agreement_singular   # per depth
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DUAL_ACTIVATIONS": ".kernels",
        "DualActivation": ".kernels",
        "depth_regime": ".kernels",
        "erf_dual": ".kernels",
        "get_dual_activation": ".kernels",
        "hermite_dual": ".kernels",
        "ntk_kernel": ".kernels",
        "ntk_kernel_layers": ".kernels",
        "relu_dual": ".kernels",
        "sphere_normalize": ".kernels",
        "DeepNTKClassifier": ".classifier",
        "majority_vote_predict": ".classifier",
        "nearest_neighbor_predict": ".classifier",
        "singular_kernel_predict": ".classifier",
        "DEFAULT_ALPHAS": ".analysis",
        "DepthLimitAgreement": ".analysis",
        "NTKMLP": ".analysis",
        "WidthConvergence": ".analysis",
        "depth_limit_agreement": ".analysis",
        "empirical_ntk_convergence": ".analysis",
        "ntk_mlp": ".analysis",
        "plot_depth_limits": ".analysis",
        "plot_width_convergence": ".analysis",
        "DeepNTKArguments": ".training",
        "SavableClassifier": ".training",
        "sphere_digits": ".training",
    },
)
