"""`hf_methods.common.evaluation.accuracy` against a plain loop."""

import pytest
import torch
from torch import nn

from hf_methods.common.evaluation import accuracy


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.dropout = nn.Dropout(0.5)

    def forward(self, pixel_values):
        return {"logits": self.linear(self.dropout(pixel_values))}


def test_accuracy_matches_a_loop_and_restores_the_mode():
    torch.manual_seed(0)
    model = _Linear().train()
    x, y = torch.randn(37, 4), torch.randint(0, 3, (37,))
    model.eval()
    expected = sum(int(model(x[i : i + 1])["logits"].argmax(-1).item() == y[i].item()) for i in range(37)) / 37
    model.train()
    assert accuracy(model, x, y, batch_size=5) == pytest.approx(expected)
    assert model.training  # eval inside, train mode restored


def test_accuracy_errors():
    model = _Linear()
    with pytest.raises(ValueError, match="same length"):
        accuracy(model, torch.zeros(3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        accuracy(model, torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), batch_size=0)
