"""Attention-based multiple-instance learning (ABMIL) as a transformers model (`model_type` "hfm-mhim_mil").

A bag is a set of `L` instance feature vectors; the model scores each instance, pools the bag with the softmax of the
scores (Ilse et al., 2018) and classifies the pooled feature:

    h_i = act(W x_i),   s_i = w_2ᵀ act(W_1 h_i),   a = softmax_{i ∈ kept}(s),   z = Σ_i a_i h_i,   logits = C z

Bags of different lengths are batched by padding with `attention_mask` (1 = a real instance, 0 = padding); MHIM-MIL's
student sees a bag with its masked instances removed the same way (their attention is exactly 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_mhim_mil import ABMILConfig

_ACT = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass
class BagClassifierOutput(ModelOutput):
    """Outputs of [`ABMILForBagClassification`].

    Args:
        loss: cross-entropy of `logits` against `labels`, when `labels` are given.
        logits (`(batch, num_labels)`): bag logits.
        bag_features (`(batch, hidden_size)`): the attention-pooled bag features `z` (MHIM's consistency loss
            compares these between student and teacher).
        attentions (`(batch, L)`): the softmax attention of every instance (0 for padded or masked instances).
        attention_scores (`(batch, L)`): the scores before the softmax (`-inf` where masked).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    bag_features: torch.FloatTensor | None = None
    attentions: torch.FloatTensor | None = None
    attention_scores: torch.FloatTensor | None = None


class ABMILPreTrainedModel(PreTrainedModel):
    config: ABMILConfig
    config_class = ABMILConfig
    base_model_prefix = "abmil"
    main_input_name = "instances"

    @torch.no_grad()
    def _init_weights(self, module):
        # the official `initialize_weights`: Xavier-normal weights, zero biases
        if isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
            if module.bias is not None:
                module.bias.zero_()


class ABMILForBagClassification(ABMILPreTrainedModel):
    """ABMIL bag classifier; `forward(instances (B, L, d), attention_mask=None, labels=None)` → [`BagClassifierOutput`].

    Example:

    ```python
    >>> model = ABMILForBagClassification(ABMILConfig(input_dim=64, hidden_size=128, num_labels=2))
    >>> out = model(instances=torch.rand(1, 40, 64), labels=torch.tensor([1]))
    >>> out.logits.shape, out.attentions.shape
    (torch.Size([1, 2]), torch.Size([1, 40]))
    ```
    """

    def __init__(self, config: ABMILConfig):
        super().__init__(config)
        self.projection = nn.Sequential(
            nn.Linear(config.input_dim, config.hidden_size),
            _ACT[config.hidden_act](),
            nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity(),
        )
        self.attention = nn.Sequential(
            nn.Linear(config.hidden_size, config.attention_size, bias=False),
            _ACT[config.attention_act](),
            nn.Linear(config.attention_size, 1, bias=False),
        )
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _check(self, instances, attention_mask, labels):
        if not isinstance(instances, torch.Tensor) or not instances.is_floating_point():
            raise TypeError(f"instances must be a float tensor (batch, L, input_dim), got {type(instances).__name__}")
        if instances.dim() == 2:
            instances = instances.unsqueeze(0)
        if instances.dim() != 3 or instances.shape[-1] != self.config.input_dim:
            raise ValueError(
                f"instances must have shape (batch, L, {self.config.input_dim}) or (L, {self.config.input_dim}), "
                f"got {tuple(instances.shape)}"
            )
        if instances.shape[1] == 0:
            raise ValueError("instances must hold at least one instance per bag (L >= 1)")
        if attention_mask is not None:
            if not isinstance(attention_mask, torch.Tensor):
                raise TypeError(f"attention_mask must be a tensor, got {type(attention_mask).__name__}")
            if attention_mask.shape != instances.shape[:2]:
                raise ValueError(
                    f"attention_mask must have shape {tuple(instances.shape[:2])} (batch, L), "
                    f"got {tuple(attention_mask.shape)}"
                )
            attention_mask = attention_mask.bool()
            if not attention_mask.any(-1).all():
                raise ValueError("attention_mask keeps no instance of some bag: every bag needs at least one")
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.is_floating_point():
                raise TypeError("labels must be an integer tensor of bag classes")
            labels = labels.reshape(-1)
            if labels.shape[0] != instances.shape[0]:
                raise ValueError(f"labels must have one class per bag ({instances.shape[0]}), got {labels.shape[0]}")
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.config.num_labels):
                raise ValueError(f"labels must lie in [0, {self.config.num_labels})")
        return instances, attention_mask, labels

    def forward(
        self,
        instances: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BagClassifierOutput:
        r"""
        Args:
            instances (`torch.FloatTensor` of shape `(batch, L, input_dim)` or `(L, input_dim)`): the bags.
            attention_mask (`torch.Tensor` of shape `(batch, L)`, *optional*): 1/True for instances to pool,
                0/False for padding or masked instances. Every bag must keep at least one instance.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*): bag classes; gives the cross-entropy loss.
        """
        instances, attention_mask, labels = self._check(instances, attention_mask, labels)
        hidden = self.projection(instances)  # (B, L, H)
        scores = self.attention(hidden).squeeze(-1)  # (B, L)
        if attention_mask is not None:
            scores = scores.masked_fill(~attention_mask, float("-inf"))
        attentions = F.softmax(scores, dim=-1)
        bag_features = torch.einsum("bl,blh->bh", attentions, hidden)
        logits = self.classifier(bag_features)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        output = BagClassifierOutput(
            loss=loss, logits=logits, bag_features=bag_features, attentions=attentions, attention_scores=scores
        )
        return output if return_dict is not False else output.to_tuple()


ABMILForBagClassification.register_for_auto_class("AutoModel")

__all__ = ["ABMILForBagClassification", "ABMILPreTrainedModel", "BagClassifierOutput"]
