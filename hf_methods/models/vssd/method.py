"""The catalogue record of `vssd` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="vssd",
    paper_id="P03",
    title="VSSD: Vision Mamba with Non-Casual State Space Duality",
    arxiv="2407.18559",
    official_code="YuHengsss/VSSD",
    kind="models",
    tags=("state-space-model", "mamba", "vision", "linear-attention"),
    entry_points=(
        "hf_methods.models.vssd:VSSDConfig",
        "hf_methods.models.vssd:VSSDModel",
        "hf_methods.models.vssd:VSSDForImageClassification",
        "hf_methods.models.vssd:NonCausalSSD",
        "hf_methods.models.vssd:non_causal_ssd",
    ),
    recipe="recipes/vssd.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.vssd.configuration_vssd:VSSDConfig",
        "AutoModel": "hf_methods.models.vssd.modeling_vssd:VSSDModel",
        "AutoModelForImageClassification": "hf_methods.models.vssd.modeling_vssd:VSSDForImageClassification",
    },
    claim=(
        "VSSD's non-causal state space duality beats earlier SSM vision backbones (ImageNet-1K Tiny 83.6%); the "
        "CPU check verifies NC-SSD against its O(L²) reference, its non-causality and token-permutation "
        "equivariance, and asserts ≥0.93 digits accuracy of a tiny hybrid VSSD, with the non-causal mixer no worse "
        "than Mamba2's causal SSD − 0.005 (soft)."
    ),
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import NonCausalSSD, VSSDConfig, VSSDForImageClassification\n"
        "\n"
        "# a tiny hybrid VSSD for 8×8 grayscale images: NC-SSD stage at 8×8, attention stage at 4×4\n"
        "config = VSSDConfig(embed_dim=32, depths=[1, 1], num_heads=[2, 4], image_size=8, patch_size=1,\n"
        "                    num_channels=1, num_labels=10)\n"
        "model = VSSDForImageClassification(config)\n"
        "out = model(pixel_values=torch.rand(4, 1, 8, 8), labels=torch.tensor([0, 1, 2, 3]))\n"
        "print(out.loss, out.logits.shape)  # cross-entropy, (4, 10)\n"
        "\n"
        "# the NC-SSD mixer alone, on 64 tokens of a 8×8 grid: linear cost in the number of tokens\n"
        "mixer = NonCausalSSD(hidden_size=32, num_heads=2, state_size=16)\n"
        "y = mixer(torch.randn(2, 64, 32), height=8, width=8)  # (2, 64, 32)"
    ),
    notes=(
        "Pure-torch NC-SSD path only: the official code's `mamba_ssm` Triton paths (causal and bidirectional SSD "
        "ablations) are not ported; `ssd_mode='causal'` is Mamba2's causal SSD written in its quadratic masked form "
        "(a reference, O(L²)). The stem and patch merging normalise with a channel LayerNorm by default "
        "(`conv_norm='layer_norm'`; the official BatchNorm is `conv_norm='batch_norm'`) so that a training step "
        "leaves no running statistics behind and predictions do not depend on the batch. `patch_size` 1 or 2 makes "
        "the official two stride-2 stem convolutions stride 1 (for 8×8 images). With `ssd_ngroups` > 1, head h "
        "reads group h mod G, as the official NC-SSD does. The default Tiny config has the official 24.27M "
        "parameters."
    ),
)
