"""The two-layer modular-arithmetic MLP as a transformers model (`AutoModelForSequenceClassification`)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_grokking_mlp import GrokkingMLPConfig


class GrokkingMLPPreTrainedModel(PreTrainedModel):
    config: GrokkingMLPConfig
    config_class = GrokkingMLPConfig
    base_model_prefix = "grokking_mlp"
    main_input_name = "input_ids"
    _no_split_modules = []

    @torch.no_grad()
    def _init_weights(self, module):
        """W₁ and W₂ ~ N(0, `initializer_range`²) (no biases)."""
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)


class GrokkingMLPForModularArithmetic(GrokkingMLPPreTrainedModel):
    r"""
    f(a, b) = W₂ φ(W₁ [e_a ; e_b]): the pair of residues `(a, b)` enters as the concatenation of their one-hot codes
    (2p inputs), a bias-free hidden layer of width N with φ(z) = z² or ReLU, and a bias-free readout to the p
    answers. The weights are `fc_in.weight` (W₁, `(N, 2p)`) and `fc_out.weight` (W₂, `(p, N)`), plain `nn.Linear`
    modules, so [`hf_methods.common.masks`] (and peft) can mask or wrap them.

    Args:
        config ([`GrokkingMLPConfig`]): the modulus, width, activation and loss.
    """

    def __init__(self, config: GrokkingMLPConfig):
        super().__init__(config)
        p, n = config.modulus, config.hidden_size
        self.fc_in = nn.Linear(2 * p, n, bias=False)
        self.fc_out = nn.Linear(n, p, bias=False)
        self.post_init()

    def _check_input_ids(self, input_ids) -> torch.Tensor:
        p = self.config.modulus
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
        if input_ids.is_floating_point() or input_ids.dtype == torch.bool:
            raise TypeError(f"input_ids must be an integer tensor of residues, got dtype {input_ids.dtype}")
        if input_ids.dim() != 2 or input_ids.shape[1] != 2:
            raise ValueError(
                f"input_ids must have shape (batch, 2): the operands (a, b), got {tuple(input_ids.shape)}"
            )
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= p):
            raise ValueError(
                f"input_ids must lie in [0, {p}) (residues modulo {p}), got range "
                f"[{int(input_ids.min())}, {int(input_ids.max())}]"
            )
        return input_ids.long()

    def _check_labels(self, labels, batch_size: int) -> torch.Tensor:
        p = self.config.modulus
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"labels must be an integer tensor of answers, got dtype {labels.dtype}")
        if tuple(labels.shape) != (batch_size,):
            raise ValueError(f"labels must have shape ({batch_size},) to match input_ids, got {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= p):
            raise ValueError(f"labels must lie in [0, {p}), got range [{int(labels.min())}, {int(labels.max())}]")
        return labels.long()

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """φ(W₁ [e_a ; e_b]), shape `(batch, N)`."""
        input_ids = self._check_input_ids(input_ids)
        p = self.config.modulus
        dtype = self.fc_in.weight.dtype
        x = torch.cat([nn.functional.one_hot(input_ids[:, 0], p), nn.functional.one_hot(input_ids[:, 1], p)], dim=1)
        h = self.fc_in(x.to(dtype))
        return h.square() if self.config.hidden_act == "quadratic" else torch.relu(h)

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, 2)`): the operands `(a, b)`, residues in `[0, p)`.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*): the answers; when given, `loss` is
                `config.loss_type` (squared error to the one-hot answer, or cross-entropy).
            return_dict (`bool`, *optional*): return a `SequenceClassifierOutput` (default) or a tuple.

        Returns:
            `SequenceClassifierOutput` with `logits` of shape `(batch, p)` (and `loss`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        logits = self.fc_out(self.hidden_states(input_ids))
        loss = None
        if labels is not None:
            labels = self._check_labels(labels, len(logits))
            if self.config.loss_type == "mse":
                # (1/(n·p)) Σ_i Σ_k (f_k(a_i, b_i) − 1[k = y_i])²: `OneHotMSELoss` written inline, so the saved remote
                # code needs nothing but transformers
                target = nn.functional.one_hot(labels, self.config.modulus).to(logits.dtype)
                loss = nn.functional.mse_loss(logits, target)
            else:
                loss = nn.functional.cross_entropy(logits, labels)
        output = SequenceClassifierOutput(loss=loss, logits=logits)
        return output if return_dict else output.to_tuple()


GrokkingMLPForModularArithmetic.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = ["GrokkingMLPForModularArithmetic", "GrokkingMLPPreTrainedModel"]
