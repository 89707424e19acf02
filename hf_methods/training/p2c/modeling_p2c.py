"""`P2CForSequenceClassification`: an encoder with a classification head and an ensemble of preference heads (P2C)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_p2c import P2CConfig


@dataclass
class P2CSequenceClassifierOutput(ModelOutput):
    """Output of [`P2CForSequenceClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): cross-entropy of `logits` against `labels`.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`): classification scores.
        rewards (`torch.FloatTensor` of shape `(batch, num_preference_heads)`, *optional*): each head's reward
            `r_h(x, y) ∈ [−1, 1]` for the label `y` given as `reward_labels` (or `labels`).
        hidden_states, attentions: the encoder's, when asked for.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    rewards: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class P2CPreTrainedModel(PreTrainedModel):
    config: P2CConfig
    config_class = P2CConfig
    base_model_prefix = "p2c"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        # the encoder is a PreTrainedModel and initialises itself; this only reaches the heads
        std = self.config.initializer_range
        if isinstance(module, nn.Linear) and std > 0:
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class P2CForSequenceClassification(P2CPreTrainedModel):
    """An encoder with a classification head and `num_preference_heads` preference heads (Kim, Shin & Kang, ICML
    2023; official `Classifier_pref_ensemble` in `minnesotanlp/p2c`).

    The classification head reads the encoder's pooled output (`pooler_output` when the encoder has one, as BERT does,
    otherwise the first-token state) through dropout and a linear layer. Each preference head reads the first-token
    (CLS) state concatenated with the task label repeated `hidden_size` times, `[h(x); y·1]`, through two
    Linear–ReLU layers and a Linear–tanh output: `r_h(x, y) ∈ [−1, 1]`. Pairs are scored with Bradley–Terry
    (`hf_methods.training.p2c.loss`); train with [`P2CTrainer`].

    The model works like any `*ForSequenceClassification`: given `labels` it returns their cross-entropy as `loss`,
    so pipelines and a plain `Trainer` can use it; the preference heads only run when rewards are asked for.

    Args:
        config ([`P2CConfig`]): the encoder's configuration and the heads' sizes.
    """

    def __init__(self, config: P2CConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config)
        hidden = config.encoder_hidden_size
        width = config.preference_hidden_size or hidden
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden, config.num_labels)
        self.preference_heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(2 * hidden, width),
                nn.ReLU(),
                nn.Linear(width, width),
                nn.ReLU(),
                nn.Linear(width, 1),
                nn.Tanh(),
            )
            for _ in range(config.num_preference_heads)
        )
        self.main_input_name = getattr(self.encoder, "main_input_name", "input_ids")
        self.post_init()

    @classmethod
    def from_backbone(
        cls, encoder: PreTrainedModel | str, num_labels: int = 2, num_preference_heads: int = 3, **config_kwargs
    ) -> P2CForSequenceClassification:
        """A P2C model around a (pretrained) encoder: its weights are copied in, the heads are new.

        Args:
            encoder (`PreTrainedModel` or `str`): an encoder model (e.g. `AutoModel.from_pretrained("roberta-base")`)
                or a name/path passed to `AutoModel.from_pretrained`.
            num_labels, num_preference_heads, **config_kwargs: the rest of [`P2CConfig`].
        """
        if isinstance(encoder, str):
            encoder = AutoModel.from_pretrained(encoder)
        if not isinstance(encoder, PreTrainedModel):
            raise TypeError(f"encoder must be a PreTrainedModel or a model name, got {type(encoder).__name__}")
        config = P2CConfig(
            encoder_config=encoder.config,
            num_labels=num_labels,
            num_preference_heads=num_preference_heads,
            **config_kwargs,
        )
        model = cls(config)
        model.encoder.load_state_dict(encoder.state_dict())
        return model

    def encode(self, **encoder_inputs) -> tuple[torch.Tensor, torch.Tensor, ModelOutput]:
        """`(pooled, cls_state, encoder_outputs)`: the classifier's input, the preference heads' input, the raw output."""
        outputs = self.encoder(**encoder_inputs, return_dict=True)
        hidden = outputs.last_hidden_state
        first = hidden[:, 0] if hidden.dim() == 3 else hidden
        pooled = getattr(outputs, "pooler_output", None)
        return (first if pooled is None else pooled), first, outputs

    def preference_rewards(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """`r_h(x, y)` of every head, shape `(batch, num_preference_heads)`, from CLS features and task labels."""
        if not isinstance(labels, torch.Tensor) or labels.is_floating_point():
            raise TypeError(f"reward labels must be an integer tensor, got {getattr(labels, 'dtype', type(labels))}")
        if labels.shape != features.shape[:1]:
            raise ValueError(f"reward labels must have shape ({features.shape[0]},), got {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.config.num_labels):
            raise ValueError(f"reward labels must lie in [0, {self.config.num_labels})")
        # official code: concatenate the label index repeated over the hidden size
        indicator = labels.to(features.dtype)[:, None].expand_as(features)
        head_input = torch.cat([features, indicator], dim=-1)
        return torch.cat([head(head_input) for head in self.preference_heads], dim=-1)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        reward_labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> P2CSequenceClassifierOutput | tuple:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds: a text encoder's inputs.
            pixel_values (`torch.FloatTensor` of shape `(batch, features)`): the input of a feature encoder (the
                hf-methods MLP); leave `None` for a text encoder.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*): task labels; gives `loss` (cross-entropy)
                and, unless `reward_labels` is given, the labels the preference heads are conditioned on.
            reward_labels (`torch.LongTensor` of shape `(batch,)`, *optional*): the label `y` of `r_h(x, y)`.
        """
        encoder_inputs = {
            name: value
            for name, value in (
                ("input_ids", input_ids),
                ("attention_mask", attention_mask),
                ("token_type_ids", token_type_ids),
                ("position_ids", position_ids),
                ("inputs_embeds", inputs_embeds),
                ("pixel_values", pixel_values),
            )
            if value is not None
        }
        if not encoder_inputs:
            raise ValueError("P2CForSequenceClassification needs input_ids, inputs_embeds or pixel_values")
        if output_hidden_states:
            encoder_inputs["output_hidden_states"] = True
        if output_attentions:
            encoder_inputs["output_attentions"] = True
        pooled, first, outputs = self.encode(**encoder_inputs)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
            loss = nn.functional.cross_entropy(logits, labels)
        condition = reward_labels if reward_labels is not None else labels
        rewards = self.preference_rewards(first, condition) if condition is not None else None
        output = P2CSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            rewards=rewards,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = ["P2CForSequenceClassification", "P2CPreTrainedModel", "P2CSequenceClassifierOutput"]
