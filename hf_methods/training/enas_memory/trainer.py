"""`ENASTrainer`: ENAS's alternating search inside `transformers.Trainer`.

The `Trainer` trains the shared weights ω (its `model` is the [`ENASSupernet`]): every training step samples a cell
from the search's sampler and takes the optimizer step on that cell's cross-entropy (the child phase). Every
`controller_every` optimizer steps a callback runs `controller_steps` controller updates of [`ENASSearch`] (the
controller phase: REINFORCE with a moving-average baseline and an entropy bonus, plus the memory-buffer terms when the
search has a buffer). The controller, its Adam state, the baseline, the memory buffer and the search's generator are
saved in every checkpoint and restored by `train(resume_from_checkpoint=...)`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .search import ENASSearch


class _ControllerPhase(TrainerCallback):
    """Runs the trainer's controller phase every `controller_every` optimizer steps."""

    def __init__(self, trainer: ENASTrainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.trainer.controller_every == 0:
            self.trainer.controller_phase()
        return control


class ENASTrainer(ExtraStateCheckpointMixin, Trainer):
    """`transformers.Trainer` that trains an [`ENASSupernet`] on sampled cells and the ENAS controller between steps.

    Args:
        search ([`ENASSearch`]): the search; `model` must be its `supernet`. The controller stays on the CPU (it is
            small, and its sampling generator is a CPU generator); the rewards are computed on the model's device.
        reward_data (`tuple[torch.Tensor, torch.Tensor]`): validation `(pixel_values, labels)` the rewards are measured
            on (never the training set: the reward must measure generalisation, as ENAS's validation perplexity).
        controller_every (`int`, defaults to 50): optimizer steps between two controller phases.
        controller_steps (`int`, defaults to 30): controller updates per phase.
        reward_batch_size (`int`, defaults to 256): validation examples per reward.
        *args, **kwargs: passed to `transformers.Trainer` (batches need `pixel_values` and `labels`).

    Example:

    ```python
    >>> search = ENASSearch(ENASController(ENASConfig()), supernet, memory_buffer_size=256)
    >>> trainer = ENASTrainer(model=supernet, args=args, train_dataset=train, search=search, reward_data=(x_val, y_val))
    >>> trainer.train()
    >>> best = search.best_model((x_val, y_val))
    ```
    """

    extra_state_file = "enas_search_state.pt"
    extra_state_description = "the ENAS controller, its optimizer, the reward baseline and the memory buffer"
    loss_is_scaled_for_ga = False  # the loss is a per-batch mean

    def __init__(
        self,
        *args,
        search: ENASSearch,
        reward_data: tuple[torch.Tensor, torch.Tensor],
        controller_every: int = 50,
        controller_steps: int = 30,
        reward_batch_size: int = 256,
        **kwargs,
    ):
        if not isinstance(search, ENASSearch):
            raise TypeError(f"search must be an ENASSearch, got {type(search).__name__}")
        if isinstance(controller_every, bool) or not isinstance(controller_every, int) or controller_every < 1:
            raise ValueError(f"controller_every must be an int >= 1, got {controller_every!r}")
        if isinstance(controller_steps, bool) or not isinstance(controller_steps, int) or controller_steps < 0:
            raise ValueError(f"controller_steps must be an int >= 0, got {controller_steps!r}")
        if not (isinstance(reward_data, (tuple, list)) and len(reward_data) == 2):
            raise TypeError("reward_data must be a (pixel_values, labels) pair of tensors")
        super().__init__(*args, **kwargs)
        if self.model is not search.supernet:
            raise ValueError("model must be search.supernet: the Trainer trains the search's shared weights")
        self.search = search
        self.controller_every = controller_every
        self.controller_steps = controller_steps
        device = self.args.device
        x, y = (t.to(device) for t in reward_data)
        self.reward_fn = search.reward_function(x, y, batch_size=reward_batch_size)
        self.add_callback(_ControllerPhase(self))

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        if inputs.get("labels") is None:
            raise ValueError("ENASTrainer needs a 'labels' column in every batch")
        # child phase: this minibatch trains the cell drawn from the search's sampler (π_θ, or uniform)
        self.accelerator.unwrap_model(model).set_architecture(self.search.sample_architecture())
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        return (loss, outputs) if return_outputs else loss

    def controller_phase(self) -> dict[str, float]:
        """`controller_steps` controller updates; logs and returns their mean statistics."""
        steps = [self.search.controller_step(self.reward_fn) for _ in range(self.controller_steps)]
        steps = [s for s in steps if s]
        if not steps:
            return {}
        stats = {f"controller/{k}": sum(s[k] for s in steps) / len(steps) for k in steps[0]}
        if self.args.logging_strategy != "no":
            self.log(stats)
        return stats

    def extra_state_module(self) -> nn.Module:
        return self.search.state


__all__ = ["ENASTrainer"]
