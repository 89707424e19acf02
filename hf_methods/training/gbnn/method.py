"""The catalogue record of `gbnn` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="gbnn",
    paper_id="P11",
    title="Sequential Training of Neural Networks with Gradient Boosting",
    arxiv="1909.12098",
    official_code="GAA-UAM/GBNN",
    kind="training",
    tags=("gradient-boosting", "tabular", "mlp"),
    entry_points=("hf_methods.training.gbnn:GradientBoostedMLPTrainer",),
    recipe="recipes/gbnn.py",
    claim=(
        "Training hidden units by gradient boosting is competitive with Adam/L-BFGS-trained MLPs and tolerates "
        "switching off the last-trained units; the CPU check asserts the assembled MLP equals the boosting "
        "decision function and that GBNN is within 0.02 accuracy (1.1x RMSE) of an Adam MLP on four sklearn "
        "datasets."
    ),
    usage=(
        "model = GradientBoostedMLPTrainer(total_units=100).fit(X_train, y_train)  # returns a PreTrainedModel\n"
        "model.truncate_hidden(75)"
    ),
)
