"""The catalogue record of `terminator` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="terminator",
    paper_id="P02",
    title="HyperZ·Z·W Operator Connects Slow-Fast Networks for Full Context Interaction",
    arxiv="2401.17948",
    official_code="hyperevolnet/Terminator",
    kind="models",
    tags=("architecture", "hyper-kernels", "implicit-mlp", "vision"),
    entry_points=(
        "hf_methods.models.terminator:TerminatorConfig",
        "hf_methods.models.terminator:TerminatorModel",
        "hf_methods.models.terminator:TerminatorForImageClassification",
        "hf_methods.models.terminator:HyperZZWGlobal",
        "hf_methods.models.terminator:HyperZZWLocal",
        "hf_methods.models.terminator:MAGNetKernel",
        "hf_methods.models.terminator:slow_neural_loss",
    ),
    recipe="recipes/terminator.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.terminator.configuration_terminator:TerminatorConfig",
        "AutoModel": "hf_methods.models.terminator.modeling_terminator:TerminatorModel",
        "AutoModelForImageClassification": (
            "hf_methods.models.terminator.modeling_terminator:TerminatorForImageClassification"
        ),
    },
    claim=(
        "The Terminator slow-fast network (HyperZ·Z·W, no residuals) is claimed competitive on pixel-level and "
        "image classification with fewer parameters; the CPU check trains a 2-block Terminator (channels 1-8-16, "
        "about 40k parameters) and a plain CNN of the same size on 8×8 digits with AdamW (lr 3e-3, 460 steps, 3 "
        "seeds) and asserts Terminator test accuracy ≥ 0.93 and ≥ the CNN's − 0.02 (paired on seeds), and a slow "
        "loss lower in the last logging window than in the first; the operator properties (linearity in Z, "
        "zero-mean standardised features, context-dependent local kernels, ≤ 60k parameters) are checked too."
    ),
    usage=(
        "import tempfile\n"
        "\n"
        "import torch\n"
        "from PIL import Image\n"
        "from transformers import pipeline\n"
        "\n"
        "from hf_methods import TerminatorConfig, TerminatorForImageClassification\n"
        "from hf_methods.models.terminator.training import terminator_image_processor\n"
        "\n"
        "config = TerminatorConfig(image_size=8, channels=[1, 8, 16])  # two SFNE blocks, 1 → 8 → 16 channels\n"
        "model = TerminatorForImageClassification(config)\n"
        "pixel_values, labels = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])\n"
        "out = model(pixel_values, labels=labels)  # out.loss = cross-entropy + λ·out.slow_loss\n"
        "out.loss.backward()\n"
        "with tempfile.TemporaryDirectory() as folder:  # model, remote code and image processor\n"
        "    model.save_pretrained(folder)\n"
        "    terminator_image_processor(config).save_pretrained(folder)\n"
        "    classify = pipeline('image-classification', model=folder)\n"
        "    print(classify(Image.new('L', (8, 8))))"
    ),
    notes=(
        "Built from the paper and the public part of the official code; the public snapshot lacks `g_ibs.py` and "
        "`linear.py`, so the block-output standardisation G-IBS is a reconstruction (group standardisation over "
        "gcd(12, C) channel groups, per sample, no affine) and the 'Linear' layers are 1×1 convolutions / "
        "linear maps. Deviations for batch independence: the local slow networks build one kernel per sample "
        "(the official code averages the context over the batch) and the local branches use instance instead of "
        "batch standardisation. Blocks keep the full resolution (no down-sampling), a global average pool and a "
        "linear layer form the head (the official network file is a placeholder). Kar3 is replaced by AdamW with a "
        "warmup-cosine schedule; the 1e-6 Ln penalty on slow-net weights and label smoothing (0.09) are not applied "
        "by default (`label_smoothing` is a config field). Initialisation follows the official code (Gamma-scaled "
        "sine filters, hidden biases one, output layer scaled by sqrt(1/K^d))."
    ),
)
