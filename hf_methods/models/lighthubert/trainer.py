"""Two-stage once-for-all distillation of a LightHuBERT supernet as a `transformers.Trainer` (Wang et al.,
Interspeech 2022, §2).

The official repository releases the model, the supernet and the subnet search but not the distillation training
code; this trainer is reconstructed from the paper's description:

- **stage 1 (pre-distillation)**: the whole supernet (its max subnet) learns to predict the teacher's last hidden
  states at masked frames;
- **stage 2 (once-for-all)**: before every optimisation step a subnet is drawn uniformly per dimension from the
  search space and trained with the same loss; the shared weights receive the gradients of each drawn slice.

The loss is [`masked_prediction_loss`]: mean squared error on masked frames (plus `config.unmasked_loss_weight` times
that on unmasked frames). Subnets are drawn from `random.Random(hash of (subnet_seed, global step))`, so a resumed run
draws the same subnets; after `train()` the supernet is left at its max subnet (no sampling outside training steps).
"""

from __future__ import annotations

import random
from typing import Any

from hf_methods.common.distill import TeacherStudentTrainer

from .modeling_lighthubert import masked_prediction_loss
from .supernet import LightHuBERTSupernet


def subnet_rng(seed: int, step: int) -> random.Random:
    """The random source of the subnet drawn at optimisation `step` of a run seeded with `seed`."""
    return random.Random(seed * 1_000_003 + step)


class OnceForAllDistillationTrainer(TeacherStudentTrainer):
    r"""
    Distils a teacher's last hidden states into a [`LightHuBERTSupernet`] (stage 1: the max subnet; stage 2: a
    random subnet per step).

    The batches carry `input_values` and `mask_time_indices` (see `LightHuBERTMaskingCollator`); the teacher
    (e.g. a `transformers.HubertModel`) sees the unmasked waveforms and must return `last_hidden_state` of shape
    `(batch, frames, config.teacher_hidden_size)`.

    Args:
        teacher (`nn.Module`): the frozen teacher.
        stage (`int`, defaults to 2): 1 (pre-distillation of the max subnet) or 2 (once-for-all).
        subnet_seed (`int`, *optional*): seed of the subnet draws (defaults to `args.seed`).
        *args, **kwargs: passed to `transformers.Trainer` (`model` must be a [`LightHuBERTSupernet`]).
    """

    teacher_ignore_columns = ("labels", "mask_time_indices")

    def __init__(self, *args, teacher, stage: int = 2, subnet_seed: int | None = None, **kwargs):
        if stage not in (1, 2):
            raise ValueError(f"`stage` must be 1 (pre-distillation) or 2 (once-for-all), got {stage!r}.")
        model = kwargs.get("model", args[0] if args else None)
        if not isinstance(model, LightHuBERTSupernet):
            raise TypeError(f"`model` must be a LightHuBERTSupernet, got {type(model).__name__}.")
        if model.prediction_head is None:
            raise ValueError("the supernet needs a prediction head: set `teacher_hidden_size` in its config.")
        super().__init__(*args, teacher=teacher, **kwargs)
        self.stage = stage
        self.subnet_seed = self.args.seed if subnet_seed is None else subnet_seed

    def _supernet(self) -> LightHuBERTSupernet:
        return self.accelerator.unwrap_model(self.model)

    def training_step(self, model, inputs: dict[str, Any], num_items_in_batch=None):
        supernet = self._supernet()
        if self.stage == 1:
            supernet.set_subnet(supernet.max_subnet)
        else:
            supernet.sample_subnet(subnet_rng(self.subnet_seed, self.state.global_step))
        return super().training_step(model, inputs, num_items_in_batch)

    def distillation_loss(self, outputs, teacher_outputs, inputs: dict[str, Any]):
        targets = teacher_outputs.last_hidden_state
        return masked_prediction_loss(
            outputs.predictions,
            targets,
            inputs.get("mask_time_indices"),
            unmasked_weight=self._supernet().config.unmasked_loss_weight,
        )

    def train(self, *args, **kwargs):
        try:
            return super().train(*args, **kwargs)
        finally:
            supernet = self._supernet()
            supernet.set_subnet(supernet.max_subnet)


__all__ = ["OnceForAllDistillationTrainer", "subnet_rng"]
