"""The catalogue record of `rd_pruning` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="rd_pruning",
    paper_id="P38",
    title="Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
    arxiv="2308.10438",
    official_code="Akimoto-Cris/RD_VIT_PRUNE",
    kind="adapters",
    tags=("pruning", "rate-distortion", "sparsity"),
    entry_points=(
        "hf_methods.adapters.rd_pruning:RDLayerAdaptivePruner",
        "hf_methods.adapters.rd_pruning:PruneAndFinetuneCallback",
    ),
    recipe="recipes/rd_pruning.py",
    claim=(
        "Layer-wise rate-distortion curves with a DP allocation prune better than other layer-adaptive methods "
        "(+1.0% ResNet-32 on CIFAR-10, +4.6% ResNet-50 on ImageNet); on a digits MLP the check asserts distortion "
        "additivity, that the DP equals brute force, and at 90% sparsity without fine-tuning ≥ uniform + 5 points."
    ),
    venue="ICCV 2023",
    usage=(
        "pruner = RDLayerAdaptivePruner(model, calib_dl, levels=50, worst_case=True)\n"
        "amounts = pruner.allocate(target_sparsity=0.9); pruner.apply(amounts)"
    ),
)
