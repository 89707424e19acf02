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
"""PyTorch D2NWG networks (Soro et al., "Diffusion-Based Neural Network Weights Generation", arXiv 2402.18153).

Three networks make the weight generator: a weight VAE ([`WeightVAE`]), a dataset set-encoder
([`DatasetSetEncoder`]) and a latent denoiser ([`LatentWeightDiffusion`]); [`D2NWGModel`] holds the three (the
checkpoint a user saves and loads). The noise schedule and the sampling loop are not here: they come from diffusers
(`hf_methods.models.d2nwg.pipeline`), so this file stays self-contained (torch, transformers, safetensors and its own
configuration) and a saved checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without
hf-methods installed.
"""

import math
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_d2nwg import D2NWGConfig

# Smallest per-coordinate standard deviation used to normalise zoo weights (a coordinate that is constant over the
# zoo, e.g. the weight of an always-black pixel, is left unscaled rather than divided by zero).
_MIN_WEIGHT_STD = 1e-6


def flatten_parameters(state_dict: dict, parameter_spec: list) -> torch.Tensor:
    r"""
    Flattens the parameters of a target model into one vector, in the order of `parameter_spec`.

    Args:
        state_dict (`dict[str, torch.Tensor]`):
            The target model's parameters; every name of the spec must be present with the spec's shape.
        parameter_spec (`list`):
            `[name, shape]` pairs (see [`D2NWGConfig`]).

    Returns:
        `torch.FloatTensor` of shape `(P,)`.
    """
    if not isinstance(state_dict, dict):
        raise TypeError(f"`state_dict` must be a dict of tensors, got {type(state_dict).__name__}.")
    pieces = []
    for name, shape in parameter_spec:
        if name not in state_dict:
            raise ValueError(f"`state_dict` has no parameter {name!r} named by the parameter spec.")
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != tuple(shape):
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(f"`state_dict[{name!r}]` must have shape {tuple(shape)}, got {got}.")
        pieces.append(tensor.detach().reshape(-1).float())
    return torch.cat(pieces)


