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
    ),
    recipe="recipes/deep_ntk.py",
    claim=(
        "Infinitely wide and deep NTK classifiers implement 1-NN, majority vote or singular-kernel (optimal) "
        "classifiers depending on the activation; on PCA digits the check asserts ≥97% agreement with 1-NN and "
        "with majority vote in their regimes and ≥95% with the best singular-kernel classifier for ReLU."
    ),
    venue="PNAS 2023",
    usage="clf = DeepNTKClassifier(depth=200, hermite_coeffs=[0, 0.5**0.5, 0.5**0.5]).fit(X, y); clf.predict(Xt)",
    notes="Theoretical paper without official code: follows the standard NTK recursion, normalised per layer.",
)
