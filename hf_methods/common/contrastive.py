"""Contrastive representation losses: SimCLR's NT-Xent and supervised contrastive (SupCon).

Both take L2-normalised (inside) embeddings of a batch of *views* and a temperature τ:

- [`nt_xent_loss`] (Chen et al., 2020): two views z¹, z² of each of N images; for anchor i the positive is the other
  view of the same image and the 2N − 2 remaining views are negatives,
  ℓ_i = −log exp(s(i, p(i))/τ) / Σ_{k ≠ i} exp(s(i, k)/τ), with s the cosine similarity, averaged over all 2N anchors;
- [`supcon_loss`] (Khosla et al., 2020, the "L_out" form): any number of views with labels; every other view of the same
  label is a positive, ℓ_i = −(1/|P(i)|) Σ_{p ∈ P(i)} log exp(s(i, p)/τ) / Σ_{k ≠ i} exp(s(i, k)/τ); anchors without a
  positive are left out of the mean.

`reduction` is `"mean"`, `"sum"` or `"none"` (one value per anchor view).

Example:

```python
>>> loss = nt_xent_loss(model(view_1), model(view_2), temperature=0.5)
>>> loss = supcon_loss(torch.cat([z1, z2]), torch.cat([labels, labels]), temperature=0.1)
```
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_methods.common.checks import check_number, reduce_loss


def _similarities(embeddings: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(embeddings, dim=-1)
    logits = z @ z.T / temperature
    return logits.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))


def _check_embeddings(name: str, z) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point():
        raise TypeError(f"{name} must be a 2-D float tensor (batch, dim), got {getattr(z, 'shape', type(z).__name__)}")
    return z


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.5, reduction: str = "mean"):
    """SimCLR's normalised temperature-scaled cross-entropy over the 2N views of N images (see the module docstring).

    Args:
        z1, z2 (`torch.Tensor` of shape `(N, D)`): embeddings of the two views; row i of each comes from image i.
        temperature (`float`): τ > 0.
        reduction (`str`): `"mean"`, `"sum"` or `"none"` (2N values: the anchors of `z1`, then those of `z2`).
    """
    _check_embeddings("z1", z1), _check_embeddings("z2", z2)
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if len(z1) < 2:
        raise ValueError("nt_xent_loss needs at least 2 images (negatives come from the other images)")
    tau = check_number("temperature", temperature, low=0, low_open=True)
    n = len(z1)
    logits = _similarities(torch.cat([z1, z2]), tau)
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z1.device)
    per_anchor = F.cross_entropy(logits, positives, reduction="none")
    return reduce_loss(per_anchor, reduction)


def supcon_loss(embeddings: torch.Tensor, labels: torch.Tensor, *, temperature: float = 0.1, reduction: str = "mean"):
    """Supervised contrastive loss over labelled views (see the module docstring).

    Args:
        embeddings (`torch.Tensor` of shape `(M, D)`): all views (e.g. two views of N images stacked: M = 2N).
        labels (`torch.Tensor` of shape `(M,)`): the class of each view; views of one image share its label.
        temperature (`float`): τ > 0.
        reduction (`str`): `"mean"` / `"sum"` over the anchors that have a positive, or `"none"` (M values, 0 for an
            anchor without a positive).
    """
    _check_embeddings("embeddings", embeddings)
    if not isinstance(labels, torch.Tensor) or labels.shape != embeddings.shape[:1] or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor of shape ({len(embeddings)},)")
    tau = check_number("temperature", temperature, low=0, low_open=True)
    logits = _similarities(embeddings, tau)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    count = positive.sum(1)
    summed = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(1)
    per_anchor = torch.where(count > 0, -summed / count.clamp(min=1), torch.zeros_like(summed))
    if reduction == "none":
        return reduce_loss(per_anchor, reduction)
    has_positive = count > 0
    if not has_positive.any():
        raise ValueError("no view has a positive (another view with its label): supcon_loss is undefined")
    return reduce_loss(per_anchor[has_positive], reduction)
