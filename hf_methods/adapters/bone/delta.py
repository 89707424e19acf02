"""The weight update ΔW of each Bone variant, written from the paper's equations (for inspection and tests).

PEFT's `MissLinear` computes these inside its forward pass; this module states them once, in the paper's notation,
with plain tensor reshapes, so a user can look at a trained adapter's ΔW and the tests can compare the two.
"""

from __future__ import annotations

import torch


def bone_delta_weight(weight: torch.Tensor, block: torch.Tensor, variant: str = "bat") -> torch.Tensor:
    """ΔW such that the adapted layer computes `y = x (W + ΔW)ᵀ` (PyTorch layout, `W ∈ R^{d×k}`, `d = out_features`).

    - `"bat"` (paper v1 Bone, "Bone-col"; `block` = `B ∈ R^{(d/r)×r×r}`): with `W_{a,b}` the `r × r` block of rows
      `a·r:(a+1)·r` and columns `b·r:(b+1)·r`,

          ΔW_{a,b} = W_{a,b} B_a + B_a,    i.e. W'_{a,b} = W_{a,b} (I + B_a) + B_a,

      one `B_a` per output block-row `a`, shared by every input block `b`.
    - `"bone"` (v4+ Bone / MiSS; `block` = `D ∈ R^{r×d}`): `ΔW = [Dᵀ | Dᵀ | … | Dᵀ]`, i.e. `ΔW[:, j] = D[j mod r, :]ᵀ`
      (a last partial shard when `r` does not divide `k`).
    - `"mini"` (MiSS-mini; `block` = `D ∈ R^{r×m}`): `D` tiled along both dimensions, `ΔW[i, j] = D[j mod r, i mod m]`.

    Args:
        weight (`torch.Tensor`): the frozen `W`, shape `(out_features, in_features)`.
        block (`torch.Tensor`): the trainable tensor (PEFT's `miss_block`), shaped as above.
        variant (`str`, *optional*, defaults to `"bat"`): `"bat"`, `"bone"` (alias `"miss"`) or `"mini"`.
    """
    if weight.dim() != 2:
        raise ValueError(f"`weight` must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    d, k = weight.shape
    if variant == "bat":
        if block.dim() != 3 or block.shape[1] != block.shape[2]:
            raise ValueError(f"`block` of variant 'bat' must have shape (d/r, r, r), got {tuple(block.shape)}")
        r = block.shape[-1]
        if d % r or k % r or block.shape[0] != d // r:
            raise ValueError(f"`block` {tuple(block.shape)} does not cut `weight` {(d, k)} into r×r blocks")
        blocks = weight.reshape(d // r, r, k // r, r).transpose(1, 2)  # [a, b, r1, r2] = W_{a,b}
        b_a = block.to(weight.dtype)[:, None]  # B_a, broadcast over the input blocks b
        delta = blocks @ b_a + b_a
        return delta.transpose(1, 2).reshape(d, k)
    if variant in ("bone", "miss", "mini"):
        if block.dim() != 2:
            raise ValueError(f"`block` of variant {variant!r} must be 2-D, got shape {tuple(block.shape)}")
        r, m = block.shape
        if variant != "mini" and m != d:
            raise ValueError(f"`block` of variant {variant!r} must have shape (r, out_features={d}), got {(r, m)}")
        if d % m:
            raise ValueError(f"`block` width {m} must divide out_features={d}")
        tiled = block.to(weight.dtype).repeat(-(-k // r), d // m)[:k]  # [j, i] = D[j mod r, i mod m]
        return tiled.T.contiguous()
    raise ValueError(f"`variant` must be 'bat', 'bone', 'miss' or 'mini', got {variant!r}")


__all__ = ["bone_delta_weight"]
