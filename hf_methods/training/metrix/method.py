"""The catalogue record of `metrix` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="metrix",
    paper_id="P57",
    title="It Takes Two to Tango: Mixup for Deep Metric Learning",
    arxiv="2106.04990",
    official_code="billpsomas/Metrix_ICLR22",
    kind="training",
    tags=("metric-learning", "mixup", "data-augmentation"),
    entry_points=(
        "hf_methods.training.metrix:metrix_loss",
        "hf_methods.training.metrix:MetrixLoss",
        "hf_methods.training.metrix:MetrixTrainer",
        "hf_methods.training.metrix:utilization",
    ),
    recipe="recipes/metrix.py",
    claim=(
        "Metrix (mixup of examples and pair targets for metric learning) improves R@1 over the base losses on "
        "four retrieval benchmarks; on a zero-shot digits split the check asserts the λ=0/1 limits exactly and a "
        "≥0.01 unseen R@1 gain with a lower utilization distance (margin uncertain)."
    ),
    venue="ICLR 2022",
    usage=(
        "import torch\n"
        "from hf_methods.common.metric_learning import contrastive_loss\n"
        "from hf_methods.training.metrix import MetrixLoss, metrix_loss, utilization\n\n"
        "emb, y = torch.randn(32, 16, requires_grad=True), torch.arange(32) % 4\n"
        "loss = contrastive_loss(emb, y) + metrix_loss(emb, y, level='embedding', alpha=2.0, weight=0.4)\n"
        "loss = MetrixLoss(base='multisimilarity', seed=0)(emb, y)  # base loss + Metrix term, seeded λ draws\n"
        "loss.backward()\n"
        "u = utilization(emb.detach()[:24], emb.detach()[24:])  # test → nearest train distance\n"
        "# inputs / features: MetrixTrainer(model=..., args=..., train_dataset=...,\n"
        "#                                 loss=MetrixLoss(level='feature'), feature_module='mlp.layers')"
    ),
    notes=(
        "Pair mining is re-implemented (the shared pair masks) instead of depending on pytorch-metric-learning. "
        "Losses use cosine similarity in the sum-over-pairs form of the shared contrastive loss (ρ⁺ = 1 − s, "
        "ρ⁻ = [s − 0.5]₊), while the official code uses Euclidean distances between normalised embeddings and "
        "averages the non-zero pair losses (AvgNonZeroReducer), so the Metrix term's weight relative to the clean "
        "loss differs from the official one. Positive-negative mixes average over all positives of an anchor "
        "(the official code always takes its first positive in batch order); anchor-negative mixes involve only "
        "anchors without a positive in the batch, as in the official code; λ ~ Beta(2, 2) and the pairing are "
        "drawn once per step; weights 0.4, and 0.3 for anchor-negative pairs of embeddings. Input-level mixing uses "
        "each positive pair with the anchor's hardest negative (top_k = 1), feature and embedding levels all "
        "negatives. Mixed pairs reuse the anchors' clean embeddings (the official code embeds them again). "
        "Bases: contrastive and multi-similarity (the paper's generic form); ProxyAnchor is not implemented. "
        "Utilization is written from the paper's definition (no official code): mean Euclidean distance of "
        "L2-normalised test embeddings to the nearest training embedding."
    ),
)
