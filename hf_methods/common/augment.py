"""Random augmentations of small image batches, in torch, for semi-supervised and contrastive training.

Every function takes a float batch `(B, C, H, W)` with values in [0, 1], draws one independent transformation per
image from `generator` (so a seeded run is reproducible) and returns a new batch of the same shape:

- [`random_translate`]: shift by up to `max_shift` pixels in each direction (zero padding, as pad-and-crop);
- [`random_flip`]: horizontal flip with probability `p` (off for digits, where a flip changes the class);
- [`random_brightness_contrast`]: x ↦ clip((x − m)·c + m + b), m the image mean, c ∈ [1 − contrast, 1 + contrast],
  b ∈ [−brightness, brightness];
- [`random_noise`]: additive Gaussian noise;
- [`random_cutout`]: one `size`×`size` square set to 0 at a random place (DeVries & Taylor, 2017).

Two presets follow FixMatch (Sohn et al., 2020) at the scale of 8×8–28×28 images: [`weak_augment`] (translation) and
[`strong_augment`] (translation, brightness/contrast, noise and cutout, all at once, where FixMatch's RandAugment picks
two of fourteen operations); [`two_views`] returns two independent augmentations of a batch (SimCLR's views).

Example:

```python
>>> g = torch.Generator().manual_seed(0)
>>> images = as_images(x_flat, (1, 8, 8))              # digits: (B, 64) -> (B, 1, 8, 8)
>>> weak, strong = weak_augment(images, generator=g), strong_augment(images, generator=g)
>>> view_1, view_2 = two_views(images, strong_augment, generator=g)
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from hf_methods.common.checks import check_number


def _check_images(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise TypeError(f"images must be a float tensor (B, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    return x


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device) * (high - low) + low


def as_images(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Flat features `(B, C·H·W)` as images `(B, C, H, W)` (`shape = (C, H, W)`)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"shape must be (channels, height, width), got {shape}")
    if x.ndim != 2 or x.shape[1] != shape[0] * shape[1] * shape[2]:
        raise ValueError(
            f"x must be (batch, {shape[0] * shape[1] * shape[2]}) for image shape {shape}, got {tuple(x.shape)}"
        )
    return x.reshape(len(x), *shape)


def random_translate(x: torch.Tensor, max_shift: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image shifted by (dy, dx) ∈ [−max_shift, max_shift]², the uncovered border filled with 0."""
    x = _check_images(x)
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
    if max_shift == 0:
        return x.clone()
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    shifts = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator)
    rows = (shifts[:, 0, None] + torch.arange(h)).to(x.device)  # (B, H) rows of the padded image
    cols = (shifts[:, 1, None] + torch.arange(w)).to(x.device)
    index = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, p: float = 0.5, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image mirrored left–right with probability `p`."""
    x = _check_images(x)
    p = check_number("p", p, low=0, high=1)
    flip = (torch.rand(len(x), generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_brightness_contrast(
    x: torch.Tensor, brightness: float = 0.2, contrast: float = 0.2, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x ↦ clip((x − m)·c + m + b, 0, 1) with m each image's mean, c ~ U[1 − contrast, 1 + contrast] and
    b ~ U[−brightness, brightness], drawn per image."""
    x = _check_images(x)
    brightness = check_number("brightness", brightness, low=0)
    contrast = check_number("contrast", contrast, low=0, high=1)
    n = len(x)
    c = _uniform(n, 1 - contrast, 1 + contrast, generator, x.device)[:, None, None, None]
    b = _uniform(n, -brightness, brightness, generator, x.device)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c + mean + b).clamp(0.0, 1.0)


def random_noise(x: torch.Tensor, std: float = 0.05, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + ε, ε ~ N(0, std²) per pixel, clipped to [0, 1]."""
    x = _check_images(x)
    std = check_number("std", std, low=0)
    noise = torch.randn(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp(0.0, 1.0)


def random_cutout(x: torch.Tensor, size: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """One `size`×`size` square of each image (its centre uniform over the image, clipped at the border) set to 0."""
    x = _check_images(x)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an integer >= 0, got {size!r}")
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator).to(x.device)
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    top, left = cy - size // 2, cx - size // 2
    inside_r = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + size)
    inside_c = (cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + size)
    hole = inside_r[:, :, None] & inside_c[:, None, :]
    return x.masked_fill(hole[:, None], 0.0)


def weak_augment(x: torch.Tensor, *, max_shift: int | None = None, flip: bool = False, generator=None) -> torch.Tensor:
    """FixMatch's weak augmentation: a translation by up to 12.5% of the side (1 pixel on 8×8, 3 on 28×28), and a
    horizontal flip when `flip` (natural images)."""
    x = _check_images(x)
    shift = max(1, round(0.125 * x.shape[-1])) if max_shift is None else max_shift
    out = random_translate(x, shift, generator=generator)
    return random_flip(out, 0.5, generator=generator) if flip else out


def strong_augment(
    x: torch.Tensor,
    *,
    max_shift: int | None = None,
    brightness: float = 0.3,
    contrast: float = 0.3,
    noise_std: float = 0.1,
    cutout_fraction: float = 0.375,
    flip: bool = False,
    generator=None,
) -> torch.Tensor:
    """A strong augmentation: the weak one, then brightness/contrast, Gaussian noise and a cutout square of
    `cutout_fraction` of the side (FixMatch cuts out up to half the side)."""
    out = weak_augment(x, max_shift=max_shift, flip=flip, generator=generator)
    out = random_brightness_contrast(out, brightness, contrast, generator=generator)
    out = random_noise(out, noise_std, generator=generator)
    cutout = check_number("cutout_fraction", cutout_fraction, low=0, high=1)
    return random_cutout(out, round(cutout * x.shape[-1]), generator=generator)


def two_views(
    x: torch.Tensor, augment: Callable[..., torch.Tensor] = strong_augment, *, generator=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent augmentations of the same batch (the positive pairs of SimCLR / SupCon)."""
    return augment(x, generator=generator), augment(x, generator=generator)
