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
        "hf_methods.adapters.lottery_jackpot:apply_jackpot_masks",
        "hf_methods.adapters.lottery_jackpot:JackpotSearchTrainer",
    ),
    recipe="recipes/lottery_jackpot.py",
    claim=(
        "Pretrained models contain sparse masks ('jackpots') that keep accuracy without any weight training, "
        "found cheaply from a magnitude initialisation; on a 95%-pruned digits MLP the check asserts the score "
        "search regains ≥0.3 over magnitude pruning to within 0.03 of dense, at exact sparsity with bit-identical "
        "weights."
    ),
    venue="TPAMI 2023",
    usage=(
        "model = apply_jackpot_masks(pretrained, JackpotMaskConfig(sparsity=0.9))\n"
        "JackpotSearchTrainer(model=model, args=args, train_dataset=ds).train()"
    ),
)
