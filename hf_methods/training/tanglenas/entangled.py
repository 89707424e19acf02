"""Weight-entangled layers whose architecture choices are mixed by superimposing *weights* (TangleNAS).

In a weight-entangled search space every candidate operation is a sub-tensor of the largest one: a 3×3 kernel is the
centre of the 5×5 kernel, a width of 8 channels is the first 8 of 16. DARTS mixes candidates by their outputs,
Σ_i α_i o_i(x), which needs one activation per candidate. TangleNAS (Sukthanker et al., AutoML 2024, Sec. 3) mixes the
weights instead and runs one forward pass:

    W_mix = Σ_i α_i · pad(W[slice_i]),    o_mix(x) = op(x; W_mix)

where pad(·) zero-pads a candidate's slice back to the largest shape. For an operation that is linear in its weights
(a linear layer, a convolution, before any nonlinearity or normalisation) o_mix(x) = Σ_i α_i pad(o_i(x)) exactly.
With two independent choices (kernel size and width) the joint candidate weights are α^kernel_k · α^width_c and the
mixed weight factorises into masks:

    W_mix = W ⊙ (Σ_c α^width_c 1[o < c])[o, ·, ·, ·] ⊙ (Σ_k α^kernel_k 1[(h, w) in the centre k×k])[·, ·, h, w],
    b_mix = b ⊙ (Σ_c α^width_c 1[o < c]).

The architecture weights α come from the architecture parameters β by the rule of the gradient-based optimiser:

- `"darts"` (Liu et al., 2019): α = softmax(β);
- `"drnas"` (Chen et al., 2021): α ~ Dirichlet(elu(β) + 1), reparameterised sample while training, its mean at
  evaluation (the official TangleNAS sampler `optimizers/sampler/drnas.py` samples Dirichlet(elu(β) + 1));
- `"gdas"` (Dong & Yang, 2019): a hard Gumbel-softmax sample with temperature τ (straight-through gradient) while
  training, the one-hot argmax at evaluation.

A layer also runs *discretely*: [`EntangledConv2d.set_choice`] picks one candidate, and the layer computes with the
sliced weights only (the single path of SPOS and of the extracted subnet), through the sliceable layers of
`hf_methods.common.supernet`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.supernet import SuperConv2d, SuperLinear

__all__ = [
    "SEARCH_MODES",
    "EntangledConv2d",
    "EntangledLinear",
    "architecture_weights",
    "entangled_layers",
    "width_mask",
    "kernel_mask",
]

#: How a layer combines its candidates: three gradient-based rules over weights, or one discrete path.
SEARCH_MODES = ("darts", "drnas", "gdas", "discrete")


def architecture_weights(
    beta: torch.Tensor, mode: str, *, training: bool = True, tau: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The mixing weights α of one choice from its architecture parameters β (a 1-D tensor, one entry per candidate).

    Args:
        beta (`torch.Tensor` of shape `(num_candidates,)`): the architecture parameters.
        mode (`str`): `"darts"` (α = softmax(β)), `"drnas"` (α ~ Dirichlet(elu(β) + 1), its mean at evaluation) or
            `"gdas"` (hard Gumbel-softmax with temperature `tau`, the argmax one-hot at evaluation).
        training (`bool`): draw the stochastic rules (DrNAS, GDAS) instead of their deterministic evaluation form.
        tau (`float`): the Gumbel-softmax temperature of GDAS.
        generator (`torch.Generator`, *optional*): the random source of GDAS's Gumbel noise.

    Returns:
        `torch.Tensor` of shape `(num_candidates,)`, non-negative and summing to 1, differentiable in `beta`.
    """
    if not isinstance(beta, torch.Tensor) or beta.dim() != 1 or beta.numel() < 1:
        raise ValueError(f"`beta` must be a non-empty 1-D tensor, got {getattr(beta, 'shape', type(beta).__name__)}")
    if mode == "darts":
        return beta.softmax(-1)
    if mode == "drnas":
        concentration = F.elu(beta) + 1.0
        if not training:
            return concentration / concentration.sum()
        return torch.distributions.Dirichlet(concentration).rsample()
    if mode == "gdas":
        if not tau > 0:
            raise ValueError(f"`tau` must be > 0, got {tau}")
        if not training:
            return F.one_hot(beta.argmax(), beta.numel()).to(beta.dtype)
        uniform = torch.rand(beta.shape, generator=generator, dtype=beta.dtype, device=beta.device)
        gumbel = -torch.log((-torch.log(uniform.clamp_min(1e-20))).clamp_min(1e-20))
        soft = ((beta + gumbel) / tau).softmax(-1)
        hard = F.one_hot(soft.argmax(), beta.numel()).to(beta.dtype)
        return hard - soft.detach() + soft  # straight-through: forward one-hot, gradient of the soft sample
    raise ValueError(f"`mode` must be one of ('darts', 'drnas', 'gdas') to mix candidates, got {mode!r}")


