"""A `transformers.Trainer` mixin that keeps one more module's state in every checkpoint.

Some training methods carry state outside the model and the optimizer: a loss's running per-example weights, a
running normaliser, a random generator. `Trainer` checkpoints only the model, optimizer, scheduler, RNG and trainer
state, so without this a resumed run would restart that state from scratch and train differently from an
uninterrupted one. [`ExtraStateCheckpointMixin`] writes `state_dict()` of the module its trainer names next to the
checkpoint's other files and loads it back in `resume_from_checkpoint`.

Example:

```python
>>> class MyTrainer(ExtraStateCheckpointMixin, Trainer):
...     extra_state_file = "my_loss_state.pt"
...     extra_state_description = "the loss's running weights"
...     def extra_state_module(self):
...         return self.loss_fn
```
"""

from __future__ import annotations

import os

import torch
from torch import nn


class ExtraStateCheckpointMixin:
    """Saves `extra_state_module().state_dict()` in each checkpoint folder and restores it on resume.

    Class attributes:
        extra_state_file (`str`): the file name inside the checkpoint folder.
        extra_state_description (`str`): what the state is, for the error raised when a checkpoint lacks it.

    A subclass implements `extra_state_module()` and may override `extra_state_required()` (default: required
    whenever the module has state) — a checkpoint without the file then raises `FileNotFoundError` instead of
    silently resuming with fresh state. The state is loaded with `weights_only=True` (tensors only, no pickled code).
    """

    extra_state_file: str = "extra_state.pt"
    extra_state_description: str = "the trainer's extra state"

    def extra_state_module(self) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement extra_state_module()")

    def extra_state_required(self) -> bool:
        return bool(self.extra_state_module().state_dict())

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        state = self.extra_state_module().state_dict()
        if state and self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            torch.save(state, os.path.join(folder, self.extra_state_file))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, self.extra_state_file)
        if os.path.isfile(path):
            state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only
            self.extra_state_module().load_state_dict(state)
        elif self.extra_state_required():
            raise FileNotFoundError(
                f"{resume_from_checkpoint} has no {self.extra_state_file}: cannot restore {self.extra_state_description}"
            )
