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
"""PyTorch Terminator: the HyperZ·Z·W operator and SFNE blocks of "HyperZ·Z·W Operator Connects Slow-Fast Networks for
Full Context Interaction" (Harvie Zhang, 2024; official code `hyperevolnet/Terminator`).

This file is self-contained (torch, transformers, safetensors and its own configuration only), so that a saved
checkpoint loads with `AutoModelForImageClassification.from_pretrained(path, trust_remote_code=True)` without
hf-methods installed.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_terminator import TerminatorConfig

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
# Constants of the S-renormalisation of the local slow networks (fixed, untrained values in the official code).
_RENORM_ALPHA, _RENORM_BETA = 1.0, 0.1


def coordinate_grid(kernel_size: int, data_dim: int, device=None, dtype=None) -> torch.Tensor:
    """The coordinates c ∈ [−1, 1]^d of a `kernel_size`^d grid, shape `(kernel_size**data_dim, data_dim)` (row-major:
    the last axis varies fastest, like a flattened `(K, K)` image)."""
    axes = [torch.linspace(-1, 1, kernel_size, device=device, dtype=dtype)] * data_dim
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, data_dim)


def instance_standardize(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Instance standardisation (InstanceNorm without affine): each channel of each sample over its positions,
    (x − mean) / sqrt(var + eps) with the biased variance."""
    return F.instance_norm(x, eps=eps)


def slow_neural_loss(global_kernels, factors) -> torch.Tensor:
    r"""
    Slow neural loss of the Terminator (the "local feedback error" that updates the slow networks):

        L_slow = Σ_{i > j} mean((tile(G_j, ∏_{m=j}^{i−1} f_m) − G_i)²),

    where G_i is the global hyper-kernel of block i (shape `(1, C_i, K, K)`), f_m the bottleneck factor of block m
    (so that C_i = C_j · ∏ f_m) and `tile` repeats G_j along the channel axis (`torch.Tensor.repeat`: channels
    c_0 … c_{C_j−1}, c_0 …).

    Args:
        global_kernels (`Sequence[torch.Tensor]`):
            The global hyper-kernels G_0, …, G_{n−1} of the blocks, each of shape `(1, C_i, K, K)`.
        factors (`Sequence[int]`):
            Bottleneck factors f_0, …, f_{n−2} (at least `len(global_kernels) − 1` of them).

    Returns:
        `torch.Tensor`: the scalar loss (zero for fewer than two blocks).
    """
    kernels = list(global_kernels)
    factors = [int(f) for f in factors]
    if not kernels:
        raise ValueError("`global_kernels` must hold at least one hyper-kernel, got an empty sequence.")
    if len(factors) < len(kernels) - 1:
        raise ValueError(
            f"`factors` must give a bottleneck factor for each of the first {len(kernels) - 1} blocks, got {factors}."
        )
    loss = kernels[0].new_zeros(())
    for i in range(1, len(kernels)):
        for j in range(i):
            factor = math.prod(factors[j:i])
            if kernels[j].dim() != 4 or kernels[j].shape[1] * factor != kernels[i].shape[1]:
                raise ValueError(
                    f"`global_kernels[{j}]` (shape {tuple(kernels[j].shape)}) tiled {factor} times along channels "
                    f"does not match `global_kernels[{i}]` (shape {tuple(kernels[i].shape)}): check `factors`."
                )
            tiled = kernels[j].repeat(1, factor, 1, 1)
            loss = loss + (tiled - kernels[i]).pow(2).mean()
    return loss


