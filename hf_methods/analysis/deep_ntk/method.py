"""The catalogue record of `deep_ntk` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="deep_ntk",
    paper_id="P29",
    title="Wide and Deep Neural Networks Achieve Optimality for Classification",
    arxiv="2204.14126",
    official_code=None,
    kind="analysis",
    tags=("ntk", "kernel-methods", "theory"),
    entry_points=(
        "hf_methods.analysis.deep_ntk:DeepNTKClassifier",
        "hf_methods.analysis.deep_ntk:ntk_kernel",
        "hf_methods.analysis.deep_ntk:DualActivation",
        "hf_methods.analysis.deep_ntk:hermite_dual",
        "hf_methods.analysis.deep_ntk:depth_limit_agreement",
        "hf_methods.analysis.deep_ntk:DepthLimitAgreement",
        "hf_methods.analysis.deep_ntk:empirical_ntk_convergence",
        "hf_methods.analysis.deep_ntk:nearest_neighbor_predict",
        "hf_methods.analysis.deep_ntk:majority_vote_predict",
        "hf_methods.analysis.deep_ntk:singular_kernel_predict",
    ),
    recipe="recipes/deep_ntk.py",
    claim=(
        "Infinitely wide and deep NTK classifiers implement 1-NN, majority vote or a singular kernel classifier "
        "depending on ξ = ψ'(1) of the activation's dual; on PCA-10 digits on the sphere (5 splits) the check asserts "
        "≥97% agreement with 1-NN (ξ = 2.5, ψ'(0) = 0, depth 100) and with the majority vote (ξ = 0.75 at depth 200; "
        "ξ = 0.5 at depth 50), ≥95% agreement of the depth-500 ReLU NTK with the best singular kernel classifier, and "
        "that the empirical NTK of width-4096 ReLU nets is within 5% of the closed form, the error shrinking with width."
    ),
    venue="PNAS 2023",
    usage=(
        "import numpy as np\n"
        "from hf_methods.analysis.deep_ntk import DeepNTKClassifier, depth_limit_agreement, ntk_kernel\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)\n"
        "X = X / np.linalg.norm(X, axis=1, keepdims=True)                   # inputs on the unit sphere\n"
        'K = ntk_kernel(X, depth=10, activation="relu")                      # closed-form NTK / its diagonal\n'
        "clf = DeepNTKClassifier(depth=100, hermite_coeffs=[0, 0.5**0.5, 0.5**0.5]).fit(X[:40], y[:40])\n"
        "clf.predict(X[40:]), clf.score(X[40:], y[40:])\n"
        'res = depth_limit_agreement(X[:40], y[:40], X[40:], depths=[1, 10, 100], activation="relu")\n'
        "res.agreement_1nn, res.agreement_majority, res.agreement_singular, res.best_alpha"
    ),
    notes=(
        "The paper has no official code; the NTK is the standard recursion for bias-free networks in the NTK "
        "parameterisation on the unit sphere (Σ⁰ = xᵀz, Σˡ = ψ(Σˡ⁻¹), Kˡ = Kˡ⁻¹ψ'(Σˡ⁻¹) + Σˡ), divided by its "
        "diagonal at every layer (which changes no classifier on the sphere). The exact conditions of the paper's "
        "theorems were not checked against its text: in our own analysis and runs, ξ > 1 gives 1-NN only when ψ' "
        "vanishes at the attracting fixed point (e.g. a_0 = a_1 = 0); with a_1 ≠ 0 (e.g. a_1² = a_2² = 1/2) the deep "
        "classifier is a singular kernel classifier of finite order. For ξ < 1 the kernel becomes constant to within "
        "float64, so the majority vote observed is the floating-point limit. When ψ(0) = 0 the recursion runs on signs "
        "and log-magnitudes (entries fall below the smallest float64 long before their ratios stop mattering); with "
        "ψ'(0) = 0 too, log-magnitudes grow like 2ᴸ and leave float64 near L ≈ 800 (a RuntimeWarning says so). "
        "Correlations within 1e-12 of ±1 are snapped to ±1 (ρ = 1 repels rounding errors when ξ > 1). The claim "
        "measures agreement at fixed depths, not the limit itself."
    ),
)
