"""The catalogue record of `weight_compander` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="weight_compander",
    paper_id="P10",
    title="Weight Compander: A Simple Weight Reparameterization for Regularization",
    arxiv="2306.16993",
    official_code=None,
    kind="adapters",
    tags=("regularization", "reparameterization", "weights"),
    entry_points=(
        "hf_methods.adapters.weight_compander:WeightCompanderConfig",
        "hf_methods.adapters.weight_compander:get_weight_compander_model",
        "hf_methods.adapters.weight_compander:apply_weight_compander",
        "hf_methods.adapters.weight_compander:remove_weight_compander",
    ),
    recipe="recipes/weight_compander.py",
    claim=(
        "Reparameterising every weight through a saturating compander improves CNN generalisation on top of "
        "standard regularisation; the CPU check asserts bounded, odd, monotone effective weights, exact baking "
        "and ≥30% fewer near-zero weights, and that digits accuracy is within 0.005 of the baseline (gain "
        "reported only)."
    ),
    venue="IJCNN 2023",
    usage=(
        "model = apply_weight_compander(model, modules=(nn.Linear, nn.Conv2d), learnable=True)\n"
        "...  # train as usual\n"
        "remove_weight_compander(model); model.save_pretrained('out')"
    ),
    notes="No official code: the compander's closed form is a reconstruction from the paper text until confirmed.",
)
