"""The LightHuBERT once-for-all supernet (Wang et al., Interspeech 2022; official code `mechanicalsea/lighthubert`,
`lighthubert/lighthubert.py`).

[`LightHuBERTSupernet`] is a [`LightHuBERTModel`] of the search space's largest sizes whose width-carrying layers
(the projection after the waveform encoder, the positional convolution, every attention / feed-forward projection
and LayerNorm of the Transformer, the prediction head) are the sliceable layers of `hf_methods.common.supernet`,
sharing the same parameter tensors. `set_subnet(subnet)` chooses the active slice; the forward pass is then exactly
that of the standalone subnet. `extract_subnet(subnet)` copies the slices into a plain [`LightHuBERTModel`] whose
checkpoint needs no hf-methods code.

Saving: the supernet's parameter names and shapes are those of its largest plain network, so `save_pretrained`
writes the folder of that plain network (with the supernet's configuration, search space included, and the remote
code of `modeling_lighthubert.py`). Such a folder loads anywhere as the max subnet (`AutoModel`,
`trust_remote_code=True`) and, with hf-methods, back into a supernet with `LightHuBERTSupernet.from_pretrained`.
"""

from __future__ import annotations

import random

import torch

from hf_methods.common.supernet import SuperConv1d, SuperLayerNorm, SuperLinear, extract_leading_slices, to_super

from .configuration_lighthubert import LightHuBERTConfig
from .modeling_lighthubert import LightHuBERTModel


class LightHuBERTSupernet(LightHuBERTModel):
    r"""
    A weight-sharing supernet over a LightHuBERT search space; every subnet is a leading slice of its weights.

    Subnets are dicts `{"embed_dim": int, "layer_num": int, "heads_num": [per layer], "ffn_embed": [per layer]}`
    (`"atten_dim"`, heads × head dim, is optional), as in the official `LightHuBERTSupernetConfig`. A subnet of depth
    d runs the first d layers (the official 12-layer supernet drops layers inside 4-layer blocks instead).

    Args:
        config ([`LightHuBERTConfig`]): a configuration with a search space (e.g. [`LightHuBERTConfig.small`]).
    """

    # Saved as the plain max subnet (see `save_pretrained`): this class itself has no remote code.
    _auto_class = None

    def __init__(self, config: LightHuBERTConfig):
        if not config.is_supernet:
            raise ValueError(
                "LightHuBERTSupernet needs a configuration with a search space (embed_dim_choices, heads_num_choices, "
                "ffn_ratio_choices, layer_num_choices), e.g. LightHuBERTConfig.small()."
            )
        super().__init__(config)
        for name in ("post_extract_proj", "encoder", "prediction_head"):
            module = getattr(self, name)
            if module is not None:
                setattr(self, name, to_super(module))
        self.set_subnet(config.max_subnet)

    # ------------------------------------------------------------------------------------------------ subnets
    @property
    def max_subnet(self) -> dict:
        return self.config.max_subnet

    @property
    def min_subnet(self) -> dict:
        return self.config.min_subnet

    def set_subnet(self, subnet: dict) -> dict:
        """Activates `subnet` (validated against the search space) in every sliceable layer; returns it."""
        subnet = self.config.check_subnet(subnet)
        embed = subnet["embed_dim"]
        self.post_extract_proj.set_active(out_features=embed)
        self.encoder.pos_conv_embed.conv.set_active(embed, embed)
        self.encoder.layer_norm.set_active(embed)
        for layer, heads_dim, ffn in zip(self.encoder.layers, subnet["atten_dim"], subnet["ffn_embed"]):
            for projection in (layer.attention.q_proj, layer.attention.k_proj, layer.attention.v_proj):
                projection.set_active(embed, heads_dim)
            layer.attention.out_proj.set_active(heads_dim, embed)
            layer.attention_layer_norm.set_active(embed)
            layer.feed_forward.fc1.set_active(embed, ffn)
            layer.feed_forward.fc2.set_active(ffn, embed)
            layer.final_layer_norm.set_active(embed)
        if self.prediction_head is not None:
            self.prediction_head.set_active(in_features=embed)
        self.active_subnet = subnet
        return subnet

    def sample_subnet(self, rng: random.Random | None = None) -> dict:
        """Draws a subnet from the search space ([`LightHuBERTConfig.sample_subnet`]), activates it and returns it."""
        return self.set_subnet(self.config.sample_subnet(rng))

    def _encoder_layers(self):
        return self.encoder.layers[: self.active_subnet["layer_num"]]

    def num_subnet_parameters(self, subnet: dict | None = None) -> int:
        """Parameters of the standalone model of `subnet` (the active one by default), prediction head included."""
        config = self.config.subnet_config(subnet if subnet is not None else self.active_subnet)
        with torch.device("meta"):
            return sum(p.numel() for p in LightHuBERTModel(config).parameters())

    # ------------------------------------------------------------------------------------------------ extraction
    def extract_subnet(self, subnet: dict | None = None) -> LightHuBERTModel:
        """A standalone [`LightHuBERTModel`] holding copies of the slices of `subnet` (the active one by default).

        Its configuration has the subnet's sizes and no search space; `save_pretrained` writes plain safetensors
        that load with `AutoModel.from_pretrained(..., trust_remote_code=True)` without hf-methods. The supernet's
        active subnet is left unchanged.
        """
        subnet = self.config.check_subnet(subnet if subnet is not None else self.active_subnet)
        config = self.config.subnet_config(subnet)
        with torch.device("meta"):
            plain = LightHuBERTModel(config)
        # the subnet's layers are the supernet's first `layer_num` layers: the names match one to one
        extract_leading_slices(self.state_dict(), plain)
        reference = next(self.parameters())
        return plain.to(device=reference.device).train(self.training)

    def _standalone_view(self) -> LightHuBERTModel:
        """The max subnet as a plain model sharing this supernet's tensors (no copy), for saving."""
        with torch.device("meta"):
            plain = LightHuBERTModel(self.config)
        plain.load_state_dict(self.state_dict(), strict=True, assign=True)
        return plain

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Writes the folder of the max subnet (plain weights, this configuration, remote code): it loads back as a
        supernet with `LightHuBERTSupernet.from_pretrained` and as the plain max subnet with `AutoModel`."""
        return self._standalone_view().save_pretrained(save_directory, *args, **kwargs)


def is_super_layer(module) -> bool:
    """Whether `module` is one of the sliceable layers the supernet uses."""
    return isinstance(module, (SuperLinear, SuperLayerNorm, SuperConv1d))


__all__ = ["LightHuBERTSupernet"]
