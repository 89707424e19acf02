"""Sliceable ("super") layers for weight-sharing supernets (once-for-all training, neural architecture search).

A super layer holds the weights of its *largest* configuration and computes with a *leading slice* of them, chosen by
an active-configuration setter: a [`SuperLinear`] with active sizes (i, o) computes y = x W[:o, :i]ᵀ + b[:o]. Every
smaller network is thereby nested in the largest one and shares its weights (Cai et al., "Once-for-All", ICLR 2020;
Wang et al., "LightHuBERT", Interspeech 2022). After training, [`SuperLinear.extract`] (and the other `extract`
methods) copies the active slice into a plain `torch.nn` layer that computes the same function without any slicing
machinery.

- [`SuperLinear`], [`SuperLayerNorm`], [`SuperConv1d`]: `nn.Linear` / `nn.LayerNorm` / `nn.Conv1d` subclasses (same
  parameter names, so state dicts of a supernet and of its largest plain network are interchangeable) with
  `set_active(...)`, `active_weight()`, `extract()`;
- [`SuperConv2d`]: an `nn.Conv2d` subclass whose channels are leading slices and whose kernel size is a *centre crop*
  of the largest kernel (once-for-all's elastic kernel without its transformation matrices), with the padding reduced
  to match, so every kernel choice keeps the output size of the largest one; [`centre_crop`] takes such a crop;
- [`MultiheadSelfAttention`] / [`SuperMultiheadSelfAttention`], [`FeedForward`] / [`SuperFeedForward`]: a plain
  attention block (fixed head dimension; the number of heads is read from the projection width) and a two-layer
  feed-forward block, and their sliceable versions: heads are sliced whole, by leading heads;
- [`to_super`]: converts the `nn.Linear` / `nn.LayerNorm` / `nn.Conv1d` leaves of a model into super layers that share
  the same parameter tensors (a plain model becomes a supernet in place);
- [`super_layers`], [`reset_active`], [`leading_slice`], [`extract_leading_slices`]: helpers to walk a supernet,
  return it to its full size, and copy the leading slices of its weights into a smaller plain model.

Example:

```python
>>> layer = SuperLinear(64, 32)
>>> layer.set_active(in_features=48, out_features=16)
>>> plain = layer.extract()  # nn.Linear(48, 16) holding layer.weight[:16, :48] and layer.bias[:16]
>>> x = torch.randn(2, 48)
>>> torch.equal(layer(x), plain(x))
True
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SuperLayer",
    "SuperLinear",
    "SuperLayerNorm",
    "SuperConv1d",
    "SuperConv2d",
    "centre_crop",
    "MultiheadSelfAttention",
    "SuperMultiheadSelfAttention",
    "FeedForward",
    "SuperFeedForward",
    "to_super",
    "super_layers",
    "reset_active",
    "leading_slice",
    "extract_leading_slices",
]


def _check_size(name: str, value, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}.")
    if not 1 <= value <= maximum:
        raise ValueError(f"`{name}` must be in [1, {maximum}] (the size of the super layer), got {value}.")
    return value


def leading_slice(tensor: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """`tensor[:shape[0], :shape[1], ...]` as a contiguous tensor (the tensor itself when `shape` is its full shape).

    Contiguity makes a slice bit-identical, value and memory layout, to a standalone tensor holding the same numbers,
    so a super layer and the plain layer extracted from it run the same kernel on the same data.
    """
    shape = tuple(shape)
    if len(shape) != tensor.dim() or any(s > n for s, n in zip(shape, tensor.shape)):
        raise ValueError(f"cannot take a leading slice of shape {shape} from a tensor of shape {tuple(tensor.shape)}")
    if shape == tuple(tensor.shape):
        return tensor
    return tensor[tuple(slice(0, s) for s in shape)].contiguous()


_CONV_ATTRIBUTES = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "transposed",
    "output_padding",
    "groups",
    "padding_mode",
    "_reversed_padding_repeated_twice",
)


def _share_conv(cls, conv: nn.Module, expected: type):
    """A `cls` super convolution built around `conv`'s own parameter tensors and attributes (no copy)."""
    if not isinstance(conv, expected):
        raise TypeError(f"`conv` must be an nn.{expected.__name__}, got {type(conv).__name__}.")
    if conv.padding_mode != "zeros":
        raise ValueError(f"`conv.padding_mode` must be 'zeros', got {conv.padding_mode!r}.")
    layer = cls.__new__(cls)
    nn.Module.__init__(layer)
    for name in _CONV_ATTRIBUTES:
        setattr(layer, name, getattr(conv, name))
    layer.weight, layer.bias = conv.weight, conv.bias
    layer.reset_active()
    return layer


