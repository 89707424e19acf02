"""PyTorch single-hidden-layer network assembled by gradient boosting (Emami & Martínez-Muñoz, GBNN).

This file is self-contained (torch, transformers and its own configuration only), so that a saved checkpoint loads
with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_gbnn import GradientBoostedMLPConfig

_ACTIVATIONS = {"logistic": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}


@dataclass
class GradientBoostedMLPOutput(ModelOutput):
    r"""
    Output of [`GradientBoostedMLPModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Mean loss of the objective: squared error summed over targets (`"squared"`), log(1 + e^{−2yF})
            (`"log_exponential"`) or softmax cross-entropy (`"multinomial"`).
        logits (`torch.FloatTensor` of shape `(batch, num_labels)` or `(batch, output_size)`):
            Class scores whose softmax is the model's class probabilities (for `"log_exponential"`: `[0, 2F]`, so
            that softmax gives p(class 1) = σ(2F)), or the regression predictions.
        decision_function (`torch.FloatTensor` of shape `(batch, score_size)`):
            The boosted scores F(x) = F_0 + Σ_t ρ_t f_t(x).
        hidden_states (`torch.FloatTensor` of shape `(batch, hidden_size)`):
            Hidden activations σ(Wx + b), one column per unit in the order the units were trained.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    decision_function: torch.FloatTensor | None = None
    hidden_states: torch.FloatTensor | None = None


class GradientBoostedMLPPreTrainedModel(PreTrainedModel):
    config: GradientBoostedMLPConfig
    config_class = GradientBoostedMLPConfig
    base_model_prefix = "gbnn"
    main_input_name = "inputs"
    _no_split_modules = []

    @torch.no_grad()
    def _init_weights(self, module):
        # PyTorch's default Linear initialisation; the per-unit bias shares start at zero. A model from
        # `GradientBoostedMLPTrainer.fit` gets all of its weights from boosting instead.
        if isinstance(module, GradientBoostedMLPModel):
            module.unit_output_bias.zero_()


class GradientBoostedMLPModel(GradientBoostedMLPPreTrainedModel):
    r"""
    The network F(x) = V σ(Wx + b) + c that gradient boosting assembles (Emami & Martínez-Muñoz, GBNN): T boosting
    steps of J hidden units each are stacked into `hidden` (row t·J + j is unit j of step t), the output weights of
    step t are ρ_t times its learner's output weights, and the output bias is c = F_0 + Σ_t ρ_t b_t.

    The buffer `unit_output_bias` (`(hidden_size, score_size)`) keeps each step's share ρ_t b_t of the output bias
    (on the first unit of its step), so that [`~GradientBoostedMLPModel.truncate_hidden`] returns exactly the model
    boosting had after fewer steps. For the binary log-exponential objective the output layer holds 2F (the ×2 of the
    official `to_NN`), so the logits `[0, 2F]` are standard two-class logits.

    Args:
        config ([`GradientBoostedMLPConfig`]): Model configuration.
    """

    def __init__(self, config: GradientBoostedMLPConfig):
        super().__init__(config)
        self.activation = _ACTIVATIONS[config.hidden_act]
        self.hidden = nn.Linear(config.input_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.score_size)
        self.register_buffer("unit_output_bias", torch.zeros(config.hidden_size, config.score_size), persistent=True)
        self.post_init()

    @property
    def output_scale(self) -> float:
        """2 for the log-exponential objective (the output layer holds 2F), else 1."""
        return 2.0 if self.config.objective == "log_exponential" else 1.0

    def _check_inputs(self, inputs) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"`inputs` must be a torch.Tensor, got {type(inputs).__name__}.")
        if inputs.dim() != 2 or inputs.shape[-1] != self.config.input_size:
            raise ValueError(
                f"`inputs` must have shape (batch, input_size={self.config.input_size}), got {tuple(inputs.shape)}."
            )
        return inputs.to(self.hidden.weight.dtype)

    def forward(
        self, inputs: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None, **kwargs
    ) -> GradientBoostedMLPOutput | tuple:
        r"""
        Args:
            inputs (`torch.FloatTensor` of shape `(batch, input_size)`):
                Tabular features (standardised as they were for training).
            labels (`torch.Tensor`, *optional*):
                Class indices `(batch,)` for the classification objectives, targets `(batch,)` or
                `(batch, output_size)` for `"squared"`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        hidden_states = self.activation(self.hidden(self._check_inputs(inputs)))
        raw = self.output(hidden_states)
        decision = raw / self.output_scale
        if self.config.objective == "log_exponential":
            logits = torch.cat([torch.zeros_like(raw), raw], dim=-1)
        else:
            logits = raw
        loss = None
        if labels is not None:
            loss = self._loss(logits, labels)
        if not return_dict:
            return tuple(v for v in (loss, logits, decision, hidden_states) if v is not None)
        return GradientBoostedMLPOutput(
            loss=loss, logits=logits, decision_function=decision, hidden_states=hidden_states
        )

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config.objective == "squared":
            target = labels.to(logits.dtype).reshape(logits.shape)
            return (target - logits).pow(2).sum(-1).mean()
        # log(1 + e^{−2yF}) is the cross-entropy of the logits [0, 2F]
        return F.cross_entropy(logits, labels.long())

    @torch.no_grad()
    def keep_hidden_units(self, keep: torch.Tensor) -> GradientBoostedMLPModel:
        """
        Switches off every hidden unit not listed in `keep` (in place): its column of the output weights and its share
        of the output bias are removed, and `config.hidden_size` shrinks to `len(keep)`.

        Args:
            keep (`torch.LongTensor` of shape `(n,)` or a list of ints): indices of the units to keep, distinct, in
                [0, hidden_size).

        Returns:
            The model itself.
        """
        keep = torch.as_tensor(keep, dtype=torch.long).flatten()
        size = self.config.hidden_size
        if keep.numel() == 0:
            raise ValueError("`keep` must name at least one hidden unit.")
        if keep.min() < 0 or keep.max() >= size or keep.unique().numel() != keep.numel():
            raise ValueError(f"`keep` must hold distinct unit indices in [0, {size}), got {keep.tolist()}.")
        dropped = torch.ones(size, dtype=torch.bool)
        dropped[keep] = False
        device, dtype = self.hidden.weight.device, self.hidden.weight.dtype
        hidden = nn.Linear(self.config.input_size, keep.numel(), device=device, dtype=dtype)
        output = nn.Linear(keep.numel(), self.config.score_size, device=device, dtype=dtype)
        hidden.weight.copy_(self.hidden.weight[keep])
        hidden.bias.copy_(self.hidden.bias[keep])
        output.weight.copy_(self.output.weight[:, keep])
        output.bias.copy_(self.output.bias - self.unit_output_bias[dropped.to(device)].sum(0))
        self.hidden, self.output = hidden, output
        self.unit_output_bias = self.unit_output_bias[keep].clone()
        self.config.hidden_size = keep.numel()
        return self

    def truncate_hidden(self, n_units: int) -> GradientBoostedMLPModel:
        """
        Keeps the first `n_units` hidden units (the earliest trained) and switches off the rest, in place.

        For a model assembled by boosting with J units per step and `n_units` = t·J, the result is exactly the model
        boosting had after t steps, F_0 + Σ_{s<=t} ρ_s f_s.

        Args:
            n_units (`int`): units to keep, in [1, hidden_size].

        Returns:
            The model itself.
        """
        size = self.config.hidden_size
        if not isinstance(n_units, int) or isinstance(n_units, bool) or not 1 <= n_units <= size:
            raise ValueError(f"`n_units` must be an int in [1, {size}] (the current hidden_size), got {n_units!r}.")
        return self.keep_hidden_units(torch.arange(n_units))


GradientBoostedMLPModel.register_for_auto_class("AutoModel")

__all__ = ["GradientBoostedMLPModel", "GradientBoostedMLPOutput", "GradientBoostedMLPPreTrainedModel"]
