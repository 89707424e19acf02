"""The catalogue record of `lottery_jackpot` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="lottery_jackpot",
    paper_id="P49",
    title="Lottery Jackpots Exist in Pre-trained Models",
    arxiv="2104.08700",
    official_code="zyxxmu/lottery-jackpots",
    kind="adapters",
    tags=("pruning", "lottery-ticket", "masks", "sparsity"),
    entry_points=(
        "hf_methods.adapters.lottery_jackpot:JackpotMaskConfig",
        "hf_methods.adapters.lottery_jackpot:JackpotMask",
        "hf_methods.adapters.lottery_jackpot:apply_jackpot_masks",
        "hf_methods.adapters.lottery_jackpot:JackpotSearchTrainer",
        "hf_methods.adapters.lottery_jackpot:jackpot_swap",
        "hf_methods.adapters.lottery_jackpot:jackpot_masks",
        "hf_methods.adapters.lottery_jackpot:jackpot_weights",
        "hf_methods.adapters.lottery_jackpot:jackpot_sparsity",
        "hf_methods.adapters.lottery_jackpot:save_jackpot_masks",
        "hf_methods.adapters.lottery_jackpot:load_jackpot_masks",
        "hf_methods.adapters.lottery_jackpot:disable_jackpot_masks",
        "hf_methods.adapters.lottery_jackpot:bake_jackpot",
    ),
    recipe="recipes/lottery_jackpot.py",
    claim=(
        "Pretrained models contain sparse masks ('jackpots') that keep accuracy without any weight training, "
        "found cheaply from a magnitude initialisation (ResNet-50, 90% sparse: > 70% ImageNet top-1 after 5 search "
        "epochs); the CPU check prunes a pretrained digits MLP's hidden layers 95% (classifier 50%) by magnitude and "
        "asserts, over 10 seeds, that the score search regains ≥ 0.30 test accuracy over magnitude pruning and ends "
        "within 0.03 of dense, at exact sparsity with bit-identical weights; the fraction of weights kept, measured "
        "from the saved baked model, is recorded."
    ),
    venue="TPAMI 2023",
    usage=(
        "import torch\n"
        "from datasets import Dataset\n"
        "from transformers import AutoModelForCausalLM, TrainingArguments\n"
        "from hf_methods.adapters.lottery_jackpot import (\n"
        "    JackpotMaskConfig, JackpotSearchTrainer, apply_jackpot_masks, bake_jackpot, jackpot_sparsity,\n"
        "    save_jackpot_masks)\n"
        "from hf_methods.common.tiny import tiny_llama\n"
        "\n"
        "pretrained = tiny_llama(seed=0)  # any transformers model; its Linear/Conv weights get masks\n"
        "model = apply_jackpot_masks(pretrained, JackpotMaskConfig(sparsity=0.9, exclude=('lm_head',)))\n"
        "ids = torch.randint(3, 259, (32, 16), generator=torch.Generator().manual_seed(0))\n"
        "ds = Dataset.from_dict({'input_ids': ids.tolist(), 'labels': ids.tolist()})\n"
        "args = TrainingArguments('out/jackpot', max_steps=5, learning_rate=0.1, report_to=[], save_strategy='no')\n"
        "JackpotSearchTrainer(model=model, args=args, train_dataset=ds).train()  # scores only; weights frozen\n"
        "print(jackpot_sparsity(model)['kept_fraction'])\n"
        "save_jackpot_masks(model, 'out/jackpot')             # the masks alone (masks.safetensors)\n"
        "bake_jackpot(model).save_pretrained('out/jackpot')   # plain weights m * W\n"
        "AutoModelForCausalLM.from_pretrained('out/jackpot')  # reloads without hf-methods"
    ),
    notes=(
        "Masks are torch.nn.utils.parametrize parametrizations (JackpotMask: a binary mask buffer and a score "
        "Parameter), so the module keeps its frozen weight under parametrizations.weight.original. Forward m ⊙ W; "
        "straight-through gradient ∂L/∂s = ∂L/∂(m ⊙ W) ⊙ W. Initial scores 1 (kept) / 0.99 (pruned), so the "
        "initial mask is the magnitude mask. After every optimizer step (JackpotSearchTrainer: a callback on "
        "on_optimizer_step; plain loops: jackpot_swap) the short restriction as in the official utils/conv_type.py: "
        "τ = k-th smallest score (k = #pruned), revive {m=0, s>τ} and drop {m=1, s≤τ} are swapped only when both "
        "are non-empty and equally large (they differ only under ties at τ), so sparsity is exact. The official "
        "ordered-swap schedule rate = ceil((1 − e/T)^4) equals 1 during training and is not implemented. "
        "layerwise='l1' uses one global |W| threshold over the covered layers (official `layerwise: l1`), "
        "'uniform' the same rate per layer; layer_sparsity overrides single layers and exclude leaves layers dense "
        "(the official code leaves the final classifier dense; the digits check prunes it 50%). Only the scores "
        "are trainable, so weight decay never reaches the pretrained weights. bake_jackpot writes m ⊙ W as plain "
        "weights for save_pretrained/from_pretrained without hf-methods; the masks alone save as "
        "masks.safetensors (uint8) and re-apply with load_jackpot_masks."
    ),
)