class MAGNetKernel(nn.Module):
    r"""
    Slow network generating a hyper-kernel from coordinates: a multiplicative anisotropic Gabor network (MAGNet).

    On the grid c ∈ [−1, 1]^{K×…×K} (`data_dim` axes):

        h_0 = sin(2π ω₀ γ_0 ⊙ W_0 c + b_0)
        h_l = sin(2π ω₀ γ_l ⊙ W_l c + b_l) ⊙ (L_l h_{l−1}) + p             l = 1 … `num_layers`
        W   = L_out h                                                         (K^d positions × `out_channels`)

    with γ_l ~ Gamma(α / (l + 1), 1) drawn at initialisation (the filter scales), p a learnt bias per position and
    L_out scaled by sqrt(1 / K^d) at initialisation (Chang et al.'s hypernetwork initialisation).

    With `context_channels`, the kernel depends on an input Z (the local slow network): a context
    u = GELU(V_2 V_1 avgpool_K(Z)) (1×1 convolutions, per sample) multiplies each layer after an S-renormalisation,

        h_l ← (α sg(h_l) + β h_l / ‖h_l‖) ⊙ (U_l u),

    where sg stops the gradient, ‖·‖ is the L2 norm over positions, α = 1 and β = 0.1. The official code averages u
    over the batch; here each sample gets its own kernel, so a prediction does not depend on the rest of the batch.

    Args:
        data_dim (`int`): 1 (kernels over channels) or 2 (spatial kernels).
        kernel_size (`int`): side K of the generated kernel.
        hidden_size (`int`): hidden width of the network.
        out_channels (`int`): channels of the generated kernel.
        num_layers (`int`): number of multiplicative layers.
        omega_0 (`float`): base frequency ω₀.
        gamma_alpha (`float`): shape α of the filter-scale law.
        context_channels (`int`, *optional*): channels of the context input Z (spatial kernels only).
    """

    def __init__(
        self,
        data_dim: int,
        kernel_size: int,
        hidden_size: int,
        out_channels: int,
        num_layers: int,
        omega_0: float,
        gamma_alpha: float,
        context_channels: int | None = None,
    ):
        super().__init__()
        if context_channels is not None and data_dim != 2:
            raise ValueError(f"`context_channels` needs spatial kernels (`data_dim=2`), got data_dim={data_dim}.")
        self.data_dim = data_dim
        self.kernel_size = kernel_size
        self.hidden_size = hidden_size
        self.out_channels = out_channels
        self.omega_0 = omega_0
        self.gamma_alpha = gamma_alpha
        self.filters = nn.ModuleList([nn.Linear(data_dim, hidden_size) for _ in range(num_layers + 1)])
        self.linears = nn.ModuleList([nn.Linear(hidden_size, hidden_size) for _ in range(num_layers)])
        self.output_linear = nn.Linear(hidden_size, out_channels)
        self.position_bias = nn.Parameter(torch.zeros(kernel_size**data_dim))
        self.context_channels = context_channels
        if context_channels is not None:
            self.context_reduce = nn.Conv2d(context_channels, hidden_size, 1)
            self.context_fc = nn.Conv2d(hidden_size, hidden_size, 1)
            self.context_linears = nn.ModuleList([nn.Linear(hidden_size, hidden_size) for _ in range(num_layers)])

    @property
    def num_positions(self) -> int:
        return self.kernel_size**self.data_dim

    def forward(self, context: torch.Tensor | None = None) -> torch.Tensor:
        """Returns the hyper-kernel: `(1, out_channels, K[, K])`, or `(batch, out_channels, K, K)` with a context."""
        weight = self.output_linear.weight
        coords = coordinate_grid(self.kernel_size, self.data_dim, device=weight.device, dtype=weight.dtype)
        hidden = torch.sin(self.filters[0](coords))  # (N, H)
        if self.context_channels is None:
            for layer in range(1, len(self.filters)):
                hidden = torch.sin(self.filters[layer](coords)) * self.linears[layer - 1](hidden)
                hidden = hidden + self.position_bias[:, None]
            kernel = self.output_linear(hidden)  # (N, out)
            return kernel.transpose(0, 1).reshape(1, self.out_channels, *([self.kernel_size] * self.data_dim))

        if context is None or context.dim() != 4 or context.shape[1] != self.context_channels:
            raise ValueError(
                f"`context` must be a (batch, {self.context_channels}, height, width) tensor for a context-dependent "
                f"kernel, got {None if context is None else tuple(context.shape)}."
            )
        u = F.adaptive_avg_pool2d(context, self.kernel_size)
        u = F.gelu(self.context_fc(self.context_reduce(u)))  # (B, H, K, K)
        u = u.flatten(2).transpose(1, 2)  # (B, N, H)
        hidden = hidden.unsqueeze(0)
        for layer in range(1, len(self.filters)):
            hidden = torch.sin(self.filters[layer](coords)) * self.linears[layer - 1](hidden)
            hidden = hidden + self.position_bias[:, None]
            # S-renormalisation, per sample and hidden channel over the positions
            hidden = _RENORM_ALPHA * hidden.detach() + _RENORM_BETA * F.normalize(hidden, dim=1)
            hidden = hidden * self.context_linears[layer - 1](u)
        kernel = self.output_linear(hidden)  # (B, N, out)
        return kernel.transpose(1, 2).reshape(-1, self.out_channels, self.kernel_size, self.kernel_size)


