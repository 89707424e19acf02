"""`hf_methods.common.distill`: the distillation losses against plain formulas, the teacher–student Trainer."""

import math

import pytest
import torch
from torch import nn

from hf_methods.common.distill import TeacherStudentTrainer, attention_transfer_loss, soft_target_kl


def test_soft_target_kl_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    temperature = 3.0
    expected = []
    for row_s, row_t in zip(s.tolist(), t.tolist()):
        zs = [math.exp(v / temperature) for v in row_s]
        zt = [math.exp(v / temperature) for v in row_t]
        ps, pt = [v / sum(zs) for v in zs], [v / sum(zt) for v in zt]
        expected.append(temperature**2 * sum(b * math.log(b / a) for a, b in zip(ps, pt)))
    got = soft_target_kl(s, t, temperature=temperature, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert soft_target_kl(t, t).abs() < 1e-12


def test_attention_transfer_matches_the_formula():
    g = torch.Generator().manual_seed(1)
    a, b = (
        torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64),
        torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64),
    )
    expected = []
    for i in range(2):
        qa = (a[i] ** 2).sum(0).flatten()
        qb = (b[i] ** 2).sum(0).flatten()
        expected.append((qa / qa.norm() - qb / qb.norm()).norm().item())
    got = attention_transfer_loss(a, b, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_errors():
    with pytest.raises(ValueError, match="same shape|of one shape"):
        soft_target_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        soft_target_kl(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0)
    with pytest.raises(ValueError, match="same spatial size"):
        attention_transfer_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 2, 2))
    with pytest.raises(ValueError, match="reduction must be"):
        soft_target_kl(torch.zeros(2, 3), torch.zeros(2, 3), reduction="max")


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, pixel_values):
        return {"logits": self.linear(pixel_values)}


class _KD(TeacherStudentTrainer):
    def distillation_loss(self, outputs, teacher_outputs, inputs):
        return soft_target_kl(outputs["logits"], teacher_outputs["logits"], temperature=2.0)


def test_trainer_moves_the_student_toward_a_frozen_teacher(tmp_path):
    from datasets import Dataset
    from transformers import TrainingArguments

    torch.manual_seed(0)
    teacher, student = _Net(), _Net()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    data = Dataset.from_dict({"pixel_values": torch.rand(32, 4).tolist(), "labels": [0] * 32})
    x = torch.tensor(data["pixel_values"])
    gap_before = soft_target_kl(student(x)["logits"], teacher(x)["logits"], temperature=2.0).item()
    args = TrainingArguments(
        str(tmp_path),
        max_steps=30,
        learning_rate=0.1,
        report_to=[],
        use_cpu=True,
        per_device_train_batch_size=8,
        save_strategy="no",
    )
    trainer = _KD(model=student, teacher=teacher, args=args, train_dataset=data)
    trainer.train()
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
    assert soft_target_kl(student(x)["logits"], teacher(x)["logits"], temperature=2.0).item() < gap_before / 2
    with pytest.raises(ValueError, match="separate model"):
        _KD(model=student, teacher=student, args=args, train_dataset=data)
    with pytest.raises(TypeError, match="teacher must be an nn.Module"):
        _KD(model=student, teacher="teacher", args=args, train_dataset=data)
