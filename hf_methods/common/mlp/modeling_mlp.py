"""The hf-methods MLP. Self-contained (torch, transformers and its config only) so checkpoints load as remote code."""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import ModelOutput

from .configuration_mlp import MLPConfig

_ACT = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


@dataclass
class MLPOutput(ModelOutput):
    """Last hidden features of [`MLPModel`] (`last_hidden_state`, shape `(batch, hidden_sizes[-1])`)."""

    last_hidden_state: torch.FloatTensor | None = None


class MLPPreTrainedModel(PreTrainedModel):
    config: MLPConfig
    config_class = MLPConfig
    base_model_prefix = "mlp"
    main_input_name = "pixel_values"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a damaged weights file raises an `OSError` naming the checkpoint."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as err:  # transformers lets safetensors' bare error through, with no path
            raise OSError(
                f"The safetensors weights (model*.safetensors) of {pretrained_model_name_or_path} are corrupted or "
                f"truncated ({err}): save or download the checkpoint again."
            ) from err

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear) and std > 0:
            module.weight.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.zero_()

    def _flatten(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = pixel_values.reshape(pixel_values.shape[0], -1) if pixel_values.dim() > 2 else pixel_values
        if x.dim() != 2 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"pixel_values must flatten to (batch, {self.config.input_size}) features, "
                f"got shape {tuple(pixel_values.shape)}"
            )
        return x


class MLPModel(MLPPreTrainedModel):
    """Hidden layers only: `h_{l+1} = act(W_l h_l + b_l)`."""

    def __init__(self, config: MLPConfig):
        super().__init__(config)
        layers, width = [], config.input_size
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), _ACT[config.hidden_act]()]
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = hidden
        self.layers = nn.Sequential(*layers)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, return_dict: bool | None = None, **kwargs) -> MLPOutput:
        hidden = self.layers(self._flatten(pixel_values))
        return MLPOutput(last_hidden_state=hidden) if return_dict is not False else (hidden,)


class MLPForImageClassification(MLPPreTrainedModel):
    """[`MLPModel`] plus a linear classifier; cross-entropy loss when `labels` are given."""

    def __init__(self, config: MLPConfig):
        super().__init__(config)
        self.mlp = MLPModel(config)
        width = config.hidden_sizes[-1] if config.hidden_sizes else config.input_size
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        hidden = self.mlp(pixel_values).last_hidden_state
        logits = self.classifier(hidden)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
            loss = nn.functional.cross_entropy(logits, labels)
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return ImageClassifierOutput(loss=loss, logits=logits)


MLPConfig.register_for_auto_class()
MLPModel.register_for_auto_class("AutoModel")
MLPForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = ["MLPForImageClassification", "MLPModel", "MLPOutput", "MLPPreTrainedModel"]
