"""Weight and activation quantizers of OFQ (Liu, Liu & Cheng, "Oscillation-free Quantization for Low-bit Vision
Transformers", ICML 2023; official code `nbasyl/OFQ`, `src/quantization/quantizer/{statsq,lsq}.py`).

- `StatsQuantizer` (StatsQ): the per-output-channel scale is a statistic of the weights, not a learned parameter;
- `LSQQuantizer`: learned step size quantization (Esser et al., ICLR 2020), the baseline for weights and the
  quantizer OFQ keeps for activations.

Every quantizer exposes `codes(x)` (the integer levels, what oscillation tracking and packed saving read) next to
`forward(x)` (the dequantized tensor with a straight-through gradient). The forward value is computed with custom
autograd functions, so it is bit-for-bit what `dequantize(codes, scale)` returns: a baked weight reproduces the
quantized model exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "LSQQuantizer",
    "StatsQuantizer",
    "lsq_quantize",
    "statsq_codes",
    "statsq_dequantize",
    "statsq_quantize",
    "statsq_scale",
]


def _check_bits(num_bits, name: str = "num_bits", low: int = 1, high: int = 8) -> int:
    if isinstance(num_bits, bool) or not isinstance(num_bits, int):
        raise TypeError(f"{name} must be an int, got {type(num_bits).__name__}")
    if not low <= num_bits <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {num_bits}")
    return num_bits


class _StraightThrough(torch.autograd.Function):
    """Returns `quantized` in the forward pass and passes the gradient to `x` unchanged (the STE)."""

    @staticmethod
    def forward(ctx, x, quantized):
        return quantized

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _RoundPass(torch.autograd.Function):
    """`round(x)` with an identity gradient (LSQ's `round_pass`)."""

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class _GradScale(torch.autograd.Function):
    """The identity whose gradient is multiplied by `scale` (LSQ's gradient scaling of the step size)."""

    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


# ------------------------------------------------------------------------------------------------------------ StatsQ

#: The clamp keeps w̃ strictly below 1 so that the top level n − 1 is never rounded past the grid.
STATSQ_CLAMP_EPS = 1e-6


def statsq_scale(weight: torch.Tensor) -> torch.Tensor:
    """The StatsQ scale of each output channel (row): s = 2·mean|W_row|, shape `(rows, 1)`, detached.

    A row of zeros gets the smallest positive float as its scale (its codes are then the two levels around zero).
    """
    scale = 2.0 * weight.detach().abs().mean(dim=1, keepdim=True)
    return scale.clamp_min(torch.finfo(weight.dtype).tiny)


def statsq_codes(weight: torch.Tensor, num_bits: int, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Integer StatsQ levels of a 2-D weight: q = round(clamp(W/s, −1, 1 − 1e-6)·n − 0.5), n = 2^(b−1), q ∈ [−n, n−1].

    The dequantized weight is s·(q + 0.5)/n: a symmetric grid of 2^b half-integer levels with no zero level.
    """
    _check_bits(num_bits)
    scale = statsq_scale(weight) if scale is None else scale
    n = float(2 ** (num_bits - 1))
    clipped = torch.clamp(weight.detach() / scale, min=-1.0, max=1.0 - STATSQ_CLAMP_EPS)
    # w̃ = −1 gives the tie −n − 0.5, which round-half-to-even sends to −n − 1 when n is odd (b = 1): keep the grid
    return torch.clamp(torch.round(clipped * n - 0.5), -n, n - 1)


def statsq_dequantize(codes: torch.Tensor, scale: torch.Tensor, num_bits: int) -> torch.Tensor:
    """W_q = s·(q + 0.5)/n, the weight a StatsQ code stands for (float32 codes and scales give exact values)."""
    n = float(2 ** (num_bits - 1))
    return scale * ((codes + 0.5) / n)


def statsq_quantize(weight: torch.Tensor, num_bits: int) -> torch.Tensor:
    """StatsQ with the straight-through estimator (OFQ; `StatsQuantizer.forward` of the official code).

    s = 2·mean|W_row| (no gradient), w̃ = clamp(W/s, −1, 1 − 1e-6), W_q = s·(round(w̃·n − 0.5) + 0.5)/n with
    n = 2^(b−1); ∂L/∂W = ∂L/∂W_q (the gradient passes through the clamp and the rounding unchanged, as in the
    official code).
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    scale = statsq_scale(weight)
    quantized = statsq_dequantize(statsq_codes(weight, num_bits, scale), scale, num_bits)
    return _StraightThrough.apply(weight, quantized)


class StatsQuantizer(nn.Module):
    """Statistical weight quantization (StatsQ): per-row scale 2·mean|W_row|, no learnable parameter.

    Args:
        num_bits (`int`): weight bit-width b in [1, 8]; the grid has 2^b levels s·(q + 0.5)/2^(b−1), q ∈ [−n, n−1].
    """

    learnable_scale = False

    def __init__(self, num_bits: int = 2):
        super().__init__()
        self.num_bits = _check_bits(num_bits)

    @property
    def levels(self) -> tuple[int, int]:
        """The smallest and largest integer code."""
        n = 2 ** (self.num_bits - 1)
        return -n, n - 1

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return statsq_quantize(weight, self.num_bits)

    def scale(self, weight: torch.Tensor) -> torch.Tensor:
        return statsq_scale(weight)

    def codes(self, weight: torch.Tensor) -> torch.Tensor:
        return statsq_codes(weight, self.num_bits)

    def dequantize(self, codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return statsq_dequantize(codes, scale, self.num_bits)

    def boundary_position(self, weight: torch.Tensor) -> torch.Tensor:
        """b = clamp(W/s)·n − 0.5: rounding b gives the code, so b − floor(b) near 0.5 is a low-confidence weight."""
        n = float(2 ** (self.num_bits - 1))
        return torch.clamp(weight.detach() / statsq_scale(weight), -1.0, 1.0 - STATSQ_CLAMP_EPS) * n - 0.5

    def extra_repr(self) -> str:
        return f"num_bits={self.num_bits}"


# ------------------------------------------------------------------------------------------------------------ LSQ


def lsq_quantize(x: torch.Tensor, step: torch.Tensor, low: int, high: int, grad_scale: float) -> torch.Tensor:
    """LSQ (Esser et al., 2020): x_q = round(clamp(x / s', low, high))·s', s' = max(s, 1e-5) with ∂/∂s scaled by g.

    The rounding has an identity gradient (`round_pass`), the clamp its usual zero gradient outside the range, and
    the step size's gradient is multiplied by g = 1/sqrt(high·N) (N elements per step size), as in the official code.
    """
    step = _GradScale.apply(step.clamp_min(1e-5), grad_scale)
    return _RoundPass.apply(torch.clamp(x / step, low, high)) * step


class LSQQuantizer(nn.Module):
    """Learned step size quantization with one learnable step per channel.

    Used for weights (one step per output row, initialised to 2·mean|W_row|/sqrt(high), the LSQ baseline of the
    paper) and for activations (one step per feature, the last dimension, initialised from the first batch it sees:
    2·mean|x|/sqrt(high) for a signed and 4·mean|x|/sqrt(high) for an unsigned grid, as the official code does).

    Args:
        num_bits (`int`): bit-width b in [2, 8] (signed grid [−2^(b−1), 2^(b−1) − 1], unsigned [0, 2^b − 1]).
        channels (`int`): number of step sizes (output rows of a weight, or features of an activation).
        signed (`bool`): signed or unsigned integer grid.
        per_row (`bool`): `True` for a weight `(rows, in)` (steps along dim 0); `False` for an activation `(..., C)`.
    """

    learnable_scale = True

    def __init__(self, num_bits: int, channels: int, *, signed: bool = True, per_row: bool = False):
        super().__init__()
        self.num_bits = _check_bits(num_bits, low=2)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.channels, self.signed, self.per_row = channels, bool(signed), bool(per_row)
        self.step = nn.Parameter(torch.ones(channels))
        self.register_buffer("initialized", torch.tensor(False))

    @property
    def levels(self) -> tuple[int, int]:
        if self.signed:
            return -(2 ** (self.num_bits - 1)), 2 ** (self.num_bits - 1) - 1
        return 0, 2**self.num_bits - 1

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Sets the steps from `x` (a weight's rows, or a batch of activations) and marks the quantizer initialised."""
        high = self.levels[1]
        factor = 2.0 if self.signed else 4.0
        mean_abs = x.abs().mean(dim=1) if self.per_row else x.abs().reshape(-1, x.shape[-1]).mean(dim=0)
        self.step.copy_(factor * mean_abs / math.sqrt(high))
        self.initialized.fill_(True)

    def _check(self, x: torch.Tensor) -> None:
        size = x.shape[0] if self.per_row else x.shape[-1]
        if (self.per_row and x.dim() != 2) or size != self.channels:
            what = "(rows, in_features)" if self.per_row else "(..., channels)"
            raise ValueError(f"LSQQuantizer expects {what} with {self.channels} channels, got {tuple(x.shape)}")

    def _step_and_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        if not bool(self.initialized):
            self.initialize(x.detach())
        per_step = x.shape[1] if self.per_row else x.numel() // self.channels
        step = self.step[:, None] if self.per_row else self.step
        return step, 1.0 / math.sqrt(self.levels[1] * per_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        step, grad_scale = self._step_and_scale(x)
        low, high = self.levels
        return lsq_quantize(x, step, low, high, grad_scale)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        step, _ = self._step_and_scale(x)
        return step.detach().clamp_min(1e-5)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        low, high = self.levels
        return torch.round(torch.clamp(x.detach() / self.scale(x), low, high))

    def dequantize(self, codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return codes * scale

    def boundary_position(self, x: torch.Tensor) -> torch.Tensor:
        """b = clamp(x/s): rounding b gives the code (the analogue of StatsQ's b for confidence-guided annealing)."""
        low, high = self.levels
        return torch.clamp(x.detach() / self.scale(x), low, high)

    def extra_repr(self) -> str:
        return f"num_bits={self.num_bits}, channels={self.channels}, signed={self.signed}, per_row={self.per_row}"
