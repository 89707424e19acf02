"""Weights-based circuit attribution between transcoder features (Dunefsky et al., 2024, §3.3 / "circuit analysis").

Feature i of an upstream transcoder (layer l) writes z_i(x) · W_dec^{(l)}[i] into the residual stream; feature j of a
downstream transcoder (layer l' > l) reads its input through W_enc^{(l')}[:, j]. Along the direct residual path the
contribution of i to j's pre-activation factors into an input-dependent and an input-invariant term:

    attribution_{ij}(x) = z_i(x) · (W_dec^{(l)}[i] · W_enc^{(l')}[:, j]).

Between the two sits the downstream block's LayerNorm x ↦ g ⊙ P(x)/σ(x) + β (P centres the vector for LayerNorm, is
the identity for RMSNorm). With the scale σ frozen at its value on the input (as circuit analyses do), the map is
linear and folds into the encoder: W̃_enc[:, j] = g ⊙ W_enc[:, j], W_dec[i] ↦ P W_dec[i], times 1/σ per token. The
official code (`transcoder_circuits/circuit_analysis.py`) does the same with transformer_lens' folded LayerNorms.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["feature_attribution", "feature_connections", "top_feature_connections"]


def _check_pair(upstream, downstream):
    for name, tc in (("upstream", upstream), ("downstream", downstream)):
        if not (isinstance(tc, nn.Module) and hasattr(tc, "W_dec") and hasattr(tc, "W_enc")):
            raise TypeError(f"`{name}` must be a TranscoderModel, got {type(tc).__name__}.")
    if upstream.config.d_out != downstream.config.d_in:
        raise ValueError(
            f"`upstream` writes {upstream.config.d_out} dimensions but `downstream` reads {downstream.config.d_in}: "
            "both must live in the same residual stream."
        )


def feature_connections(
    upstream,
    downstream,
    *,
    ln_weight: torch.Tensor | None = None,
    center: bool = False,
    downstream_features: torch.Tensor | list[int] | None = None,
) -> torch.Tensor:
    r"""
    The input-invariant term: (P W_dec^{up}[i]) · (g ⊙ W_enc^{down}[:, j]) for every pair (i, j).

    Args:
        upstream ([`TranscoderModel`]): the earlier transcoder (its features write).
        downstream ([`TranscoderModel`]): the later transcoder (its features read).
        ln_weight (`torch.FloatTensor` of shape `(d_model,)`, *optional*):
            The gain g of the LayerNorm in front of the downstream MLP (`None`: no LayerNorm, g = 1).
        center (`bool`, *optional*, defaults to `False`):
            Centre the decoder rows (P = I − 11ᵀ/d): `True` for LayerNorm (GPT-2), `False` for RMSNorm (Llama).
        downstream_features (*optional*): indices j of the downstream features to keep (default: all).

    Returns:
        `torch.FloatTensor` of shape `(d_sae_up, n_down)`.
    """
    _check_pair(upstream, downstream)
    w_dec = upstream.W_dec
    if center:
        w_dec = w_dec - w_dec.mean(dim=1, keepdim=True)
    w_enc = downstream.W_enc
    if downstream_features is not None:
        w_enc = w_enc[:, torch.as_tensor(downstream_features, dtype=torch.long, device=w_enc.device)]
    if ln_weight is not None:
        if ln_weight.shape != (downstream.config.d_in,):
            raise ValueError(f"`ln_weight` must have shape ({downstream.config.d_in},), got {tuple(ln_weight.shape)}.")
        w_enc = ln_weight.to(w_enc.dtype)[:, None] * w_enc
    return w_dec.to(w_enc.dtype) @ w_enc


def feature_attribution(
    upstream,
    downstream,
    upstream_activations: torch.Tensor,
    *,
    ln_weight: torch.Tensor | None = None,
    ln_scale: torch.Tensor | None = None,
    center: bool = False,
    downstream_features: torch.Tensor | list[int] | None = None,
) -> torch.Tensor:
    r"""
    Attribution of each upstream feature i to each downstream feature j's pre-activation along the direct path:

        attribution_{t,i,j} = z_{t,i} · s_t · (P W_dec^{up}[i]) · (g ⊙ W_enc^{down}[:, j]),

    the input-dependent activation z_{t,i} (times the frozen LayerNorm scale s_t = 1/σ_t) times the input-invariant
    connection of [`feature_connections`]. It equals the gradient × input ∂h_j/∂z_i · z_i of the downstream
    pre-activation h_j with respect to the upstream activation z_i along that path.

    Args:
        upstream, downstream ([`TranscoderModel`]): the earlier and the later transcoder.
        upstream_activations (`torch.FloatTensor` of shape `(..., d_sae_up)`): z of the upstream transcoder.
        ln_weight (`torch.FloatTensor` of shape `(d_model,)`, *optional*): LayerNorm gain g of the downstream block.
        ln_scale (`torch.FloatTensor` of shape `(...)`, *optional*): per-token 1/σ of that LayerNorm (default 1).
        center (`bool`, *optional*, defaults to `False`): `True` for LayerNorm, `False` for RMSNorm.
        downstream_features (*optional*): indices j of the downstream features to keep (default: all).

    Returns:
        `torch.FloatTensor` of shape `(..., d_sae_up, n_down)`.
    """
    _check_pair(upstream, downstream)
    if not isinstance(upstream_activations, torch.Tensor) or upstream_activations.shape[-1:] != (
        upstream.config.d_sae,
    ):
        shape = getattr(upstream_activations, "shape", type(upstream_activations).__name__)
        raise ValueError(f"`upstream_activations` must have shape (..., {upstream.config.d_sae}), got {shape}.")
    connections = feature_connections(
        upstream, downstream, ln_weight=ln_weight, center=center, downstream_features=downstream_features
    )
    z = upstream_activations.to(connections.dtype)
    if ln_scale is not None:
        if ln_scale.shape != z.shape[:-1]:
            raise ValueError(
                f"`ln_scale` must have one value per token, shape {tuple(z.shape[:-1])}, got {tuple(ln_scale.shape)}."
            )
        z = z * ln_scale.to(z.dtype)[..., None]
    return z[..., :, None] * connections


def top_feature_connections(attribution: torch.Tensor, k: int = 10) -> list[tuple[int, int, float]]:
    """The `k` (upstream i, downstream j, value) pairs of largest |attribution| in a `(d_sae_up, n_down)` matrix.

    One greedy step of the official `greedy_get_top_paths`: the strongest edges into the downstream features.
    """
    if attribution.dim() != 2:
        raise ValueError(f"`attribution` must be a (d_sae_up, n_down) matrix, got shape {tuple(attribution.shape)}.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")
    flat = attribution.flatten()
    values, index = flat.abs().topk(min(k, flat.numel()))
    n_down = attribution.shape[1]
    return [(int(i) // n_down, int(i) % n_down, float(flat[i])) for i in index]
