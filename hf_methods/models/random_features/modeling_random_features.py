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
"""PyTorch bandlimited random-feature network (Li, Sonoda, Cao, Wang, Liang, ICML 2023).

This file is self-contained (torch, transformers and its own configuration only), so that a saved checkpoint loads
with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
"""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_random_features import RandomFeatureConfig

_ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "cos": torch.cos,
}


def draw_hidden_parameters(config: RandomFeatureConfig) -> tuple[torch.Tensor, torch.Tensor]:
    r"""
    Draws the frozen hidden parameters (a, b) of a random network from its configuration alone.

    With λ = `config.bandwidth`, `"uniform"` gives a_j, b_j ~ U[−λ, λ] i.i.d. (the bandlimited domain
    Ω = [−λ, λ]^{d+1} of the paper) and `"gaussian"` gives a_j, b_j ~ N(0, λ²). The draws come from a CPU
    `torch.Generator` seeded with `config.feature_seed`, in float32, `a` first and then `b`.

    Returns:
        `tuple(torch.FloatTensor)`: `a` of shape `(width, in_dim)` and `b` of shape `(width,)`.
    """
    generator = torch.Generator(device="cpu").manual_seed(config.feature_seed)
    shapes = ((config.width, config.in_dim), (config.width,))
    lam = config.bandwidth
    if config.weight_dist == "uniform":
        a, b = ((2 * torch.rand(shape, generator=generator) - 1) * lam for shape in shapes)
    else:
        a, b = (torch.randn(shape, generator=generator) * lam for shape in shapes)
    return a, b


