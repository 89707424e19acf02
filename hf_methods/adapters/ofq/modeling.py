"""Quantized layers of OFQ and the functions that put them into a transformers model.

- `QLinear`: an `nn.Linear` whose weight goes through StatsQ (or LSQ) and whose input, optionally, through an LSQ
  activation quantizer between two learnable biases (the official `move_b4` / `move_aft`);
- `QKReparamAttention`: query–key reparameterisation (QKR) of a ViT self-attention: the attention logits use the
  quantized per-head product W_qk^h = W_q^hᵀ W_k^h ∈ R^{C×C} instead of quantized W_q and W_k separately;
- `quantize_vit(model, ...)` swaps the Linear layers of a `ViTForImageClassification` (and, with `qk_reparam=True`,
  its `ViTAttention` modules); `quantize_linear_layers` does the Linear part for any transformers model;
- `merge_and_unload(model)` folds weight-only quantization back into plain `nn.Linear` weights, so the model saves
  and reloads with plain transformers; `save_quantized_weights` / `load_quantized_weights` write and read the packed
  integer codes and scales (the compressed size).

Official code: `nbasyl/OFQ`, `src/quantization/modules/{qlinear,attention}.py`.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.packing import pack_bits, unpack_bits

from .quantizers import LSQQuantizer, StatsQuantizer, _check_bits

__all__ = [
    "WEIGHT_QUANTIZERS",
    "QKReparamAttention",
    "QLinear",
    "load_quantized_weights",
    "merge_and_unload",
    "quantization_disabled",
    "quantize_linear_layers",
    "quantize_vit",
    "quantized_weights",
    "save_quantized_weights",
]

#: Weight quantizers `quantize_vit` accepts: OFQ's statistical quantizer and the LSQ baseline.
WEIGHT_QUANTIZERS = ("statsq", "lsq")

QUANTIZED_WEIGHTS_FILE = "quantized_weights.safetensors"


def _make_weight_quantizer(kind: str, num_bits: int, weight: torch.Tensor) -> nn.Module:
    if kind == "statsq":
        return StatsQuantizer(num_bits)
    quantizer = LSQQuantizer(num_bits, weight.shape[0], signed=True, per_row=True)
    quantizer.initialize(weight.detach())
    return quantizer


def _check_options(w_bits, a_bits, weight_quantizer) -> None:
    _check_bits(w_bits, "w_bits", low=1 if weight_quantizer == "statsq" else 2)
    if a_bits is not None:
        _check_bits(a_bits, "a_bits", low=2)
    if weight_quantizer not in WEIGHT_QUANTIZERS:
        raise ValueError(f"weight_quantizer must be one of {WEIGHT_QUANTIZERS}, got {weight_quantizer!r}")


class _ActivationQuantizer(nn.Module):
    """x ↦ LSQ(x + b_before) + b_after, per feature (the official `LSQ_input`: `move_b4`, LSQ, `move_aft`)."""

    def __init__(self, num_bits: int, features: int):
        super().__init__()
        self.move_before = nn.Parameter(torch.zeros(features))
        self.quantizer = LSQQuantizer(num_bits, features, signed=True, per_row=False)
        self.move_after = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantizer(x + self.move_before) + self.move_after


class _Quantized(nn.Module):
    """Shared switch: `enabled=False` makes a quantized module compute exactly what the original module computed."""

    enabled: bool = True


class QLinear(_Quantized):
    """A quantized `nn.Linear`: y = Q_a(x)·Q_w(W)ᵀ + bias.

    Args:
        linear (`nn.Linear`): the layer to quantize; its weight and bias Parameters are reused (not copied).
        w_bits (`int`): weight bit-width.
        a_bits (`int`, *optional*): input activation bit-width; `None` keeps the input in floating point.
        weight_quantizer (`str`): `"statsq"` (OFQ) or `"lsq"` (learned per-row step size, the baseline).
    """

    def __init__(self, linear: nn.Linear, w_bits: int = 2, a_bits: int | None = None, weight_quantizer="statsq"):
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        _check_options(w_bits, a_bits, weight_quantizer)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.w_bits, self.a_bits, self.weight_quantizer_name = w_bits, a_bits, weight_quantizer
        self.weight_quantizer = _make_weight_quantizer(weight_quantizer, w_bits, linear.weight)
        self.input_quantizer = _ActivationQuantizer(a_bits, self.in_features) if a_bits is not None else None

    def quantized_weight(self) -> torch.Tensor:
        """Q_w(W), the weight the forward pass uses (with its straight-through gradient)."""
        return self.weight_quantizer(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return F.linear(x, self.weight, self.bias)
        if self.input_quantizer is not None:
            x = self.input_quantizer(x)
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, w_bits={self.w_bits}, "
            f"a_bits={self.a_bits}, weight_quantizer={self.weight_quantizer_name!r}"
        )


class QKReparamAttention(_Quantized):
    """Query–key reparameterised (QKR), quantized self-attention of a transformers `ViTAttention`.

    For head h with query/key weights W_q^h, W_k^h ∈ R^{d×C} and biases b_q^h, b_k^h, the attention logits are

        A^h_ij = (x_i W_q^hᵀ + b_q^h)(x_j W_k^hᵀ + b_k^h)ᵀ · d^{-1/2}
               = (x_i W_qk^h x_jᵀ + x_i W_q^hᵀ b_k^h + b_q^h W_k^h x_jᵀ + b_q^h·b_k^h) · d^{-1/2},
        W_qk^h = W_q^hᵀ W_k^h ∈ R^{C×C},

    and QKR quantizes the product W_qk^h (rows of all heads stacked, one StatsQ scale per row) instead of W_q and W_k,
    which removes the coupled oscillation of the two factors. W_q and W_k stay the trained parameters. The bias
    terms are kept in floating point (the official DeiT code has no query/key bias; transformers' ViT has one, and the
    terms are needed for the identity above to be exact). With `a_bits`, the input x and the product x·W_qkᵀ are
    quantized by LSQ activation quantizers; V and the output projection are `QLinear`s.

    Args:
        attention: the `ViTAttention` module (with `q_proj`, `k_proj`, `v_proj`, `o_proj`) to replace.
        w_bits, a_bits, weight_quantizer: as in `QLinear`.
    """

    def __init__(self, attention: nn.Module, w_bits: int = 2, a_bits: int | None = None, weight_quantizer="statsq"):
        super().__init__()
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            if not isinstance(getattr(attention, name, None), nn.Linear):
                raise TypeError(f"attention must have an nn.Linear {name} (a transformers ViTAttention)")
        _check_options(w_bits, a_bits, weight_quantizer)
        self.config = attention.config
        self.num_heads = attention.num_attention_heads
        self.head_dim = attention.head_dim
        self.scaling = attention.scaling
        self.attention_dropout = attention.attention_dropout
        self.hidden_size = attention.q_proj.in_features
        self.w_bits, self.a_bits, self.weight_quantizer_name = w_bits, a_bits, weight_quantizer
        self.q_weight, self.q_bias = attention.q_proj.weight, attention.q_proj.bias
        self.k_weight, self.k_bias = attention.k_proj.weight, attention.k_proj.bias
        self.qk_quantizer = _make_weight_quantizer(weight_quantizer, w_bits, self.qk_weight().detach())
        self.v_proj = QLinear(attention.v_proj, w_bits, None, weight_quantizer)
        self.o_proj = QLinear(attention.o_proj, w_bits, a_bits, weight_quantizer)
        self.input_quantizer = _ActivationQuantizer(a_bits, self.hidden_size) if a_bits is not None else None
        features = self.num_heads * self.hidden_size
        self.qkx_quantizer = _ActivationQuantizer(a_bits, features) if a_bits is not None else None

    def qk_weight(self) -> torch.Tensor:
        """W_qk: the per-head products W_q^hᵀ W_k^h stacked as `(num_heads·C, C)` (row h·C + c is head h, row c)."""
        c, d = self.hidden_size, self.head_dim
        q = self.q_weight.reshape(self.num_heads, d, c)
        k = self.k_weight.reshape(self.num_heads, d, c)
        return (q.transpose(1, 2) @ k).reshape(self.num_heads * c, c)

    def quantized_weight(self) -> torch.Tensor:
        """Q_w(W_qk), `(num_heads·C, C)`."""
        return self.qk_quantizer(self.qk_weight())

    def attention_logits(self, x: torch.Tensor, qk_weight: torch.Tensor | None = None) -> torch.Tensor:
        """A^h_ij of the docstring (scaled, before the mask and the softmax), `(batch, heads, N, N)`.

        `qk_weight=None` uses the floating-point product W_qk (the identity with q·kᵀ the tests check).
        """
        batch, tokens, c = x.shape
        heads = self.num_heads
        qk = self.qk_weight() if qk_weight is None else qk_weight
        # (x W_qkᵀ)[b, j, h·C + c'] = Σ_c W_qk^h[c', c] x_j[c]: then the logits are x_i · (W_qk^h x_j)
        qkx = F.linear(x, qk)
        if self.qkx_quantizer is not None and self.enabled:
            qkx = self.qkx_quantizer(qkx)
        qkx = qkx.reshape(batch, tokens, heads, c).transpose(1, 2)  # (b, h, N, C)
        logits = x[:, None] @ qkx.transpose(-1, -2)  # (b, h, N_i, N_j)
        d = self.head_dim
        if self.k_bias is not None:  # x_i W_q^hᵀ b_k^h: one value per query row i
            u = (self.q_weight.reshape(heads, d, c).transpose(1, 2) @ self.k_bias.reshape(heads, d, 1))[..., 0]
            logits = logits + (x @ u.T).transpose(1, 2)[..., None]
        if self.q_bias is not None:  # b_q^h W_k^h x_jᵀ: one value per key column j
            w = (self.q_bias.reshape(heads, 1, d) @ self.k_weight.reshape(heads, d, c))[:, 0]
            logits = logits + (x @ w.T).transpose(1, 2)[:, :, None, :]
        if self.q_bias is not None and self.k_bias is not None:
            logits = logits + (self.q_bias.reshape(heads, d) * self.k_bias.reshape(heads, d)).sum(-1)[:, None, None]
        return logits * self.scaling

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        batch, tokens, _ = hidden_states.shape
        x = hidden_states
        if self.enabled and self.input_quantizer is not None:
            x = self.input_quantizer(x)
        if self.enabled:
            logits = self.attention_logits(x, self.quantized_weight())
        else:  # the original attention, exactly
            q = F.linear(x, self.q_weight, self.q_bias).reshape(batch, tokens, self.num_heads, -1).transpose(1, 2)
            k = F.linear(x, self.k_weight, self.k_bias).reshape(batch, tokens, self.num_heads, -1).transpose(1, 2)
            logits = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        if attention_mask is not None:
            logits = logits + attention_mask
        probs = F.softmax(logits, dim=-1, dtype=torch.float32).to(x.dtype)
        probs = F.dropout(probs, p=self.attention_dropout if self.training else 0.0, training=self.training)
        v = self.v_proj(x).reshape(batch, tokens, self.num_heads, -1).transpose(1, 2)
        out = (probs @ v).transpose(1, 2).reshape(batch, tokens, -1)
        return self.o_proj(out), probs

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, w_bits={self.w_bits}, a_bits={self.a_bits}, qk_reparam=True"


# ------------------------------------------------------------------------------------------------------------ apply


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if any(isinstance(m, _Quantized) for m in model.modules()):
        raise ValueError("model is already quantized (it holds QLinear / QKReparamAttention modules)")


def _check_exclude(exclude) -> tuple[str, ...]:
    if isinstance(exclude, str):
        raise TypeError(f"exclude must be a tuple of module-name substrings, not a single string: {exclude!r}")
    return tuple(exclude)


def quantize_linear_layers(
    model: nn.Module,
    *,
    w_bits: int = 2,
    a_bits: int | None = 4,
    weight_quantizer: str = "statsq",
    exclude: tuple[str, ...] = (),
) -> nn.Module:
    """Replaces every `nn.Linear` of `model` whose qualified name contains none of `exclude` by a `QLinear`, in place.

    Returns the model. Raises `ValueError` when nothing matched.
    """
    _check_model(model)
    _check_options(w_bits, a_bits, weight_quantizer)
    return _replace_linears(model, w_bits, a_bits, weight_quantizer, _check_exclude(exclude))


def _replace_linears(model, w_bits, a_bits, weight_quantizer, exclude) -> nn.Module:
    targets = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name and not any(part in name for part in exclude)
    ]
    if not targets:
        raise ValueError(f"no nn.Linear of the model is left to quantize (exclude={exclude!r})")
    for name in targets:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, QLinear(getattr(owner, child), w_bits, a_bits, weight_quantizer))
    return model


def quantize_vit(
    model: nn.Module,
    w_bits: int = 2,
    a_bits: int | None = 2,
    weight_quantizer: str = "statsq",
    qk_reparam: bool = True,
    exclude: tuple[str, ...] = ("classifier",),
) -> nn.Module:
    """Quantizes a transformers ViT (e.g. `ViTForImageClassification`) for OFQ quantization-aware training, in place.

    Every `ViTAttention` becomes a `QKReparamAttention` (with `qk_reparam=True`) and every other Linear layer of the
    encoder a `QLinear`; the patch embedding and the layers named in `exclude` (the classifier head by default) stay
    in floating point, as in the paper. Train the returned model as usual (e.g. with `transformers.Trainer` and the
    `OscillationTracker` / `CGACallback` callbacks).

    Args:
        model: a transformers ViT model (its attention modules must have `q_proj`, `k_proj`, `v_proj`, `o_proj`).
        w_bits (`int`): weight bit-width (2 in the paper's headline results).
        a_bits (`int`, *optional*): activation bit-width; `None` quantizes weights only.
        weight_quantizer (`str`): `"statsq"` (OFQ) or `"lsq"` (the baseline with learned per-row scales).
        qk_reparam (`bool`): replace each attention by its query–key reparameterisation.
        exclude (`tuple[str]`): substrings of module names kept in floating point.
    """
    _check_model(model)
    _check_options(w_bits, a_bits, weight_quantizer)
    exclude = _check_exclude(exclude)
    if not isinstance(qk_reparam, bool):
        raise TypeError(f"qk_reparam must be a bool, got {type(qk_reparam).__name__}")
    attentions = [
        name
        for name, module in model.named_modules()
        if all(isinstance(getattr(module, p, None), nn.Linear) for p in ("q_proj", "k_proj", "v_proj", "o_proj"))
        and hasattr(module, "num_attention_heads")
    ]
    if not attentions:
        raise ValueError("model has no ViT attention module (q_proj/k_proj/v_proj/o_proj): is it a transformers ViT?")
    if qk_reparam:
        for name in (n for n in attentions if not any(part in n for part in exclude)):
            parent, _, child = name.rpartition(".")
            owner = model.get_submodule(parent)
            setattr(owner, child, QKReparamAttention(getattr(owner, child), w_bits, a_bits, weight_quantizer))
    return _replace_linears(model, w_bits, a_bits, weight_quantizer, (*exclude, "patch_embeddings"))


def quantized_weights(model: nn.Module) -> dict[str, nn.Module]:
    """The quantized matrices of `model` by name: every `QLinear` and every `QKReparamAttention` (its W_qk)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (QLinear, QKReparamAttention))}


