"""The Energy Confusion (EC) regulariser of ECAML (Chen & Deng, AAAI 2019).

For a batch of embeddings `f_1 … f_N` with labels `y_1 … y_N`, EC samples pairs `(i, j)` and takes the log of their
weighted energy:

    E      = Σ_{sampled (i, j)} (1 / w_ij) · ½ ‖f_i − f_j‖²
    L_EC   = λ · log E

where `w_ij` is the number of positive pairs of the batch (unordered pairs with equal labels) when `y_i = y_j`, and the
number of negative pairs when `y_i ≠ y_j`. Minimising `log E` pulls the sampled pairs together: it tries to *confuse*
the metric, against the discriminative metric loss that pushes different classes apart. In ECAML the EC term is
computed on an embedding made from *detached* backbone features, `f_ec = head(h.detach())`, so it only moves the
embedding head (the official Caffe model shares the head's weights with a second `InnerProduct` layer that has
`propagate_down: 0`); :class:`~hf_methods.training.ecaml.MetricLearningTrainer` wires that up.

This module follows the official `EnergyConfusionLossLayer` (`chenbinghui1/ECAML`, `src/energy_confusion.cpp`); the
departures are listed in :class:`EnergyConfusionLoss`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PAIRS = ("negative", "all")
SAMPLINGS = ("uniform", "official")
REDUCTIONS = ("mean", "none")


# ----------------------------------------------------------------------------------------------------------- checks


def _check_embeddings_labels(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be 2-D (batch, embedding_size), got shape {tuple(embeddings.shape)}")
    if not embeddings.is_floating_point():
        raise TypeError(f"embeddings must be a floating-point tensor, got dtype {embeddings.dtype}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor of class ids, got dtype {labels.dtype}")
    if labels.shape != embeddings.shape[:1]:
        raise ValueError(
            f"labels must have shape ({embeddings.shape[0]},) to match embeddings, got {tuple(labels.shape)}"
        )


def _check_num_partners(num_partners: int | None) -> int | None:
    if num_partners is None:
        return None
    if not isinstance(num_partners, int) or isinstance(num_partners, bool):
        raise TypeError(f"num_partners must be an int or None (every pair), got {type(num_partners).__name__}")
    if num_partners < 1:
        raise ValueError(f"num_partners must be >= 1 (or None for every pair), got {num_partners}")
    return num_partners


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------------------- pairs


def pair_counts(labels: torch.Tensor) -> tuple[int, int]:
    """`(w_pos, w_neg)`: the numbers of unordered pairs `i < j` of the batch with equal and with different labels."""
    n = labels.numel()
    same = (labels[:, None] == labels[None, :]).sum().item()  # ordered, diagonal included
    positives = (same - n) // 2
    return positives, n * (n - 1) // 2 - positives


def sample_partners(
    labels: torch.Tensor,
    num_partners: int | None = 10,
    *,
    pairs: str = "negative",
    sampling: str = "uniform",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs `(anchors[p], partners[p])` that enter the energy `E`.

    Every anchor draws `num_partners` partners uniformly without replacement from its candidates (all of them when
    it has fewer):

    - `sampling="uniform"`: the candidates of anchor `i` are all other examples `j ≠ i`;
    - `sampling="official"`: the index scheme of the official layer, which depends on the batch order: only anchors
      `i < N − 2·num_partners` draw, from the positions `j ≥ i + 2`. With the official batches (two consecutive images
      per class) this skips the anchor's positive partner, so only negative pairs are ever drawn.

    `pairs="negative"` keeps only candidates with another label; `pairs="all"` keeps every candidate. With
    `num_partners=None` every unordered pair `i < j` of the allowed kind is used once (no sampling).

    Args:
        labels (`torch.Tensor` of shape `(batch,)`): integer class ids.
        num_partners (`int` or `None`, defaults to 10): partners per anchor (the official `random_num`).
        pairs (`str`, defaults to `"negative"`): `"negative"` or `"all"`.
        sampling (`str`, defaults to `"uniform"`): `"uniform"` or `"official"`.
        generator (`torch.Generator`, *optional*): a CPU generator for the draw (default: torch's global one).

    Returns:
        `(anchors, partners)`: two `LongTensor`s of equal length on `labels.device`.
    """
    num_partners = _check_num_partners(num_partners)
    _check_choice("pairs", pairs, PAIRS)
    _check_choice("sampling", sampling, SAMPLINGS)
    cpu_labels = labels.detach().cpu()
    n = cpu_labels.numel()
    index = torch.arange(n)
    candidates = index[:, None] != index[None, :]
    if pairs == "negative":
        candidates &= cpu_labels[:, None] != cpu_labels[None, :]
    if num_partners is None:
        anchors, partners = torch.nonzero(candidates & (index[:, None] < index[None, :]), as_tuple=True)
        return anchors.to(labels.device), partners.to(labels.device)
    if sampling == "official":
        candidates &= index[None, :] >= index[:, None] + 2
        candidates &= (index < n - 2 * num_partners)[:, None]
    if n < 2 or not candidates.any():
        empty = torch.zeros(0, dtype=torch.long, device=labels.device)
        return empty, empty
    # uniform k-subsets of each row's candidates: the k largest of i.i.d. uniform scores, non-candidates scored −1
    scores = torch.rand(n, n, generator=generator)
    scores[~candidates] = -1.0
    top_scores, top_index = scores.topk(min(num_partners, n), dim=1)
    keep = top_scores >= 0
    anchors = index[:, None].expand_as(top_index)[keep]
    return anchors.to(labels.device), top_index[keep].to(labels.device)


