"""A tiny UNet for image segmentation as a transformers model, exposing the encoder bottleneck as its latent.

AdaWAC's consistency term compares the encoder's deepest feature map of two augmented views (the official code
compares `features[-1]` of a `segmentation_models_pytorch` UNet). This small UNet returns that map as `latent` when
called with `return_latent=True`, so any AdaWAC loss or trainer can read it. It is a `PreTrainedModel`, so recipes
get `save_pretrained` / `from_pretrained` for free. (Kept in the AdaWAC room until a second method needs it.)

Architecture, for `depth = D` and `base_channels = c`:

    encoder:  x ─ DoubleConv(in, c) ─ [MaxPool2d(2) ─ DoubleConv(c·2^(d−1), c·2^d)] for d = 1..D  → latent
    decoder:  for d = D..1: ConvTranspose2d(c·2^d, c·2^(d−1), 2, stride 2), concat the skip at that scale,
              DoubleConv(c·2^d, c·2^(d−1))
    head:     Conv2d(c, num_labels, 1)  → logits (batch, num_labels, H, W)

with `DoubleConv = (Conv3x3 → BatchNorm → ReLU) × 2`; H and W must be divisible by 2^D.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput


class TinyUNetConfig(PreTrainedConfig):
    r"""
    Configuration of [`TinyUNetForSegmentation`].

    Args:
        in_channels (`int`, *optional*, defaults to 1):
            Channels of the input images.
        num_labels (`int`, *optional*, defaults to 2):
            Number of segmentation classes (background included).
        base_channels (`int`, *optional*, defaults to 8):
            Channels of the first encoder block; each downsampling doubles them.
        depth (`int`, *optional*, defaults to 2):
            Number of downsamplings; the latent has `base_channels · 2^depth` channels at `1/2^depth` resolution.
    """

    model_type = "hfm-tiny-unet"

    def __init__(self, in_channels: int = 1, num_labels: int = 2, base_channels: int = 8, depth: int = 2, **kwargs):
        for name, value, low in (("in_channels", in_channels, 1), ("base_channels", base_channels, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ValueError(f"depth must be an int >= 1, got {depth!r}")
        if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2 (background and at least one class), got {num_labels!r}")
        self.in_channels = in_channels
        self.base_channels = base_channels
        self.depth = depth
        super().__init__(num_labels=num_labels, **kwargs)


@dataclass
class TinyUNetOutput(ModelOutput):
    """Output of [`TinyUNetForSegmentation`].

    Args:
        loss (`torch.FloatTensor`, *optional*): pixel cross-entropy, when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, num_labels, H, W)`): per-pixel class scores.
        latent (`torch.FloatTensor` of shape `(batch, base_channels·2^depth, H/2^depth, W/2^depth)`, *optional*): the
            encoder bottleneck, when `return_latent=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latent: torch.FloatTensor | None = None


class DoubleConv(nn.Sequential):
    """`(Conv3x3 → BatchNorm → ReLU) × 2`."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class TinyUNetPreTrainedModel(PreTrainedModel):
    config: TinyUNetConfig
    config_class = TinyUNetConfig
    base_model_prefix = "unet"
    main_input_name = "pixel_values"

    @torch.no_grad()
    def _init_weights(self, module):
        # PyTorch's default init for convolutions; BatchNorm starts as the identity
        if isinstance(module, nn.BatchNorm2d):
            module.weight.fill_(1.0)
            module.bias.zero_()


class TinyUNetForSegmentation(TinyUNetPreTrainedModel):
    """The tiny UNet of the module docstring: `logits` per pixel, and the encoder bottleneck as `latent` on request.

    Example:

    ```python
    >>> model = TinyUNetForSegmentation(TinyUNetConfig(base_channels=8, depth=2))
    >>> out = model(pixel_values=torch.rand(4, 1, 16, 16), return_latent=True)
    >>> out.logits.shape, out.latent.shape
    (torch.Size([4, 2, 16, 16]), torch.Size([4, 32, 4, 4]))
    ```
    """

    def __init__(self, config: TinyUNetConfig):
        super().__init__(config)
        c, depth = config.base_channels, config.depth
        self.encoder = nn.ModuleList([DoubleConv(config.in_channels, c)])
        self.encoder.extend(DoubleConv(c * 2 ** (d - 1), c * 2**d) for d in range(1, depth + 1))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(c * 2**d, c * 2 ** (d - 1), 2, stride=2) for d in range(depth, 0, -1)
        )
        self.decoder = nn.ModuleList(DoubleConv(c * 2**d, c * 2 ** (d - 1)) for d in range(depth, 0, -1))
        self.head = nn.Conv2d(c, config.num_labels, 1)
        self.post_init()

    def _check_pixel_values(self, pixel_values: torch.Tensor) -> None:
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}")
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.in_channels:
            raise ValueError(
                f"pixel_values must have shape (batch, {self.config.in_channels}, H, W), got {tuple(pixel_values.shape)}"
            )
        factor = 2**self.config.depth
        if pixel_values.shape[-2] % factor or pixel_values.shape[-1] % factor:
            raise ValueError(
                f"pixel_values height and width must be divisible by 2^depth = {factor}, "
                f"got {tuple(pixel_values.shape[-2:])}"
            )

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.LongTensor | None = None,
        return_latent: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TinyUNetOutput | tuple:
        self._check_pixel_values(pixel_values)
        hidden = self.encoder[0](pixel_values)
        skips = []
        for block in self.encoder[1:]:
            skips.append(hidden)
            hidden = block(self.pool(hidden))
        latent = hidden
        for up, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
            hidden = block(torch.cat([up(hidden), skip], dim=1))
        logits = self.head(hidden)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1] + logits.shape[2:]:
                raise ValueError(
                    f"labels must have shape {tuple(logits.shape[:1] + logits.shape[2:])} (batch, H, W), "
                    f"got {tuple(labels.shape)}"
                )
            loss = nn.functional.cross_entropy(logits, labels.long())
        if return_dict is False:
            out = (logits, latent) if return_latent else (logits,)
            return ((loss,) + out) if loss is not None else out
        return TinyUNetOutput(loss=loss, logits=logits, latent=latent if return_latent else None)


__all__ = ["TinyUNetConfig", "TinyUNetForSegmentation", "TinyUNetOutput", "TinyUNetPreTrainedModel"]
