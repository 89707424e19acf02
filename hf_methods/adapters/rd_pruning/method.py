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
        "hf_methods.adapters.rd_pruning:rd_curves",
        "hf_methods.adapters.rd_pruning:dp_allocate",
        "hf_methods.adapters.rd_pruning:output_distortion",
        "hf_methods.adapters.rd_pruning:saved_kept_fraction",
    ),
    recipe="recipes/rd_pruning.py",
    claim=(
        "Per-layer rate–distortion curves, the additivity approximation and an exact DP allocation prune better "
        "than other layer-adaptive methods (+1.0% ResNet-32 on CIFAR-10, +4.6% ResNet-50 on ImageNet); the CPU "
        "check (digits MLP 64-256-256-10, 3 seeds, 90% sparsity without fine-tuning) asserts additivity within 25% "
        "at uniform 50%, the DP equal to brute force on 200 toys, accuracy ≥ uniform + 5 points and ≥ global − 1 "
        "point with lower output distortion than both, and records the fraction kept from the saved files."
    ),
    venue="ICCV 2023",
    usage=(
        "import torch\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n"
        "from hf_methods.adapters.rd_pruning import RDLayerAdaptivePruner\n"
        "\n"
        "model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,\n"
        "                                     num_hidden_layers=2, num_attention_heads=4)).eval()\n"
        "calib = {'input_ids': torch.randint(0, 64, (8, 16))}  # or a DataLoader of such batches\n"
        "pruner = RDLayerAdaptivePruner(model, calib, levels=20, exclude=('lm_head',))\n"
        "amounts = pruner.allocate(target_sparsity=0.5)  # {'model.layers.0.self_attn.q_proj.weight': 0.55, ...}\n"
        "pruner.apply(amounts)  # magnitude masks (torch.nn.utils.parametrize)\n"
        "pruner.bake()          # plain weights: save_pretrained / from_pretrained without hf-methods\n"
        "model.save_pretrained('rd-pruned')"
    ),
    notes=(
        "Curves: only layer l is magnitude-pruned at amounts i/S (S = `levels`, paper 100) and the mean (or, "
        "`worst_case`, the max over samples of the per-sample mean) squared error of the logits measured on the "
        "calibration batches, through torch.func.functional_call so the model is never modified. The DP minimises "
        "Σ δ_l under Σ kept_l ≤ budget (the official code uses equality; with ≤ the solution is the same whenever "
        "curves are non-increasing in kept weights) over exact kept-weight counts (`unit=1`; a larger `unit` "
        "discretises the budget axis for big models, rounding a layer's kept count up so the budget is never "
        "exceeded); ties keep the smaller amount. Masks use hf_methods.common.masks (parametrize) rather than "
        "torch.nn.utils.prune; `bake` writes plain tensors. Iterative pruning (PruneAndFinetuneCallback, a "
        "TrainerCallback): sparsity_t = 1 − (1 − rate)^t, curves re-measured on the pruned model, amounts never "
        "shrink (`min_level` in the DP). Baselines offered: uniform and global magnitude (LAMP/ERK of the official "
        "code are not). No layer sorting by size: the DP is exact in any order."
    ),
)