# ----------------------------------------------------------------------------------------------------------- the loss


def energy_confusion_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    anchors: torch.Tensor,
    partners: torch.Tensor,
    *,
    pairs: str = "negative",
    weight: float = 0.13,
    reduction: str = "mean",
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""The EC loss `λ · log E` on given pairs (functional form of :class:`EnergyConfusionLoss`).

        E = Σ_p (1 / w_p) · ½ ‖f_{anchors[p]} − f_{partners[p]}‖²,    w_p = w_pos if the labels agree else w_neg

    with `(w_pos, w_neg)` counted over all unordered pairs of the batch (:func:`pair_counts`). With
    `pairs="negative"` every pair is weighted by `1 / w_neg`.

    Under `reduction="none"` the batch loss is split among the examples in proportion to their share of the energy
    (each pair's energy counted half to each end): `ℓ_i = N · (E_i / E) · λ log E`, so `mean_i ℓ_i = λ log E`. The
    objective itself is defined over the batch; the split is for inspection only.

    When no pair is given (e.g. one class in the batch with `pairs="negative"`) the loss is 0 (with a graph).
    `E` is clamped at `eps` inside the log: collapsed embeddings give `λ log eps` with a zero gradient instead of
    the official layer's division by zero.
    """
    _check_embeddings_labels(embeddings, labels)
    _check_choice("pairs", pairs, PAIRS)
    _check_choice("reduction", reduction, REDUCTIONS)
    n = embeddings.shape[0]
    if anchors.numel() == 0:
        zero = embeddings.sum() * 0.0  # keeps the graph (and the device / dtype)
        return zero if reduction == "mean" else zero.expand(n).clone()
    w_pos, w_neg = pair_counts(labels)
    inverse_w = torch.full((anchors.numel(),), 1.0 / max(w_neg, 1), dtype=embeddings.dtype, device=embeddings.device)
    if pairs == "all":
        inverse_w[labels[anchors] == labels[partners]] = 1.0 / max(w_pos, 1)
    diff = embeddings[anchors] - embeddings[partners]
    pair_energy = inverse_w * 0.5 * diff.pow(2).sum(dim=1)
    energy = pair_energy.sum()
    loss = weight * torch.log(energy.clamp_min(eps))
    if reduction == "mean":
        return loss
    per_example = torch.zeros(n, dtype=embeddings.dtype, device=embeddings.device)
    per_example = per_example.index_add(0, anchors, 0.5 * pair_energy).index_add(0, partners, 0.5 * pair_energy)
    share = torch.where(energy > 0, per_example / energy.clamp_min(torch.finfo(energy.dtype).tiny), 1.0 / n)
    return n * share * loss


class EnergyConfusionLoss(nn.Module):
    r"""ECAML's Energy Confusion regulariser `λ · log E` on a batch of embeddings.

        E    = Σ_{sampled (i, j)} (1 / w_ij) · ½ ‖f_i − f_j‖²
        w_ij = #positive pairs of the batch if y_i = y_j, else #negative pairs
        L_EC = λ · log E                      (λ = `weight`, the official `loss_weight` 0.13)

    Each anchor draws `num_partners` partners (the official `random_num` = 10) on every call; see
    :func:`sample_partners`. Call it on an embedding computed from detached backbone features so that it only
    moves the embedding head, as ECAML does:

    ```python
    >>> ec = EnergyConfusionLoss(num_partners=10, weight=0.13)
    >>> h = backbone(x)
    >>> loss = binomial_deviance_loss(head(h), y) + ec(head(h.detach()), y)
    ```

    Departures from the official `EnergyConfusionLossLayer`:

    - the official layer reports `E` as its output but back-propagates the gradient of `log E` (it divides by `E`
      in `Backward_cpu`); this module returns `λ · log E` itself, which has the same gradient;
    - `pairs="negative"` (the default) draws partners among the examples of *other* classes, the "energy confusion
      among different classes" of the paper. The official layer draws from batch positions `j ≥ i + 2`, which with
      its batches of two consecutive images per class never reaches the anchor's positive partner, so it too sums
      negative pairs only; `pairs="all", sampling="official"` reproduces the layer exactly on any batch order;
    - `E` is clamped at `eps` inside the log, and a batch without any eligible pair gives a zero loss.

    Args:
        num_partners (`int` or `None`, defaults to 10): partners drawn per anchor; `None` uses every pair once.
        weight (`float`, defaults to 0.13): the factor `λ ≥ 0` of `log E`.
        pairs (`str`, defaults to `"negative"`): `"negative"` (different labels only) or `"all"`.
        sampling (`str`, defaults to `"uniform"`): `"uniform"` (any other example) or `"official"` (the official
            layer's position scheme: anchors `i < N − 2·num_partners`, partners `j ≥ i + 2`).
        reduction (`str`, defaults to `"mean"`): `"mean"` (the batch loss `λ log E`) or `"none"` (the batch loss
            split among the examples by their share of `E`; the mean over the batch is `λ log E`).
        eps (`float`, defaults to 1e-12): lower clamp of `E` inside the log.
        generator (`torch.Generator`, *optional*): a CPU generator for the partner draw (default: the global one,
            whose state accelerate checkpoints).
    """

    def __init__(
        self,
        num_partners: int | None = 10,
        weight: float = 0.13,
        *,
        pairs: str = "negative",
        sampling: str = "uniform",
        reduction: str = "mean",
        eps: float = 1e-12,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.num_partners = _check_num_partners(num_partners)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise TypeError(f"weight must be a number, got {type(weight).__name__}")
        if not (weight >= 0 and math.isfinite(weight)):
            raise ValueError(f"weight must be a finite number >= 0, got {weight}")
        self.weight = float(weight)
        self.pairs = _check_choice("pairs", pairs, PAIRS)
        self.sampling = _check_choice("sampling", sampling, SAMPLINGS)
        self.reduction = _check_choice("reduction", reduction, REDUCTIONS)
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        self.eps = float(eps)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def sample(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One draw of `(anchors, partners)` for a batch with these labels."""
        return sample_partners(
            labels, self.num_partners, pairs=self.pairs, sampling=self.sampling, generator=self.generator
        )

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_embeddings_labels(embeddings, labels)
        anchors, partners = self.sample(labels)
        return energy_confusion_loss(
            embeddings,
            labels,
            anchors,
            partners,
            pairs=self.pairs,
            weight=self.weight,
            reduction=self.reduction,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"num_partners={self.num_partners}, weight={self.weight}, pairs={self.pairs!r}, sampling={self.sampling!r}"
        )


__all__ = ["EnergyConfusionLoss", "energy_confusion_loss", "pair_counts", "sample_partners"]
