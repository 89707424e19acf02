"""The catalogue record of `filter_db` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="filter_db",
    paper_id="P30",
    title="CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters",
    arxiv="2203.15331",
    official_code="paulgavrikov/CNN-Filter-DB",
    kind="analysis",
    tags=("cnn", "filters", "distribution-shift", "model-quality"),
    entry_points=(
        "hf_methods.analysis.filter_db:measure_conv_quality",
        "hf_methods.analysis.filter_db:filter_distribution_shift",
    ),
    recipe="recipes/filter_db.py",
    claim=(
        "Trained 3×3 filter distributions shift little across datasets but vary with depth, and many pretrained "
        "models contain degenerate layers; the check asserts the quality metrics on constructed layers (random, "
        "copied and 40% zero filters) and that seed-to-seed filter shift is smaller than first-to-last-layer "
        "shift."
    ),
    venue="CVPR 2022",
    usage=(
        "q = measure_conv_quality(model)  # {layer: sparsity, variance_entropy, orthogonality}\n"
        "d = filter_distribution_shift(filters_a, filters_b)  # PCA-KL"
    ),
)
