"""The novel-class-discovery network of CrKD as a transformers model (`model_type` "hfm-crkd").

An MLP encoder `f`, a known-class head of L2-normalised prototypes on the normalised features (cosine logits), and
`num_heads` novel-class heads, each an MLP projector (Linear → BatchNorm → ReLU → Linear) whose normalised output
meets its own normalised prototypes: the structure of the official `Net` (`kleinzcy/Cr-KD-NCD`, `rKD.py`,
`model/model_utils.py`), with an MLP in place of the ResNet-18 / ViT backbone. The model also keeps, in the buffer
`head_losses`, the running clustering loss of each novel head, from which it picks its best head (`best_head`) as the
official code does at evaluation time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_crkd import CrKDNCDConfig

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


@dataclass
class CrKDNCDOutput(ModelOutput):
    """Outputs of [`CrKDNCDModel`].

    Args:
        loss: cross-entropy of `known_logits / τ` against `labels` (known classes), when `labels` are given.
        logits (`(batch, C_k + C_n)`): the known-class logits followed by the best novel head's logits.
        known_logits (`(batch, C_k)`): cosine logits of the known-class head.
        novel_logits (`(num_heads, batch, C_n)`): cosine logits of every novel-class head.
        features (`(batch, hidden_sizes[-1])`): the encoder's features.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    known_logits: torch.FloatTensor | None = None
    novel_logits: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None


class Prototypes(nn.Module):
    """Cosine logits `⟨x, w_c⟩` of unit inputs against prototypes `w_c` kept at unit norm by [`normalize`]."""

    def __init__(self, input_size: int, num_prototypes: int):
        super().__init__()
        self.prototypes = nn.Linear(input_size, num_prototypes, bias=False)

    @torch.no_grad()
    def normalize(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prototypes(x)


class NovelHead(nn.Module):
    """One novel-class head: `prototypes(normalize(Linear(ReLU(BN(Linear(features))))))` (the official `MultiHead`)."""

    def __init__(self, input_size: int, hidden_size: int, projection_size: int, num_prototypes: int):
        super().__init__()
        self.projector = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            nn.BatchNorm1d(hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, projection_size),
        )
        self.prototypes = Prototypes(projection_size, num_prototypes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(self.projector(features), dim=-1))


class CrKDNCDPreTrainedModel(PreTrainedModel):
    config: CrKDNCDConfig
    config_class = CrKDNCDConfig
    base_model_prefix = "crkd"
    main_input_name = "pixel_values"

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.BatchNorm1d):
            module.weight.fill_(1.0)
            module.bias.zero_()


class CrKDNCDModel(CrKDNCDPreTrainedModel):
    """Encoder + known-class prototypes + `num_heads` novel-class heads (see the module docstring).

    `forward(pixel_values, labels=None)` returns a [`CrKDNCDOutput`]; with `labels` (known classes) it also returns
    the supervised pretraining loss `CE(known_logits / τ, labels)` of the official `train_pretrain`, so a plain
    `transformers.Trainer` pretrains it on the labelled classes. Call [`normalize_prototypes`] before each training
    step, as the official code does.
    """

    def __init__(self, config: CrKDNCDConfig):
        super().__init__(config)
        layers, width = [], config.input_size
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), _ACT[config.hidden_act]()]
            width = hidden
        self.encoder = nn.Sequential(*layers)
        self.known_head = Prototypes(width, config.num_known_classes)
        self.novel_heads = nn.ModuleList(
            NovelHead(width, config.head_hidden_size, config.projection_size, config.num_novel_classes)
            for _ in range(config.num_heads)
        )
        # running clustering loss of each novel head (summed over training steps); the best head has the lowest
        self.register_buffer("head_losses", torch.zeros(config.num_heads), persistent=True)
        self.post_init()
        self.normalize_prototypes()

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        """Rescale every prototype to unit norm (the official `normalize_prototypes`, run before each step)."""
        self.known_head.normalize()
        for head in self.novel_heads:
            head.prototypes.normalize()

    @property
    def best_head(self) -> int:
        """The novel head with the lowest accumulated clustering loss (head 0 before any discovery step)."""
        return int(torch.argmin(self.head_losses).item())

    def _flatten(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if not isinstance(pixel_values, torch.Tensor) or not pixel_values.is_floating_point():
            raise TypeError("pixel_values must be a float tensor")
        x = pixel_values.reshape(pixel_values.shape[0], -1) if pixel_values.dim() > 2 else pixel_values
        if x.dim() != 2 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"pixel_values must flatten to (batch, {self.config.input_size}) features, "
                f"got shape {tuple(pixel_values.shape)}"
            )
        return x

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CrKDNCDOutput:
        features = self.encoder(self._flatten(pixel_values))
        known_logits = self.known_head(F.normalize(features, dim=-1))
        novel_logits = torch.stack([head(features) for head in self.novel_heads])
        logits = torch.cat([known_logits, novel_logits[self.best_head]], dim=-1)
        loss = None
        if labels is not None:
            if labels.shape != known_logits.shape[:1]:
                raise ValueError(f"labels must have shape ({known_logits.shape[0]},), got {tuple(labels.shape)}")
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.config.num_known_classes):
                raise ValueError(
                    f"labels must be known classes in [0, {self.config.num_known_classes}) for the supervised loss"
                )
            loss = F.cross_entropy(known_logits / self.config.logit_temperature, labels)
        output = CrKDNCDOutput(
            loss=loss, logits=logits, known_logits=known_logits, novel_logits=novel_logits, features=features
        )
        return output if return_dict is not False else output.to_tuple()

    @torch.no_grad()
    def predict_novel(self, pixel_values: torch.Tensor, head: int | None = None) -> torch.Tensor:
        """Cluster ids in `[0, C_n)` from one novel head (the best head by default), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            novel = self(pixel_values=pixel_values).novel_logits
        finally:
            self.train(was_training)
        return novel[self.best_head if head is None else head].argmax(-1)


CrKDNCDModel.register_for_auto_class("AutoModel")

__all__ = ["CrKDNCDModel", "CrKDNCDOutput", "CrKDNCDPreTrainedModel"]
