"""The α-scaled (centred) model and the paper's two-layer network without a readout (Kumar et al., ICLR 2024).

- [`OutputScaledModel`]: wraps any network f(θ, x) as

      f_α(θ, x) = α · (f(θ, x) − f(θ₀, x)),

  the output scaling of Chizat et al. (2019) that the paper uses to set the laziness of training: with the learning
  rate scaled as η ∝ 1/α², the function moves at a speed independent of α while the weights move by O(1/α), so a
  large α trains lazily (the network stays close to its linearisation) and a small α richly (features are learnt).
  Subtracting the frozen initial output f(θ₀, x) makes the model output zero at initialisation (the paper's "centred"
  loss, L = mean_μ (f(x_μ) − f₀(x_μ) − y_μ)²).
- [`FixedReadoutNetwork`]: the paper's polynomial-regression network f(x) = (1/N) Σ_i φ(w_iᵀx) with
  φ(z) = z + (ε/2) z², W ~ N(0, 1) and no trained readout (only W is trained). ε sets how well the initial neural
  tangent kernel aligns with a quadratic target.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.common.ntk import model_output

__all__ = ["FixedReadoutNetwork", "OutputScaledModel"]


class OutputScaledModel(nn.Module):
    """f_α(θ, x) = α · (f(θ, x) − f(θ₀, x)): a network centred at its initial output and scaled by α.

    The wrapped network (`self.model`) is trained; a frozen copy taken at construction (`self.initial_model`, no
    trainable parameters) gives f(θ₀, x), so every parameter with `requires_grad` belongs to the trained network and
    the tangent kernel of this module is α² times the network's. Train it with learning rate η₀/α² for the lazy/rich
    comparison to be meaningful (the paper's η = N/α²).

    Args:
        model (`nn.Module`): the network f(θ, ·) at θ₀; any forward signature (arguments are passed through).
        alpha (`float`): the output scale α > 0 (large → lazy, small → rich).
        output_fn (`Callable`): reads the output tensor from the network's output (default: `.logits` when present).
    """

    def __init__(self, model: nn.Module, alpha: float = 1.0, output_fn: Callable = model_output):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self.alpha = check_number("alpha", alpha, low=0.0, low_open=True)
        self.model = model
        self.initial_model = copy.deepcopy(model)
        for parameter in self.initial_model.parameters():
            parameter.requires_grad_(False)
        self.output_fn = output_fn

    def forward(self, *args, **kwargs) -> torch.Tensor:
        output = self.output_fn(self.model(*args, **kwargs))
        with torch.no_grad():
            initial = self.output_fn(self.initial_model(*args, **kwargs))
        return self.alpha * (output - initial)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"


class FixedReadoutNetwork(nn.Module, PyTorchModelHubMixin):
    """f(x) = (1/N) Σ_{i=1}^N φ(w_iᵀx), φ(z) = z + (ε/2) z², with W ∈ R^{N×D} ~ N(0, 1) and no trained readout.

    Args:
        input_dim (`int`): D.
        width (`int`): N, the number of hidden units.
        epsilon (`float`): ε ≥ 0, the weight of the quadratic part of φ (ε = 0 is a linear network).
        seed (`int`, *optional*): seed of the initial weights (default: the global generator).
    """

    def __init__(self, input_dim: int = 40, width: int = 200, epsilon: float = 0.02, seed: int | None = None):
        super().__init__()
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.width = check_positive_int("width", width)
        self.epsilon = check_number("epsilon", epsilon, low=0.0)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(width, input_dim, generator=generator))

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        """φ(z) = z + (ε/2) z²."""
        return z + 0.5 * self.epsilon * z * z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, D)` inputs → `(batch,)` outputs."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"x must be a (batch, {self.input_dim}) tensor, got {getattr(x, 'shape', type(x))}")
        return self.activation(x @ self.weight.T).mean(dim=1)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, width={self.width}, epsilon={self.epsilon:g}"
