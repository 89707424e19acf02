"""Configuration of the two-layer modular-arithmetic MLP of the grokking-ticket experiments."""

from __future__ import annotations

import math

from transformers import PreTrainedConfig

GROKKING_MLP_ACTIVATIONS = ("quadratic", "relu")
GROKKING_MLP_LOSSES = ("mse", "cross_entropy")


class GrokkingMLPConfig(PreTrainedConfig):
    r"""
    Configuration of [`GrokkingMLPForModularArithmetic`]: the bias-free two-layer MLP that reads the pair `(a, b)` of
    residues modulo `p` as the concatenation of their one-hot codes and scores the `p` possible answers,

        f(a, b) = W₂ φ(W₁ [e_a ; e_b]),   W₁ ∈ R^{N×2p}, W₂ ∈ R^{p×N},

    with φ(z) = z² (the quadratic network of Gromov, "Grokking modular arithmetic", 2023, and of Doshi et al., "To
    grok or not to grok", 2023) or φ = ReLU.

    Args:
        modulus (`int`, *optional*, defaults to 97):
            The modulus `p`: operands and answers are residues in `[0, p)`.
        hidden_size (`int`, *optional*, defaults to 500):
            Width `N` of the hidden layer.
        hidden_act (`str`, *optional*, defaults to `"quadratic"`):
            φ: `"quadratic"` (z²) or `"relu"`.
        loss_type (`str`, *optional*, defaults to `"mse"`):
            The loss `forward` returns when `labels` are given: `"mse"` (squared error to the one-hot answer,
            averaged over examples and classes, as in the quadratic-network experiments) or `"cross_entropy"`.
        initializer_range (`float`, *optional*):
            Standard deviation of the normal initialisation of W₁ and W₂. Defaults to 0.5 / (2N)^{1/3}, the
            initialisation of the quadratic network in the official code of Doshi et al. (`d-doshi/Grokking`).

    ```python
    >>> from hf_methods import GrokkingMLPConfig, GrokkingMLPForModularArithmetic

    >>> model = GrokkingMLPForModularArithmetic(GrokkingMLPConfig(modulus=97, hidden_size=500))
    ```"""

    model_type = "hfm-grokking_tickets"

    def __init__(
        self,
        modulus: int = 97,
        hidden_size: int = 500,
        hidden_act: str = "quadratic",
        loss_type: str = "mse",
        initializer_range: float | None = None,
        **kwargs,
    ):
        if isinstance(modulus, bool) or not isinstance(modulus, int) or modulus < 2:
            raise ValueError(f"modulus must be an int >= 2, got {modulus!r}")
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if hidden_act not in GROKKING_MLP_ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {GROKKING_MLP_ACTIVATIONS}, got {hidden_act!r}")
        if loss_type not in GROKKING_MLP_LOSSES:
            raise ValueError(f"loss_type must be one of {GROKKING_MLP_LOSSES}, got {loss_type!r}")
        if initializer_range is None:
            initializer_range = 0.5 / (2 * hidden_size) ** (1 / 3)
        if isinstance(initializer_range, bool) or not isinstance(initializer_range, (int, float)):
            raise ValueError(f"initializer_range must be a number > 0, got {initializer_range!r}")
        if not (math.isfinite(initializer_range) and initializer_range > 0):
            raise ValueError(f"initializer_range must be a finite number > 0, got {initializer_range!r}")
        self.modulus = modulus
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.loss_type = loss_type
        self.initializer_range = float(initializer_range)
        kwargs.setdefault("num_labels", modulus)
        super().__init__(**kwargs)


GrokkingMLPConfig.register_for_auto_class()

__all__ = ["GrokkingMLPConfig"]
