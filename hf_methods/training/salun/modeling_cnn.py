"""A tiny convolutional classifier for 8×8 digits (the network of the SalUn CPU check), as a transformers model.

Two 3×3 convolutions (16 and 32 channels, ReLU, 2×2 max pooling after each) and a linear classifier: about 6k
parameters. It is a `PreTrainedModel`, so the recipe saves it with `save_pretrained` and it loads back with
`TinyCNNForImageClassification.from_pretrained`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput


class TinyCNNConfig(PreTrainedConfig):
    r"""
    Configuration of [`TinyCNNForImageClassification`].

    Args:
        image_size (`int`, *optional*, defaults to 8):
            Side of the square input images (divisible by 4: two 2×2 poolings).
        num_channels (`int`, *optional*, defaults to 1):
            Channels of the input images.
        hidden_channels (`list[int]`, *optional*, defaults to `[16, 32]`):
            Output channels of the two convolutions.
        num_labels (`int`, *optional*, defaults to 10):
            Number of classes.
    """

    model_type = "hfm-salun-cnn"

    def __init__(
        self,
        image_size: int = 8,
        num_channels: int = 1,
        hidden_channels: list[int] | None = None,
        num_labels: int = 10,
        **kwargs,
    ):
        hidden_channels = [16, 32] if hidden_channels is None else [int(c) for c in hidden_channels]
        if len(hidden_channels) != 2 or any(c < 1 for c in hidden_channels):
            raise ValueError(f"hidden_channels must be two positive channel counts, got {hidden_channels}")
        if not (isinstance(image_size, int) and image_size >= 4 and image_size % 4 == 0):
            raise ValueError(f"image_size must be a positive multiple of 4 (two 2×2 poolings), got {image_size!r}")
        if not (isinstance(num_channels, int) and num_channels >= 1):
            raise ValueError(f"num_channels must be an int >= 1, got {num_channels!r}")
        if not (isinstance(num_labels, int) and num_labels >= 2):
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")
        self.image_size = image_size
        self.num_channels = num_channels
        self.hidden_channels = hidden_channels
        super().__init__(num_labels=num_labels, **kwargs)


class TinyCNNForImageClassification(PreTrainedModel):
    """conv3×3 → ReLU → maxpool2 → conv3×3 → ReLU → maxpool2 → linear; cross-entropy loss when `labels` are given.

    `pixel_values` may be `(batch, C, H, W)` images or flat `(batch, C·H·W)` features (digits as loaded flat).
    """

    config: TinyCNNConfig
    config_class = TinyCNNConfig
    base_model_prefix = "cnn"
    main_input_name = "pixel_values"

    def __init__(self, config: TinyCNNConfig):
        super().__init__(config)
        c1, c2 = config.hidden_channels
        self.conv1 = nn.Conv2d(config.num_channels, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        side = config.image_size // 4
        self.classifier = nn.Linear(c2 * side * side, config.num_labels)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        pass  # PyTorch's default initialisation of Conv2d and Linear

    def _as_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        c, s = self.config.num_channels, self.config.image_size
        if pixel_values.dim() == 2 and pixel_values.shape[1] == c * s * s:
            return pixel_values.reshape(-1, c, s, s)
        if pixel_values.dim() == 4 and tuple(pixel_values.shape[1:]) == (c, s, s):
            return pixel_values
        raise ValueError(
            f"pixel_values must have shape (batch, {c}, {s}, {s}) or (batch, {c * s * s}), got {tuple(pixel_values.shape)}"
        )

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        hidden = self.pool(torch.relu(self.conv1(self._as_images(pixel_values))))
        hidden = self.pool(torch.relu(self.conv2(hidden)))
        logits = self.classifier(hidden.flatten(1))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels)
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return ImageClassifierOutput(loss=loss, logits=logits)


__all__ = ["TinyCNNConfig", "TinyCNNForImageClassification"]
