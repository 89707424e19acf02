"""Lottery jackpots (P49, Zhang et al., TPAMI 2023): search a sparse mask inside a pretrained model, weights frozen.

`apply_jackpot_masks(model, JackpotMaskConfig(sparsity=0.9))` freezes the model and puts a magnitude-initialised,
score-driven mask on every `nn.Linear`/`nn.Conv` weight; `JackpotSearchTrainer` (or `training.search_jackpot`) trains
the scores and swaps mask entries under the short restriction after every optimizer step; `bake_jackpot` writes
`m ⊙ W` as plain weights so the model saves and reloads with plain transformers.
"""

from hf_methods.lazy import lazy_exports

__all__ = [
    "JackpotMask",
    "JackpotMaskConfig",
    "JackpotSearchTrainer",
    "apply_jackpot_masks",
    "bake_jackpot",
    "disable_jackpot_masks",
    "jackpot_masks",
    "jackpot_sparsity",
    "jackpot_swap",
    "jackpot_weights",
    "load_jackpot_masks",
    "save_jackpot_masks",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "JackpotMask": ".model",
        "JackpotMaskConfig": ".model",
        "apply_jackpot_masks": ".model",
        "bake_jackpot": ".model",
        "disable_jackpot_masks": ".model",
        "load_jackpot_masks": ".model",
        "jackpot_masks": ".model",
        "jackpot_sparsity": ".model",
        "jackpot_swap": ".model",
        "jackpot_weights": ".model",
        "save_jackpot_masks": ".model",
        "JackpotSearchTrainer": ".trainer",
    },
)
