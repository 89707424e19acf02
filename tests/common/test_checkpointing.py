"""`ExtraStateCheckpointMixin`: extra trainer state saved with each checkpoint and restored on resume."""

import os

import pytest
import torch
from torch import nn

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.checkpointing import ExtraStateCheckpointMixin


class _Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("steps", torch.zeros(()))


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        out = self.linear(x).squeeze(-1)
        return {"loss": (out - labels).pow(2).mean(), "logits": out}


def _trainer(tmp_path, **kwargs):
    from transformers import Trainer, TrainingArguments

    class CountingTrainer(ExtraStateCheckpointMixin, Trainer):
        extra_state_file = "counter.pt"
        extra_state_description = "the step counter"

        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.counter = _Counter()

        def extra_state_module(self):
            return self.counter

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            self.counter.steps += 1
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    torch.manual_seed(0)
    data = TensorDictDataset(x=torch.randn(16, 2), labels=torch.randn(16))
    args = TrainingArguments(
        str(tmp_path),
        max_steps=4,
        save_steps=2,
        per_device_train_batch_size=4,
        remove_unused_columns=False,
        report_to=[],
        use_cpu=True,
        **kwargs,
    )
    return CountingTrainer(model=_Model(), args=args, train_dataset=data, data_collator=collate_batch)


def test_state_is_saved_and_restored(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.train()
    assert trainer.counter.steps.item() == 4
    saved = torch.load(os.path.join(tmp_path, "checkpoint-2", "counter.pt"), weights_only=True)
    assert saved["steps"].item() == 2
    resumed = _trainer(tmp_path)
    resumed.train(resume_from_checkpoint=os.path.join(tmp_path, "checkpoint-2"))
    assert resumed.counter.steps.item() == 4  # 2 restored + 2 trained after the resume, not 2


def test_a_checkpoint_without_the_state_is_refused(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.train()
    os.remove(os.path.join(tmp_path, "checkpoint-2", "counter.pt"))
    with pytest.raises(FileNotFoundError, match="cannot restore the step counter"):
        _trainer(tmp_path).train(resume_from_checkpoint=os.path.join(tmp_path, "checkpoint-2"))