@contextlib.contextmanager
def quantization_disabled(model: nn.Module):
    """Within the block, every quantized module computes exactly what the original floating-point module computed."""
    modules = [m for m in model.modules() if isinstance(m, _Quantized)]
    if not modules:
        raise ValueError("model holds no quantized module")
    before = [m.enabled for m in modules]
    try:
        for m in modules:
            m.enabled = False
        yield model
    finally:
        for m, flag in zip(modules, before):
            m.enabled = flag


@torch.no_grad()
def merge_and_unload(model: nn.Module) -> nn.Module:
    """Folds weight-only quantization into the weights: each `QLinear` becomes an `nn.Linear` holding Q_w(W).

    The result is a plain transformers model (it saves and reloads with `from_pretrained` of its class) computing
    exactly what the quantized model computed. Activation quantizers and QKR attention have no plain-transformers
    form, so a model with either is refused: keep it as is and save its codes with `save_quantized_weights`.
    """
    blocked = [n for n, m in model.named_modules() if isinstance(m, QKReparamAttention)]
    blocked += [n for n, m in model.named_modules() if isinstance(m, QLinear) and m.input_quantizer is not None]
    if blocked:
        raise ValueError(
            "merge_and_unload folds weight-only quantization; these modules quantize activations or use QKR and "
            f"have no stock-transformers form: {blocked[:4]}{' ...' if len(blocked) > 4 else ''}"
        )
    layers = [name for name, m in model.named_modules() if isinstance(m, QLinear)]
    if not layers:
        raise ValueError("model holds no QLinear to merge")
    for name in layers:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        q = getattr(owner, child)
        linear = nn.Linear(q.in_features, q.out_features, bias=q.bias is not None, device=q.weight.device)
        linear.weight = nn.Parameter(q.quantized_weight().detach().clone(), requires_grad=q.weight.requires_grad)
        if q.bias is not None:
            linear.bias = q.bias
        setattr(owner, child, linear)
    return model


