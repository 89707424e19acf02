"""Oscillation tracking and confidence-guided annealing (CGA) of OFQ, as `transformers.TrainerCallback`s.

- `OscillationTracker`: after every optimizer step, compares the integer codes of every quantized matrix with those
  of the previous step. A weight *oscillates* at a step when its code moves in the direction opposite to its previous
  move (the official `TrackOscillation`, itself from Nagel et al., ICML 2022); the per-weight oscillation frequency is
  an EMA with momentum 0.01.
- `ConfidenceGuidedAnnealing` / `CGACallback`: in the last phase of training, the weights whose position is not
  within ±`boundary_range` of a rounding boundary (the confident ones) are frozen: their gradient is zeroed before the
  optimizer step and their value restored after it (AdamW's momentum and decoupled weight decay would move them
  otherwise). Official code: `cga.py`, `freeze_outside_boundary_weight_idx` and the training loop around it.
"""

from __future__ import annotations

import torch
from transformers import TrainerCallback

from .modeling import QKReparamAttention, QLinear, quantized_weights

__all__ = ["CGACallback", "ConfidenceGuidedAnnealing", "OscillationTracker", "cga_frozen_mask"]


def _codes_of(module) -> torch.Tensor:
    if isinstance(module, QKReparamAttention):
        return module.qk_quantizer.codes(module.qk_weight().detach())
    return module.weight_quantizer.codes(module.weight)


