"""The catalogue record of `unsup_pretraining` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="unsup_pretraining",
    paper_id="P36",
    title="On the Provable Advantage of Unsupervised Pretraining",
    arxiv="2303.01566",
    official_code=None,
    kind="analysis",
    tags=("theory", "pretraining", "sample-complexity"),
    entry_points=("hf_methods.analysis.unsup_pretraining:MLEPretrainThenERM",),
    recipe="recipes/unsup_pretraining.py",
    claim=(
        "MLE pretraining on unlabelled data followed by ERM provably beats supervised-only learning when m ≫ n "
        "and the composed class is more complex; on a factor model (d=200, r=5) the check asserts ≤0.3x the "
        "excess risk of ridge at n=20 and 40, roughly 1/n scaling, and that the advantage mostly disappears when "
        "m=n."
    ),
    venue="ICLR 2024",
    usage=(
        "est = MLEPretrainThenERM(latent='factor', r=5).fit_unlabeled(X_u).fit_labeled(X_l, y_l)\n"
        "y_hat = est.predict(X_te)"
    ),
    notes="Theory paper without code; sklearn's FactorAnalysis and GaussianMixture serve as test references.",
)
