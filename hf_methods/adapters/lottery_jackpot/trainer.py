"""`JackpotSearchTrainer`: a `transformers.Trainer` that searches jackpot masks (scores only, weights frozen)."""

from __future__ import annotations

from transformers import Trainer, TrainerCallback

from hf_methods.adapters.lottery_jackpot.model import _jackpot_modules, jackpot_swap


class _SwapAfterOptimizerStep(TrainerCallback):
    def __init__(self, trainer: JackpotSearchTrainer):
        self.trainer = trainer

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.trainer.swaps.append(jackpot_swap(self.trainer.model))


class JackpotSearchTrainer(Trainer):
    """Trains the scores of a model prepared with `apply_jackpot_masks` and applies the short-restriction mask swap
    after every optimizer step (the paper's search; the official code calls it after `optimizer.step()`).

    Only the scores are in the optimizer (the pretrained weights are frozen, so weight decay never reaches them);
    `self.swaps` holds the number of weights swapped at each step.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not _jackpot_modules(self.model):
            raise ValueError("JackpotSearchTrainer needs a model prepared with apply_jackpot_masks")
        trainable = [n for n, p in self.model.named_parameters() if p.requires_grad]
        others = [n for n in trainable if not n.endswith(".scores")]
        if others:
            raise ValueError(f"only the jackpot scores may be trainable; these are too: {others[:5]}")
        self.swaps: list[int] = []
        self.add_callback(_SwapAfterOptimizerStep(self))
