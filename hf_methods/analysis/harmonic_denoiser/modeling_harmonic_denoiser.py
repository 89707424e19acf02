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
"""PyTorch bias-free blind denoiser and the Kadkhodaie–Simoncelli sampler.

The denoiser is the bias-free CNN of Mohan et al. (ICLR 2020) as used by Kadkhodaie, Guth, Simoncelli and Mallat
(ICLR 2024) to study memorisation and generalisation in diffusion models (official code:
LabForComputationalVision/memorization_generalization_in_diffusion_models, `code/network.py` `BF_CNN` and
`BF_batchNorm`); the sampler is the stochastic coarse-to-fine ascent of Kadkhodaie & Simoncelli (NeurIPS 2021),
`code/algorithm_inv_prob.py` in the same repository.

This file is self-contained (torch, transformers and its own configuration only), so that a saved checkpoint loads
with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
"""

import math
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_harmonic_denoiser import BiasFreeDenoiserConfig

#: Initial scale of the batch-norm gains γ (official code: N(0, (2/9/64)²) clipped to ±0.025).
GAMMA_INIT_STD = 2.0 / 9.0 / 64.0
GAMMA_INIT_BOUND = 0.025


class BiasFreeBatchNorm2d(nn.Module):
    r"""
    Batch normalisation without additive constants (Mohan et al., ICLR 2020):

        training:    BN(x)_c = γ_c · x_c / sqrt(Var_batch(x_c) + ε)     (the batch mean is NOT subtracted)
        evaluation:  BN(x)_c = γ_c · x_c / s_c                          (s_c the running standard deviation)

    Neither a mean is subtracted nor a shift β added, so in evaluation mode the layer is linear (a per-channel scale)
    and the network it sits in stays positively homogeneous. The running standard deviation is updated in training
    mode as s_c ← (1 − m) s_c + m · sqrt(Var_batch(x_c) + ε).

    Args:
        num_channels (`int`): channels of the input.
        momentum (`float`): m, the weight of the current batch in s_c.
        eps (`float`): ε, added to the batch variance in training mode only.
    """

    def __init__(self, num_channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.empty(1, num_channels, 1, 1))  # γ
        self.register_buffer("running_std", torch.ones(1, num_channels, 1, 1), persistent=True)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.training:
            std = torch.sqrt(hidden.var(dim=(0, 2, 3), keepdim=True, unbiased=False) + self.eps)
            with torch.no_grad():
                self.running_std.mul_(1.0 - self.momentum).add_(self.momentum * std.to(self.running_std.dtype))
        else:
            std = self.running_std.to(hidden.dtype)
        return hidden / std * self.weight.to(hidden.dtype)


@dataclass
class BiasFreeDenoiserOutput(ModelOutput):
    r"""
    Output of [`BiasFreeDenoiser`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Mean squared error ‖D(y) − x‖² / (B·C·H·W) between the denoised and the clean images, i.e. the error of
            the predicted residual f(y) against the noise y − x.
        residual (`torch.FloatTensor` of shape `(batch, channels, height, width)`):
            The network's output f(y), the estimated noise.
        denoised (`torch.FloatTensor` of shape `(batch, channels, height, width)`):
            D(y) = y − f(y).
    """

    loss: torch.FloatTensor | None = None
    residual: torch.FloatTensor | None = None
    denoised: torch.FloatTensor | None = None


@dataclass
class BiasFreeSamplerOutput(ModelOutput):
    r"""
    Output of [`BiasFreeDenoiser.sample`].

    Args:
        samples (`torch.FloatTensor` of shape `(batch, channels, height, width)`):
            D(y_T): the denoised last iterate of each chain.
        num_steps (`torch.LongTensor` of shape `(batch,)`):
            Iterations each chain ran before its σ_t fell to σ_L (or `max_steps`).
        converged (`torch.BoolTensor` of shape `(batch,)`):
            Whether the chain reached σ_t ≤ σ_L within `max_steps`.
        diverged (`torch.BoolTensor` of shape `(batch,)`):
            Whether the chain was stopped because its σ_t rose above `sigma_max`.
        sigmas (`torch.FloatTensor` of shape `(steps + 1, batch)`):
            σ_t = ‖f(y_t)‖ / √N of every chain at every iteration (frozen once a chain stops).
    """

    samples: torch.FloatTensor | None = None
    num_steps: torch.LongTensor | None = None
    converged: torch.BoolTensor | None = None
    diverged: torch.BoolTensor | None = None
    sigmas: torch.FloatTensor | None = None


