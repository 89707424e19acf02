"""An embedding model for metric learning: the shared hf-methods MLP as backbone and a linear embedding head.

`MLPForMetricLearning` maps `pixel_values` through the MLP backbone to features `h`, optionally appends per-example
`side_features` `s` (metadata, or the spurious label channel of the ECAML claim check), and embeds them with one
linear layer, `f = W [h; s] + b`. It exposes what ECAML needs: the features before the head (`outputs.features`) and
the head itself (`get_embedding_head()`), so a trainer can compute `head(features.detach())`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from hf_methods.common.metric_learning import binomial_deviance_loss
from hf_methods.common.mlp.configuration_mlp import MLPConfig
from hf_methods.common.mlp.modeling_mlp import MLPModel, MLPPreTrainedModel


@dataclass
class MetricLearningOutput(ModelOutput):
    """Output of [`MLPForMetricLearning`].

    Args:
        loss (`torch.FloatTensor`, *optional*): binomial deviance of the batch, when `labels` are given.
        embeddings (`torch.FloatTensor` of shape `(batch, embedding_size)`): `f = head(features)`.
        features (`torch.FloatTensor` of shape `(batch, hidden + side_features_size)`): the head's input `[h; s]`.
    """

    loss: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None


class MLPForMetricLearning(MLPPreTrainedModel):
    """[`MLPModel`] backbone plus a linear embedding head `f = W [h; s] + b`.

    The configuration is the shared [`MLPConfig`] with two extra attributes: `embedding_size` (default 32) and
    `side_features_size` (default 0: no side features).

    Example:

    ```python
    >>> config = MLPConfig(input_size=64, hidden_sizes=[128, 64], hidden_act="relu", embedding_size=32)
    >>> model = MLPForMetricLearning(config)
    >>> out = model(pixel_values=torch.rand(8, 64))
    >>> out.embeddings.shape, out.features.shape
    (torch.Size([8, 32]), torch.Size([8, 64]))
    ```
    """

    def __init__(self, config: MLPConfig):
        super().__init__(config)
        self.embedding_size = int(getattr(config, "embedding_size", 32))
        self.side_features_size = int(getattr(config, "side_features_size", 0))
        if self.embedding_size < 1:
            raise ValueError(f"config.embedding_size must be >= 1, got {self.embedding_size}")
        if self.side_features_size < 0:
            raise ValueError(f"config.side_features_size must be >= 0, got {self.side_features_size}")
        self.mlp = MLPModel(config)
        width = config.hidden_sizes[-1] if config.hidden_sizes else config.input_size
        self.embedding_head = nn.Linear(width + self.side_features_size, self.embedding_size)
        self.post_init()

    def get_embedding_head(self) -> nn.Module:
        """The head mapping `outputs.features` to `outputs.embeddings` (ECAML's energy-confusion branch reuses it)."""
        return self.embedding_head

    def forward(
        self,
        pixel_values: torch.Tensor,
        side_features: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MetricLearningOutput:
        features = self.mlp(pixel_values).last_hidden_state
        if self.side_features_size:
            if side_features is None:
                raise ValueError(
                    f"this model takes side_features of shape (batch, {self.side_features_size}); none were given"
                )
            if side_features.shape != (features.shape[0], self.side_features_size):
                raise ValueError(
                    f"side_features must have shape ({features.shape[0]}, {self.side_features_size}), "
                    f"got {tuple(side_features.shape)}"
                )
            features = torch.cat([features, side_features.to(features.dtype)], dim=-1)
        elif side_features is not None:
            raise ValueError("side_features were given but config.side_features_size is 0")
        embeddings = self.embedding_head(features)
        loss = binomial_deviance_loss(embeddings, labels) if labels is not None else None
        if return_dict is False:
            return tuple(v for v in (loss, embeddings, features) if v is not None)
        return MetricLearningOutput(loss=loss, embeddings=embeddings, features=features)


__all__ = ["MLPForMetricLearning", "MetricLearningOutput"]