class OscillationTracker(TrainerCallback):
    """Counts integer flips and oscillations of the quantized weights at every optimizer step.

    Each `update(model)` (called by the `Trainer` after `optimizer.step()`, or by hand in a plain loop) appends to
    `history` a record `{"step", "weights", "flips", "oscillations", "flip_rate", "oscillation_rate"}`: flips are
    codes that changed, oscillations codes that changed against the direction of their previous change. The first
    call only stores the codes.

    Args:
        momentum (`float`): momentum of the per-weight EMA of oscillations (`ema_oscillation`), 0.01 in the paper.
    """

    def __init__(self, momentum: float = 0.01):
        if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) or not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be a number in (0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.reset()

    def reset(self) -> None:
        """Forgets the stored codes, the EMAs and the history."""
        self.previous_codes: dict[str, torch.Tensor] = {}
        self.previous_direction: dict[str, torch.Tensor] = {}
        self.ema_oscillation: dict[str, torch.Tensor] = {}
        self.history: list[dict[str, float]] = []
        self._steps = 0

    @torch.no_grad()
    def update(self, model) -> dict[str, float] | None:
        """Compares the current codes with the stored ones; returns the step's record (`None` on the first call)."""
        modules = quantized_weights(model)
        if not modules:
            raise ValueError("model holds no quantized module: apply quantize_vit first")
        total = flips = oscillations = 0
        first = not self.previous_codes
        for name, module in modules.items():
            codes = _codes_of(module)
            if name not in self.previous_codes:
                self.previous_codes[name] = codes
                self.previous_direction[name] = torch.zeros_like(codes)
                self.ema_oscillation[name] = torch.zeros_like(codes)
                continue
            direction = torch.sign(codes - self.previous_codes[name])
            switched = direction != 0
            oscillated = (self.previous_direction[name] * direction) == -1
            ema = self.ema_oscillation[name]
            ema.mul_(1.0 - self.momentum).add_(oscillated.to(ema.dtype), alpha=self.momentum)
            self.previous_direction[name] = torch.where(switched, direction, self.previous_direction[name])
            self.previous_codes[name] = codes
            total += codes.numel()
            flips += int(switched.sum())
            oscillations += int(oscillated.sum())
        if first:
            return None
        self._steps += 1
        record = {
            "step": self._steps,
            "weights": total,
            "flips": flips,
            "oscillations": oscillations,
            "flip_rate": flips / max(total, 1),
            "oscillation_rate": oscillations / max(total, 1),
        }
        self.history.append(record)
        return record

    def mean_ema_oscillation(self) -> float:
        """Mean over all tracked weights of the per-weight oscillation EMA."""
        if not self.ema_oscillation:
            return 0.0
        values = torch.cat([v.flatten() for v in self.ema_oscillation.values()])
        return float(values.mean())

    # -- TrainerCallback hooks --------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None and not self.previous_codes:
            self.update(model)

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        if model is not None:
            self.update(model)


def cga_frozen_mask(module: QLinear, boundary_range: float = 0.005) -> torch.Tensor:
    """The confident weights of a `QLinear`: `True` where the weight is NOT within ±`boundary_range` of a boundary.

    With b the weight's position on the code axis (StatsQ: b = clamp(W/s)·n − 0.5; LSQ: b = clamp(W/s)), the code is
    round(b) and the boundaries between adjacent codes k and k + 1 are at b = k + 0.5. A weight with
    |b − (k + 0.5)| ≤ BR for some boundary is low-confidence and keeps training; every other weight is frozen.
    """
    if not isinstance(module, QLinear):
        raise TypeError(f"module must be a QLinear, got {type(module).__name__}")
    quantizer = module.weight_quantizer
    position = quantizer.boundary_position(module.weight)
    low, high = quantizer.levels
    nearest = torch.clamp(torch.floor(position), low, high - 1) + 0.5
    return (position - nearest).abs() > boundary_range


class ConfidenceGuidedAnnealing:
    """Confidence-guided annealing for a plain training loop: call `before_step` between `backward()` and
    `optimizer.step()`, and `after_step` right after it.

    The weights of every `QLinear` (including QKR's value and output projections) are annealed; QKR's query/key
    weights are not (the official code anneals `fc1`, `fc2`, `v` and `proj` only).

    Args:
        boundary_range (`float`): BR in (0, 0.5); 0.005 in the paper (0.003–0.01 also used).
    """

    def __init__(self, boundary_range: float = 0.005):
        if (
            not isinstance(boundary_range, (int, float))
            or isinstance(boundary_range, bool)
            or not 0.0 < boundary_range < 0.5
        ):
            raise ValueError(f"boundary_range must be a number in (0, 0.5), got {boundary_range!r}")
        self.boundary_range = float(boundary_range)
        self._saved: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.frozen_fraction = 0.0

    @torch.no_grad()
    def before_step(self, model) -> float:
        """Zeroes the gradients of the confident weights and saves their values; returns the frozen fraction."""
        layers = {n: m for n, m in quantized_weights(model).items() if isinstance(m, QLinear)}
        if not layers:
            raise ValueError("model holds no QLinear: apply quantize_vit first")
        self._saved = {}
        frozen = total = 0
        for name, module in layers.items():
            mask = cga_frozen_mask(module, self.boundary_range)
            if module.weight.grad is not None:
                module.weight.grad.masked_fill_(mask, 0.0)
            self._saved[name] = (mask, module.weight.detach().clone())
            frozen += int(mask.sum())
            total += mask.numel()
        self.frozen_fraction = frozen / max(total, 1)
        return self.frozen_fraction

    @torch.no_grad()
    def after_step(self, model) -> None:
        """Restores the confident weights saved by `before_step` (undoes momentum and weight decay on them)."""
        if not self._saved:
            raise RuntimeError("after_step called without before_step")
        layers = quantized_weights(model)
        for name, (mask, saved) in self._saved.items():
            weight = layers[name].weight
            weight.copy_(torch.where(mask, saved, weight))
        self._saved = {}


class CGACallback(TrainerCallback):
    """Confidence-guided annealing inside `transformers.Trainer`, from epoch `start_epoch` on.

    Hooks `on_pre_optimizer_step` (zero the confident weights' gradients, save them) and `on_optimizer_step`
    (restore them). The Trainer clips gradients before `on_pre_optimizer_step`, so the clipping norm still counts the
    frozen weights' gradients (the official loop zeroes them first).

    Args:
        boundary_range (`float`): BR, see `ConfidenceGuidedAnnealing`.
        start_epoch (`float`): the (fractional) epoch from which CGA runs; 0 anneals the whole run (a CGA
            fine-tuning phase started from a QAT checkpoint, as in the paper).
    """

    def __init__(self, boundary_range: float = 0.005, start_epoch: float = 0.0):
        if not isinstance(start_epoch, (int, float)) or isinstance(start_epoch, bool) or start_epoch < 0:
            raise ValueError(f"start_epoch must be a number >= 0, got {start_epoch!r}")
        self.annealing = ConfidenceGuidedAnnealing(boundary_range)
        self.start_epoch = float(start_epoch)
        self._active = False

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self._active = (state.epoch or 0.0) >= self.start_epoch
        if self._active:
            self.annealing.before_step(model)

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self._active:
            self.annealing.after_step(model)
            self._active = False
