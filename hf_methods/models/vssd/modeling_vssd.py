# Copyright 2026 The hf-methods Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""VSSD: Vision Mamba with Non-Causal State Space Duality (Shi, Dong, Li, Xu; arXiv 2407.18559).

The non-causal state space duality (NC-SSD) mixer, the hybrid VSSD backbone (NC-SSD stages, multi-head self-attention
in the last stage) and its image classifier, in pure torch (no `mamba_ssm` kernels). Self-contained (torch,
transformers, safetensors and `configuration_vssd.py` only) so that a saved checkpoint loads with
`trust_remote_code=True` where hf-methods is not installed. Official code: `YuHengsss/VSSD`,
`classification/models/mamba2.py` and `mamba_util.py`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

from .configuration_vssd import VSSD_SSD_MODES, VSSDConfig

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}

# ------------------------------------------------------------------------------------------------------------ kernels


def _heads_of_groups(tensor: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, L, groups, N) → (batch, L, heads, N): head h reads group h mod groups, as the official NC-SSD's
    `view(batch, heads // groups, groups, ...)` does (Mamba2's kernels use contiguous blocks of heads instead)."""
    groups = tensor.shape[2]
    index = torch.arange(num_heads, device=tensor.device) % groups
    return tensor.index_select(2, index)


def _check_kernel_inputs(x, dt, a_log, B, C, D):
    if x.dim() != 4:
        raise ValueError(f"`x` must have shape (batch, length, heads, head_dim), got {tuple(x.shape)}.")
    batch, length, heads, _ = x.shape
    if dt.shape != (batch, length, heads):
        raise ValueError(
            f"`dt` must have shape {(batch, length, heads)} (batch, length, heads), got {tuple(dt.shape)}."
        )
    if a_log.shape != (heads,) or D.shape != (heads,):
        raise ValueError(
            f"`a_log` and `D` must have shape ({heads},) (one value per head), got {tuple(a_log.shape)} and "
            f"{tuple(D.shape)}."
        )
    if B.dim() != 4 or B.shape != C.shape or B.shape[:2] != (batch, length):
        raise ValueError(
            f"`B` and `C` must both have shape (batch={batch}, length={length}, groups, state), got {tuple(B.shape)} "
            f"and {tuple(C.shape)}."
        )
    if heads % B.shape[2] != 0:
        raise ValueError(f"the groups of `B` and `C` ({B.shape[2]}) must divide the heads of `x` ({heads}).")


def non_causal_ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    a_log: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    *,
    positive_da: bool = True,
) -> torch.Tensor:
    r"""
    NC-SSD (the paper's non-causal SSD; official `Mamba2.non_casual_linear_attn`): the state space duality with the
    magnitude of the hidden-state decay discarded, keeping only each token's own weight dA_j, so that every token
    reaches every other one and the result does not depend on the scan order:

        dA_{j,h} = dt_{j,h} · exp(A_log_h)                                  (−dt · exp(A_log) if not `positive_da`)
        y_{i,h} = Σ_j (C_{i,g(h)} · B_{j,g(h)}) dA_{j,h} x_{j,h} + D_h x_{i,h}
                = C_{i,g(h)} (Σ_j B_{j,g(h)}ᵀ dA_{j,h} x_{j,h}) + D_h x_{i,h}

    The second form (keys-values first, as linear attention) costs O(L·N·P) per head instead of O(L²). g(h) = h mod G.

    Args:
        x (`torch.Tensor` of shape `(batch, length, heads, head_dim)`): values.
        dt (`torch.Tensor` of shape `(batch, length, heads)`): positive step sizes (after softplus).
        a_log (`torch.Tensor` of shape `(heads,)`): log of A (A = exp(A_log) > 0).
        B (`torch.Tensor` of shape `(batch, length, groups, state)`): keys.
        C (`torch.Tensor` of shape `(batch, length, groups, state)`): queries.
        D (`torch.Tensor` of shape `(heads,)`): skip weights.
        positive_da (`bool`): the official `SSD_POSITIVE_DA: True` (positive token weights).

    Returns:
        `torch.Tensor` of shape `(batch, length, heads, head_dim)`.
    """
    _check_kernel_inputs(x, dt, a_log, B, C, D)
    heads = x.shape[2]
    d_a = dt * torch.exp(a_log)  # (batch, L, heads)
    if not positive_da:
        d_a = -d_a
    keys, queries = _heads_of_groups(B, heads), _heads_of_groups(C, heads)
    state = torch.einsum("blhn,blhp->bhnp", keys, x * d_a.unsqueeze(-1))  # Σ_j B_jᵀ dA_j x_j: (batch, heads, N, P)
    return torch.einsum("blhn,bhnp->blhp", queries, state) + D.view(1, 1, -1, 1) * x


