"""The catalogue record of `monotone_dbm` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="monotone_dbm",
    paper_id="P32",
    title="Monotone deep Boltzmann machines",
    arxiv="2307.04990",
    official_code="locuslab/MonotoneDBM",
    kind="models",
    tags=("boltzmann-machine", "mean-field", "deep-equilibrium"),
    entry_points=(
        "hf_methods.models.monotone_dbm:MonotoneDBMConfig",
        "hf_methods.models.monotone_dbm:MonotoneDBMModel",
        "hf_methods.models.monotone_dbm:ProxSoftmax",
        "hf_methods.models.monotone_dbm:fit_monotone_dbm",
    ),
    auto_classes={
        "AutoConfig": "hf_methods.models.monotone_dbm.configuration_monotone_dbm:MonotoneDBMConfig",
        "AutoModel": "hf_methods.models.monotone_dbm.modeling_monotone_dbm:MonotoneDBMModel",
    },
    recipe="recipes/monotone_dbm.py",
    claim=(
        "Monotone DBMs allow intra-layer connections with a guaranteed unique mean-field fixed point, enabling "
        "joint completion and classification; on binarised digits the check asserts prox-softmax correctness, "
        "fixed-point uniqueness where naive mean-field fails, ≥75% label accuracy and completion ≥5 points above "
        "a per-pixel marginal baseline."
    ),
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods.models.monotone_dbm import MonotoneDBMConfig, MonotoneDBMModel\n"
        "\n"
        "# 64 binary pixels (8x8), a hidden layer of 8 groups of 8 states, a 10-way label\n"
        "model = MonotoneDBMModel(MonotoneDBMConfig(group_counts=[64, 8, 1], group_sizes=[2, 8, 10]))\n"
        "pixels = torch.randint(0, 2, (4, 64))  # bin indices (or floats in [0, 1])\n"
        "observed = torch.rand(4, 64) < 0.4  # clamp 40% of the pixels, infer the rest and the label\n"
        "out = model(pixels, observed_mask=observed)\n"
        "out.label_marginals.shape, out.pixel_marginals.shape  # (4, 10), (4, 64, 2)"
    ),
    notes=(
        "Dense form: a dense coupling matrix A over all groups stands in for the official multi-tier hollow "
        "convolutions (8x8 digits). The bias is a free vector (the official code normalises it and scales it by a "
        "learnable gain). The fixed point is found by plain damped forward-backward splitting with per-sample "
        "stopping (no Anderson acceleration), the implicit backward by fixed-point iteration on the VJP; the "
        "prox is solved by nested Newton iterations (the official code uses Halley's method for the inner "
        "Lambert-W equation)."
    ),
)
