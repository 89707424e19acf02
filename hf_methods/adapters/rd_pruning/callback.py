"""Iterative rate–distortion pruning with fine-tuning in between, as a `transformers.TrainerCallback`.

The paper prunes iteratively: at iteration t the target sparsity is 1 − (1 − r)^t (r = 0.2 in the official
`iterate.py`), the curves are measured again on the current (already pruned, fine-tuned) model, the DP allocates with
every layer's amount at least its previous one, and the model is fine-tuned before the next iteration.
"""

from __future__ import annotations

from transformers import TrainerCallback

from hf_methods.adapters.rd_pruning.pruner import RDLayerAdaptivePruner


class PruneAndFinetuneCallback(TrainerCallback):
    """Prune with [`RDLayerAdaptivePruner`] every `prune_every` optimizer steps, `iterations` times.

    Args:
        pruner: the pruner bound to the model the `Trainer` trains.
        prune_every: optimizer steps of fine-tuning between two pruning iterations.
        iterations: number of pruning iterations (the first one at step 0).
        rate: fraction of the remaining weights pruned per iteration: sparsity_t = 1 − (1 − rate)^t.
        bake_at_end: write the masked weights as plain tensors when training ends (a vanilla checkpoint).
    """

    def __init__(
        self,
        pruner: RDLayerAdaptivePruner,
        *,
        prune_every: int,
        iterations: int,
        rate: float = 0.2,
        bake_at_end: bool = True,
    ):
        if not isinstance(pruner, RDLayerAdaptivePruner):
            raise TypeError(f"pruner must be an RDLayerAdaptivePruner, got {type(pruner).__name__}")
        if isinstance(prune_every, bool) or not isinstance(prune_every, int) or prune_every < 1:
            raise ValueError(f"prune_every must be an int >= 1, got {prune_every!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
        if not 0.0 < rate < 1.0:
            raise ValueError(f"rate must be in (0, 1), got {rate!r}")
        self.pruner, self.prune_every, self.iterations, self.rate = pruner, prune_every, iterations, rate
        self.bake_at_end = bake_at_end
        self.done = 0
        self.history: list[dict] = []

    def sparsity(self, t: int) -> float:
        """The target sparsity of iteration t (1-based): 1 − (1 − rate)^t."""
        return 1.0 - (1.0 - self.rate) ** t

    def prune_once(self) -> dict[str, float]:
        self.done += 1
        self.pruner.compute_rd_curves()
        amounts = self.pruner.allocate(self.sparsity(self.done), monotone=True)
        self.pruner.apply(amounts)
        self.history.append({"iteration": self.done, "sparsity": self.sparsity(self.done), "amounts": amounts})
        return amounts

    def on_train_begin(self, args, state, control, **kwargs):
        if self.done == 0:
            self.prune_once()

    def on_step_end(self, args, state, control, **kwargs):
        if self.done < self.iterations and state.global_step % self.prune_every == 0:
            self.prune_once()

    def on_train_end(self, args, state, control, **kwargs):
        if self.bake_at_end:
            self.pruner.bake()