def causal_ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    a_log: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
) -> torch.Tensor:
    r"""
    Mamba2's causal SSD over the token order (the scan VSSD replaces), in its quadratic masked "attention" form
    (Dao & Gu, 2024, "Transformers are SSMs"), pure torch: a reference for ablations, O(L²) in time and memory.

        a_h = −exp(A_log_h),   S_{i,h} = Σ_{k≤i} dt_{k,h} a_h
        y_{i,h} = Σ_{j≤i} (C_{i,g(h)} · B_{j,g(h)}) exp(S_{i,h} − S_{j,h}) dt_{j,h} x_{j,h} + D_h x_{i,h}

    This is the recurrence h_i = exp(dt_i a) h_{i−1} + dt_i B_iᵀ x_i, y_i = C_i h_i + D x_i unrolled. Arguments as in
    [`non_causal_ssd`].
    """
    _check_kernel_inputs(x, dt, a_log, B, C, D)
    heads, length = x.shape[2], x.shape[1]
    cumulative = torch.cumsum(dt * -torch.exp(a_log), dim=1).transpose(1, 2)  # S: (batch, heads, L)
    difference = cumulative.unsqueeze(-1) - cumulative.unsqueeze(-2)  # S_i − S_j: (batch, heads, L, L)
    causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp(difference.masked_fill(~causal, float("-inf")))  # masked before exp: S_i − S_j > 0 for j > i
    keys, queries = _heads_of_groups(B, heads), _heads_of_groups(C, heads)
    scores = torch.einsum("bihn,bjhn->bhij", queries, keys) * decay
    return torch.einsum("bhij,bjhp->bihp", scores, x * dt.unsqueeze(-1)) + D.view(1, 1, -1, 1) * x


# ------------------------------------------------------------------------------------------------------------ mixers