def _spd_solve(matrix: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solves `matrix @ x = rhs` for a symmetric positive-definite `matrix` (Cholesky, LU if that fails)."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if info.item() == 0:
        return torch.cholesky_solve(rhs, factor)
    return torch.linalg.solve(matrix, rhs)


def _relative_mse(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """Σ(ŷ − y)² / Σ(y − ȳ)² over samples and outputs (ȳ per output): 1 is the error of the best constant."""
    residual = (predictions - targets).pow(2).sum()
    spread = (targets - targets.mean(dim=0, keepdim=True)).pow(2).sum()
    return (residual / spread.clamp_min(torch.finfo(spread.dtype).tiny)).item()


@dataclass
class RandomFeatureOutput(ModelOutput):
    r"""
    Output of [`RandomFeatureModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Mean squared error between `predictions` and `labels`.
        predictions (`torch.FloatTensor` of shape `(..., out_dim)`):
            Network outputs f_N(x) = Σ_j c_j σ(a_jᵀx − b_j) + c_0.
        features (`torch.FloatTensor` of shape `(..., width)`):
            Hidden activations σ(a_jᵀx − b_j) (the random features).
    """

    loss: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None


class RandomFeaturePreTrainedModel(PreTrainedModel):
    config: RandomFeatureConfig
    base_model_prefix = "random_features"
    main_input_name = "inputs"
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
        """Readout: normal(0, `initializer_range`) weights and zero bias. Hidden buffers: [`draw_hidden_parameters`]."""
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, RandomFeatureModel):
            # `init.copy_` skips tensors flagged `_is_hf_initialized`, i.e. buffers that `from_pretrained` loaded: a
            # loaded checkpoint keeps its saved hidden parameters bit for bit.
            a, b = draw_hidden_parameters(self.config)
            init.copy_(module.a, a)
            init.copy_(module.b, b)


class RandomFeatureModel(RandomFeaturePreTrainedModel):
    r"""
    Depth-2 random network with frozen, bandlimited hidden parameters (Li et al., ICML 2023):

        f_N(x) = Σ_{j=1..N} c_j σ(a_jᵀx − b_j) + c_0.

    The hidden parameters `a` (`(width, in_dim)`) and `b` (`(width,)`) are persistent buffers: saved with the
    weights, never trained. Only the readout `readout` (`nn.Linear(width, out_dim)`, weights c_j and bias c_0) is
    trainable, by gradient descent through [`~RandomFeatureModel.forward`] or in closed form with
    [`~RandomFeatureModel.fit_readout`].

    Args:
        config ([`RandomFeatureConfig`]):
            Model configuration. The hidden parameters are drawn from it alone (see `feature_seed`).
    """

    def __init__(self, config: RandomFeatureConfig):
        super().__init__(config)
        self.activation = _ACTIVATIONS[config.activation]
        self.register_buffer("a", torch.empty(config.width, config.in_dim), persistent=True)
        self.register_buffer("b", torch.empty(config.width), persistent=True)
        self.readout = nn.Linear(config.width, config.out_dim)
        self.post_init()

    def _check_inputs(self, inputs, name: str = "inputs") -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(inputs).__name__}.")
        if inputs.dim() == 0 or inputs.shape[-1] != self.config.in_dim:
            hint = " (add a trailing axis: `x.unsqueeze(-1)`)" if self.config.in_dim == 1 else ""
            raise ValueError(
                f"`{name}` must have shape (..., in_dim={self.config.in_dim}), got {tuple(inputs.shape)}{hint}."
            )
        return inputs

    def _check_targets(self, targets, leading_shape: torch.Size, name: str) -> torch.Tensor:
        """Returns `targets` with shape `(*leading_shape, out_dim)`; `(*leading_shape,)` is accepted when out_dim == 1."""
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(targets).__name__}.")
        out_dim = self.config.out_dim
        if out_dim == 1 and targets.shape == leading_shape:
            targets = targets.unsqueeze(-1)
        if targets.dim() == 0 or targets.shape[:-1] != leading_shape:
            raise ValueError(
                f"`{name}` must have shape {(*leading_shape, out_dim)} to match the inputs {(*leading_shape, '...')}, "
                f"got {tuple(targets.shape)} (mismatched number of samples)."
            )
        if targets.shape[-1] != out_dim:
            raise ValueError(
                f"`{name}` must have a last dimension of out_dim={out_dim}, got shape {tuple(targets.shape)}."
            )
        return targets

    def _hidden(self, inputs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        # the hidden layer of f_N(x) = Σ_j c_j σ(a_jᵀx − b_j): feature j of x is σ(a_jᵀx − b_j)
        a, b = self.a.to(dtype), self.b.to(dtype)
        return self.activation(inputs.to(dtype) @ a.T - b)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        r"""
        Random features σ(a_jᵀx − b_j), j = 1..N.

        Args:
            inputs (`torch.FloatTensor` of shape `(..., in_dim)`):
                Input points x.

        Returns:
            `torch.FloatTensor` of shape `(..., width)`, in the dtype of the hidden buffers.
        """
        return self._hidden(self._check_inputs(inputs), self.a.dtype)

    def forward(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> RandomFeatureOutput | tuple:
        r"""
        Computes f_N(x) = Σ_j c_j σ(a_jᵀx − b_j) + c_0.

        Args:
            inputs (`torch.FloatTensor` of shape `(..., in_dim)`):
                Input points x.
            labels (`torch.FloatTensor` of shape `(..., out_dim)`, *optional*):
                Regression targets; `(...)` is accepted when `out_dim == 1`. When given, `loss` is their mean
                squared error.
            return_dict (`bool`, *optional*):
                Whether to return a [`RandomFeatureOutput`] instead of a plain tuple (defaults to
                `config.return_dict`).

        Returns:
            [`RandomFeatureOutput`] or `tuple(torch.FloatTensor)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        features = self.features(inputs)
        predictions = self.readout(features)
        loss = None
        if labels is not None:
            labels = self._check_targets(labels, predictions.shape[:-1], "labels")
            loss = nn.functional.mse_loss(predictions, labels.to(predictions.dtype))
        output = RandomFeatureOutput(loss=loss, predictions=predictions, features=features)
        return output if return_dict else output.to_tuple()

    @torch.no_grad()
    def fit_readout(self, inputs: torch.Tensor, targets: torch.Tensor, ridge: float | None = None) -> float:
        r"""
        Fits the readout in closed form by ridge regression and writes it into `self.readout`.

        With Φ = [σ(x_i aᵀ − b), 1] ∈ R^{n×(N+1)} (the random features plus a constant column for the bias c_0), the
        readout is the ridge solution on the *normalised* Gram matrix:

            [c; c_0] = (ΦᵀΦ / n + ρ I)^{-1} Φᵀ y / n.

        The paper writes c = (HᵀH + ρI)^{-1}Hᵀy; normalising by n keeps ρ on the scale of the O(1) Gram entries of
        bounded activations whatever n is, so a small ρ bounds the readout norm and plain least squares cannot "cheat"
        the approximation-error floor through huge, cancelling coefficients. The bias column is penalised like the
        others. The solve runs in float64 whatever the model dtype; when N + 1 > n it uses the equivalent n × n form
        Φᵀ(ΦΦᵀ / n + ρ I)^{-1} y / n. With `ridge=0` it returns the minimum-norm least-squares readout.

        Args:
            inputs (`torch.FloatTensor` of shape `(n, in_dim)` or `(..., in_dim)`):
                Training inputs x_i.
            targets (`torch.FloatTensor` of shape `(n, out_dim)` (or `(n,)` when `out_dim == 1`)):
                Training targets y_i, with the same leading shape as `inputs`.
            ridge (`float`, *optional*):
                Ridge ρ ≥ 0 (defaults to `config.ridge`).

        Returns:
            `float`: the relative training MSE Σ(ŷ − y)² / Σ(y − ȳ)² of the fitted readout.
        """
        ridge = self.config.ridge if ridge is None else ridge
        if not isinstance(ridge, (int, float)) or isinstance(ridge, bool) or not ridge >= 0:
            raise ValueError(f"`ridge` must be a number >= 0, got {ridge!r}.")
        inputs = self._check_inputs(inputs)
        targets = self._check_targets(targets, inputs.shape[:-1], "targets")
        n = inputs.shape[:-1].numel()
        if n == 0:
            raise ValueError("`inputs` must hold at least one sample.")
        x = inputs.reshape(n, self.config.in_dim)
        y = targets.reshape(n, self.config.out_dim).to(device=self.a.device, dtype=torch.float64)

        hidden = self._hidden(x.to(self.a.device), torch.float64)
        phi = torch.cat([hidden, hidden.new_ones(n, 1)], dim=1)
        if ridge == 0:
            # plain least squares, minimum-norm solution (what the ridge guards against: see the docstring)
            solution = torch.linalg.pinv(phi) @ y
        elif phi.shape[1] <= n:
            gram = phi.T @ phi / n
            gram.diagonal().add_(float(ridge))
            solution = _spd_solve(gram, phi.T @ y / n)
        else:
            # wider than the data: the same solution through (ΦᵀΦ/n + ρI)^{-1}Φᵀ = Φᵀ(ΦΦᵀ/n + ρI)^{-1}, an n × n solve
            kernel = phi @ phi.T / n
            kernel.diagonal().add_(float(ridge))
            solution = phi.T @ _spd_solve(kernel, y / n)

        self.readout.weight.copy_(solution[:-1].T)
        self.readout.bias.copy_(solution[-1])
        return _relative_mse(phi @ solution, y)


RandomFeatureModel.register_for_auto_class("AutoModel")

__all__ = ["RandomFeaturePreTrainedModel", "RandomFeatureModel", "RandomFeatureOutput"]
