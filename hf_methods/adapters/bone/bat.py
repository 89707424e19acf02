"""Bat (the P46 Bone) at LoRA-like cost: one autograd function that never keeps the adapted weight for backward.

A Bat layer computes `y = x W'ᵀ + bias` with, for every `r × r` block (`a` = output block-row, `b` = input
block-column),

    W'_{a,b} = W_{a,b} + W_{a,b} A_a + C_a                                                       (1)

where a single adapter has `A_a = C_a = B_a` (PEFT's `miss_block[a]`), i.e. `W'_{a,b} = W_{a,b} + W_{a,b} B_a + B_a`.
Several active adapters applied one after the other (as PEFT does, each on the weight the previous one produced) fold
into one pair: `W'' = W'(I + B₂) + B₂ = W (I + A)(I + B₂) + C (I + B₂) + B₂`, so `A ← A + B₂ + A B₂`, `C ← C + C B₂ + B₂`.

PEFT's `MissLinear` builds `W'` with reshapes and copies on every forward and lets autograd keep it (and a copy of `W`)
for backward: two weight-sized tensors per targeted layer. [`BatLinearFunction`] saves only the input `x` and the
small `A`, `C` (`d·r` numbers each); the backward reads `W` again (a frozen parameter, or a fresh dequantization of a
4-bit weight) and recomputes what it needs. With `T` tokens, `d = out_features`, `k = in_features`, it picks the
cheaper order of the products:

- weight side (`T ≥ r` forward, `T ≥ 2r` backward): forward `W' = W + W A + C` (`d·k·r` multiply-adds, no copy of `W`:
  the blocks of a row of blocks are a view `W.view(d/r, k, r)`), then `x W'ᵀ` (`T·d·k`); backward recomputes `W'`
  for `∂L/∂x = g W'`, forms `G = gᵀ x` and reduces it block by block:

      ∂L/∂A_a = Σ_b W_{a,b}ᵀ G_{a,b},      ∂L/∂C_a = Σ_b G_{a,b} = g_aᵀ S(x),   S(x) = Σ_b x_b          (2)

- input side (few tokens): `y_a = Σ_b (x_b (I + A_a)ᵀ) W_{a,b}ᵀ + S(x) C_aᵀ` (`2·T·d·k`, no weight-sized tensor),
  and in backward `h_{a,b} = g_a W_{a,b}` gives both `∂L/∂x_b = Σ_a h_{a,b} (I + A_a) + Σ_a g_a C_a` and
  `∂L/∂A_a = Σ_b h_{a,b}ᵀ x_b` (`3·T·d·k`).

[`enable_efficient_bat`] switches the `"bat"` layers of a model to this path by changing their class to
[`EfficientBatLinear`], a subclass of PEFT's `MissLinear` that only overrides `forward`: parameters, state dict,
`adapter_config.json`, merge and unmerge stay PEFT's, so a saved adapter is a plain MiSS adapter.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from peft.tuners.miss.layer import MissLinear
from torch import nn

ORDERS = ("auto", "weight", "input")


def _weight_side(num_tokens: int, r: int, backward: bool) -> bool:
    """Cheaper order by multiply-adds: forward `d·k·(r + T)` vs `2·T·d·k`; backward `2·d·k·(T + r)` vs `3·T·d·k`."""
    return num_tokens >= (2 * r if backward else r)


def _adapted_weight(weight: torch.Tensor, mult: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """`W'` of equation (1), shape `(d, k)`, in a fresh tensor (`W` is only read)."""
    d, k = weight.shape
    r = mult.shape[-1]
    rows = weight.view(d // r, k, r)  # [a, (r1, b), r2]: every r×r block of row-of-blocks a, stacked
    adapted = torch.bmm(rows, mult).add_(rows)  # W_{a,b} A_a + W_{a,b} (faster than baddbmm on CPU)
    adapted.view(d // r, r, k // r, r).add_(add[:, :, None, :])  # + C_a, broadcast over the input blocks b
    return adapted.view(d, k)


class BatLinearFunction(torch.autograd.Function):
    """`y = x W'ᵀ + bias` with `W'` of equation (1); saves `x`, `A`, `C` (and nothing of `W`'s size) for backward.

    Arguments of `apply(x, load_weight, bias, mult, add, order)`:
        x: `(..., k)` input, already in the compute dtype.
        load_weight: callable returning the frozen `W` (`(d, k)`, compute dtype); called again in backward, so a
            4-bit weight is dequantized twice instead of being kept. `W` gets no gradient.
        bias: `(d,)` or `None`.
        mult, add: `A`, `C` of shape `(d/r, r, r)`.
        order: `"auto"` (by token count), `"weight"` or `"input"`.
    """

    @staticmethod
    def forward(ctx, x, load_weight: Callable[[], torch.Tensor], bias, mult, add, order: str = "auto"):
        with torch.no_grad():
            weight = load_weight()
            d, k = weight.shape
            r = mult.shape[-1]
            x2 = x.reshape(-1, k)
            tokens = x2.shape[0]
            weight_side = order == "weight" or (order == "auto" and _weight_side(tokens, r, backward=False))
            if weight_side:
                out = F.linear(x2, _adapted_weight(weight, mult, add), bias)
            else:
                eye = torch.eye(r, dtype=mult.dtype, device=mult.device)
                blocks_in = x2.reshape(1, tokens * (k // r), r)
                mixed = torch.matmul(blocks_in, (eye + mult).transpose(1, 2))  # [a, (t, b), s] = (x_b (I + A_a)ᵀ)_s
                per_row = torch.bmm(mixed.view(d // r, tokens, k), weight.view(d // r, r, k).transpose(1, 2))
                out = per_row.permute(1, 0, 2).reshape(tokens, d)  # [t, (a, r1)]
                block_sum = x2.view(tokens, k // r, r).sum(1)  # S(x)
                out += torch.einsum("tj,aij->tai", block_sum, add).reshape(tokens, d)
                if bias is not None:
                    out += bias
        ctx.save_for_backward(x, mult, add)
        ctx.load_weight = load_weight
        ctx.order = order
        ctx.has_bias = bias is not None
        return out.view(*x.shape[:-1], d)

    @staticmethod
    def backward(ctx, grad_out):
        x, mult, add = ctx.saved_tensors
        need_x, _, need_bias, need_mult, need_add, _ = ctx.needs_input_grad
        weight = ctx.load_weight()
        d, k = weight.shape
        r = mult.shape[-1]
        x2 = x.reshape(-1, k)
        g = grad_out.reshape(-1, d).to(x2.dtype)
        tokens = x2.shape[0]
        grad_x = grad_bias = grad_mult = grad_add = None
        weight_side = ctx.order == "weight" or (ctx.order == "auto" and _weight_side(tokens, r, backward=True))
        if weight_side:
            if need_x:
                grad_x = (g @ _adapted_weight(weight, mult, add)).view_as(x)
            if need_mult:
                grad_w = g.t() @ x2  # G = ∂L/∂W', (d, k)
                grad_mult = torch.bmm(weight.view(d // r, k, r).transpose(1, 2), grad_w.view(d // r, k, r))  # (2)
        else:
            g_rows = g.view(tokens, d // r, r).transpose(0, 1)  # [a, t, r1]
            h = torch.bmm(g_rows, weight.view(d // r, r, k)).view(d // r, tokens * (k // r), r)  # g_a W_{a,b}
            if need_x:
                eye = torch.eye(r, dtype=mult.dtype, device=mult.device)
                grad_blocks = torch.bmm(h, eye + mult).sum(0).view(tokens, k // r, r)
                grad_blocks += torch.einsum("tai,aij->tj", g.view(tokens, d // r, r), add)[:, None, :]
                grad_x = grad_blocks.view_as(x)
            if need_mult:
                grad_mult = torch.matmul(h.transpose(1, 2), x2.reshape(1, tokens * (k // r), r))
        if need_add:
            block_sum = x2.view(tokens, k // r, r).sum(1)  # S(x)
            grad_add = torch.einsum("tai,tj->aij", g.view(tokens, d // r, r), block_sum)  # (2)
        if need_bias and ctx.has_bias:
            grad_bias = g.sum(0)
        return grad_x, None, grad_bias, grad_mult, grad_add, None


def bat_linear(
    x: torch.Tensor,
    weight: torch.Tensor | Callable[[], torch.Tensor],
    blocks: list[torch.Tensor] | torch.Tensor,
    bias: torch.Tensor | None = None,
    order: str = "auto",
) -> torch.Tensor:
    """`x W'ᵀ + bias` for Bat blocks `B ∈ R^{(d/r)×r×r}` (one tensor, or a list applied one after the other).

    Args:
        x (`torch.Tensor`): input `(..., in_features)`.
        weight (`torch.Tensor` or callable): the frozen `W` `(out_features, in_features)`, or a function returning it
            (called in forward and again in backward, e.g. to dequantize a 4-bit weight instead of keeping it).
        blocks (`torch.Tensor` or `list[torch.Tensor]`): PEFT's `miss_block` of each active adapter.
        bias (`torch.Tensor`, *optional*): `(out_features,)`.
        order (`str`, *optional*, defaults to `"auto"`): `"weight"` (build `W'`), `"input"` (never build it) or
            `"auto"` (the cheaper one for the number of tokens).
    """
    if order not in ORDERS:
        raise ValueError(f"`order` must be one of {ORDERS}, got {order!r}")
    if isinstance(blocks, torch.Tensor):
        blocks = [blocks]
    if not blocks:
        raise ValueError("`blocks` must hold at least one Bat block tensor")
    mult = add = blocks[0]
    for block in blocks[1:]:  # W'' = W'(I + B) + B, folded into (A, C)
        mult = mult + block + mult @ block
        add = add + add @ block + block
    load_weight = weight if callable(weight) else (lambda: weight)
    return BatLinearFunction.apply(x, load_weight, bias, mult, add, order)


class _WeightLoader:
    """Gives the forward the weight already read, then reads it again for backward (so nothing weight-sized is kept
    between the two for a dequantized weight)."""

    def __init__(self, layer: MissLinear, first: torch.Tensor, dtype: torch.dtype):
        self.layer, self.first, self.dtype = layer, first, dtype

    def __call__(self) -> torch.Tensor:
        if self.first is not None:
            weight, self.first = self.first, None
            return weight
        return self.layer.get_base_weight().to(self.dtype)


class EfficientBatLinear(MissLinear):
    """PEFT's `MissLinear` whose `"bat"` forward goes through [`BatLinearFunction`]; everything else is PEFT's.

    Set by [`enable_efficient_bat`] (which [`get_bone_model`] calls). PEFT's own forward is used for: disabled
    adapters, merged weights, no active adapter on the layer, a non-`"bat"` layer, a base weight that requires
    gradient, adapter blocks in a dtype other than the compute dtype (PEFT's CPU half-precision round trip), and
    forward-only quantization backends (PEFT raises its error). `bat_order` (`"auto"`, `"weight"`, `"input"`) picks
    the association order.
    """

    bat_order = "auto"

    def _bat_compute_dtype(self, weight_dtype: torch.dtype, active: list[str]) -> torch.dtype | None:
        """PEFT's `W'` dtype: the base weight's promoted with each adapter's (`None` where PEFT would round trip)."""
        dtype = weight_dtype
        for name in active:
            block = self.miss_block[name]
            if block.device.type == "cpu" and block.dtype in (torch.float16, torch.bfloat16):
                return None  # PEFT computes these in fp32 and rounds each delta back: keep its path
            dtype = torch.promote_types(dtype, block.dtype)
        if not dtype.is_floating_point or any(self.miss_block[name].dtype != dtype for name in active):
            return None
        return dtype

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if self.miss_fn != "bat" or self.disable_adapters or self.merged:
            return super().forward(x, *args, **kwargs)
        backend = self.quantization_backend
        if backend is not None and not backend.supports_merge:
            return super().forward(x, *args, **kwargs)  # PEFT raises its clear error
        active = [name for name in self.active_adapters if name in self.miss_block]
        if not active or getattr(self.get_base_layer().weight, "requires_grad", False):
            return super().forward(x, *args, **kwargs)
        weight = self.get_base_weight()  # a view of W, or a fresh dequantization of a quantized W
        dtype = self._bat_compute_dtype(weight.dtype, active)
        if dtype is None:
            return super().forward(x, *args, **kwargs)
        previous_dtype = x.dtype
        x = self._cast_input_dtype(x, dtype)
        bias = self._cast_input_dtype(self.get_base_layer().bias, dtype)
        blocks = [self.miss_block[name] for name in active]
        load_weight = _WeightLoader(self, weight.to(dtype), dtype)
        del weight
        return bat_linear(x, load_weight, blocks, bias=bias, order=self.bat_order).to(previous_dtype)

    def __repr__(self) -> str:
        return super().__repr__().replace("EfficientBatLinear", "MissLinear", 1)


def enable_efficient_bat(model: nn.Module, enabled: bool = True, order: str = "auto") -> int:
    """Switches every PEFT `MissLinear` of `model` to [`EfficientBatLinear`] (or back to PEFT's class).

    Only the class of each layer changes (no parameter, buffer or config), so saving, loading, merging and unmerging
    are PEFT's and the saved adapter is a plain MiSS adapter. Call it after `PeftModel.from_pretrained` to get the
    efficient path on a loaded Bat adapter; `enable_efficient_bat(model, False)` returns to PEFT's forward.

    Args:
        model (`torch.nn.Module`): a `PeftModel` (or any module) holding MiSS layers.
        enabled (`bool`, *optional*, defaults to `True`): `False` restores PEFT's `MissLinear`.
        order (`str`, *optional*, defaults to `"auto"`): association order, see [`bat_linear`].

    Returns:
        `int`: the number of layers switched.
    """
    if order not in ORDERS:
        raise ValueError(f"`order` must be one of {ORDERS}, got {order!r}")
    switched = 0
    for module in model.modules():
        if enabled and type(module) is MissLinear:
            module.__class__ = EfficientBatLinear
        elif not enabled and type(module) is EfficientBatLinear:
            module.__class__ = MissLinear
        elif not isinstance(module, MissLinear):
            continue
        if enabled:
            module.bat_order = order
        else:
            module.__dict__.pop("bat_order", None)
        switched += 1
    return switched


__all__ = ["BatLinearFunction", "EfficientBatLinear", "bat_linear", "enable_efficient_bat"]
