"""The catalogue record of `shrinkmatch` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="shrinkmatch",
    paper_id="P56",
    title="Shrinking Class Space for Enhanced Certainty in Semi-Supervised Learning",
    arxiv="2308.06777",
    official_code="LiheYoung/ShrinkMatch",
    kind="training",
    tags=("semi-supervised", "pseudo-labeling", "consistency-regularization"),
    entry_points=(
        "hf_methods.training.shrinkmatch:ShrinkMatchTrainer",
        "hf_methods.training.shrinkmatch:FixMatchTrainer",
        "hf_methods.training.shrinkmatch:shrink_loss",
        "hf_methods.training.shrinkmatch:ShrinkLoss",
        "hf_methods.training.shrinkmatch:fixmatch_consistency_loss",
        "hf_methods.training.shrinkmatch:AuxHeadWrapper",
    ),
    recipe="recipes/shrinkmatch.py",
    claim=(
        "Shrinking the class space of uncertain samples lets ShrinkMatch learn from them and beat FixMatch-style "
        "SSL (STL-10 with 40 labels 85.98 vs FlexMatch 70.85); on digits with 3 labels per class the check asserts "
        "the vectorised shrink loss equals the official per-sample loop with the minimal cutoff, no accuracy loss "
        "versus FixMatch (−0.005) and ≥1.5x more unlabelled samples in the loss in the first quarter of training."
    ),
    venue="ICCV 2023",
    usage=(
        "import torch\n"
        "from hf_methods.common.mlp import MLPConfig, MLPForImageClassification\n"
        "from hf_methods.training.shrinkmatch import AuxHeadWrapper, shrink_loss\n"
        "\n"
        "backbone = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[64], num_labels=10))\n"
        "model = AuxHeadWrapper(backbone)  # + head_aux: Linear-BN-LeakyReLU x2 -> Linear(d/4, C)\n"
        "weak, strong = torch.rand(32, 64), torch.rand(32, 64)  # two views of 32 unlabelled digits\n"
        "out = model(pixel_values=torch.cat([weak, strong]), aux_start=32)  # aux head on the strong views\n"
        "probs_weak = out.logits[:32].softmax(-1).detach()\n"
        "loss = shrink_loss(probs_weak, out.aux_logits, threshold=0.2)  # (1/B) Σ p_(1) · CE in the shrunk space\n"
        "# training: ShrinkMatchTrainer(model=model, args=..., train_dataset=labeled, unlabeled_dataset=unlabeled,\n"
        "#                             image_shape=(1, 8, 8));  FixMatchTrainer(...) is the same with the shrink term off\n"
    ),
    notes=(
        "Follows the official CIFAR code (LiheYoung/ShrinkMatch): soft pseudo-labels in the FixMatch term, the shrink "
        "loss on an auxiliary head fed the backbone features of the strong views, both reweightings (p_(1) per sample, "
        "the running certain-sample ratio r̄ overall), the EMA model for evaluation, optional distribution alignment "
        "over a 32-batch queue. Differences: r̄ is one running average over the whole run (the official loop resets "
        "it at the start of every epoch although it checkpoints it); the EMA model is updated after each optimizer "
        "step and averages batch-norm buffers (official: updated before the step, buffers copied); the CPU check "
        "scales both momenta to 0.99 for its 1200-step runs; the strong view is the shared translation + "
        "brightness/contrast + noise + cutout preset (RandAugment has no 8x8 analogue)."
    ),
)