class NonCausalSSD(nn.Module):
    r"""
    The NC-SSD token mixer of a VSSD block (official `Mamba2` with `linear_attn_duality=True`), on tokens laid out on
    a `height × width` grid:

        [z, xBC, dt] = u W_in                        z, x: (L, E), B, C: (L, G·N), dt: (L, H); E = expansion · d
        dt ← softplus(dt + dt_bias)
        [x, B, C] = SiLU(DWConv_{k×k}(xBC))          depthwise convolution over the 2-D grid
        y = NC-SSD(x, dt, A_log, B, C, D)            see [`non_causal_ssd`] (or [`causal_ssd`] with `mode="causal"`)
        out = (LayerNorm(y) ⊙ z) W_out               the official gate: no activation on z

    Args:
        hidden_size (`int`): width d of the tokens.
        num_heads (`int`): SSD heads H; the head width is `expansion * hidden_size / num_heads`.
        expansion (`int`): inner width E = expansion · d.
        state_size (`int`): N, the width of B and C per group.
        ngroups (`int`): G groups of (B, C), dividing H.
        conv_kernel (`int`): side of the depthwise convolution (odd; 1 is pointwise and keeps the mixer
            token-permutation equivariant in non-causal mode).
        mode (`str`): `"non_causal"` (NC-SSD) or `"causal"` (Mamba2's SSD over the raster scan, quadratic form).
        positive_da (`bool`): NC-SSD token weights dA = dt · exp(A_log) (official `SSD_POSITIVE_DA: True`).
        a_init_range, dt_min, dt_max, dt_init_floor, layer_norm_eps: initialisation and norm settings, as in Mamba2.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        *,
        expansion: int = 2,
        state_size: int = 64,
        ngroups: int = 1,
        conv_kernel: int = 3,
        mode: str = "non_causal",
        positive_da: bool = True,
        a_init_range: tuple[float, float] = (1.0, 16.0),
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        inner = expansion * hidden_size
        if num_heads <= 0 or inner % num_heads != 0:
            raise ValueError(f"`num_heads` ({num_heads}) must divide expansion * hidden_size ({inner}).")
        if ngroups <= 0 or num_heads % ngroups != 0:
            raise ValueError(f"`ngroups` ({ngroups}) must divide `num_heads` ({num_heads}).")
        if mode not in VSSD_SSD_MODES:
            raise ValueError(f"`mode` must be one of {VSSD_SSD_MODES}, got {mode!r}.")
        if conv_kernel < 1 or conv_kernel % 2 == 0:
            raise ValueError(f"`conv_kernel` must be a positive odd integer, got {conv_kernel!r}.")
        self.hidden_size, self.num_heads, self.inner_size = hidden_size, num_heads, inner
        self.head_dim, self.state_size, self.ngroups = inner // num_heads, state_size, ngroups
        self.mode, self.positive_da = mode, positive_da
        self.a_init_range = tuple(a_init_range)
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        conv_channels = inner + 2 * ngroups * state_size
        # order of the projection, as in the official code: [z, x, B, C, dt]
        self.in_proj = nn.Linear(hidden_size, inner + conv_channels + num_heads, bias=False)
        self.conv2d = nn.Conv2d(
            conv_channels, conv_channels, conv_kernel, padding=(conv_kernel - 1) // 2, groups=conv_channels, bias=True
        )
        self.dt_bias = nn.Parameter(torch.empty(num_heads))
        self.A_log = nn.Parameter(torch.empty(num_heads))
        self.D = nn.Parameter(torch.empty(num_heads))
        self.norm = nn.LayerNorm(inner, eps=layer_norm_eps)
        self.out_proj = nn.Linear(inner, hidden_size, bias=False)
        self.reset_ssd_parameters()

    @torch.no_grad()
    def ssd_initial_values(self) -> dict[str, torch.Tensor]:
        """Fresh initial values of `dt_bias`, `A_log` and `D` (Mamba2's scheme, drawn from torch's global RNG):
        dt log-uniform in [dt_min, dt_max] (clamped at dt_init_floor) stored as softplus⁻¹(dt), A uniform in
        `a_init_range` stored as log A, D = 1."""
        device = self.A_log.device if self.A_log.device.type != "meta" else "cpu"
        low, high = math.log(self.dt_min), math.log(self.dt_max)
        dt = torch.exp(torch.rand(self.num_heads, device=device) * (high - low) + low).clamp(min=self.dt_init_floor)
        inv_softplus_dt = dt + torch.log(-torch.expm1(-dt))
        a = torch.empty(self.num_heads, device=device).uniform_(*self.a_init_range)
        return {"dt_bias": inv_softplus_dt, "A_log": torch.log(a), "D": torch.ones(self.num_heads, device=device)}

    def reset_ssd_parameters(self) -> None:
        if self.A_log.device.type == "meta":
            return
        with torch.no_grad():
            for name, value in self.ssd_initial_values().items():
                getattr(self, name).copy_(value)

    def forward(self, hidden_states: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """`hidden_states` `(batch, height * width, hidden_size)` in raster order → the same shape."""
        batch, length, _ = hidden_states.shape
        if length != height * width:
            raise ValueError(f"`hidden_states` holds {length} tokens, not height * width = {height} * {width}.")
        conv_channels = self.conv2d.in_channels
        z, xbc, dt = torch.split(self.in_proj(hidden_states), [self.inner_size, conv_channels, self.num_heads], -1)
        dt = F.softplus(dt + self.dt_bias)
        xbc = xbc.transpose(1, 2).reshape(batch, conv_channels, height, width)
        xbc = F.silu(self.conv2d(xbc)).flatten(2).transpose(1, 2)
        group_width = self.ngroups * self.state_size
        x, keys, queries = torch.split(xbc, [self.inner_size, group_width, group_width], dim=-1)
        x = x.reshape(batch, length, self.num_heads, self.head_dim)
        keys = keys.reshape(batch, length, self.ngroups, self.state_size)
        queries = queries.reshape(batch, length, self.ngroups, self.state_size)
        if self.mode == "non_causal":
            y = non_causal_ssd(x, dt, self.A_log, keys, queries, self.D, positive_da=self.positive_da)
        else:
            y = causal_ssd(x, dt, self.A_log, keys, queries, self.D)
        y = self.norm(y.reshape(batch, length, self.inner_size)) * z
        return self.out_proj(y)

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode}, heads={self.num_heads}, head_dim={self.head_dim}, state={self.state_size}, "
            f"groups={self.ngroups}"
        )


class VSSDAttention(nn.Module):
    r"""Multi-head self-attention of VSSD's last stage (official `StandardAttention`): qkv without bias, head width
    d / H, softmax(q kᵀ / √(d/H)) v, output projection with bias."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if hidden_size % num_heads != 0:
            raise ValueError(f"`num_heads` ({num_heads}) must divide `hidden_size` ({hidden_size}).")
        self.num_heads, self.head_dim, self.dropout = num_heads, hidden_size // num_heads, dropout
        self.to_qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        self.to_out = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor, height: int | None = None, width: int | None = None):
        batch, length, hidden = hidden_states.shape
        qkv = self.to_qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(*qkv, dropout_p=self.dropout if self.training else 0.0)
        return self.to_out(out.transpose(1, 2).reshape(batch, length, hidden))