class BiasFreeDenoiserPreTrainedModel(PreTrainedModel):
    config: BiasFreeDenoiserConfig
    base_model_prefix = "denoiser"
    main_input_name = "pixel_values"
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
        """Convolutions: Kaiming normal (fan-in), as the official code. Batch-norm gains: small normal values."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, a=0, mode="fan_in")
        elif isinstance(module, BiasFreeBatchNorm2d):
            init.trunc_normal_(module.weight, std=GAMMA_INIT_STD, a=-GAMMA_INIT_BOUND, b=GAMMA_INIT_BOUND)
            init.ones_(module.running_std)


class BiasFreeDenoiser(BiasFreeDenoiserPreTrainedModel):
    r"""
    Bias-free blind denoiser (BF-CNN, Mohan et al., ICLR 2020), trained to predict the noise of y = x + σz for σ
    drawn per image (the network is not told σ):

        f(y) = W_L ∘ ρ ∘ BN_{L−1} ∘ W_{L−1} ∘ … ∘ ρ ∘ BN_2 ∘ W_2 ∘ ρ ∘ W_1 (y),      D(y) = y − f(y),

    with W_l convolutions without bias, BN_l [`BiasFreeBatchNorm2d`] and ρ the ReLU (the first ReLU is dropped when
    `config.first_layer_linear`). Every map is linear or ReLU, so in evaluation mode f is piecewise linear and
    positively homogeneous: f(αy) = αf(y) (α > 0) and f(y) = ∇f(y)·y, hence D(y) = ∇D(y)·y exactly
    (Kadkhodaie et al., ICLR 2024, Eq. 5: the denoiser is an adaptive linear filter).

    Args:
        config ([`BiasFreeDenoiserConfig`]): model configuration.
    """

    def __init__(self, config: BiasFreeDenoiserConfig):
        super().__init__(config)
        padding = config.kernel_size // 2
        widths = [config.num_channels] + [config.num_kernels] * (config.num_layers - 1) + [config.num_channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], config.kernel_size, padding=padding, bias=False)
            for i in range(config.num_layers)
        )
        self.norms = nn.ModuleList(
            BiasFreeBatchNorm2d(config.num_kernels, config.batch_norm_momentum, config.batch_norm_eps)
            for _ in range(config.num_layers - 2)
        )
        self.post_init()

    def _check_images(self, images, name: str) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise TypeError(f"`{name}` must be a float torch.Tensor, got {type(images).__name__}.")
        if images.dim() != 4 or images.shape[1] != self.config.num_channels:
            raise ValueError(
                f"`{name}` must have shape (batch, num_channels={self.config.num_channels}, height, width), got "
                f"{tuple(images.shape)}."
            )
        return images

    def residual(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """f(y): the estimated noise of the noisy images `pixel_values` `(batch, channels, height, width)`."""
        hidden = self.convs[0](self._check_images(pixel_values, "pixel_values"))
        if not self.config.first_layer_linear:
            hidden = torch.relu(hidden)
        for conv, norm in zip(self.convs[1:-1], self.norms):
            hidden = torch.relu(norm(conv(hidden)))
        return self.convs[-1](hidden)

    def denoise(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """D(y) = y − f(y)."""
        return pixel_values - self.residual(pixel_values)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> BiasFreeDenoiserOutput | tuple:
        r"""
        Denoises `pixel_values`.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, channels, height, width)`):
                Noisy images y.
            labels (`torch.FloatTensor` of the same shape, *optional*):
                The clean images x; when given, `loss` is mean((D(y) − x)²) = mean((f(y) − (y − x))²), the blind
                denoising objective (the official code sums over pixels and divides by the batch size: the same
                objective up to a constant factor).
            return_dict (`bool`, *optional*):
                Whether to return a [`BiasFreeDenoiserOutput`] instead of a plain tuple.

        Returns:
            [`BiasFreeDenoiserOutput`] or `tuple(torch.FloatTensor)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        residual = self.residual(pixel_values)
        denoised = pixel_values - residual
        loss = None
        if labels is not None:
            labels = self._check_images(labels, "labels")
            if labels.shape != pixel_values.shape:
                raise ValueError(
                    f"`labels` (clean images) must have the shape of `pixel_values` {tuple(pixel_values.shape)}, got "
                    f"{tuple(labels.shape)}."
                )
            loss = nn.functional.mse_loss(denoised, labels.to(denoised.dtype))
        output = BiasFreeDenoiserOutput(loss=loss, residual=residual, denoised=denoised)
        return output if return_dict else output.to_tuple()

    def add_noise(
        self, clean: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""
        y = x + σz with one σ per image, drawn by `config.noise_schedule` from [σ_min, σ_max], z ~ N(0, I).

        Returns:
            `(noisy, sigma)`, `sigma` of shape `(batch, 1, 1, 1)`. The draws come from `generator` on the CPU.
        """
        clean = self._check_images(clean, "clean")
        low, high = self.config.min_noise_level, self.config.max_noise_level
        u = torch.rand((clean.shape[0], 1, 1, 1), generator=generator, dtype=torch.float64)
        if self.config.noise_schedule == "quadratic":
            sigma = (math.sqrt(low) + u * (math.sqrt(high) - math.sqrt(low))) ** 2
        else:
            sigma = low + u * (high - low)
        noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64)
        sigma = sigma.to(device=clean.device, dtype=clean.dtype)
        return clean + sigma * noise.to(device=clean.device, dtype=clean.dtype), sigma

    @torch.no_grad()
    def sample(
        self,
        shape: tuple[int, int, int, int],
        *,
        h0: float = 0.01,
        beta: float = 0.01,
        sigma_0: float = 1.0,
        sigma_L: float = 0.01,
        init_mean: float = 0.5,
        max_steps: int = 2000,
        sigma_max: float | None = 2.0,
        generator: torch.Generator | None = None,
        initial_noise: torch.Tensor | None = None,
    ) -> BiasFreeSamplerOutput:
        r"""
        Draws samples from the prior implicit in the denoiser by stochastic coarse-to-fine gradient ascent
        (Kadkhodaie & Simoncelli, NeurIPS 2021, Algorithm 1), every chain on its own:

            y_0 ~ N(init_mean, σ_0² I);  t = 1, 2, … while σ_t > σ_L:
                d_t = −f(y_t)                                    (∝ the score ∇ log p_σ(y_t), Miyasawa / Tweedie)
                σ_t² = ‖d_t‖² / N                                (N = channels·height·width)
                h_t = h_0 t / (1 + h_0 (t − 1))
                γ_t² = ((1 − β h_t)² − (1 − h_t)²) σ_t²
                y_{t+1} = y_t + h_t d_t + γ_t z_t,   z_t ~ N(0, I)
            sample = D(y_T) = y_T − f(y_T)

        A chain stops once its σ_t ≤ σ_L (its later iterates are frozen), once σ_t > `sigma_max` (a diverging chain,
        as the official code's "not converging" break), or after `max_steps`. The noise z_t is drawn
        for the whole batch at every iteration from `generator`, so two denoisers run with the same generator seed
        and the same initial noise see the same z_t at the same t (the paired comparison of Kadkhodaie et al.,
        ICLR 2024). The model is put in evaluation mode for the loop (and restored).

        Args:
            shape (`tuple[int, int, int, int]`): `(batch, channels, height, width)` of the samples.
            h0 (`float`): first step size h_0 in (0, 1].
            beta (`float`): β in (0, 1], the fraction of noise removed per step (1: no noise injected).
            sigma_0 (`float`): standard deviation of the initial noise.
            sigma_L (`float`): the final effective noise level σ_L > 0.
            init_mean (`float`): mean of the initial noise (0.5 for images in [0, 1]).
            max_steps (`int`): cap on the iterations (a poorly trained denoiser may never reach σ_L).
            sigma_max (`float`, *optional*): a chain whose σ_t exceeds it is stopped as diverged (the official
                code stops at 2); `None` never stops a chain for that.
            generator (`torch.Generator`, *optional*): CPU generator of the initial and the injected noise.
            initial_noise (`torch.Tensor` of shape `shape`, *optional*): y_0 itself (then `sigma_0` and `init_mean`
                are not used).

        Returns:
            [`BiasFreeSamplerOutput`].
        """
        if (
            not isinstance(shape, (tuple, list, torch.Size))
            or len(shape) != 4
            or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shape)
        ):
            raise ValueError(f"`shape` must be 4 positive integers (batch, channels, height, width), got {shape!r}.")
        if shape[1] != self.config.num_channels:
            raise ValueError(f"`shape` must have num_channels={self.config.num_channels} channels, got {shape[1]}.")
        for name, value in (("h0", h0), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise ValueError(f"`{name}` must be a number in (0, 1], got {value!r}.")
        for name, value in (("sigma_0", sigma_0), ("sigma_L", sigma_L)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < float("inf"):
                raise ValueError(f"`{name}` must be a finite number > 0, got {value!r}.")
        if isinstance(init_mean, bool) or not isinstance(init_mean, (int, float)) or not math.isfinite(init_mean):
            raise ValueError(f"`init_mean` must be a finite number, got {init_mean!r}.")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"`max_steps` must be a positive integer, got {max_steps!r}.")
        if sigma_max is not None and (
            isinstance(sigma_max, bool) or not isinstance(sigma_max, (int, float)) or not sigma_L < sigma_max
        ):
            raise ValueError(f"`sigma_max` must be None or a number > sigma_L ({sigma_L}), got {sigma_max!r}.")
        sigma_max = float("inf") if sigma_max is None else float(sigma_max)
        reference = self.convs[0].weight
        if initial_noise is None:
            y = init_mean + sigma_0 * torch.randn(tuple(shape), generator=generator, dtype=torch.float64)
        elif not isinstance(initial_noise, torch.Tensor) or tuple(initial_noise.shape) != tuple(shape):
            got = tuple(initial_noise.shape) if isinstance(initial_noise, torch.Tensor) else type(initial_noise)
            raise ValueError(f"`initial_noise` must be a tensor of shape {tuple(shape)}, got {got}.")
        else:
            y = initial_noise.detach().cpu()
        y = y.to(device=reference.device, dtype=reference.dtype)
        was_training = self.training
        self.eval()
        batch, size = shape[0], shape[1] * shape[2] * shape[3]
        active = torch.ones(batch, dtype=torch.bool, device=y.device)
        num_steps = torch.zeros(batch, dtype=torch.long, device=y.device)
        residual = self.residual(y)
        sigma = residual.flatten(1).norm(dim=1) / math.sqrt(size)
        sigmas = [sigma.clone()]
        diverged = sigma > sigma_max
        active &= (sigma > sigma_L) & ~diverged
        t = 1
        while bool(active.any()) and t <= max_steps:
            h = h0 * t / (1.0 + h0 * (t - 1))
            gamma = sigma * math.sqrt(max((1.0 - beta * h) ** 2 - (1.0 - h) ** 2, 0.0))
            z = torch.randn(tuple(shape), generator=generator, dtype=torch.float64).to(y)
            step = -h * residual + gamma.view(-1, 1, 1, 1) * z
            y = torch.where(active.view(-1, 1, 1, 1), y + step, y)
            num_steps += active.long()
            residual = self.residual(y)
            new_sigma = residual.flatten(1).norm(dim=1) / math.sqrt(size)
            sigma = torch.where(active, new_sigma, sigma)
            sigmas.append(sigma.clone())
            diverged |= active & (sigma > sigma_max)
            active &= (sigma > sigma_L) & ~diverged
            t += 1
        self.train(was_training)
        return BiasFreeSamplerOutput(
            samples=y - residual,
            num_steps=num_steps,
            converged=sigma <= sigma_L,
            diverged=diverged,
            sigmas=torch.stack(sigmas),
        )


BiasFreeDenoiser.register_for_auto_class("AutoModel")

__all__ = ["BiasFreeBatchNorm2d", "BiasFreeDenoiser", "BiasFreeDenoiserOutput", "BiasFreeSamplerOutput"]