def unflatten_parameters(vector: torch.Tensor, parameter_spec: list) -> dict:
    r"""
    Splits a flat parameter vector back into a state dict, the inverse of [`flatten_parameters`].

    Args:
        vector (`torch.Tensor` of shape `(P,)`):
            Flat parameters, P = Σ prod(shape) over the spec.
        parameter_spec (`list`):
            `[name, shape]` pairs (see [`D2NWGConfig`]).

    Returns:
        `dict[str, torch.Tensor]`: one (contiguous, cloned) tensor per spec entry.
    """
    total = sum(math.prod(shape) for _, shape in parameter_spec)
    if not isinstance(vector, torch.Tensor) or vector.dim() != 1 or vector.numel() != total:
        got = tuple(vector.shape) if isinstance(vector, torch.Tensor) else type(vector).__name__
        raise ValueError(f"`vector` must be a 1-D tensor of {total} parameters (the spec's total), got {got}.")
    state_dict, offset = {}, 0
    for name, shape in parameter_spec:
        size = math.prod(shape)
        state_dict[name] = vector[offset : offset + size].reshape(shape).clone()
        offset += size
    return state_dict


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    r"""
    Sinusoidal timestep embedding (as in the official UNet, after Vaswani et al.):

        emb(t) = [cos(t·ω_0), …, cos(t·ω_{h−1}), sin(t·ω_0), …, sin(t·ω_{h−1})],   ω_i = max_period^(−i/h),  h = dim/2.

    Args:
        timesteps (`torch.Tensor` of shape `(B,)`): integer (or float) timesteps.
        dim (`int`): even embedding size.

    Returns:
        `torch.FloatTensor` of shape `(B, dim)`.
    """
    half = dim // 2
    frequencies = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    )
    arguments = timesteps.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(arguments), torch.sin(arguments)], dim=-1)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""
    KL(N(μ, diag σ²) ‖ N(0, I)) per sample: ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²).

    Returns:
        `torch.FloatTensor` of shape `(B,)`.
    """
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


@dataclass
class WeightVAEOutput(ModelOutput):
    r"""
    Output of [`WeightVAE`].

    Args:
        loss (`torch.FloatTensor` of shape `()`):
            reconstruction + `kl_weight` · KL, averaged over the batch (in normalised weight units).
        reconstruction (`torch.FloatTensor` of shape `(B, P)`):
            The decoded weights, in the target model's units.
        latent_mean (`torch.FloatTensor` of shape `(B, latent_dim)`):
            μ of q(z | w).
        latent_logvar (`torch.FloatTensor` of shape `(B, latent_dim)`):
            log σ² of q(z | w).
        reconstruction_loss (`torch.FloatTensor` of shape `()`):
            The reconstruction term alone.
        kl_loss (`torch.FloatTensor` of shape `()`):
            KL(q(z | w) ‖ N(0, I)) averaged over the batch.
    """

    loss: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    latent_mean: torch.FloatTensor | None = None
    latent_logvar: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    kl_loss: torch.FloatTensor | None = None


@dataclass
class DatasetEmbeddingOutput(ModelOutput):
    r"""
    Output of [`DatasetSetEncoder`].

    Args:
        condition (`torch.FloatTensor` of shape `(B, condition_dim)`):
            The dataset embedding c that conditions the latent denoiser.
    """

    condition: torch.FloatTensor | None = None


@dataclass
class LatentDenoiserOutput(ModelOutput):
    r"""
    Output of [`LatentWeightDiffusion`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            ‖ε − ε_θ‖² averaged over latent dimensions and the batch.
        sample (`torch.FloatTensor` of shape `(B, latent_dim)`):
            The predicted noise ε_θ(z_t, t, c) (named `sample` like diffusers' model outputs).
    """

    loss: torch.FloatTensor | None = None
    sample: torch.FloatTensor | None = None


@dataclass
class D2NWGOutput(ModelOutput):
    r"""
    Output of [`D2NWGModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            The ε-prediction loss ‖ε − ε_θ(z_t, t, E(S))‖², averaged over latent dimensions and the batch.
        sample (`torch.FloatTensor` of shape `(B, latent_dim)`):
            The predicted noise.
        condition (`torch.FloatTensor` of shape `(B, condition_dim)`):
            The dataset embeddings E(S) of the support sets.
    """

    loss: torch.FloatTensor | None = None
    sample: torch.FloatTensor | None = None
    condition: torch.FloatTensor | None = None


class D2NWGPreTrainedModel(PreTrainedModel):
    config: D2NWGConfig
    base_model_prefix = "d2nwg"
    _no_split_modules = []

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
        """Linear layers: normal(0, `initializer_range`) weights (zero for the denoiser's output layers), zero bias;
        LayerNorm (1, 0); the normalisation
        buffers: zero mean, unit scale (identity until fitted on a zoo)."""
        if isinstance(module, nn.Linear):
            if getattr(module, "_zero_init", False):
                # the last layer of each residual block and of the denoiser start at zero (the official UNet's
                # `zero_module`): every block starts as the identity and the first prediction is ε̂ = 0
                init.zeros_(module.weight)
            else:
                init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, WeightVAE):
            init.zeros_(module.weight_mean)
            init.ones_(module.weight_std)
        elif isinstance(module, D2NWGModel):
            init.ones_(module.latent_scale)

    def _check_float(self, tensor, name: str, shape: tuple) -> torch.Tensor:
        """`tensor` must be a float tensor of rank len(shape) whose named sizes (ints in `shape`) match."""
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(tensor).__name__}.")
        if not tensor.is_floating_point():
            raise TypeError(f"`{name}` must be a float tensor, got dtype {tensor.dtype}.")
        wanted = tuple("B" if s is None else s for s in shape)
        if tensor.dim() != len(shape) or any(s is not None and t != s for t, s in zip(tensor.shape, shape)):
            raise ValueError(f"`{name}` must have shape {wanted}, got {tuple(tensor.shape)}.")
        return tensor


def _mlp(sizes: list, activation=nn.SiLU) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class WeightVAE(D2NWGPreTrainedModel):
    r"""
    The stage-1 weight autoencoder of D2NWG: a VAE on flattened parameter vectors w ∈ R^P,

        q(z | w) = N(μ(ŵ), diag σ²(ŵ)),   ŵ = (w − m) / s,   w' = m + s ⊙ D(z),
        L = rec(ŵ, D(z)) + β · KL(q(z | w) ‖ N(0, I)),   z ~ q(z | w),

    with rec the squared (or absolute, `reconstruction_loss="l1"`) error summed over the P coordinates and β =
    `kl_weight` (1e-6 in the paper: close to a plain autoencoder). m and s (`weight_mean`, `weight_std`, buffers saved
    with the checkpoint) standardise each coordinate over the zoo ([`~WeightVAE.fit_weight_statistics`]). The paper's
    VAE is convolutional on weights reshaped to a 64×64 "image"; for the small target models of this library the
    encoder and decoder are MLPs (`vae_hidden_sizes`).
    """

    main_input_name = "weights"

    def __init__(self, config: D2NWGConfig):
        super().__init__(config)
        size = config.num_parameters_generated
        hidden = list(config.vae_hidden_sizes)
        self.encoder = _mlp([size, *hidden, 2 * config.latent_dim])
        self.decoder = _mlp([config.latent_dim, *reversed(hidden), size])
        self.register_buffer("weight_mean", torch.zeros(size), persistent=True)
        self.register_buffer("weight_std", torch.ones(size), persistent=True)
        self.post_init()

    @torch.no_grad()
    def fit_weight_statistics(self, weights: torch.Tensor) -> None:
        """Sets `weight_mean` / `weight_std` to the per-coordinate mean and standard deviation of a zoo `(N, P)`."""
        weights = self._check_float(weights, "weights", (None, self.config.num_parameters_generated))
        if weights.shape[0] < 2:
            raise ValueError(f"`weights` must hold at least 2 vectors to fit statistics, got {weights.shape[0]}.")
        self.weight_mean.copy_(weights.mean(dim=0))
        self.weight_std.copy_(weights.std(dim=0, unbiased=False).clamp_min(_MIN_WEIGHT_STD))

    def encode(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""
        (μ, log σ²) of q(z | w) for flat weights `(B, P)`; log σ² is clamped to [−30, 20] as in the official code.
        """
        weights = self._check_float(weights, "weights", (None, self.config.num_parameters_generated))
        normalised = (weights - self.weight_mean) / self.weight_std
        mean, logvar = self.encoder(normalised).chunk(2, dim=-1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Flat weights `(B, P)`, in the target model's units, for latents `(B, latent_dim)`."""
        latents = self._check_float(latents, "latents", (None, self.config.latent_dim))
        return self.weight_mean + self.weight_std * self.decoder(latents)

    def forward(
        self,
        weights: torch.Tensor,
        latent_noise: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> WeightVAEOutput | tuple:
        r"""
        Encodes, decodes and scores flat weights.

        Args:
            weights (`torch.FloatTensor` of shape `(B, P)`):
                Flattened parameter vectors (see [`flatten_parameters`]).
            latent_noise (`torch.FloatTensor` of shape `(B, latent_dim)`, *optional*):
                ε of the reparameterised sample z = μ + σ ⊙ ε (training). Without it z = μ, the posterior mean
                (deterministic, for evaluation).
            return_dict (`bool`, *optional*):
                Whether to return a [`WeightVAEOutput`] instead of a plain tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        mean, logvar = self.encode(weights)
        latents = mean
        if latent_noise is not None:
            latent_noise = self._check_float(latent_noise, "latent_noise", tuple(mean.shape))
            latents = mean + torch.exp(0.5 * logvar) * latent_noise
        decoded = self.decoder(latents)
        target = (weights - self.weight_mean) / self.weight_std
        error = decoded - target
        per_sample = (error.pow(2) if self.config.reconstruction_loss == "mse" else error.abs()).sum(dim=-1)
        reconstruction_loss = per_sample.mean()
        kl_loss = gaussian_kl(mean, logvar).mean()
        loss = reconstruction_loss + self.config.kl_weight * kl_loss
        output = WeightVAEOutput(
            loss=loss,
            reconstruction=self.weight_mean + self.weight_std * decoded,
            latent_mean=mean,
            latent_logvar=logvar,
            reconstruction_loss=reconstruction_loss,
            kl_loss=kl_loss,
        )
        return output if return_dict else output.to_tuple()


class DatasetSetEncoder(D2NWGPreTrainedModel):
    r"""
    The dataset encoder of D2NWG: maps a support set S ∈ R^{C×K×F} (C classes in label order, K samples each, F
    features) to the condition c = E(S) ∈ R^{condition_dim}.

    - `set_pooling="moments"`: each class is summarised by the mean and standard deviation of its K samples,
      u_c = [mean_k x_{c,k}; std_k x_{c,k}] ∈ R^{2F}, and c = MLP([u_1; …; u_C]). Invariant to the order of the samples
      within a class; the order of the classes matters (class i is output i of the generated classifier).
    - `set_pooling="linear"`: the official `MyMLPEncoder`: a learned linear map mixes the C·K samples of every feature
      into `set_mixing_dim` values, h = LeakyReLU(A · X_{:, f}), and c = MLP(flatten(h)).
    """

    main_input_name = "support_set"

    def __init__(self, config: D2NWGConfig):
        super().__init__(config)
        c, k, f = config.num_classes, config.samples_per_class, config.feature_dim
        if config.set_pooling == "moments":
            self.sample_mixing = None
            pooled = c * 2 * f
        else:
            self.sample_mixing = nn.Linear(c * k, config.set_mixing_dim)
            pooled = f * config.set_mixing_dim
        self.head = _mlp([pooled, config.set_hidden_size, config.condition_dim])
        self.post_init()

    def pool(self, support_set: torch.Tensor) -> torch.Tensor:
        """The set statistics fed to the MLP head, `(B, C·2F)` (moments) or `(B, F·set_mixing_dim)` (linear)."""
        config = self.config
        shape = (None, config.num_classes, config.samples_per_class, config.feature_dim)
        support_set = self._check_float(support_set, "support_set", shape)
        batch = support_set.shape[0]
        if self.sample_mixing is None:
            mean = support_set.mean(dim=2)
            std = support_set.var(dim=2, unbiased=False).clamp_min(1e-12).sqrt()
            return torch.cat([mean, std], dim=-1).reshape(batch, -1)
        samples = support_set.reshape(batch, -1, config.feature_dim).transpose(1, 2)  # (B, F, C·K)
        return nn.functional.leaky_relu(self.sample_mixing(samples)).reshape(batch, -1)

    def forward(self, support_set: torch.Tensor, return_dict: bool | None = None) -> DatasetEmbeddingOutput | tuple:
        r"""
        Args:
            support_set (`torch.FloatTensor` of shape `(B, num_classes, samples_per_class, feature_dim)`):
                B support sets, classes in label order.
            return_dict (`bool`, *optional*):
                Whether to return a [`DatasetEmbeddingOutput`] instead of a plain tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output = DatasetEmbeddingOutput(condition=self.head(self.pool(support_set)))
        return output if return_dict else output.to_tuple()


class _DenoiserBlock(nn.Module):
    """h ← h + W₂ SiLU(W₁ LN(h) + W_t e_t): a residual MLP block with an additive timestep embedding."""

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.inner = nn.Linear(hidden, hidden)
        self.time = nn.Linear(hidden, hidden)
        self.outer = nn.Linear(hidden, hidden)
        self.outer._zero_init = True

    def forward(self, hidden: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        return hidden + self.outer(nn.functional.silu(self.inner(self.norm(hidden)) + self.time(time)))


class LatentWeightDiffusion(D2NWGPreTrainedModel):
    r"""
    The latent denoiser of D2NWG, ε_θ(z_t, t, c): predicts the noise in a noisy weight latent

        z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε,   trained with  E_{t, ε} ‖ε − ε_θ(z_t, t, c)‖²   (Ho et al., 2020),

    conditioned on the dataset embedding c by concatenation (the official `conditioning_key: concat`). The paper's
    denoiser is a UNet on 4-channel latent maps; on the flat latents of small target models it is a residual MLP:
    [z_t; c] → Linear → `denoiser_num_layers` blocks (each adds a projection of the sinusoidal embedding of t) →
    LayerNorm → SiLU → Linear.
    """

    main_input_name = "latents"

    def __init__(self, config: D2NWGConfig):
        super().__init__(config)
        hidden = config.denoiser_hidden_size
        self.input_proj = nn.Linear(config.latent_dim + config.condition_dim, hidden)
        self.time_mlp = _mlp([config.time_embed_dim, hidden, hidden])
        self.blocks = nn.ModuleList(_DenoiserBlock(hidden) for _ in range(config.denoiser_num_layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.output_proj = nn.Linear(hidden, config.latent_dim)
        self.output_proj._zero_init = True
        self.post_init()

    def _check_timesteps(self, timesteps, batch: int, device) -> torch.Tensor:
        if isinstance(timesteps, int) and not isinstance(timesteps, bool):
            timesteps = torch.full((batch,), timesteps, device=device, dtype=torch.long)
        if not isinstance(timesteps, torch.Tensor):
            raise TypeError(
                f"`timesteps` must be an int or a tensor of shape ({batch},), got {type(timesteps).__name__}."
            )
        if timesteps.dim() == 0:
            timesteps = timesteps.expand(batch)
        if timesteps.shape != (batch,):
            raise ValueError(f"`timesteps` must have shape ({batch},), got {tuple(timesteps.shape)}.")
        if timesteps.numel() and (timesteps.min() < 0 or timesteps.max() >= self.config.num_train_timesteps):
            raise ValueError(
                f"`timesteps` must lie in [0, num_train_timesteps={self.config.num_train_timesteps}), got values in "
                f"[{timesteps.min().item()}, {timesteps.max().item()}]."
            )
        return timesteps.to(device)

    def forward(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor | int,
        condition: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> LatentDenoiserOutput | tuple:
        r"""
        Args:
            latents (`torch.FloatTensor` of shape `(B, latent_dim)`):
                Noisy (scaled) latents z_t.
            timesteps (`torch.LongTensor` of shape `(B,)` or `int`):
                Diffusion steps t ∈ [0, num_train_timesteps).
            condition (`torch.FloatTensor` of shape `(B, condition_dim)`):
                Dataset embeddings c.
            labels (`torch.FloatTensor` of shape `(B, latent_dim)`, *optional*):
                The noise ε that made z_t; when given, `loss` is the ε-prediction MSE.
            return_dict (`bool`, *optional*):
                Whether to return a [`LatentDenoiserOutput`] instead of a plain tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        config = self.config
        latents = self._check_float(latents, "latents", (None, config.latent_dim))
        batch = latents.shape[0]
        condition = self._check_float(condition, "condition", (batch, config.condition_dim))
        timesteps = self._check_timesteps(timesteps, batch, latents.device)
        time = self.time_mlp(timestep_embedding(timesteps, config.time_embed_dim).to(latents.dtype))
        hidden = self.input_proj(torch.cat([latents, condition], dim=-1))
        for block in self.blocks:
            hidden = block(hidden, time)
        prediction = self.output_proj(nn.functional.silu(self.out_norm(hidden)))
        loss = None
        if labels is not None:
            labels = self._check_float(labels, "labels", tuple(latents.shape))
            loss = nn.functional.mse_loss(prediction, labels.to(prediction.dtype))
        output = LatentDenoiserOutput(loss=loss, sample=prediction)
        return output if return_dict else output.to_tuple()


class D2NWGModel(D2NWGPreTrainedModel):
    r"""
    The D2NWG weight generator: a [`WeightVAE`] (`vae`), a [`DatasetSetEncoder`] (`dataset_encoder`) and a
    [`LatentWeightDiffusion`] denoiser (`denoiser`), saved and loaded as one checkpoint. Its `forward` is the
    conditional denoiser of the latent diffusion model, ε_θ(z_t, t, E(S)), with the set encoder trained jointly
    through the ε-prediction loss. The diffusion latents are the VAE's posterior means scaled by `latent_scale`
    (`scale_by_std` of the official latent diffusion: 1 / std of the zoo's latents, a buffer saved with the
    checkpoint and undone at decoding). Generation with a diffusers scheduler is in
    `hf_methods.models.d2nwg.D2NWGPipeline`.
    """

    main_input_name = "latents"

    def __init__(self, config: D2NWGConfig):
        super().__init__(config)
        self.vae = WeightVAE(config)
        self.dataset_encoder = DatasetSetEncoder(config)
        self.denoiser = LatentWeightDiffusion(config)
        self.register_buffer("latent_scale", torch.ones(()), persistent=True)
        self.post_init()

    @torch.no_grad()
    def encode_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """Diffusion latents `latent_scale` · μ(w) of flat weights `(B, P)`."""
        mean, _ = self.vae.encode(weights)
        return mean * self.latent_scale

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Flat weights `(B, P)` decoded from diffusion latents (the scale undone first)."""
        return self.vae.decode(latents / self.latent_scale)

    @torch.no_grad()
    def fit_latent_scale(self, weights: torch.Tensor) -> float:
        """`scale_by_std`: sets `latent_scale` to 1 / std of the (unscaled) latents of a zoo `(N, P)`; returns it."""
        mean, _ = self.vae.encode(weights)
        if mean.numel() < 2:
            raise ValueError("`weights` must give at least 2 latent values to estimate their standard deviation.")
        self.latent_scale.copy_(1.0 / mean.flatten().std().clamp_min(1e-8))
        return self.latent_scale.item()

    def embed_dataset(self, support_set: torch.Tensor) -> torch.Tensor:
        """The dataset embeddings E(S) `(B, condition_dim)` of support sets `(B, C, K, F)`."""
        return self.dataset_encoder(support_set, return_dict=True).condition

    def vector_to_state_dict(self, vector: torch.Tensor) -> dict:
        """A flat generated vector `(P,)` as the target model's state dict (by `config.parameter_spec`)."""
        return unflatten_parameters(vector, self.config.parameter_spec)

    def forward(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor | int,
        support_set: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> D2NWGOutput | tuple:
        r"""
        ε_θ(z_t, t, E(S)): the noise predicted in noisy latents given the support sets of their datasets.

        Args:
            latents (`torch.FloatTensor` of shape `(B, latent_dim)`):
                Noisy scaled latents z_t.
            timesteps (`torch.LongTensor` of shape `(B,)` or `int`):
                Diffusion steps t.
            support_set (`torch.FloatTensor` of shape `(B, num_classes, samples_per_class, feature_dim)`):
                The support set of each latent's dataset.
            labels (`torch.FloatTensor` of shape `(B, latent_dim)`, *optional*):
                The noise ε; when given, `loss` is ‖ε − ε_θ‖² (mean over dimensions and batch).
            return_dict (`bool`, *optional*):
                Whether to return a [`D2NWGOutput`] instead of a plain tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        condition = self.embed_dataset(support_set)
        denoised = self.denoiser(latents, timesteps, condition, labels=labels, return_dict=True)
        output = D2NWGOutput(loss=denoised.loss, sample=denoised.sample, condition=condition)
        return output if return_dict else output.to_tuple()


D2NWGModel.register_for_auto_class("AutoModel")

__all__ = [
    "D2NWGModel",
    "D2NWGOutput",
    "D2NWGPreTrainedModel",
    "DatasetEmbeddingOutput",
    "DatasetSetEncoder",
    "LatentDenoiserOutput",
    "LatentWeightDiffusion",
    "WeightVAE",
    "WeightVAEOutput",
    "flatten_parameters",
    "gaussian_kl",
    "timestep_embedding",
    "unflatten_parameters",
]