# ------------------------------------------------------------------------------------------------------------ blocks


class VSSDDropPath(nn.Module):
    """Stochastic depth: drops a sample's residual branch with probability p in training, scaling kept ones by 1/(1−p)."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep = 1.0 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.dim() - 1)
        mask = hidden_states.new_empty(shape).bernoulli_(keep)
        return hidden_states * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class VSSDLayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a `(batch, channels, height, width)` map, at each position."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden_states.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class VSSDConvLayer(nn.Sequential):
    """Conv2d → norm (optional) → ReLU (optional), the official `ConvLayer`."""

    def __init__(
        self, config, in_channels, out_channels, kernel_size, *, stride=1, groups=1, bias=True, norm=True, act=True
    ):
        layers = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=bias)
        ]
        if norm:
            if config.conv_norm == "batch_norm":
                layers.append(nn.BatchNorm2d(out_channels))
            else:
                layers.append(VSSDLayerNorm2d(out_channels, eps=config.layer_norm_eps))
        if act:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class VSSDStem(nn.Module):
    """The official convolutional `Stem`: 3×3 conv (stride s1) → residual pair of 3×3 convs → 3×3 conv (stride s2,
    4·d channels) → 1×1 conv to d; s1·s2 = `patch_size` (2·2 in the paper)."""

    def __init__(self, config: VSSDConfig):
        super().__init__()
        half, dim = config.embed_dim // 2, config.embed_dim
        stride1, stride2 = {4: (2, 2), 2: (2, 1), 1: (1, 1)}[config.patch_size]
        self.conv1 = VSSDConvLayer(config, config.num_channels, half, 3, stride=stride1, bias=False)
        self.conv2 = nn.Sequential(
            VSSDConvLayer(config, half, half, 3, bias=False),
            VSSDConvLayer(config, half, half, 3, bias=False, act=False),
        )
        self.conv3 = nn.Sequential(
            VSSDConvLayer(config, half, 4 * dim, 3, stride=stride2, bias=False),
            VSSDConvLayer(config, 4 * dim, dim, 1, bias=False, act=False),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(pixel_values)
        hidden = self.conv2(hidden) + hidden
        return self.conv3(hidden)  # (batch, embed_dim, H / patch, W / patch)


class VSSDPatchMerging(nn.Module):
    """The official `PatchMerging`: 1×1 conv to 8·d → ReLU → depthwise 3×3 stride 2 → ReLU → 1×1 conv to 2·d → norm."""

    def __init__(self, config: VSSDConfig, dim: int):
        super().__init__()
        wide = 8 * dim
        self.conv = nn.Sequential(
            VSSDConvLayer(config, dim, wide, 1, norm=False),
            VSSDConvLayer(config, wide, wide, 3, stride=2, groups=wide, norm=False),
            VSSDConvLayer(config, wide, 2 * dim, 1, act=False),
        )

    def forward(self, hidden_states: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, int, int]:
        batch, _, dim = hidden_states.shape
        grid = hidden_states.transpose(1, 2).reshape(batch, dim, height, width)
        merged = self.conv(grid)
        return merged.flatten(2).transpose(1, 2), merged.shape[2], merged.shape[3]


class VSSDMLP(nn.Module):
    def __init__(self, config: VSSDConfig, dim: int):
        super().__init__()
        hidden = int(dim * config.mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = _ACTIVATIONS[config.hidden_act]()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(config.drop_rate)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(hidden_states)))))


class VSSDBlock(nn.Module):
    r"""One VSSD block (official `VMAMBA2Block`):

    x ← x + DWConv3×3(x);   x ← x + DropPath(Mixer(LN(x)));   x ← x + DWConv3×3(x);   x ← x + DropPath(MLP(LN(x)))
    """

    def __init__(self, config: VSSDConfig, stage: int, drop_path: float):
        super().__init__()
        dim, heads = config.hidden_sizes[stage], config.num_heads[stage]
        self.cpe1 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        if config.mixer_types[stage] == "ssd":
            self.mixer = NonCausalSSD(
                dim,
                heads,
                expansion=config.ssd_expansion,
                state_size=config.ssd_state_size,
                ngroups=config.ssd_ngroups,
                conv_kernel=config.ssd_conv_kernel,
                mode=config.ssd_mode,
                positive_da=config.ssd_positive_da,
                a_init_range=tuple(config.ssd_a_init_range),
                dt_min=config.ssd_dt_min,
                dt_max=config.ssd_dt_max,
                dt_init_floor=config.ssd_dt_init_floor,
                layer_norm_eps=config.layer_norm_eps,
            )
        else:
            self.mixer = VSSDAttention(dim, heads, dropout=config.drop_rate)
        self.drop_path = VSSDDropPath(drop_path)
        self.cpe2 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = VSSDMLP(config, dim)

    @staticmethod
    def _conv_tokens(conv: nn.Conv2d, hidden_states: torch.Tensor, height: int, width: int) -> torch.Tensor:
        batch, length, dim = hidden_states.shape
        grid = hidden_states.transpose(1, 2).reshape(batch, dim, height, width)
        return conv(grid).flatten(2).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, height: int, width: int) -> torch.Tensor:
        hidden_states = hidden_states + self._conv_tokens(self.cpe1, hidden_states, height, width)
        hidden_states = hidden_states + self.drop_path(self.mixer(self.norm1(hidden_states), height, width))
        hidden_states = hidden_states + self._conv_tokens(self.cpe2, hidden_states, height, width)
        return hidden_states + self.drop_path(self.mlp(self.norm2(hidden_states)))


class VSSDStage(nn.Module):
    def __init__(self, config: VSSDConfig, stage: int, drop_paths: list[float]):
        super().__init__()
        self.blocks = nn.ModuleList(VSSDBlock(config, stage, p) for p in drop_paths)
        last = stage == config.num_stages - 1
        self.downsample = None if last else VSSDPatchMerging(config, config.hidden_sizes[stage])

    def forward(self, hidden_states, height, width):
        for block in self.blocks:
            hidden_states = block(hidden_states, height, width)
        return hidden_states


# ------------------------------------------------------------------------------------------------------------ models


class VSSDPreTrainedModel(PreTrainedModel):
    config: VSSDConfig
    config_class = VSSDConfig
    base_model_prefix = "vssd"
    main_input_name = "pixel_values"
    _no_split_modules = ["VSSDBlock"]

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
        """The official scheme: truncated normal (std `initializer_range`) linear weights with zero bias, LayerNorms at
        (1, 0), torch's default init of convolutions, Mamba2's dt / A / D initialisation in the SSD mixers."""
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
                bound = 1.0 / math.sqrt(fan_in)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm2d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, NonCausalSSD):
            for name, value in module.ssd_initial_values().items():
                init.copy_(getattr(module, name), value)

    def _check_pixel_values(self, pixel_values: torch.Tensor) -> None:
        config = self.config
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"`pixel_values` must be a torch.Tensor, got {type(pixel_values).__name__}.")
        reduction = config.patch_size * 2 ** (config.num_stages - 1)
        if (
            pixel_values.dim() != 4
            or pixel_values.shape[1] != config.num_channels
            or pixel_values.shape[2] % reduction
            or pixel_values.shape[3] % reduction
        ):
            raise ValueError(
                f"`pixel_values` must have shape (batch, {config.num_channels}, height, width) with height and width "
                f"divisible by patch_size * 2**(stages - 1) = {reduction}, got {tuple(pixel_values.shape)}."
            )
        if not pixel_values.is_floating_point():
            raise TypeError(f"`pixel_values` must be a floating-point tensor, got {pixel_values.dtype}.")


class VSSDModel(VSSDPreTrainedModel):
    r"""
    The VSSD backbone (official `VMAMBA2` without its head): stem, stages of [`VSSDBlock`]s with a patch merging
    between stages, final LayerNorm. Returns the last stage's tokens (`last_hidden_state`, `(batch, L, d_last)` after
    the norm), their mean (`pooler_output`, `(batch, d_last)`) and, with `output_hidden_states=True`, the stem's tokens
    and each stage's output tokens (before its patch merging).
    """

    def __init__(self, config: VSSDConfig):
        super().__init__(config)
        self.embeddings = VSSDStem(config)
        total = sum(config.depths)  # stochastic depth rises linearly over blocks from 0 (the official rule)
        rates = [config.drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        starts = [sum(config.depths[:i]) for i in range(config.num_stages)]
        self.stages = nn.ModuleList(
            VSSDStage(config, i, rates[start : start + depth])
            for i, (start, depth) in enumerate(zip(starts, config.depths))
        )
        self.norm = nn.LayerNorm(config.hidden_sizes[-1], eps=config.layer_norm_eps)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        self._check_pixel_values(pixel_values)
        grid = self.embeddings(pixel_values.to(self.norm.weight.dtype))
        height, width = grid.shape[2], grid.shape[3]
        hidden_states = grid.flatten(2).transpose(1, 2)
        all_hidden = [hidden_states] if output_hidden_states else None
        for stage in self.stages:
            hidden_states = stage(hidden_states, height, width)
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            if stage.downsample is not None:
                hidden_states, height, width = stage.downsample(hidden_states, height, width)
        last = self.norm(hidden_states)
        pooled = last.mean(dim=1)
        hidden_tuple = tuple(all_hidden) if all_hidden is not None else None
        if return_dict is False:
            return tuple(v for v in (last, pooled, hidden_tuple) if v is not None)
        return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled, hidden_states=hidden_tuple)


class VSSDForImageClassification(VSSDPreTrainedModel):
    r"""
    [`VSSDModel`] with a linear head on the mean-pooled last-stage tokens (official `VMAMBA2.head`). With integer
    `labels` of shape `(batch,)` it returns the cross-entropy loss.
    """

    def __init__(self, config: VSSDConfig):
        super().__init__(config)
        self.vssd = VSSDModel(config)
        self.classifier = nn.Linear(config.hidden_sizes[-1], config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        outputs = self.vssd(pixel_values, output_hidden_states=output_hidden_states)
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1] or labels.is_floating_point() or labels.dtype == torch.bool:
                raise ValueError(
                    f"`labels` must be integer class indices of shape ({logits.shape[0]},), got {labels.dtype} of "
                    f"shape {tuple(labels.shape)}."
                )
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.config.num_labels):
                raise ValueError(f"`labels` must lie in [0, {self.config.num_labels}) (num_labels).")
            loss = F.cross_entropy(logits, labels.to(logits.device))
        if return_dict is False:
            out = (logits,) + ((outputs.hidden_states,) if outputs.hidden_states is not None else ())
            return ((loss,) + out) if loss is not None else out
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


VSSDModel.register_for_auto_class("AutoModel")
VSSDForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "NonCausalSSD",
    "VSSDAttention",
    "VSSDBlock",
    "VSSDForImageClassification",
    "VSSDModel",
    "VSSDPreTrainedModel",
    "causal_ssd",
    "non_causal_ssd",
]
