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
    entry_points=(
        "hf_methods.training.gbnn:GradientBoostedMLPTrainer",
        "hf_methods.training.gbnn:GradientBoostedMLPConfig",
        "hf_methods.training.gbnn:GradientBoostedMLPModel",
        "hf_methods.training.gbnn:GBNNSquaredLoss",
        "hf_methods.training.gbnn:GBNNLogExponentialLoss",
        "hf_methods.training.gbnn:GBNNMultinomialLoss",
    ),
    recipe="recipes/gbnn.py",
    auto_classes={
        "AutoConfig": "hf_methods.training.gbnn.configuration_gbnn:GradientBoostedMLPConfig",
        "AutoModel": "hf_methods.training.gbnn.modeling_gbnn:GradientBoostedMLPModel",
    },
    claim=(
        "Hidden units trained one at a time by gradient boosting generalise on par with the same network trained end "
        "to end by Adam or L-BFGS, and the last-trained units can be switched off with little loss; the CPU check "
        "(100 logistic units, 5-fold CV x 3 seeds on scikit-learn's breast_cancer, wine, digits and diabetes) "
        "asserts GBNN accuracy >= Adam/L-BFGS - 0.02 on each classification set, diabetes RMSE <= 1.1x theirs, the "
        "assembled network equal to the staged boosting scores (< 1e-5), and that switching off the last 25% of "
        "units costs <= 0.02 accuracy and less than switching off 25% random units of the Adam network."
    ),
    usage=(
        "import torch\n"
        "from sklearn.datasets import load_breast_cancer\n"
        "from transformers import AutoModel\n"
        "\n"
        "from hf_methods import GradientBoostedMLPTrainer\n"
        "\n"
        "x, y = load_breast_cancer(return_X_y=True)\n"
        "x = (x - x.mean(0)) / x.std(0)  # standardised features; integer labels: classification\n"
        "model = GradientBoostedMLPTrainer(total_units=20, eta=0.1, seed=0).fit(x, y)  # a PreTrainedModel\n"
        "logits = model(torch.tensor(x, dtype=torch.float32)).logits  # (569, 2)\n"
        "model.truncate_hidden(15)  # the network after its first 15 boosting steps\n"
        'model.save_pretrained("gbnn-breast-cancer")\n'
        'reloaded = AutoModel.from_pretrained("gbnn-breast-cancer")  # import hf_methods registers the Auto classes'
    ),
    notes=(
        "The inner learner is a one-hidden-layer network fitted by scipy's L-BFGS-B with a hand-written gradient "
        "(the official code fits scikit-learn's MLPRegressor, which uses the same optimiser, Glorot init and "
        "alpha=1e-4 penalty); its squared loss is averaged over examples and summed over outputs. Subsamples and "
        "initialisations come from numpy generators seeded per (seed, step), so fits are reproducible and resumable. "
        "The network stores 2F for the binary log-exponential loss (the x2 of the official to_NN), so its logits "
        "[0, 2F] are ordinary two-class logits; a per-unit buffer of each step's output-bias share makes "
        "truncate_hidden(t*J) return exactly the model after t steps. GBNN is not a transformers.Trainer: it has "
        "no end-to-end gradient descent; GradientBoostedMLPTrainer.fit returns the transformers model. The claim "
        "check uses eta=0.1 (from the official grid; eta=1 diverged on digits) and one fixed setting per method, "
        "where the paper grid-searches hyper-parameters per data set."
    ),
)
