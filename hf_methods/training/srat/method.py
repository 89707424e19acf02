"""The catalogue record of `srat` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="srat",
    paper_id="P13",
    title="Imbalanced Adversarial Training with Reweighting",
    arxiv="2107.13639",
    official_code=None,
    kind="training",
    tags=("adversarial-training", "class-imbalance", "reweighting"),
    entry_points=(
        "hf_methods.training.srat:SeparableReweightedATLoss",
        "hf_methods.training.srat:SRATTrainer",
        "hf_methods.training.srat:DeferredReweighting",
        "hf_methods.training.srat:effective_number_weights",
        "hf_methods.training.srat:feature_separation_loss",
    ),
    recipe="recipes/srat.py",
    claim=(
        "SRAT's reweighting plus feature-separation loss improves minority-class robust accuracy over reweighted "
        "adversarial training on imbalanced data; on step-imbalanced digits (classes 5-9 keep 15 training images) "
        "with PGD-ℓ∞ training (ε = 0.15) the check asserts over 5 seeds a higher Fisher ratio and a lower separation "
        "loss of the adversarial test features than AT with deferred effective-number reweighting, and a separation "
        "loss that falls in training (hard), and +0.02 minority / −0.02 majority PGD-20 robust accuracy (soft)."
    ),
    usage=(
        "import tempfile\n"
        "\n"
        "import torch\n"
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import DeferredReweighting, SeparableReweightedATLoss, SRATTrainer\n"
        "from hf_methods.common.adversarial import PGDConfig\n"
        "from hf_methods.common.mlp import MLPConfig, MLPForImageClassification\n"
        "\n"
        "# an imbalanced toy set: class 0 has 48 examples, class 1 has 16\n"
        "x, y = torch.rand(64, 16), torch.tensor([0] * 48 + [1] * 16)\n"
        "schedule = DeferredReweighting(class_counts=[48, 16], kind='effective_num', drw_start=1)\n"
        "loss = SeparableReweightedATLoss(separation_weight=1.0, temperature=0.1)(\n"
        "    torch.randn(8, 2), torch.randn(8, 32), y[40:48], class_weights=schedule.weights_at(epoch=1)\n"
        ")  # on any (logits, penultimate features, labels)\n"
        "\n"
        'train_set = Dataset.from_dict({"pixel_values": x.tolist(), "labels": y.tolist()})\n'
        "model = MLPForImageClassification(MLPConfig(input_size=16, hidden_sizes=[32], num_labels=2))\n"
        "args = TrainingArguments(tempfile.mkdtemp(), num_train_epochs=2, per_device_train_batch_size=16, report_to=[])\n"
        "trainer = SRATTrainer(model=model, args=args, train_dataset=train_set,\n"
        "                      attack=PGDConfig(eps=0.1, steps=3), class_weights='effective_num', drw_start=1)\n"
        "trainer.train()  # DRW: unweighted in epoch 0, effective-number weights from epoch 1"
    ),
    notes=(
        "No official code found: the separation loss is a reconstruction from the paper's text, as a "
        "supervised-contrastive loss (Khosla et al., 2020) on the L2-normalised penultimate features of the PGD "
        "examples of the batch; its weight λ = 1 and temperature τ = 0.1 are this library's defaults, not values "
        "confirmed from the paper. Class weights are the effective-number weights of Cui et al. (β = 0.9999) or "
        "inverse frequencies, normalised to sum to the number of classes and applied with deferred re-weighting "
        "(Cao et al.); the weighted cross-entropy (or focal loss) is averaged over the batch, not divided by the "
        "batch's sum of weights as torch's weighted cross-entropy is. LDAM as the reweighted loss is not provided. "
        "The trainer attacks with the model in eval mode and takes the features as the input of the head "
        "(`feature_module='classifier'`). The CPU check uses a ReLU MLP 64-256-256-10 with AdamW, not the paper's "
        "ResNet-18 on CIFAR-10/SVHN."
    ),
)
