"""Image corruptions written in torch, on the fly: Gaussian noise, Gaussian blur and contrast reduction.

They follow the definitions of the common-corruption benchmarks the paper trains and tests on (CIFAR-10-C, Tiny-
ImageNet-C, Hendrycks & Dietterich 2019), which are not available offline: the severity is the parameter itself
(σ of the noise, σ of the blur kernel, the contrast factor). Images are float tensors in [0, 1] of shape
`(..., H, W)` (e.g. `(N, C, H, W)`); flattened images are reshaped by the caller. Every output is clipped to [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or not torch.is_floating_point(images):
        raise TypeError(f"images must be a floating-point tensor in [0, 1], got {type(images).__name__}")
    if images.dim() < 2:
        raise ValueError(f"images must have shape (..., H, W), got {tuple(images.shape)}")
    return images


def _non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def gaussian_noise(images: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """clip(x + σ·ε, 0, 1), ε ~ N(0, 1) per pixel (CIFAR-10-C `gaussian_noise`)."""
    images = _check_images(images)
    sigma = _non_negative("sigma", sigma)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype, device=images.device)
    return (images + sigma * noise).clamp(0.0, 1.0)


def gaussian_kernel1d(sigma: float, truncate: float = 2.0) -> torch.Tensor:
    """The normalised 1-D Gaussian of standard deviation σ on [−r, r], r = ⌊truncate·σ + 0.5⌋ (scipy's radius)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(images: torch.Tensor, sigma: float, *, truncate: float = 2.0) -> torch.Tensor:
    """Separable Gaussian blur of each (H, W) plane with standard deviation σ (CIFAR-10-C `gaussian_blur`).

    Edges are padded by repeating the border pixel (scipy's `mode="nearest"`); the kernel is cut at
    ⌊truncate·σ + 0.5⌋ pixels. σ = 0 returns the images unchanged.
    """
    images = _check_images(images)
    sigma = _non_negative("sigma", sigma)
    truncate = _non_negative("truncate", truncate)
    if sigma == 0:
        return images.clone()
    kernel = gaussian_kernel1d(sigma, truncate).to(images.dtype).to(images.device)
    radius = (kernel.numel() - 1) // 2
    shape = images.shape
    planes = images.reshape(-1, 1, shape[-2], shape[-1])
    planes = F.pad(planes, (radius, radius, radius, radius), mode="replicate")
    planes = F.conv2d(planes, kernel.view(1, 1, -1, 1))  # along H
    planes = F.conv2d(planes, kernel.view(1, 1, 1, -1))  # along W
    return planes.reshape(shape).clamp(0.0, 1.0)


def contrast(images: torch.Tensor, factor: float) -> torch.Tensor:
    """clip((x − m)·c + m, 0, 1), m the mean of each (H, W) plane (CIFAR-10-C `contrast`; c < 1 lowers contrast)."""
    images = _check_images(images)
    factor = _non_negative("factor", factor)
    means = images.mean(dim=(-2, -1), keepdim=True)
    return ((images - means) * factor + means).clamp(0.0, 1.0)


CORRUPTIONS = {"gaussian_noise": gaussian_noise, "gaussian_blur": gaussian_blur, "contrast": contrast}


def apply_image_corruption(
    images: torch.Tensor, name: str, severity: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Applies the corruption `name` (a key of `CORRUPTIONS`) with its parameter `severity`.

    Args:
        images (`torch.Tensor`): floats in [0, 1], shape `(..., H, W)`.
        name (`str`): `"gaussian_noise"` (severity = σ of the noise), `"gaussian_blur"` (σ of the kernel, pixels) or
            `"contrast"` (severity = the contrast factor c; smaller is harder).
        severity (`float`): the corruption's parameter.
        generator (`torch.Generator`, *optional*): the random stream of the noise.
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"name must be one of {sorted(CORRUPTIONS)}, got {name!r}")
    if name == "gaussian_noise":
        return gaussian_noise(images, severity, generator=generator)
    return CORRUPTIONS[name](images, severity)