def width_mask(alpha: torch.Tensor, widths: Sequence[int], max_width: int) -> torch.Tensor:
    """m[o] = Σ_c α_c 1[o < widths[c]]: the mixed weight of output unit `o` under leading-slice width candidates."""
    units = torch.arange(max_width, device=alpha.device)
    indicators = torch.stack([(units < width).to(alpha.dtype) for width in widths])  # (candidates, max_width)
    return alpha @ indicators


def kernel_mask(alpha: torch.Tensor, kernel_sizes: Sequence[int], max_kernel_size: int) -> torch.Tensor:
    """M[h, w] = Σ_k α_k 1[(h, w) lies in the centre kernel_sizes[k] × kernel_sizes[k] window of the largest kernel]."""
    masks = []
    for size in kernel_sizes:
        mask = torch.zeros(max_kernel_size, max_kernel_size, dtype=alpha.dtype, device=alpha.device)
        start = (max_kernel_size - size) // 2
        mask[start : start + size, start : start + size] = 1.0
        masks.append(mask)
    return torch.einsum("k,khw->hw", alpha, torch.stack(masks))


def _check_choices(name: str, values, maximum: int | None = None) -> tuple[int, ...]:
    if isinstance(values, int) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"`{name}` must be a non-empty list of ints, got {values!r}")
    values = tuple(values)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must hold positive ints, got {values}")
        if maximum is not None and value > maximum:
            raise ValueError(f"`{name}` must not exceed {maximum}, got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"`{name}` must not repeat a candidate, got {values}")
    return values


class _EntangledMixin:
    """Architecture parameters (one `nn.Parameter` per choice in `arch_params`), the search mode and the chosen
    candidate of discrete mode."""

    def _init_choices(self, choices: dict[str, tuple[int, ...]]) -> None:
        self.choices = choices
        # a choice with one candidate has nothing to search: no parameter (the extracted subnet has none)
        self.arch_params = nn.ParameterDict(
            {name: nn.Parameter(1e-3 * torch.ones(len(values))) for name, values in choices.items() if len(values) > 1}
        )
        self.search_mode = "darts"
        self.tau = 1.0
        self.choice = {name: max(values) for name, values in choices.items()}

    def set_search_mode(self, mode: str, tau: float | None = None) -> None:
        """`"darts"`, `"drnas"`, `"gdas"` (mix the candidates' weights) or `"discrete"` (compute with [`choice`])."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"`mode` must be one of {SEARCH_MODES}, got {mode!r}")
        if tau is not None:
            if not tau > 0:
                raise ValueError(f"`tau` must be > 0, got {tau}")
            self.tau = float(tau)
        self.search_mode = mode

    def set_choice(self, **choice: int) -> None:
        """Chooses one candidate per choice for discrete mode, e.g. `set_choice(kernel_size=3, out_channels=8)`."""
        for name, value in choice.items():
            if name not in self.choices:
                raise ValueError(f"unknown choice {name!r}; this layer has {sorted(self.choices)}")
            if value not in self.choices[name]:
                raise ValueError(f"`{name}` must be one of the candidates {self.choices[name]}, got {value!r}")
        self.choice.update(choice)

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        """α of every searchable choice under the current search mode (and the layer's training flag)."""
        return {
            name: architecture_weights(beta, self.search_mode, training=self.training, tau=self.tau)
            for name, beta in self.arch_params.items()
        }

    def derive(self) -> dict[str, int]:
        """The argmax candidate of every choice (the only candidate where there is one)."""
        derived = {}
        for name, values in self.choices.items():
            beta = self.arch_params[name] if name in self.arch_params else None
            derived[name] = values[0] if beta is None else values[int(beta.detach().argmax())]
        return derived


class EntangledConv2d(_EntangledMixin, SuperConv2d):
    r"""
    A convolution whose kernel-size and output-width candidates are entangled slices of one largest kernel: a k×k
    candidate is the centre of the K×K kernel, a width c the first c output channels. In a gradient-based search
    mode it convolves once with the superimposed weight

        W_mix = W ⊙ m[o] ⊙ M[h, w],  m = Σ_c α^width_c 1[o < c],  M = Σ_k α^kernel_k 1[(h, w) in centre k×k],

    and keeps the largest output width (channels beyond a candidate's width are scaled by the mixture, not cut). In
    `"discrete"` mode it computes with the chosen slice only (`SuperConv2d.set_active`), taking `in_channels` inputs
    as set by the previous layer.

    Args:
        in_channels (`int`): the largest number of input channels.
        out_channels_choices (`Sequence[int]`): the width candidates; the largest is the layer's `out_channels`.
        kernel_size_choices (`Sequence[int]`): odd square kernel sizes; the largest is the layer's kernel, padded to
            keep the spatial size ("same" padding at stride 1).
        stride (`int`, defaults to 1), bias (`bool`, defaults to `True`): as for `nn.Conv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels_choices: Sequence[int],
        kernel_size_choices: Sequence[int],
        stride: int = 1,
        bias: bool = True,
    ):
        widths = _check_choices("out_channels_choices", out_channels_choices)
        kernels = _check_choices("kernel_size_choices", kernel_size_choices)
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"`kernel_size_choices` must be odd (centre crops), got {kernels}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"`in_channels` must be a positive int, got {in_channels!r}")
        largest = max(kernels)
        super().__init__(in_channels, max(widths), largest, stride=stride, padding=largest // 2, bias=bias)
        self._init_choices({"kernel_size": kernels, "out_channels": widths})

    def mixed_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(W_mix, b_mix) under the current α (the superimposed candidates, zero-padded to the largest shape)."""
        alphas = self.mixing_weights()
        weight, bias = self.weight, self.bias
        if "out_channels" in alphas:
            m = width_mask(alphas["out_channels"], self.choices["out_channels"], self.out_channels)
            weight = weight * m[:, None, None, None]
            bias = None if bias is None else bias * m
        if "kernel_size" in alphas:
            weight = weight * kernel_mask(alphas["kernel_size"], self.choices["kernel_size"], self.kernel_size[0])
        return weight, bias

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.search_mode == "discrete":
            self.set_active(out_channels=self.choice["out_channels"], kernel_size=self.choice["kernel_size"])
            return super().forward(input)
        self.reset_active()
        if input.dim() < 3 or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"EntangledConv2d mixes its candidates on all {self.in_channels} input channels, got an input of shape "
                f"{tuple(input.shape)}."
            )
        weight, bias = self.mixed_weight()
        return F.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class EntangledLinear(_EntangledMixin, SuperLinear):
    r"""
    A linear layer whose output-width candidates are leading slices of one weight: in a gradient-based search mode
    y = x (W ⊙ m[:, None])ᵀ + b ⊙ m with m[o] = Σ_c α_c 1[o < c] (one matrix product at the largest width); in
    `"discrete"` mode y = x W[:c, :i]ᵀ + b[:c] for the chosen width c and the input width i set by the previous layer.

    Args:
        in_features (`int`): the largest input width.
        out_features_choices (`Sequence[int]`): the width candidates; the largest is the layer's `out_features`.
        bias (`bool`, defaults to `True`).
    """

    def __init__(self, in_features: int, out_features_choices: Sequence[int], bias: bool = True):
        widths = _check_choices("out_features_choices", out_features_choices)
        if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"`in_features` must be a positive int, got {in_features!r}")
        super().__init__(in_features, max(widths), bias=bias)
        self._init_choices({"out_features": widths})

    def mixed_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(W_mix, b_mix) under the current α."""
        alphas = self.mixing_weights()
        if "out_features" not in alphas:
            return self.weight, self.bias
        m = width_mask(alphas["out_features"], self.choices["out_features"], self.out_features)
        return self.weight * m[:, None], None if self.bias is None else self.bias * m

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.search_mode == "discrete":
            self.set_active(out_features=self.choice["out_features"])
            return super().forward(input)
        self.reset_active()
        if input.shape[-1] != self.in_features:
            raise ValueError(
                f"EntangledLinear mixes its candidates on all {self.in_features} input features, got an input of "
                f"shape {tuple(input.shape)}."
            )
        weight, bias = self.mixed_weight()
        return F.linear(input, weight, bias)


def entangled_layers(module: nn.Module):
    """`(name, layer)` for every entangled layer inside `module`."""
    for name, child in module.named_modules():
        if isinstance(child, _EntangledMixin):
            yield name, child
