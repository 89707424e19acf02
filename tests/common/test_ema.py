"""`hf_methods.common.ema`: the EMA teacher follows θ_t ← m θ_t + (1 − m) θ_s, also inside a Trainer."""

import pytest
import torch

from hf_methods.common.ema import EMACallback, ema_teacher


def test_update_is_the_moving_average():
    student = torch.nn.Linear(3, 2)
    teacher = ema_teacher(student, momentum=0.9)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    teacher.update_parameters(student)  # the first call copies the student (AveragedModel's convention)
    teacher.update_parameters(student)
    for pt, ps in zip(teacher.module.parameters(), student.parameters()):
        torch.testing.assert_close(pt, ps)  # twice the same student: the average stays on it
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    before = [p.detach().clone() for p in teacher.module.parameters()]
    teacher.update_parameters(student)
    for pb, pt, ps in zip(before, teacher.module.parameters(), student.parameters()):
        torch.testing.assert_close(pt, 0.9 * pb + 0.1 * ps)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_callback_updates_after_each_step():
    student = torch.nn.Linear(3, 2)
    teacher = ema_teacher(student, momentum=0.5)
    callback = EMACallback(teacher)
    callback.on_step_end(None, None, None, model=student)
    assert int(teacher.n_averaged) == 1


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="momentum"):
        ema_teacher(torch.nn.Linear(2, 2), momentum=1.0)
    with pytest.raises(TypeError, match="nn.Module"):
        ema_teacher("model")
    with pytest.raises(TypeError, match="ema_teacher"):
        EMACallback(torch.nn.Linear(2, 2))
