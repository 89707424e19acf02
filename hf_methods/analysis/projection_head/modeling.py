"""Projection heads and the spectral contrastive loss (Xue et al., ICLR 2024, "Investigating the Benefits of Projection
Head for Representation Learning").

- [`FixedReweightProjectionHead`]: the paper's alternative to a trained projection head, a fixed diagonal map
  z = diag(κ^0, κ^{-1}, …, κ^{-(d-1)}) h (κ ≥ 1; κ = 1 is the identity). Training on z with a contrastive loss makes the
  encoder weight its output dimensions unequally on purpose, and h (before the head) is used downstream. The
  convention (weight κ^{-i} for dimension i, not trainable) follows the public SpuCo-based code of the paper.
- [`ProjectionHeadModel`]: an encoder with an optional head; `forward(x, representation="pre"|"post")` returns h
  (pre-projection) or z = head(h) (post-projection; h itself when there is no head).
- [`spectral_contrastive_loss`] (HaoChen et al., 2021), the loss of the paper's theory:
  L = −(2/N) Σ_i f(x_i)ᵀ f(x_i⁺) + (1/(N(N−1))) Σ_{i≠j} (f(x_i)ᵀ f(x_j⁺))².
"""

from __future__ import annotations

import torch
from torch import nn

from hf_methods.common.checks import check_number, reduce_loss

REPRESENTATIONS = ("pre", "post")


class FixedReweightProjectionHead(nn.Module):
    """z = h ⊙ w with fixed w_i = κ^{-i}, i = 0, …, dim − 1 (a buffer: saved with the model, never trained).

    Args:
        dim (`int`): the representation size d.
        kappa (`float`): κ ≥ 1; larger κ makes the later dimensions count less in the contrastive loss.
    """

    def __init__(self, dim: int, kappa: float = 2.0):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        self.dim = dim
        self.kappa = check_number("kappa", kappa, low=1.0)
        exponents = torch.arange(dim, dtype=torch.float64)
        self.register_buffer("weights", (self.kappa**-exponents).float())

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if not isinstance(hidden, torch.Tensor) or not hidden.is_floating_point() or hidden.shape[-1:] != (self.dim,):
            raise ValueError(
                f"hidden must be a float tensor (..., {self.dim}), got {getattr(hidden, 'shape', hidden)}"
            )
        return hidden * self.weights.to(hidden.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, kappa={self.kappa:g}"


class ProjectionHeadModel(nn.Module):
    """An encoder and an optional projection head, trained on the post-projection output and read at either level.

    Args:
        encoder (`nn.Module`): maps inputs to the representation h.
        head (`nn.Module`, *optional*): maps h to z (a trained MLP, a [`FixedReweightProjectionHead`], ...); `None`
            trains and reads h directly (SimCLR / SupCon without a projection head).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module | None = None):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
        if head is not None and not isinstance(head, nn.Module):
            raise TypeError(f"head must be an nn.Module or None, got {type(head).__name__}")
        self.encoder, self.head = encoder, head

    @property
    def use_projection_head(self) -> bool:
        return self.head is not None

    def forward(self, x: torch.Tensor, representation: str = "post") -> torch.Tensor:
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        hidden = self.encoder(x)
        if representation == "pre" or self.head is None:
            return hidden
        return self.head(hidden)


def spectral_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Spectral contrastive loss of two views (HaoChen et al., 2021), unnormalised embeddings.

    L = −(2/N) Σ_i z1_iᵀ z2_i + (1/(N(N−1))) Σ_{i≠j} (z1_iᵀ z2_j)²

    Args:
        z1, z2 (`torch.Tensor` of shape `(N, D)`): the two views' embeddings; row i of each comes from sample i.
        reduction (`str`): `"mean"` (L above), `"sum"` (N·L) or `"none"`: N values ℓ_i = −2 z1_iᵀz2_i +
            (1/(N−1)) Σ_{j≠i} (z1_iᵀ z2_j)², whose mean is L.
    """
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point():
            raise TypeError(f"{name} must be a 2-D float tensor (batch, dim), got {getattr(z, 'shape', type(z))}")
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = len(z1)
    if n < 2:
        raise ValueError("spectral_contrastive_loss needs at least 2 samples (the negatives are the other samples)")
    scores = z1 @ z2.T
    positive = scores.diagonal()
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=z1.device)
    negative = (scores.square() * off_diagonal).sum(1) / (n - 1)
    return reduce_loss(-2 * positive + negative, reduction)
