"""`transformers.Trainer` for QST: `save_model` and every checkpoint write the QST format, and resuming reads it.

`Trainer` hands `save_pretrained` only to a `PreTrainedModel` or a PEFT model; any other module, `QSTModel` among
them, gets its `state_dict()` (the side network only) written as `model.safetensors` without the QST config: a plain
`Trainer` resumes from such checkpoints, and `QSTModel.from_pretrained(base, folder, config=qst_config)` reads them
given the config. `QSTTrainer` writes the self-describing QST format instead: saving goes through `QSTModel.save_pretrained` (`qst_config.json` +
`qst_model.safetensors`, side network only) and loading a checkpoint (resume, `load_best_model_at_end`) reads
`qst_model.safetensors` back into the side network. Everything else is `Trainer`'s own.

```python
from transformers import TrainingArguments
from hf_methods.adapters.qst import QSTTrainer

trainer = QSTTrainer(model=qst_model, args=TrainingArguments("out", max_steps=100), train_dataset=train_ds)
trainer.train()                   # out/checkpoint-*/ hold qst_config.json + qst_model.safetensors (+ optimizer state)
trainer.save_model("out/final")   # QSTModel.from_pretrained(base, "out/final")
```
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import Trainer
from transformers.trainer import TRAINING_ARGS_NAME

from .config import WEIGHTS_NAME
from .model import QSTModel


class QSTTrainer(Trainer):
    """A `transformers.Trainer` whose saved models and checkpoints are QST side networks (see the module docstring).

    Takes `Trainer`'s arguments; `model` should be a `QSTModel` (any other model is handled as by `Trainer`).
    """

    def _qst_model(self, model=None) -> QSTModel | None:
        unwrapped = self.accelerator.unwrap_model(model if model is not None else self.model)
        return unwrapped if isinstance(unwrapped, QSTModel) else None

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        model = self._qst_model()
        if model is None:
            return super()._save(output_dir, state_dict=state_dict)
        if not self.args.should_save:
            return None
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        model.save_pretrained(output_dir, state_dict=state_dict)
        tokenizer = self.processing_class
        if tokenizer is None:
            tokenizer = getattr(self.data_collator, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))
        return None

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        qst_model = self._qst_model(model)
        if qst_model is None:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        if not (Path(resume_from_checkpoint) / WEIGHTS_NAME).is_file():
            raise ValueError(f"no {WEIGHTS_NAME} in {resume_from_checkpoint}: not a QSTTrainer checkpoint")
        qst_model.load_side_weights(resume_from_checkpoint)
        return None

    def _load_best_model(self) -> None:
        qst_model = self._qst_model()
        if qst_model is None:
            return super()._load_best_model()
        qst_model.load_side_weights(self.state.best_model_checkpoint)
        return None


__all__ = ["QSTTrainer"]