class HyperZZWGlobal(nn.Module):
    r"""
    Global HyperZ·Z·W operator (full context interaction).

    A slow network (MAGNet) turns the coordinate grid into a hyper-kernel W of the size of the feature map
    (`(1, C, K, K)`, shared by all samples). The operator forms the context-dependent kernel by an elementwise product
    with the hidden activations Z, then multiplies it, channel by channel, with fast features F(Z):

        W_ctx = Z ⊙ W,            HyperZ·Z·W(Z, F) = W_ctx @ F(Z)      (a K×K matrix product per sample and channel)

    Args:
        channels (`int`): channels C of Z.
        kernel_size (`int`): side K of the (square) feature map and of the hyper-kernel.
        hidden_size (`int`): hidden width of the slow network.
        num_layers (`int`): layers of the slow network.
        omega_0 (`float`): MAGNet base frequency.
        gamma_alpha (`float`): MAGNet filter-scale shape.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        omega_0: float = 1.0,
        gamma_alpha: float = 6.0,
    ):
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.slow_net = MAGNetKernel(2, kernel_size, hidden_size, channels, num_layers, omega_0, gamma_alpha)

    def hyper_kernel(self) -> torch.Tensor:
        """The global hyper-kernel W, shape `(1, C, K, K)`."""
        return self.slow_net()

    def _check(self, name: str, tensor: torch.Tensor):
        expected = (self.channels, self.kernel_size, self.kernel_size)
        if tensor.dim() != 4 or tuple(tensor.shape[1:]) != expected:
            shape = ", ".join(map(str, expected))
            raise ValueError(f"`{name}` must have shape (batch, {shape}), got {tuple(tensor.shape)}.")

    def context_kernel(self, hidden_states: torch.Tensor, hyper_kernel: torch.Tensor | None = None) -> torch.Tensor:
        """W_ctx = Z ⊙ W, shape `(batch, C, K, K)`."""
        self._check("hidden_states", hidden_states)
        return hidden_states * (self.hyper_kernel() if hyper_kernel is None else hyper_kernel)

    @staticmethod
    def interact(context_kernel: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """W_ctx @ F: the matrix product over the two spatial axes, per sample and channel."""
        return torch.matmul(context_kernel, features)

    def forward(
        self, hidden_states: torch.Tensor, features: torch.Tensor, hyper_kernel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """HyperZ·Z·W(Z, F) = (Z ⊙ W) @ F, shape `(batch, C, K, K)`."""
        self._check("features", features)
        return self.interact(self.context_kernel(hidden_states, hyper_kernel), features)


class HyperZZWLocal(nn.Module):
    r"""
    Local HyperZ·Z·W operator: a context-dependent depthwise convolution.

    A context-conditioned slow network makes a k×k kernel per channel from a context tensor X (one kernel per sample),
    which convolves the features Z; a 1×1 channel mixer, a standardisation and GELU follow:

        K_X = MAGNet_L(X),     out = GELU(IS(M (K_X ⊛ Z))) + b       (⊛ depthwise, zero padding (k − 1) / 2)

    IS is instance standardisation (the official code standardises over the batch, with batch statistics also at
    inference; instance statistics keep each prediction independent of the rest of the batch).

    Args:
        channels (`int`): channels of X and Z.
        kernel_size (`int`): odd side k of the local kernels.
        hidden_size (`int`): hidden width of the slow network.
        num_layers (`int`): layers of the slow network.
        omega_0 (`float`): MAGNet base frequency.
        gamma_alpha (`float`): MAGNet filter-scale shape.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        hidden_size: int = 32,
        num_layers: int = 2,
        omega_0: float = 1.0,
        gamma_alpha: float = 6.0,
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` of a local hyper-kernel must be odd, got {kernel_size}.")
        self.channels = channels
        self.kernel_size = kernel_size
        self.slow_net = MAGNetKernel(
            2, kernel_size, hidden_size, channels, num_layers, omega_0, gamma_alpha, context_channels=channels
        )
        self.channel_mixer = nn.Conv2d(channels, channels, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def local_kernels(self, context: torch.Tensor) -> torch.Tensor:
        """The per-sample depthwise kernels, shape `(batch, C, k, k)`."""
        return self.slow_net(context)

    def forward(self, context: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.dim() != 4 or hidden_states.shape[1] != self.channels:
            raise ValueError(
                f"`hidden_states` must have shape (batch, {self.channels}, height, width), got "
                f"{tuple(hidden_states.shape)}."
            )
        if context.shape[0] != hidden_states.shape[0]:
            raise ValueError(
                f"`context` and `hidden_states` must have the same batch size, got {context.shape[0]} and "
                f"{hidden_states.shape[0]}."
            )
        kernels = self.local_kernels(context)  # (B, C, k, k)
        batch, channels, height, width = hidden_states.shape
        # one depthwise convolution per sample: fold the batch into the groups
        out = F.conv2d(
            hidden_states.reshape(1, batch * channels, height, width),
            kernels.reshape(batch * channels, 1, self.kernel_size, self.kernel_size),
            padding=(self.kernel_size - 1) // 2,
            groups=batch * channels,
        ).reshape(batch, channels, height, width)
        return F.gelu(instance_standardize(self.channel_mixer(out))) + self.bias


class RecursiveGatedUnit(nn.Module):
    r"""
    Recursive gated unit (RGU), a fast feature of the Terminator (1×1 convolutions W_K, W_V, W_Q, W_Y):

        q = GELU(IS((W_K x) ⊙ W_Q (W_V x))) + p,      RGU(x) = W_Y q

    with IS instance standardisation and p a learnt bias per position.
    """

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.key = nn.Conv2d(channels, channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.query = nn.Conv2d(channels, channels, 1)
        self.output = nn.Conv2d(channels, channels, 1)
        self.position_bias = nn.Parameter(torch.zeros(kernel_size, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated = F.gelu(instance_standardize(self.key(x) * self.query(self.value(x)))) + self.position_bias
        return self.output(gated)


class HyperChannelInteraction(nn.Module):
    r"""
    Hyper-channel interaction: a slow network makes a hyper-kernel w over the C channels (`(1, 1, C)`); with y the
    spatial mean of x, the channel gate is

        s = σ(w ⊙ y ⊙ y),      out = x ⊙ s        (the two-elementwise HyperZ·Z·W, then a sigmoid)
    """

    def __init__(self, channels: int, hidden_size: int, num_layers: int, omega_0: float, gamma_alpha: float):
        super().__init__()
        self.slow_net = MAGNetKernel(1, channels, hidden_size, 1, num_layers, omega_0, gamma_alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))[:, None, :]  # (B, 1, C)
        score = torch.sigmoid(self.slow_net() * y * y)  # (B, 1, C)
        return x * score.transpose(1, 2)[..., None]


class HyperInteraction(nn.Module):
    r"""
    Hyper interaction: channel and spatial gates from slow-network hyper-kernels, applied to x:

        s_c = w_c ⊙ ȳ_c ⊙ ȳ_c  (ȳ_c: spatial mean of y, `(B, C, 1, 1)`),
        s_s = W_s ⊙ ȳ_s ⊙ ȳ_s  (ȳ_s: channel mean of y, `(B, 1, K, K)`),
        out = x ⊙ σ(s_s ⊙ s_c)
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        channel_hidden: int,
        spatial_hidden: int,
        num_layers: int,
        omega_0: float,
        gamma_alpha: float,
    ):
        super().__init__()
        self.channel_net = MAGNetKernel(1, channels, channel_hidden, 1, num_layers, omega_0, gamma_alpha)
        self.spatial_net = MAGNetKernel(2, kernel_size, spatial_hidden, 1, num_layers, omega_0, gamma_alpha)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y_c = y.mean(dim=(2, 3))[:, None, :]  # (B, 1, C)
        score_c = (self.channel_net() * y_c * y_c).transpose(1, 2)[..., None]  # (B, C, 1, 1)
        y_s = y.mean(dim=1, keepdim=True)  # (B, 1, K, K)
        score_s = self.spatial_net() * y_s * y_s
        return x * torch.sigmoid(score_s * score_c)


class GroupInstanceStandardization(nn.Module):
    r"""
    Block-output standardisation (G-IBS). The official module is not public; this reconstruction standardises each
    group of channels of each sample over its channels and positions (GroupNorm without affine):

        x̂ = (x − mean_g) / sqrt(var_g + ε),      g = the group of the channel, per sample.

    Args:
        channels (`int`): channels of the input.
        groups (`int`): requested groups; the greatest common divisor with `channels` is used.
    """

    def __init__(self, channels: int, groups: int, eps: float = 1e-5):
        super().__init__()
        self.groups = math.gcd(channels, groups)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.groups, eps=self.eps)


class TerminatorMultiBranchLayer(nn.Module):
    r"""
    The fast multi-branch layer of an SFNE block: ten branches, concatenated with up to two earlier block inputs and
    compressed by a 1×1 bottleneck to C·f channels. With Z the block input, W the global hyper-kernel and
    W_ctx = Z ⊙ W:

        fast  = IS(RGU_2(W_ctx) + RGU_1(Z))       mixer = IS(M Z)       hci = IS(HCI(Z))
        out   = W_ctx @ fast                      out_x = W_ctx @ mixer   out_hci = W_ctx @ hci
        glu   = σ(out) ⊙ out                      hyper = HI(out, Z)
        local_1 = L_1(Z → hci)  local_2 = L_2(hci → Z)  local_3 = L_3(mixer → Z)  local_4 = L_4(Z → mixer)

    where L_i(X → Y) is the local HyperZ·Z·W with kernels made from X convolving Y.
    """

    def __init__(self, config: TerminatorConfig, block_index: int):
        super().__init__()
        channels = config.channels[block_index]
        size = config.image_size
        layers, omega_0, alpha = config.magnet_layers, config.omega_0, config.magnet_gamma_alpha
        self.global_hyper_zzw = HyperZZWGlobal(channels, size, config.magnet_hidden, layers, omega_0, alpha)
        self.local_hyper_zzw = nn.ModuleList(
            [
                HyperZZWLocal(channels, k, config.local_magnet_hidden, layers, omega_0, alpha)
                for k in config.local_kernel_sizes
            ]
        )
        self.rgu_fast = RecursiveGatedUnit(channels, size)
        self.rgu_slow = RecursiveGatedUnit(channels, size)
        self.channel_mixer = nn.Conv2d(channels, channels, 1)
        self.channel_interaction = HyperChannelInteraction(
            channels, config.local_magnet_hidden, layers, omega_0, alpha
        )
        self.hyper_interaction = HyperInteraction(
            channels, size, config.interaction_channel_hidden, config.magnet_hidden, layers, omega_0, alpha
        )
        self.num_previous = config.concat_previous[block_index]
        self.bottleneck = nn.Conv2d(channels * (10 + self.num_previous), config.channels[block_index + 1], 1)

    def forward(self, hidden_states: torch.Tensor, previous: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        z = hidden_states
        hyper_kernel = self.global_hyper_zzw.hyper_kernel()
        context = self.global_hyper_zzw.context_kernel(z, hyper_kernel)
        fast = instance_standardize(self.rgu_slow(context) + self.rgu_fast(z))
        mixer = instance_standardize(self.channel_mixer(z))
        hci = instance_standardize(self.channel_interaction(z))
        out = self.global_hyper_zzw.interact(context, fast)
        out_x = self.global_hyper_zzw.interact(context, mixer)
        out_hci = self.global_hyper_zzw.interact(context, hci)
        glu = torch.sigmoid(out) * out
        hyper = self.hyper_interaction(out, z)
        local_1 = self.local_hyper_zzw[0](z, hci)
        local_2 = self.local_hyper_zzw[1](hci, z)
        local_3 = self.local_hyper_zzw[2](mixer, z)
        local_4 = self.local_hyper_zzw[3](z, mixer)
        tiled = [p.repeat(1, z.shape[1] // p.shape[1], 1, 1) for p in previous[: self.num_previous]]
        branches = [out, local_2, *tiled[:1], fast, out_x, local_1, glu, local_3, out_hci, local_4, *tiled[1:], hyper]
        return self.bottleneck(torch.cat(branches, dim=1)), hyper_kernel


class SFNEBlock(nn.Module):
    r"""
    Slow-fast neural encoding (SFNE) block, without residual connection:

        out = Dropout2d(act(G-IBS(Bottleneck([branches ; tiled earlier inputs]))) + b)
    """

    def __init__(self, config: TerminatorConfig, block_index: int):
        super().__init__()
        self.layer = TerminatorMultiBranchLayer(config, block_index)
        self.standardization = GroupInstanceStandardization(
            config.channels[block_index + 1], config.standardization_groups
        )
        self.activation = _ACTIVATIONS[config.hidden_act]()
        self.dropout = nn.Dropout2d(config.dropout)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, hidden_states: torch.Tensor, previous: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        out, hyper_kernel = self.layer(hidden_states, previous)
        out = self.activation(self.standardization(out)) + self.bias
        return self.dropout(out), hyper_kernel


@dataclass
class TerminatorModelOutput(ModelOutput):
    r"""
    Output of [`TerminatorModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, channels[-1], image_size, image_size)`):
            Output of the last SFNE block.
        pooler_output (`torch.FloatTensor` of shape `(batch, channels[-1])`):
            Spatial mean of `last_hidden_state`.
        global_hyper_kernels (`tuple(torch.FloatTensor)`):
            The global hyper-kernel of each block, `(1, channels[i], image_size, image_size)`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The input of each block and the last block's output.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    global_hyper_kernels: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class TerminatorImageClassifierOutput(ModelOutput):
    r"""
    Output of [`TerminatorForImageClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Cross-entropy plus `config.slow_loss_weight` times `slow_loss`.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`):
            Classification scores.
        slow_loss (`torch.FloatTensor` of shape `()`):
            The slow neural loss between the blocks' global hyper-kernels ([`slow_neural_loss`]).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The input of each block and the last block's output.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    slow_loss: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class TerminatorPreTrainedModel(PreTrainedModel):
    config: TerminatorConfig
    base_model_prefix = "terminator"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["SFNEBlock"]

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
        """The official initialisation: 1×1 layers Kaiming-uniform ("linear" gain) with zero bias, the channel mixer and
        bottleneck Kaiming-normal, MAGNet sine filters scaled by 2πω₀γ with γ ~ Gamma(α / (l + 1), 1), MAGNet hidden
        biases one and the MAGNet output layer scaled by sqrt(1 / K^d). Children are initialised before parents, so
        the module-specific rules below override the generic one."""
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.kaiming_uniform_(module.weight, nonlinearity="linear")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, MAGNetKernel):
            for layer, linear in enumerate(module.filters):
                bound = 1.0 / math.sqrt(module.data_dim)  # torch's default Linear range for fan-in d
                base = torch.empty_like(linear.weight).uniform_(-bound, bound)
                gamma = torch.distributions.Gamma(module.gamma_alpha / (layer + 1), 1.0).sample(base.shape)
                init.copy_(linear.weight, base * (2 * math.pi * module.omega_0) * gamma.to(base.dtype))
                init.zeros_(linear.bias)
            hidden_linears = list(module.linears) + list(getattr(module, "context_linears", []))
            for linear in hidden_linears:
                init.kaiming_uniform_(linear.weight, nonlinearity="linear")
                init.ones_(linear.bias)
            output = torch.empty_like(module.output_linear.weight)
            torch.nn.init.kaiming_uniform_(output, nonlinearity="linear")
            init.copy_(module.output_linear.weight, output * math.sqrt(1.0 / module.num_positions))
            init.zeros_(module.output_linear.bias)
            init.zeros_(module.position_bias)
        elif isinstance(module, TerminatorMultiBranchLayer):
            for conv in (module.channel_mixer, module.bottleneck):
                init.kaiming_normal_(conv.weight)
                init.zeros_(conv.bias)
        elif isinstance(module, HyperZZWLocal):
            init.kaiming_normal_(module.channel_mixer.weight)
            init.zeros_(module.channel_mixer.bias)
            init.zeros_(module.bias)
        elif isinstance(module, RecursiveGatedUnit):
            init.zeros_(module.position_bias)
        elif isinstance(module, SFNEBlock):
            init.zeros_(module.bias)


class TerminatorModel(TerminatorPreTrainedModel):
    r"""
    The Terminator backbone: `len(config.channels) − 1` SFNE blocks without residual connections, each at the full
    input resolution. Block i receives the previous block's output and, when `config.concat_previous[i] > 0`, the
    inputs of the one or two blocks before it (tiled along channels).
    """

    def __init__(self, config: TerminatorConfig):
        super().__init__(config)
        self.blocks = nn.ModuleList([SFNEBlock(config, i) for i in range(config.num_blocks)])
        self.post_init()

    def _check_pixel_values(self, pixel_values: torch.Tensor):
        config = self.config
        expected = (config.channels[0], config.image_size, config.image_size)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"`pixel_values` must have shape (batch, {', '.join(map(str, expected))}), got "
                f"{tuple(pixel_values.shape)}."
            )

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TerminatorModelOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, channels[0], image_size, image_size)`):
                Images. A grey-scale model (`channels[0] == 1`) also takes 3-channel images and uses their channel
                mean.
            output_hidden_states (`bool`, *optional*):
                Whether to return the input of every block.
            return_dict (`bool`, *optional*):
                Whether to return a [`TerminatorModelOutput`] instead of a tuple.
        """
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"`pixel_values` must be a torch.Tensor, got {type(pixel_values).__name__}.")
        if self.config.channels[0] == 1 and pixel_values.dim() == 4 and pixel_values.shape[1] == 3:
            # a grey-scale model given RGB images (the image-classification pipeline loads every image as RGB):
            # the channel mean, which is the grey image itself when R = G = B
            pixel_values = pixel_values.mean(dim=1, keepdim=True)
        self._check_pixel_values(pixel_values)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        hidden = pixel_values.to(self.dtype)
        inputs, kernels = [], []
        for block in self.blocks:
            previous = inputs[::-1][:2]  # the inputs of the previous block, then of the one before
            inputs.append(hidden)
            hidden, kernel = block(hidden, previous)
            kernels.append(kernel)
        output = TerminatorModelOutput(
            last_hidden_state=hidden,
            pooler_output=hidden.mean(dim=(2, 3)),
            global_hyper_kernels=tuple(kernels),
            hidden_states=(*inputs, hidden) if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()


class TerminatorForImageClassification(TerminatorPreTrainedModel):
    r"""
    Terminator with a classification head (global average pool, then a linear layer). When `labels` are given, the
    loss is the cross-entropy plus λ times the slow neural loss of the global hyper-kernels:

        L = CE(logits, labels) + λ · L_slow,       λ = `config.slow_loss_weight`.
    """

    def __init__(self, config: TerminatorConfig):
        super().__init__(config)
        self.terminator = TerminatorModel(config)
        self.classifier = nn.Linear(config.channels[-1], config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TerminatorImageClassifierOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, channels[0], image_size, image_size)`):
                Images.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
                Class indices in `[0, num_labels)`; when given, `loss` is returned.
            output_hidden_states (`bool`, *optional*):
                Whether to return the input of every block.
            return_dict (`bool`, *optional*):
                Whether to return a [`TerminatorImageClassifierOutput`] instead of a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.terminator(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        slow_loss = slow_neural_loss(outputs.global_hyper_kernels, self.config.bottleneck_factors)
        loss = None
        if labels is not None:
            if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
                raise ValueError(f"`labels` must have shape ({logits.shape[0]},), got {tuple(labels.shape)}.")
            if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= self.config.num_labels:
                raise ValueError(f"`labels` must be class indices in [0, {self.config.num_labels}).")
            ce = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)
            loss = ce + self.config.slow_loss_weight * slow_loss
        output = TerminatorImageClassifierOutput(
            loss=loss, logits=logits, slow_loss=slow_loss, hidden_states=outputs.hidden_states
        )
        return output if return_dict else output.to_tuple()


TerminatorModel.register_for_auto_class("AutoModel")
TerminatorForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "GroupInstanceStandardization",
    "HyperChannelInteraction",
    "HyperInteraction",
    "HyperZZWGlobal",
    "HyperZZWLocal",
    "MAGNetKernel",
    "RecursiveGatedUnit",
    "SFNEBlock",
    "TerminatorForImageClassification",
    "TerminatorImageClassifierOutput",
    "TerminatorModel",
    "TerminatorModelOutput",
    "TerminatorPreTrainedModel",
    "coordinate_grid",
    "instance_standardize",
    "slow_neural_loss",
]