class SuperLayer:
    """Marker base of the sliceable layers: `set_active(...)`, `reset_active()` and `extract()`."""

    def reset_active(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def extract(self) -> nn.Module:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


class SuperLinear(nn.Linear, SuperLayer):
    r"""
    A linear layer that computes with the leading slice of its weights: y = x W[:o, :i]ᵀ + b[:o].

    Args:
        in_features (`int`), out_features (`int`), bias (`bool`, defaults to `True`):
            The largest sizes, as for `nn.Linear` (whose parameters `weight` and `bias` it keeps).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.reset_active()

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> SuperLinear:
        """A super layer that shares `linear`'s parameter tensors (no copy)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"`linear` must be an nn.Linear, got {type(linear).__name__}.")
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = linear.in_features, linear.out_features
        layer.weight = linear.weight
        layer.bias = linear.bias
        layer.reset_active()
        return layer

    def reset_active(self) -> None:
        """Computes with the full weights again."""
        self.active_in_features, self.active_out_features = self.in_features, self.out_features

    def set_active(self, in_features: int | None = None, out_features: int | None = None) -> None:
        """Chooses the slice W[:out_features, :in_features] (`None` keeps the current size)."""
        if in_features is not None:
            self.active_in_features = _check_size("in_features", in_features, self.in_features)
        if out_features is not None:
            self.active_out_features = _check_size("out_features", out_features, self.out_features)

    def active_weight(self) -> torch.Tensor:
        return leading_slice(self.weight, (self.active_out_features, self.active_in_features))

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else leading_slice(self.bias, (self.active_out_features,))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.shape[-1] != self.active_in_features:
            raise ValueError(
                f"SuperLinear is set to {self.active_in_features} input features, got an input of shape "
                f"{tuple(input.shape)}."
            )
        return F.linear(input, self.active_weight(), self.active_bias())

    @torch.no_grad()
    def extract(self) -> nn.Linear:
        """A plain `nn.Linear(active_in, active_out)` holding a copy of the active slice."""
        plain = nn.Linear(
            self.active_in_features,
            self.active_out_features,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        plain.weight.copy_(self.active_weight())
        if self.bias is not None:
            plain.bias.copy_(self.active_bias())
        return plain

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, active=({self.active_in_features}, {self.active_out_features})"


class SuperLayerNorm(nn.LayerNorm, SuperLayer):
    r"""
    A layer norm over the last `d` features with the leading slice of its affine parameters:
    LN(x)_k = (x_k − μ) / sqrt(σ² + ε) · γ[k] + β[k], k < d, with μ, σ² over the d active features.

    Args:
        normalized_shape (`int`): the largest number of features; eps, elementwise_affine, bias as for `nn.LayerNorm`.
    """

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        if not isinstance(normalized_shape, int):
            raise TypeError(f"`normalized_shape` must be an int (one normalised axis), got {normalized_shape!r}.")
        super().__init__(normalized_shape, eps=eps, elementwise_affine=elementwise_affine, bias=bias)
        self.reset_active()

    @classmethod
    def from_layer_norm(cls, norm: nn.LayerNorm) -> SuperLayerNorm:
        """A super layer norm that shares `norm`'s parameter tensors (no copy); `norm` normalises one axis."""
        if not isinstance(norm, nn.LayerNorm) or len(norm.normalized_shape) != 1:
            raise TypeError("`norm` must be an nn.LayerNorm over one axis.")
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.normalized_shape, layer.eps = norm.normalized_shape, norm.eps
        layer.elementwise_affine = norm.elementwise_affine
        layer.weight, layer.bias = norm.weight, norm.bias
        layer.reset_active()
        return layer

    @property
    def max_features(self) -> int:
        return self.normalized_shape[0]

    def reset_active(self) -> None:
        self.active_features = self.normalized_shape[0]

    def set_active(self, features: int | None = None) -> None:
        """Normalises over the first `features` features."""
        if features is not None:
            self.active_features = _check_size("features", features, self.max_features)

    def active_weight(self) -> torch.Tensor | None:
        return None if self.weight is None else leading_slice(self.weight, (self.active_features,))

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else leading_slice(self.bias, (self.active_features,))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.shape[-1] != self.active_features:
            raise ValueError(
                f"SuperLayerNorm is set to {self.active_features} features, got an input of shape {tuple(input.shape)}."
            )
        return F.layer_norm(input, (self.active_features,), self.active_weight(), self.active_bias(), self.eps)

    @torch.no_grad()
    def extract(self) -> nn.LayerNorm:
        """A plain `nn.LayerNorm(active_features)` holding a copy of the active affine parameters."""
        device = self.weight.device if self.weight is not None else None
        dtype = self.weight.dtype if self.weight is not None else None
        plain = nn.LayerNorm(
            self.active_features,
            eps=self.eps,
            elementwise_affine=self.elementwise_affine,
            bias=self.bias is not None,
            device=device,
            dtype=dtype,
        )
        if self.weight is not None:
            plain.weight.copy_(self.active_weight())
        if self.bias is not None:
            plain.bias.copy_(self.active_bias())
        return plain

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, active={self.active_features}"


class SuperConv1d(nn.Conv1d, SuperLayer):
    r"""
    A 1-D convolution with the leading slice of its channels: weight W[:c_out, :c_in / groups, :], bias b[:c_out],
    and the same number of groups (as the official LightHuBERT `SConv1d`). Both active channel counts must be
    divisible by `groups`.

    Args: as for `nn.Conv1d` (the largest channel counts); `padding_mode` must be `"zeros"`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros":
            raise ValueError(f"`padding_mode` must be 'zeros', got {self.padding_mode!r}.")
        self.reset_active()

    @classmethod
    def from_conv1d(cls, conv: nn.Conv1d) -> SuperConv1d:
        """A super convolution that shares `conv`'s parameter tensors (no copy)."""
        return _share_conv(cls, conv, nn.Conv1d)

    def reset_active(self) -> None:
        self.active_in_channels, self.active_out_channels = self.in_channels, self.out_channels

    def set_active(self, in_channels: int | None = None, out_channels: int | None = None) -> None:
        """Chooses the channels W[:out_channels, :in_channels / groups] (`None` keeps the current size)."""
        new_in = self.active_in_channels if in_channels is None else in_channels
        new_out = self.active_out_channels if out_channels is None else out_channels
        _check_size("in_channels", new_in, self.in_channels)
        _check_size("out_channels", new_out, self.out_channels)
        for name, value in (("in_channels", new_in), ("out_channels", new_out)):
            if value % self.groups:
                raise ValueError(f"`{name}` must be divisible by groups={self.groups}, got {value}.")
        self.active_in_channels, self.active_out_channels = new_in, new_out

    def active_weight(self) -> torch.Tensor:
        shape = (self.active_out_channels, self.active_in_channels // self.groups, *self.weight.shape[2:])
        return leading_slice(self.weight, shape)

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else leading_slice(self.bias, (self.active_out_channels,))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.shape[-2] != self.active_in_channels:
            raise ValueError(
                f"SuperConv1d is set to {self.active_in_channels} input channels, got an input of shape "
                f"{tuple(input.shape)}."
            )
        return self._conv_forward(input, self.active_weight(), self.active_bias())

    @torch.no_grad()
    def extract(self) -> nn.Conv1d:
        """A plain `nn.Conv1d` with the active channels and a copy of the active slice."""
        plain = nn.Conv1d(
            self.active_in_channels,
            self.active_out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        plain.weight.copy_(self.active_weight())
        if self.bias is not None:
            plain.bias.copy_(self.active_bias())
        return plain


def centre_crop(weight: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """The centre `kernel_size × kernel_size` window of the last two (spatial) axes of a convolution weight.

    A k×k kernel nested in a K×K one (K − k even) is `weight[..., (K−k)/2 : (K+k)/2, (K−k)/2 : (K+k)/2]`: the kernel
    choices of once-for-all and TangleNAS share the central taps of the largest kernel. The full weight is returned
    itself when nothing is cropped, a contiguous copy otherwise (see [`leading_slice`]).
    """
    height, width = weight.shape[-2:]
    _check_size("kernel_size", kernel_size, min(height, width))
    if (height - kernel_size) % 2 or (width - kernel_size) % 2:
        raise ValueError(
            f"`kernel_size` {kernel_size} has no centre in a {height}×{width} kernel: the difference must be even."
        )
    if (height, width) == (kernel_size, kernel_size):
        return weight
    top, left = (height - kernel_size) // 2, (width - kernel_size) // 2
    return weight[..., top : top + kernel_size, left : left + kernel_size].contiguous()


class SuperConv2d(nn.Conv2d, SuperLayer):
    r"""
    A 2-D convolution with leading channel slices and a centre-cropped kernel: weight
    W[:c_out, :c_in / groups, centre k×k], bias b[:c_out], the same groups, stride and dilation.

    A k×k crop of a K×K kernel runs with the padding p_k = p_K − d·(K − k)/2 per spatial axis (d the dilation), which
    gives the same output size as the full kernel and the same output as the full kernel with its outer taps set to
    zero. Both active channel counts must be divisible by `groups`; numeric paddings must be at least d·(K − k)/2
    (the string paddings `"same"` / `"valid"` are passed on unchanged).

    Args: as for `nn.Conv2d` (the largest channel counts and kernel); `padding_mode` must be `"zeros"`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros":
            raise ValueError(f"`padding_mode` must be 'zeros', got {self.padding_mode!r}.")
        self.reset_active()

    @classmethod
    def from_conv2d(cls, conv: nn.Conv2d) -> SuperConv2d:
        """A super convolution that shares `conv`'s parameter tensors (no copy)."""
        return _share_conv(cls, conv, nn.Conv2d)

    @property
    def max_kernel_size(self) -> int:
        """The largest square kernel this layer can crop (the smaller side of its kernel)."""
        return min(self.kernel_size)

    def reset_active(self) -> None:
        """Computes with every channel and the full kernel again."""
        self.active_in_channels, self.active_out_channels = self.in_channels, self.out_channels
        self.active_kernel_size = None  # the full (possibly rectangular) kernel

    def set_active(
        self, in_channels: int | None = None, out_channels: int | None = None, kernel_size: int | None = None
    ) -> None:
        """Chooses W[:out_channels, :in_channels / groups] and its centre `kernel_size`² taps (`None` keeps the
        current choice)."""
        new_in = self.active_in_channels if in_channels is None else in_channels
        new_out = self.active_out_channels if out_channels is None else out_channels
        _check_size("in_channels", new_in, self.in_channels)
        _check_size("out_channels", new_out, self.out_channels)
        for name, value in (("in_channels", new_in), ("out_channels", new_out)):
            if value % self.groups:
                raise ValueError(f"`{name}` must be divisible by groups={self.groups}, got {value}.")
        if kernel_size is not None:
            _check_size("kernel_size", kernel_size, self.max_kernel_size)
            if any((size - kernel_size) % 2 for size in self.kernel_size):
                raise ValueError(
                    f"`kernel_size` must differ from the full kernel {tuple(self.kernel_size)} by an even number "
                    f"(a centre crop), got {kernel_size}."
                )
            self._padding_for(kernel_size)  # raises when the padding cannot shrink that far
        self.active_in_channels, self.active_out_channels = new_in, new_out
        if kernel_size is not None:
            self.active_kernel_size = None if tuple(self.kernel_size) == (kernel_size, kernel_size) else kernel_size

    def _padding_for(self, kernel_size: int | None):
        if kernel_size is None or isinstance(self.padding, str):
            return self.padding
        padding = []
        for pad, size, dilation in zip(self.padding, self.kernel_size, self.dilation):
            shrunk = pad - dilation * (size - kernel_size) // 2
            if shrunk < 0:
                raise ValueError(
                    f"`kernel_size` {kernel_size} would need a negative padding (padding {tuple(self.padding)} of the "
                    f"{tuple(self.kernel_size)} kernel is too small to keep the output size)."
                )
            padding.append(shrunk)
        return tuple(padding)

    def active_padding(self):
        """The padding of the active kernel (that of the full kernel minus d·(K − k)/2 per axis)."""
        return self._padding_for(self.active_kernel_size)

    def active_weight(self) -> torch.Tensor:
        shape = (self.active_out_channels, self.active_in_channels // self.groups, *self.weight.shape[2:])
        weight = leading_slice(self.weight, shape)
        return weight if self.active_kernel_size is None else centre_crop(weight, self.active_kernel_size)

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else leading_slice(self.bias, (self.active_out_channels,))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() < 3 or input.shape[-3] != self.active_in_channels:
            raise ValueError(
                f"SuperConv2d is set to {self.active_in_channels} input channels, got an input of shape "
                f"{tuple(input.shape)}."
            )
        return F.conv2d(
            input,
            self.active_weight(),
            self.active_bias(),
            self.stride,
            self.active_padding(),
            self.dilation,
            self.groups,
        )

    @torch.no_grad()
    def extract(self) -> nn.Conv2d:
        """A plain `nn.Conv2d` with the active channels, kernel and padding, holding a copy of the active slice."""
        weight = self.active_weight()
        plain = nn.Conv2d(
            self.active_in_channels,
            self.active_out_channels,
            tuple(weight.shape[2:]),
            stride=self.stride,
            padding=self.active_padding(),
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        plain.weight.copy_(weight)
        if self.bias is not None:
            plain.bias.copy_(self.active_bias())
        return plain

    def extra_repr(self) -> str:
        kernel = tuple(self.kernel_size) if self.active_kernel_size is None else (self.active_kernel_size,) * 2
        return f"{super().extra_repr()}, active=({self.active_in_channels}, {self.active_out_channels}, {kernel})"


class MultiheadSelfAttention(nn.Module):
    r"""
    Plain multi-head self-attention with a fixed head dimension d_h; the number of heads is the query projection's
    width divided by d_h:

        Attention(X) = concat_h softmax(Q_h K_hᵀ / sqrt(d_h) + mask) V_h · W_O,  Q = X W_Q + b_Q (same for K, V).

    Args:
        embed_dim (`int`): model width. num_heads (`int`): heads. head_dim (`int`): d_h.
        dropout (`float`, defaults to 0): dropout on the attention probabilities (training only).
    """

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, dropout: float = 0.0):
        super().__init__()
        self.head_dim = head_dim
        self.dropout = dropout
        attention_dim = num_heads * head_dim
        self.q_proj = nn.Linear(embed_dim, attention_dim)
        self.k_proj = nn.Linear(embed_dim, attention_dim)
        self.v_proj = nn.Linear(embed_dim, attention_dim)
        self.out_proj = nn.Linear(attention_dim, embed_dim)

    def forward(self, hidden_states: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden_states` `(batch, time, embed)`; `key_padding_mask` `(batch, time)`, true/1 where a frame is real."""
        batch, time, _ = hidden_states.shape

        def heads(x):
            return x.view(batch, time, -1, self.head_dim).transpose(1, 2)

        query, key, value = (
            heads(self.q_proj(hidden_states)),
            heads(self.k_proj(hidden_states)),
            heads(self.v_proj(hidden_states)),
        )
        mask = None if key_padding_mask is None else key_padding_mask.bool()[:, None, None, :]
        attended = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(attended.transpose(1, 2).reshape(batch, time, -1))


class SuperMultiheadSelfAttention(MultiheadSelfAttention, SuperLayer):
    """[`MultiheadSelfAttention`] whose width and number of heads are sliceable: `set_active(embed_dim, num_heads)`
    uses the leading `num_heads` heads (W_Q[:h·d_h, :e], ..., W_O[:e, :h·d_h]); the head dimension never changes."""

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, dropout: float = 0.0):
        super().__init__(embed_dim, num_heads, head_dim, dropout)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self, name, SuperLinear.from_linear(getattr(self, name)))
        self.max_embed_dim, self.max_num_heads = embed_dim, num_heads
        self.reset_active()

    def reset_active(self) -> None:
        self.set_active(self.max_embed_dim, self.max_num_heads)

    def set_active(self, embed_dim: int | None = None, num_heads: int | None = None) -> None:
        embed_dim = self.q_proj.active_in_features if embed_dim is None else embed_dim
        num_heads = self.q_proj.active_out_features // self.head_dim if num_heads is None else num_heads
        _check_size("embed_dim", embed_dim, self.max_embed_dim)
        _check_size("num_heads", num_heads, self.max_num_heads)
        for name in ("q_proj", "k_proj", "v_proj"):
            getattr(self, name).set_active(embed_dim, num_heads * self.head_dim)
        self.out_proj.set_active(num_heads * self.head_dim, embed_dim)

    def extract(self) -> MultiheadSelfAttention:
        """A plain [`MultiheadSelfAttention`] of the active size holding copies of the active slices."""
        plain = MultiheadSelfAttention(1, 1, self.head_dim, self.dropout)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(plain, name, getattr(self, name).extract())
        return plain


class FeedForward(nn.Module):
    """Plain position-wise feed-forward block FFN(x) = W_2 act(W_1 x + b_1) + b_2 (`fc1`, `fc2`)."""

    def __init__(self, embed_dim: int, hidden_dim: int, activation: Callable[[torch.Tensor], torch.Tensor] = F.gelu):
        super().__init__()
        self.activation = activation
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, embed_dim)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_states)))


class SuperFeedForward(FeedForward, SuperLayer):
    """[`FeedForward`] with sliceable width and hidden size: `set_active(embed_dim, hidden_dim)` uses
    W_1[:f, :e], b_1[:f], W_2[:e, :f], b_2[:e]."""

    def __init__(self, embed_dim: int, hidden_dim: int, activation: Callable[[torch.Tensor], torch.Tensor] = F.gelu):
        super().__init__(embed_dim, hidden_dim, activation)
        self.fc1 = SuperLinear.from_linear(self.fc1)
        self.fc2 = SuperLinear.from_linear(self.fc2)

    def reset_active(self) -> None:
        self.fc1.reset_active()
        self.fc2.reset_active()

    def set_active(self, embed_dim: int | None = None, hidden_dim: int | None = None) -> None:
        embed_dim = self.fc1.active_in_features if embed_dim is None else embed_dim
        hidden_dim = self.fc1.active_out_features if hidden_dim is None else hidden_dim
        _check_size("embed_dim", embed_dim, self.fc1.in_features)
        _check_size("hidden_dim", hidden_dim, self.fc1.out_features)
        self.fc1.set_active(embed_dim, hidden_dim)
        self.fc2.set_active(hidden_dim, embed_dim)

    def extract(self) -> FeedForward:
        """A plain [`FeedForward`] of the active size holding copies of the active slices."""
        plain = FeedForward(1, 1, self.activation)
        plain.fc1, plain.fc2 = self.fc1.extract(), self.fc2.extract()
        return plain


_CONVERTERS = {
    nn.Linear: SuperLinear.from_linear,
    nn.LayerNorm: SuperLayerNorm.from_layer_norm,
    nn.Conv1d: SuperConv1d.from_conv1d,
}


def to_super(module: nn.Module, include: Callable[[str, nn.Module], bool] | None = None) -> nn.Module:
    """Replaces, in place, every plain `nn.Linear`, `nn.LayerNorm` (one axis) and `nn.Conv1d` inside `module` by the
    matching super layer sharing the same parameter tensors; returns `module` (or its replacement when `module`
    itself is such a layer). Parameter names do not change, so the state dict is the same.

    Args:
        module (`nn.Module`): the model to convert.
        include (`Callable[[str, nn.Module], bool]`, *optional*): called with each candidate's qualified name and
            module; only those it accepts are converted (all by default).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be an nn.Module, got {type(module).__name__}.")

    def convert(name: str, child: nn.Module) -> nn.Module | None:
        if isinstance(child, SuperLayer):
            return None
        factory = _CONVERTERS.get(type(child))
        if factory is None or (include is not None and not include(name, child)):
            return None
        if isinstance(child, nn.LayerNorm) and len(child.normalized_shape) != 1:
            return None
        return factory(child)

    replaced = convert("", module)
    if replaced is not None:
        return replaced
    for parent_name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            qualified = f"{parent_name}.{child_name}" if parent_name else child_name
            new = convert(qualified, child)
            if new is not None:
                setattr(parent, child_name, new)
    return module


def super_layers(module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """`(name, layer)` for every super layer inside `module` (the composite ones and their leaves)."""
    for name, child in module.named_modules():
        if isinstance(child, SuperLayer):
            yield name, child


def reset_active(module: nn.Module) -> None:
    """Returns every super layer inside `module` to its full size."""
    for _, layer in super_layers(module):
        layer.reset_active()


@torch.no_grad()
def extract_leading_slices(
    source: dict[str, torch.Tensor],
    target: nn.Module,
    name_map: Callable[[str], str] | None = None,
) -> nn.Module:
    """Loads into `target` the leading slices of the tensors of `source` (a supernet's state dict): each tensor of
    `target`'s state dict named n receives `leading_slice(source[name_map(n)], shape)` (copied, so `target` owns
    its weights). `name_map` renames target entries to source entries (e.g. a kept layer's new index); a missing
    source entry raises a `KeyError` naming it. Returns `target`.
    """
    state = {}
    for name, tensor in target.state_dict().items():
        source_name = name_map(name) if name_map is not None else name
        if source_name not in source:
            raise KeyError(f"the supernet has no tensor {source_name!r} for the subnet's {name!r}")
        state[name] = leading_slice(source[source_name], tensor.shape).detach().clone()
    target.load_state_dict(state, strict=True, assign=True)
    return target
