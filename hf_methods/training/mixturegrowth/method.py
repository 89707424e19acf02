"""The catalogue record of `mixturegrowth` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="mixturegrowth",
    paper_id="P58",
    title="MixtureGrowth: Growing Neural Networks by Recombining Learned Parameters",
    arxiv="2311.04251",
    official_code="chaudatascience/mixturegrowth",
    kind="training",
    tags=("network-growth", "parameter-templates", "efficiency"),
    entry_points=(
        "hf_methods.training.mixturegrowth:TemplateMixingConfig",
        "hf_methods.training.mixturegrowth:TemplateMixingMLP",
        "hf_methods.training.mixturegrowth:grow_mixture",
        "hf_methods.training.mixturegrowth:GrowthCallback",
        "hf_methods.training.mixturegrowth:members_loss",
        "hf_methods.training.mixturegrowth:orthogonal_coefficients",
    ),
    recipe="recipes/mixturegrowth.py",
    auto_classes={
        "AutoConfig": "hf_methods.training.mixturegrowth.configuration_mixturegrowth:TemplateMixingConfig",
        "AutoModel": "hf_methods.training.mixturegrowth.modeling_mixturegrowth:TemplateMixingMLP",
    },
    claim=(
        "Growing a network by recombining trained parameter templates beats earlier growth methods by 2–2.5% "
        "top-1 and matches a large net trained from scratch; on a 20-class make_classification task the check "
        "asserts MixtureGrowth is ≥0.1 more accurate than random-init growth right after growing and no more than "
        "0.005 worse after fine-tuning (10 seeds), and that zero new coefficients reproduce the members' summed logits."
    ),
    venue="WACV 2024",
    usage=(
        "import torch\n"
        "from transformers import AutoModel\n"
        "\n"
        "from hf_methods import TemplateMixingConfig, TemplateMixingMLP, grow_mixture\n"
        "\n"
        "config = TemplateMixingConfig(input_size=64, hidden_sizes=[64, 64], num_labels=10)  # a half-width member\n"
        "small0, small1 = TemplateMixingMLP(config), TemplateMixingMLP(config)  # train both (Trainer or a loop)\n"
        'big = grow_mixture(small0, small1, coefs="orthogonal")  # width 128: new blocks mix the learned templates\n'
        "logits = big(pixel_values=torch.rand(4, 64)).logits  # (4, 10); keep training `big`\n"
        'big.save_pretrained("mixturegrowth-grown")\n'
        'reloaded = AutoModel.from_pretrained("mixturegrowth-grown")  # import hf_methods registers the Auto classes'
    ),
    notes=(
        "An MLP version of the official template-mixing WRN (bias-free TemplateLinear layers, BatchNorm1d, ReLU). "
        "Growth follows the official 'diag' layout [[W0, W2], [W3, W1]] with the default member_template_sets "
        "[0, 1, 0, 1]; 'orthogonal' takes alpha_2 = last right-singular vector of [alpha_0; alpha_1] and alpha_3 = "
        "that of [alpha_0; alpha_1; alpha_2] (the official code path for template_size [0.5, 1]; with the scripts' "
        "[0.5, 0.5, 1] the official code leaves alpha_2 at its initial value), the sign fixed so the largest entry "
        "is positive. Templates are Kaiming-initialised with the block's fan-in (the official code's kaiming_normal_ "
        "on the stacked templates uses out*in as fan-in). A two-member model trains both members side by side with "
        "the sum of their cross-entropies (exactly independent training; the official code trains them one after "
        "the other), so growth is in place and GrowthCallback needs no new optimizer; batch norm needs no change "
        "at growth because the members' per-feature statistics already form the grown layer's. 'random_init' "
        "(new blocks from new random templates) is this library's random-initialised growth baseline; the "
        "official 'random' draws new coefficients over the learned templates."
    ),
)
