"""Masked hard instance mining: which instances of a bag the teacher's attention hides from the student.

Following `MHIM.get_mask` / `select_mask_fn` of the official code (`DearCaat/MHIM-MIL`, branch `v1`,
`modules/mhim.py`), for a bag of `n` instances with teacher attention `a`:

- high-attention masking (the "hard instance mining"): the `k_h = ⌈n · r_h / r_hr⌉` most-attended instances are the
  candidates and a random `⌈k_h · r_hr⌉` of them are masked, i.e. about `r_h · n` of the most salient (easy)
  instances, with randomness. When `r_h / r_hr > 1` the official code takes every instance as a candidate and masks
  a random `⌈n · r_h⌉` of them; this is kept;
- low-attention masking: the `⌈n · r_l⌉` least-attended instances;
- random masking: a random `⌈n · r⌉` of the instances.

The masked set is the union of the three. `r_h` usually follows a cosine decay to 0 over training ([`cosine_decay`],
the official `mrh_sche`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hf_methods.common.checks import check_number


def cosine_decay(start: float, end: float, step: int, total_steps: int) -> float:
    """`end + ½ (start − end)(1 + cos(π · step / total_steps))`, the official per-iteration `cosine_scheduler`."""
    if total_steps <= 0:
        return float(start)
    step = min(max(step, 0), total_steps)
    return float(end + 0.5 * (start - end) * (1 + math.cos(math.pi * step / total_steps)))


def _ceil(x: float) -> int:
    return int(np.ceil(x))


def _random_subset(candidates: torch.Tensor, count: int, generator: torch.Generator | None) -> torch.Tensor:
    order = torch.randperm(len(candidates), generator=generator)
    return candidates[order[: min(count, len(candidates))]]


def mhim_instance_mask(
    attention: torch.Tensor,
    *,
    mask_ratio_h: float,
    mask_ratio_hr: float = 1.0,
    mask_ratio_l: float = 0.0,
    mask_ratio: float = 0.0,
    attention_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The instances to hide from the student, from the teacher's attention (`True` = masked).

    Args:
        attention (`torch.Tensor` of shape `(batch, L)`): the teacher's attention (or scores) per instance.
        mask_ratio_h (`float`): `r_h ∈ [0, 1]`, fraction of the bag masked among the most-attended instances.
        mask_ratio_hr (`float`, defaults to 1.0): `r_hr ∈ (0, 1]`, fraction of the top `⌈n · r_h / r_hr⌉` candidates
            masked at random (1 = deterministic top-`⌈n · r_h⌉`).
        mask_ratio_l (`float`, defaults to 0.0): `r_l ∈ [0, 1]`, fraction masked among the least-attended instances.
        mask_ratio (`float`, defaults to 0.0): `r ∈ [0, 1]`, fraction masked uniformly at random.
        attention_mask (`torch.Tensor` of shape `(batch, L)`, *optional*): 1/True for real instances, 0/False for
            padding; padding is never selected and does not count in `n`.
        generator (`torch.Generator`, *optional*): CPU generator of the random choices.

    Returns:
        `torch.BoolTensor` of shape `(batch, L)`. If the union would mask every real instance of a bag, its
        least-attended masked instance is kept, so the student always sees at least one instance.
    """
    if not isinstance(attention, torch.Tensor) or not attention.is_floating_point():
        raise TypeError(f"attention must be a floating-point tensor (batch, L), got {type(attention).__name__}")
    if attention.dim() != 2:
        raise ValueError(f"attention must be 2-D (batch, L), got shape {tuple(attention.shape)}")
    mask_ratio_h = check_number("mask_ratio_h", mask_ratio_h, low=0, high=1)
    mask_ratio_hr = check_number("mask_ratio_hr", mask_ratio_hr, low=0, high=1, low_open=True)
    mask_ratio_l = check_number("mask_ratio_l", mask_ratio_l, low=0, high=1)
    mask_ratio = check_number("mask_ratio", mask_ratio, low=0, high=1)
    if attention_mask is None:
        real = torch.ones_like(attention, dtype=torch.bool)
    else:
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != attention.shape:
            raise ValueError(
                f"attention_mask must be a tensor of the attention's shape {tuple(attention.shape)}, got "
                f"{tuple(getattr(attention_mask, 'shape', ()))}"
            )
        real = attention_mask.bool()
    scores = attention.detach().float().cpu()
    real = real.cpu()
    masked = torch.zeros_like(real)
    for b in range(scores.shape[0]):
        index = torch.nonzero(real[b]).flatten()
        n = len(index)
        if n == 0:
            continue
        a = scores[b, index]
        chosen = []
        if mask_ratio > 0:  # random masking
            chosen.append(_random_subset(torch.arange(n), _ceil(n * mask_ratio), generator))
        if mask_ratio_l > 0:  # low-attention masking
            chosen.append(torch.topk(a, min(_ceil(n * mask_ratio_l), n), largest=False).indices)
        if mask_ratio_h > 0:  # high-attention masking, randomised
            ratio = mask_ratio_h / mask_ratio_hr
            if ratio > 1:  # the official fallback: every instance is a candidate, mask a fraction r_h of them
                chosen.append(_random_subset(torch.arange(n), _ceil(n * mask_ratio_h), generator))
            else:
                top = torch.topk(a, min(_ceil(n * ratio), n), largest=True).indices
                chosen.append(_random_subset(top, _ceil(len(top) * mask_ratio_hr), generator))
        if not chosen:
            continue
        picked = torch.unique(torch.cat(chosen))
        if len(picked) == n:  # keep one instance: the least-attended one
            picked = picked[picked != torch.argmin(a)]
        masked[b, index[picked]] = True
    return masked.to(attention.device)


__all__ = ["cosine_decay", "mhim_instance_mask"]
