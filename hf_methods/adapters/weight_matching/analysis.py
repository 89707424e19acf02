"""The singular-vector analysis of the P37 paper (Ito, Yamada & Kumagai, ICLR 2025, Sec. 4).

Write each weight matrix by its singular value decomposition, `W = Σ_k σ_k u_k v_kᵀ` (σ₁ ≥ σ₂ ≥ ...). A permutation
of hidden units, `W → P_l W P_{l−1}ᵀ = Σ_k σ_k (P_l u_k)(P_{l−1} v_k)ᵀ`, keeps every singular value and only moves
the singular vectors. Hence whatever weight matching does to the distance and to linear mode connectivity, it does
by rotating singular vectors; the paper shows it mainly aligns those with *large* singular values across models,
which determine the function, and leaves the others nearly orthogonal. This module measures that, per layer:

    u-overlap_k = |⟨u_k^A, u_k^B⟩|,     v-overlap_k = |⟨v_k^A, v_k^B⟩|        (absolute: singular vectors have a sign
                                                                               ambiguity)

and reports the mean over the top-k and the bottom-k singular indices. The overlaps relate to the weight-matching
objective through the exact identity `⟨W^A, W^B⟩_F = Σ_{i,j} σ_i^A σ_j^B ⟨u_i^A, u_j^B⟩⟨v_i^A, v_j^B⟩`
([`singular_overlap_objective`]).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LayerSingularAlignment:
    """Singular values and index-wise singular-vector overlaps of one weight matrix in two models.

    Attributes:
        singular_values_a, singular_values_b (`torch.Tensor`): σ of `W^A` and `W^B`, descending (`min(m, n)` values).
        u_overlap (`torch.Tensor`): `|⟨u_k^A, u_k^B⟩|` for each index k (left singular vectors, output side).
        v_overlap (`torch.Tensor`): `|⟨v_k^A, v_k^B⟩|` (right singular vectors, input side).
    """

    singular_values_a: torch.Tensor
    singular_values_b: torch.Tensor
    u_overlap: torch.Tensor
    v_overlap: torch.Tensor


@dataclass
class SingularVectorAlignment:
    """[`singular_vector_alignment`]'s result.

    Attributes:
        k (`int`): how many top and bottom singular indices the means use.
        layers (`dict[str, LayerSingularAlignment]`): per weight matrix.
        top_u, bottom_u, top_v, bottom_v (`float`): mean over layers of the mean `u`/`v` overlap over the top-k /
            bottom-k singular indices.
    """

    k: int
    layers: dict[str, LayerSingularAlignment]
    top_u: float
    bottom_u: float
    top_v: float
    bottom_v: float

    def to_dict(self) -> dict:
        per_layer = {
            name: {
                "top_u": layer.u_overlap[: self.k].mean().item(),
                "bottom_u": layer.u_overlap[-self.k :].mean().item(),
                "top_v": layer.v_overlap[: self.k].mean().item(),
                "bottom_v": layer.v_overlap[-self.k :].mean().item(),
                "u_overlap": layer.u_overlap.tolist(),
                "v_overlap": layer.v_overlap.tolist(),
            }
            for name, layer in self.layers.items()
        }
        return {
            "k": self.k,
            "top_u": self.top_u,
            "bottom_u": self.bottom_u,
            "top_v": self.top_v,
            "bottom_v": self.bottom_v,
            "layers": per_layer,
        }


def _weight_matrices(model: nn.Module, parameters: Sequence[str] | None, argument: str) -> dict[str, torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"`{argument}` must be a torch.nn.Module, got {type(model).__name__}")
    params = dict(model.named_parameters())
    if parameters is None:
        names = [f"{name}.weight" for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        names = [name for name in names if name in params]  # a tied head is listed under its first name only
    else:
        if isinstance(parameters, str) or not isinstance(parameters, Sequence) or not parameters:
            raise ValueError("`parameters` must be a non-empty list of parameter names")
        names = list(parameters)
    out = {}
    for name in names:
        if name not in params:
            raise ValueError(f"`parameters`: {argument} has no parameter {name!r}")
        if params[name].dim() != 2:
            raise ValueError(f"`parameters`: {name!r} is not a matrix (shape {tuple(params[name].shape)})")
        out[name] = params[name].detach().double()
    return out


def singular_vector_alignment(
    model_a: nn.Module, model_b: nn.Module, k: int = 5, *, parameters: Sequence[str] | None = None
) -> SingularVectorAlignment:
    """Index-wise overlaps `|⟨u_k^A, u_k^B⟩|`, `|⟨v_k^A, v_k^B⟩|` of the singular vectors of each weight matrix.

    Computed in float64 with `torch.linalg.svd`. Compare `model_b` before and after [`apply_permutation`] to see what
    weight matching aligns: the paper's finding is a high overlap for the top singular vectors, low for the bottom.
    Overlaps are only meaningful on axes the permutation acts on (e.g. `u` of a hidden layer's weight); an unpermuted
    input or output space is shared by both models as it is.

    Args:
        model_a, model_b (`torch.nn.Module`): two models of one architecture.
        k (`int`, *optional*, defaults to 5): number of top and of bottom singular indices averaged.
        parameters (`list[str]`, *optional*): the 2-D parameters to analyse; default every `nn.Linear` weight.

    Returns:
        [`SingularVectorAlignment`]
    """
    mats_a = _weight_matrices(model_a, parameters, "model_a")
    mats_b = _weight_matrices(model_b, list(mats_a), "model_b")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a positive int, got {k!r}")
    layers = {}
    for name, w_a in mats_a.items():
        w_b = mats_b[name]
        if w_a.shape != w_b.shape:
            raise ValueError(
                f"`model_b` must have the architecture of `model_a` ({name!r}: {w_a.shape} vs {w_b.shape})"
            )
        rank = min(w_a.shape)
        if k > rank:
            raise ValueError(f"`k` = {k} exceeds the {rank} singular values of {name!r}")
        u_a, s_a, vh_a = torch.linalg.svd(w_a, full_matrices=False)
        u_b, s_b, vh_b = torch.linalg.svd(w_b, full_matrices=False)
        layers[name] = LayerSingularAlignment(
            singular_values_a=s_a,
            singular_values_b=s_b,
            u_overlap=(u_a * u_b).sum(0).abs(),
            v_overlap=(vh_a * vh_b).sum(1).abs(),
        )

    def mean(attr: str, top: bool) -> float:
        values = [getattr(layer, attr)[:k] if top else getattr(layer, attr)[-k:] for layer in layers.values()]
        return torch.stack([v.mean() for v in values]).mean().item()

    return SingularVectorAlignment(
        k=k,
        layers=layers,
        top_u=mean("u_overlap", True),
        bottom_u=mean("u_overlap", False),
        top_v=mean("v_overlap", True),
        bottom_v=mean("v_overlap", False),
    )


def singular_overlap_objective(w_a: torch.Tensor, w_b: torch.Tensor) -> torch.Tensor:
    """`Σ_{i,j} σ_i^A σ_j^B ⟨u_i^A, u_j^B⟩⟨v_i^A, v_j^B⟩`, the matrix-wise weight-matching objective `⟨W^A, W^B⟩_F`
    written through the singular vectors (float64).

    Returns the `(r, r)` matrix of the terms (its sum is `⟨W^A, W^B⟩_F`; its diagonal, the index-wise terms the
    overlaps of [`singular_vector_alignment`] measure).
    """
    if not (isinstance(w_a, torch.Tensor) and isinstance(w_b, torch.Tensor)):
        raise TypeError("`w_a` and `w_b` must be tensors")
    if w_a.dim() != 2 or w_a.shape != w_b.shape:
        raise ValueError(f"`w_a` and `w_b` must be matrices of one shape, got {tuple(w_a.shape)}, {tuple(w_b.shape)}")
    u_a, s_a, vh_a = torch.linalg.svd(w_a.double(), full_matrices=False)
    u_b, s_b, vh_b = torch.linalg.svd(w_b.double(), full_matrices=False)
    return s_a[:, None] * s_b[None, :] * (u_a.T @ u_b) * (vh_a @ vh_b.T)


__all__ = [
    "LayerSingularAlignment",
    "SingularVectorAlignment",
    "singular_overlap_objective",
    "singular_vector_alignment",
]
