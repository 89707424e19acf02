"""The catalogue record of `blindspot` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="blindspot",
    paper_id="P12",
    title="Deep Regression Unlearning",
    arxiv="2210.08196",
    official_code="ayushkumartarun/deep-regression-unlearning",
    kind="training",
    tags=("machine-unlearning", "regression", "privacy"),
    entry_points=(
        "hf_methods.training.blindspot:BlindspotUnlearningTrainer",
        "hf_methods.training.blindspot:BlindspotUnlearningLoss",
        "hf_methods.training.blindspot:blindspot_unlearn",
        "hf_methods.training.blindspot:train_blindspot_model",
        "hf_methods.training.blindspot:gaussian_amnesiac_relabel",
        "hf_methods.training.blindspot:gaussian_amnesiac_unlearn",
    ),
    recipe="recipes/blindspot.py",
    claim=(
        "Blindspot unlearning brings a regression model's forget-set error close to retraining from scratch "
        "(AgeDB forget MAE 21.63 vs gold 24.31) while keeping the retain error; on make_friedman1 the check "
        "asserts Blindspot halves fine-tuning's gap to gold on forget MAE, keeps retain MAE within 1.15x and "
        "brings the regression MIA closer to gold."
    ),
    venue="ICML 2023",
    usage=(
        "import torch\n"
        "from hf_methods import blindspot_unlearn, gaussian_amnesiac_relabel\n"
        "from hf_methods.training.blindspot.training import (\n"
        "    friedman_unlearning_data, regression_mlp, split_mae, train_original)\n"
        "\n"
        "data = friedman_unlearning_data(seed=0, n_samples=1000)  # forget set: the training rows with x_0 < 0.2\n"
        "original = train_original(data, seed=0, epochs=10, lr=0.01)  # an MLP regressor 10-128-128-1\n"
        "# the blindspot proxy (2 epochs on the retain data), then 1 epoch of BlindspotUnlearningTrainer on a copy\n"
        "unlearned = blindspot_unlearn(original, data.forget, data.retain, model_init=regression_mlp,\n"
        "                              activation_layers=['mlp.layers.1', 'mlp.layers.3'], at_beta=50.0)\n"
        "print(split_mae(original, data.test_forget), split_mae(unlearned, data.test_forget))\n"
        "\n"
        "x_train, y_train = data.train  # Gaussian-amnesiac relabelling of the forget rows (they come first)\n"
        "y_amnesiac = gaussian_amnesiac_relabel(y_train, torch.arange(len(y_train)) < len(data.forget[1]))"
    ),
    notes=(
        "The loss is the official c·L_f + (1 − c)·L_r with c recomputed per batch, written as the batch mean of one "
        "term per example (the two are equal). The attention maps use the shared attention transfer of "
        "hf_methods.common.distill: identical to the official map for convolutional activations; for the 2-D "
        "activations of an MLP the map is the normalised squared activation per unit, where the official per-channel "
        "mean would reduce each example to a constant and switch the term off. The official models and the "
        "fine-tune baseline train with Adam on L1; here the original, the retrained (gold) and the fine-tuned models "
        "use the shared SGD/MSE unlearning baselines, while the proxy, Blindspot and Gaussian-amnesiac follow the "
        "official Adam/L1 settings. The CPU check uses make_friedman1 (forget x_0 < 0.2) instead of AgeDB images."
    ),
)
