"""The catalogue record of `ponita` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="ponita",
    paper_id="P52",
    title="Fast, Expressive SE(n) Equivariant Networks through Weight-Sharing in Position-Orientation Space",
    arxiv=None,
    official_code="ebekkers/ponita",
    kind="models",
    tags=("equivariance", "point-clouds", "geometric-deep-learning"),
    entry_points=(
        "hf_methods.models.ponita:PonitaConfig",
        "hf_methods.models.ponita:PonitaModel",
    ),
    recipe="recipes/ponita.py",
    claim=(
        "Weight sharing over position-orientation space gives fast, expressive SE(n)-equivariant networks "
        "competitive with steerable models (rMD17, N-body, QM9); the check asserts exact SE(3) invariance and "
        "equivariance in point-cloud mode and that on a 5-particle N-body task PONITA halves an MLP's error and "
        "beats constant velocity (margins unverified)."
    ),
    venue="ICLR 2024",
    usage=(
        "config = PonitaConfig(input_dim=1, hidden_dim=64, num_layers=4, num_ori=12, output_dim_vec=1)\n"
        "model = PonitaModel(config)\n"
        "out = model(x=x, pos=pos, vec=vel, batch=batch)"
    ),
    notes="Ports the pure-torch ebekkers/ponita-torch (fibre-bundle mode); torch-geometric is not needed.",
)
