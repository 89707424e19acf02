"""Synthetic 16×16 segmentation with label-sparse samples, and the photometric two-view augmentation of AdaWAC.

The task: segment the discs and squares of a noisy grey image (2 classes: background 0, shape 1). A fraction of the
training samples is *label-sparse*: their masks are zeroed (the shapes are there, the annotation is missing),
the information imbalance of the paper's medical data, where many slices carry few or no labelled pixels. With
`sparse_cue=True` the label-sparse samples also form their own subpopulation, as the label-sparse slices of a scan
do (other anatomy, other appearance): their background carries a faint vertical stripe pattern, so a model can
tell them apart; with `sparse_cue=False` they look exactly like the label-dense samples.

The augmentation is photometric only (a random intensity scale and shift, then Gaussian noise), so the two views
stay pixel-aligned and so do their latents; geometric augmentations would have to be undone before comparing the
latents (the official code compares independently rotated/flipped views directly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

IMAGE_SIZE = 16


@dataclass
class ShapesSegmentation:
    """One split: `images` `(N, 1, H, W)` float, `masks` `(N, H, W)` long (possibly zeroed), the true masks, and
    `sparse` `(N,)` bool (True for a label-sparse sample)."""

    images: torch.Tensor
    masks: torch.Tensor
    true_masks: torch.Tensor
    sparse: torch.Tensor

    def __len__(self) -> int:
        return len(self.masks)


def _shape_masks(num: int, size: int, gen: torch.Generator, max_shapes: int) -> torch.Tensor:
    """`num` binary masks, each the union of 1..max_shapes random discs (radius 2–4) and squares (side 4–7)."""
    rows = torch.arange(size, dtype=torch.float32).view(size, 1)
    cols = torch.arange(size, dtype=torch.float32).view(1, size)
    masks = torch.zeros(num, size, size, dtype=torch.bool)
    counts = torch.randint(1, max_shapes + 1, (num,), generator=gen)
    for i in range(num):
        for _ in range(int(counts[i])):
            if torch.rand((), generator=gen) < 0.5:  # disc
                radius = 2.0 + 2.0 * torch.rand((), generator=gen).item()
                cy, cx = (radius + (size - 2 * radius) * torch.rand(2, generator=gen)).tolist()
                masks[i] |= (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
            else:  # axis-aligned square
                side = int(torch.randint(4, 8, (), generator=gen))
                top, left = torch.randint(0, size - side + 1, (2,), generator=gen).tolist()
                masks[i, top : top + side, left : left + side] = True
    return masks


def make_shapes_segmentation(
    num_samples: int,
    *,
    seed: int,
    sparse_fraction: float = 0.0,
    sparse_cue: bool = True,
    size: int = IMAGE_SIZE,
    max_shapes: int = 2,
    noise_std: float = 0.15,
    stripe_amplitude: float = 0.15,
) -> ShapesSegmentation:
    """Noisy images of discs and squares with their masks; a `sparse_fraction` of the masks zeroed.

    Pixel intensities: background 0.3, shapes 0.7 (each shape ±0.1 brighter or darker), plus i.i.d. Gaussian noise
    of std `noise_std`; label-sparse images with `sparse_cue` add `stripe_amplitude · sin(2π·col/4)` to the
    background. Everything depends on `seed` only.

    Args:
        num_samples (`int`): number of images.
        seed (`int`): seed of the generator.
        sparse_fraction (`float`, defaults to 0.0): fraction of samples whose masks are zeroed (label-sparse).
        sparse_cue (`bool`, defaults to `True`): mark the label-sparse samples with the stripe pattern.
        size (`int`, defaults to 16): image height and width.
        max_shapes (`int`, defaults to 2): each image has 1..max_shapes shapes.
        noise_std (`float`, defaults to 0.15): std of the pixel noise.
        stripe_amplitude (`float`, defaults to 0.15): amplitude of the stripes of the label-sparse subpopulation.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
    if not 0.0 <= sparse_fraction <= 1.0:
        raise ValueError(f"sparse_fraction must be in [0, 1], got {sparse_fraction}")
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    gen = torch.Generator().manual_seed(seed)
    true_masks = _shape_masks(num_samples, size, gen, max_shapes)
    contrast = 0.4 + 0.1 * (2 * torch.rand(num_samples, 1, 1, generator=gen) - 1)
    images = 0.3 + contrast * true_masks.float()
    num_sparse = int(round(sparse_fraction * num_samples))
    sparse = torch.zeros(num_samples, dtype=torch.bool)
    sparse[torch.randperm(num_samples, generator=gen)[:num_sparse]] = True
    if sparse_cue:
        stripes = stripe_amplitude * torch.sin(2 * math.pi * torch.arange(size, dtype=torch.float32) / 4)
        images = images + sparse.view(-1, 1, 1).float() * (~true_masks).float() * stripes.view(1, 1, size)
    images = images + noise_std * torch.randn(images.shape, generator=gen)
    masks = true_masks.long().masked_fill(sparse.view(-1, 1, 1), 0)
    return ShapesSegmentation(images.unsqueeze(1), masks, true_masks.long(), sparse)


# ----------------------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class PhotometricAugmentation:
    """`x ↦ a·x + b + ε`, `a ~ U[1 − scale, 1 + scale]`, `b ~ U[−shift, shift]` per image, `ε ~ N(0, noise_std²)`
    per pixel. Photometric only: the labels and the pixel grid are unchanged, so the views' latents stay aligned."""

    scale: float = 0.2
    shift: float = 0.1
    noise_std: float = 0.1

    def __post_init__(self):
        for name in ("scale", "shift", "noise_std"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not (0.0 <= value < math.inf):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.scale >= 1.0:
            raise ValueError(f"scale must be < 1 (the intensity factor stays positive), got {self.scale}")

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a 4-D tensor (batch, channels, H, W), got {shape}")
        n = images.shape[0]
        kw = {"generator": generator, "dtype": images.dtype}
        a = 1.0 + self.scale * (2 * torch.rand(n, 1, 1, 1, **kw) - 1)
        b = self.shift * (2 * torch.rand(n, 1, 1, 1, **kw) - 1)
        return a * images + b + self.noise_std * torch.randn(images.shape, **kw)


class IndexedSegmentation(torch.utils.data.Dataset):
    """Items `{"pixel_values" (1, H, W), "labels" (H, W), "sample_idx"}`; `sample_idx` is the position in this set."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor):
        if len(images) != len(masks):
            raise ValueError(f"images and masks must have the same length, got {len(images)} and {len(masks)}")
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.images[i], "labels": self.masks[i], "sample_idx": torch.tensor(i)}


class TwoViewCollator:
    """Stacks items and draws two independent augmented views: `pixel_values`, `pixel_values_2`.

    With `augmentation=None` it stacks the items only (one un-augmented view, e.g. for evaluation). The random
    draws come from `generator` (or torch's global generator when None, which `Trainer` seeds).
    """

    def __init__(self, augmentation: PhotometricAugmentation | None = None, generator: torch.Generator | None = None):
        self.augmentation, self.generator = augmentation, generator

    def __call__(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        batch = {key: torch.stack([torch.as_tensor(item[key]) for item in items]) for key in items[0]}
        if self.augmentation is not None:
            clean = batch["pixel_values"]
            batch["pixel_values"] = self.augmentation(clean, self.generator)
            batch["pixel_values_2"] = self.augmentation(clean, self.generator)
        return batch


__all__ = [
    "IMAGE_SIZE",
    "IndexedSegmentation",
    "PhotometricAugmentation",
    "ShapesSegmentation",
    "TwoViewCollator",
    "make_shapes_segmentation",
]