# ------------------------------------------------------------------------------------------------------------ packing


@torch.no_grad()
def save_quantized_weights(model: nn.Module, folder: str | Path) -> Path:
    """Writes the integer codes (bit-packed) and float32 row scales of every quantized matrix to one safetensors file.

    Returns the file's path; its size over the number of quantized weights is the compressed bits per weight.
    """
    from safetensors.torch import save_file

    modules = quantized_weights(model)
    if not modules:
        raise ValueError("model holds no quantized module")
    tensors, layout = {}, {}
    for name, module in modules.items():
        quantizer = module.qk_quantizer if isinstance(module, QKReparamAttention) else module.weight_quantizer
        weight = module.qk_weight() if isinstance(module, QKReparamAttention) else module.weight
        low, _ = quantizer.levels
        tensors[f"{name}.codes"] = pack_bits(
            (quantizer.codes(weight).cpu() - low).round().to(torch.int64), quantizer.num_bits
        )
        tensors[f"{name}.scale"] = quantizer.scale(weight).float().cpu().contiguous()
        layout[name] = {
            "shape": list(weight.shape),
            "bits": quantizer.num_bits,
            "low": low,
            "grid": "statsq" if isinstance(quantizer, StatsQuantizer) else "lsq",
        }
    path = Path(folder) / QUANTIZED_WEIGHTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"ofq_layout": json.dumps(layout)})
    return path


def load_quantized_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads a file of `save_quantized_weights` back into dequantized float32 weights by module name."""
    from safetensors import safe_open

    from .quantizers import statsq_dequantize

    path = Path(path)
    if path.is_dir():
        path = path / QUANTIZED_WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no quantized weights file at {path}")
    weights = {}
    with safe_open(str(path), framework="pt") as f:
        layout = json.loads(f.metadata()["ofq_layout"])
        for name, info in layout.items():
            numel = math.prod(info["shape"])
            codes = (
                unpack_bits(f.get_tensor(f"{name}.codes"), info["bits"], (numel,)).to(torch.float32) + info["low"]
            ).reshape(info["shape"])
            scale = f.get_tensor(f"{name}.scale")
            if info["grid"] == "statsq":
                weights[name] = statsq_dequantize(codes, scale, info["bits"])
            else:
                weights[name] = codes * scale
    return weights
