"""The catalogue record of `random_features` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="random_features",
    paper_id="P01",
    title="How Powerful are Shallow Neural Networks with Bandlimited Random Weights?",
    arxiv="2008.08427",
    official_code=None,
    kind="models",
    tags=("random-features", "approximation-theory", "ridgelet"),
    entry_points=(
        "hf_methods.models.random_features:RandomFeatureConfig",
        "hf_methods.models.random_features:RandomFeatureModel",
        "hf_methods.models.random_features:bandwidth_sweep",
    ),
    recipe="recipes/random_features.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.random_features.configuration_random_features:RandomFeatureConfig",
        "AutoModel": "hf_methods.models.random_features.modeling_random_features:RandomFeatureModel",
    },
    claim=(
        "Random nets whose hidden weights come from a bounded range have a non-zero approximation-error floor and "
        "the adequate range grows with target complexity; the CPU check fits tanh random features to sin(2πkx) "
        "and asserts the error plateaus above 0.5 for λ=1 at any width, falls below 0.01 for λ=16, and that the "
        "smallest sufficient λ is non-decreasing in k."
    ),
    venue="ICML 2023",
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import RandomFeatureConfig, RandomFeatureModel\n"
        "\n"
        "x = torch.linspace(-1, 1, 1000).unsqueeze(-1)  # 1000 points of [-1, 1], shape (n, in_dim)\n"
        "y = torch.sin(2 * torch.pi * 2 * x)  # the target sin(2πkx) with k = 2\n"
        'model = RandomFeatureModel(RandomFeatureConfig(in_dim=1, width=400, bandwidth=16.0, activation="tanh"))\n'
        "train_rel_mse = model.fit_readout(x, y, ridge=1e-6)  # closed-form readout; the hidden weights are frozen buffers\n"
        "predictions = model(torch.rand(5, 1) * 2 - 1).predictions  # shape (5, 1)"
    ),
    notes=(
        "No official code: implemented from the paper's model definition, with a numpy simulation in the tests as "
        "the reference; the thresholds belong to the CPU check, not to figures in the paper."
    ),
)
