"""STABLE's unsupervised structure refinement (Li et al., KDD 2022, §4.1–4.2; official code `likuanppd/STABLE`).

1. Pre-prune: drop the edges whose endpoints' raw features have Jaccard similarity < `jaccard_t`: A_pre = A − A_del.
2. Contrastive representations: DGI (Veličković et al., ICLR 2019) with a one-layer GCN encoder on A_pre, whose two
   augmented views each add back a random `recover_percent` of the deleted edges A_del ([`DGIEncoder`],
   [`train_dgi`]).
3. Refine the *attacked* graph A (not A_pre): remove edges whose representations have cosine similarity ≤ `cos_t`,
   then give every node its `k` most similar nodes (by representation) among those of degree > `degree_threshold`
   ([`add_reliable_neighbors`]).

[`stable_refine_graph`] runs the three steps and returns the refined adjacency and the representations, the inputs of
[`STABLEForNodeClassification`].
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.graph import (
    check_adjacency,
    cosine_similarity_matrix,
    drop_dissimilar_edges,
    gcn_normalize,
    jaccard_similarity_matrix,
    num_undirected_edges,
    remove_self_loops,
)

__all__ = [
    "DGIEncoder",
    "RefinementInfo",
    "add_reliable_neighbors",
    "dgi_loss",
    "recovery_view",
    "stable_refine_graph",
    "train_dgi",
]


class DGIEncoder(nn.Module):
    r"""
    Deep Graph Infomax with STABLE's edge-recovery views (paper §4.1; `get_contrastive_emb` of the official code).

    Encoder: one GCN layer h = PReLU(Â X W + b) with Â = D^{-1/2}(A + βI)D^{-1/2} (β: the self-loop weight).
    Discriminator: the bilinear score D(h, s) = hᵀ M s + c. Readout of a view v: s_v = σ(mean_i h_i^{(v)}).

    Args:
        in_features (`int`): width of the raw node features.
        embedding_dim (`int`, *optional*, defaults to 512): width of the representations.
    """

    def __init__(self, in_features: int, embedding_dim: int = 512):
        super().__init__()
        self.fc = nn.Linear(in_features, embedding_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(embedding_dim))
        self.act = nn.PReLU()
        self.discriminator = nn.Bilinear(embedding_dim, embedding_dim, 1)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.xavier_uniform_(self.discriminator.weight)
        nn.init.zeros_(self.discriminator.bias)

    def embed(self, x: torch.Tensor, propagation: torch.Tensor) -> torch.Tensor:
        """h = PReLU(Â (X W) + b); `propagation` may be dense or a sparse COO tensor."""
        projected = self.fc(x)
        mixed = torch.sparse.mm(propagation, projected) if propagation.is_sparse else propagation @ projected
        return self.act(mixed + self.bias)

    def forward(
        self, x: torch.Tensor, anchor: torch.Tensor, views: list[torch.Tensor], permutation: torch.Tensor
    ) -> torch.Tensor:
        """The discriminator logits `(2N,)`: positives (h_i on the anchor graph) then negatives (shuffled features).

        Each view contributes D(·, s_v) and the views' scores are summed before the sigmoid, as the official code does.
        """
        positive = self.embed(x, anchor)
        negative = self.embed(x[permutation], anchor)
        logits = 0
        for view in views:
            summary = torch.sigmoid(self.embed(x, view).mean(dim=0))
            logits = logits + torch.cat([self.score(positive, summary), self.score(negative, summary)])
        return logits

    def score(self, hidden: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        """D(h_i, s) = h_iᵀ M s + c for every row of `hidden` `(N, d)` against one summary `s` `(d,)`.

        The same value as `nn.Bilinear` on the summary repeated N times, with M s computed once.
        """
        return hidden @ (self.discriminator.weight[0] @ summary) + self.discriminator.bias


def dgi_loss(logits: torch.Tensor) -> torch.Tensor:
    r"""
    DGI's binary cross-entropy on the logits of [`DGIEncoder`] (N positives, then N negatives):

        L = −(1/2N) Σ_i [ log σ(ℓ_i) + log(1 − σ(ℓ̃_i)) ],   ℓ_i = Σ_v D(h_i, s_v),  ℓ̃_i = Σ_v D(h̃_i, s_v)

    with h̃ the representations of the row-shuffled features (the corrupted graph).
    """
    if logits.dim() != 1 or logits.shape[0] % 2:
        raise ValueError(f"`logits` must have shape (2N,) (positives then negatives), got {tuple(logits.shape)}.")
    n = logits.shape[0] // 2
    target = torch.cat([torch.ones(n), torch.zeros(n)]).to(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def recovery_view(
    adj_pre: torch.Tensor, adj_deleted: torch.Tensor, recover_percent: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A_pre plus a random `recover_percent` of the deleted undirected edges (int(count × percent) of them)."""
    if not 0.0 <= recover_percent <= 1.0:
        raise ValueError(f"`recover_percent` must be in [0, 1], got {recover_percent!r}.")
    deleted = torch.triu(adj_deleted != 0, diagonal=1).nonzero()
    count = int(deleted.shape[0] * recover_percent)
    chosen = deleted[torch.randperm(deleted.shape[0], generator=generator)[:count]]
    view = adj_pre.clone()
    view[chosen[:, 0], chosen[:, 1]] = 1.0
    view[chosen[:, 1], chosen[:, 0]] = 1.0
    return view


def train_dgi(
    x: torch.Tensor,
    adj_pre: torch.Tensor,
    adj_deleted: torch.Tensor | None = None,
    *,
    embedding_dim: int = 512,
    self_loop_weight: float = 2.0,
    recover_percent: float = 0.2,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    max_epochs: int = 10000,
    patience: int = 20,
    seed: int = 0,
) -> tuple[torch.Tensor, dict]:
    """Trains [`DGIEncoder`] on A_pre with two edge-recovery views; returns the representations and a log.

    Full-batch Adam; the weights of the lowest loss are kept and training stops after `patience` epochs without a new
    lowest loss (official defaults: lr 1e-3, patience 20, up to 10,000 epochs). The two views are drawn once, before
    training, as in the official code. Propagation runs on sparse matrices (the graphs are sparse).

    Returns:
        `(embeddings, info)`: the representations h = encoder(X, Â_pre) `(N, embedding_dim)` (detached) and
        `{"epochs", "best_epoch", "losses"}`.
    """
    for name, value in (("max_epochs", max_epochs), ("patience", patience), ("embedding_dim", embedding_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    x = x.float()
    adj_pre = check_adjacency(adj_pre, "adj_pre", x.shape[0])
    adj_deleted = torch.zeros_like(adj_pre) if adj_deleted is None else check_adjacency(adj_deleted, "adj_deleted")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = DGIEncoder(x.shape[1], embedding_dim).to(x.device)
    views = [recovery_view(adj_pre, adj_deleted, recover_percent, generator) for _ in range(2)]
    anchor = gcn_normalize(adj_pre, self_loop_weight).to_sparse()
    views = [gcn_normalize(view, self_loop_weight).to_sparse() for view in views]
    optimizer = torch.optim.Adam(encoder.parameters(), lr=learning_rate, weight_decay=weight_decay)
    best, best_epoch, best_state, waited, losses = float("inf"), 0, None, 0, []
    for epoch in range(max_epochs):
        encoder.train()
        permutation = torch.randperm(x.shape[0], generator=generator).to(x.device)
        loss = dgi_loss(encoder(x, anchor, views, permutation))
        losses.append(loss.item())
        if loss.item() < best:
            best, best_epoch, waited = loss.item(), epoch, 0
            best_state = copy.deepcopy(encoder.state_dict())
        else:
            waited += 1
            if waited == patience:
                break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    encoder.load_state_dict(best_state)
    encoder.eval()
    with torch.no_grad():
        embeddings = encoder.embed(x, anchor)
    return embeddings, {"epochs": len(losses), "best_epoch": best_epoch, "losses": losses}


def add_reliable_neighbors(
    adj: torch.Tensor, embeddings: torch.Tensor, k: int, degree_threshold: float = 1.0
) -> torch.Tensor:
    """Gives every node i incoming edges from its `k` most cosine-similar other nodes among those of degree
    > `degree_threshold` (`get_reliable_neighbors` of the official code). The added edges are directed (j → i).

    Returns a new adjacency; `k = 0` returns a copy.
    """
    adj = check_adjacency(adj)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"`k` must be a non-negative integer, got {k!r}.")
    if k == 0:
        return adj.clone()
    eligible = adj.sum(dim=1) > degree_threshold
    if int(eligible.sum()) < k + 1:
        raise ValueError(
            f"Only {int(eligible.sum())} nodes have degree > {degree_threshold}: too few to add k={k} neighbours."
        )
    similarity = cosine_similarity_matrix(embeddings)
    similarity[:, ~eligible] = float("-inf")
    similarity.fill_diagonal_(float("-inf"))  # the official code picks i itself among its top k, then clears it
    neighbours = similarity.topk(k, dim=1).indices
    refined = adj.clone()
    refined.scatter_(1, neighbours, 1.0)
    return refined


@dataclass
class RefinementInfo:
    """What [`stable_refine_graph`] did: edge counts at each step (undirected edges of the symmetric graphs, directed
    edges of the final one) and the DGI log."""

    edges_attacked: int
    edges_pre_pruned: int
    edges_after_cosine_pruning: int
    directed_edges_refined: int
    dgi: dict = field(default_factory=dict)


def stable_refine_graph(
    x: torch.Tensor,
    adj: torch.Tensor,
    jaccard_t: float = 0.03,
    cos_t: float = 0.1,
    k: int = 5,
    beta: float = 2.0,
    *,
    degree_threshold: float = 1.0,
    embedding_dim: int = 512,
    recover_percent: float = 0.2,
    learning_rate: float = 1e-3,
    max_epochs: int = 10000,
    patience: int = 20,
    seed: int = 0,
    return_info: bool = False,
):
    """STABLE's structure refinement of a (possibly attacked) undirected graph.

    Args:
        x (`torch.Tensor` of shape `(N, F)`): raw node features (their non-zero pattern feeds the Jaccard pre-pruning).
        adj (`torch.Tensor` of shape `(N, N)`): symmetric dense adjacency of the attacked graph.
        jaccard_t (`float`): pre-pruning threshold on the raw-feature Jaccard similarity (edges below are dropped).
        cos_t (`float`): edges of `adj` with representation cosine similarity ≤ `cos_t` are dropped.
        k (`int`): reliable neighbours added per node (0: none).
        beta (`float`): self-loop weight β of the DGI encoder's normalisation D^{-1/2}(A + βI)D^{-1/2}.
        degree_threshold (`float`): only nodes of degree > this (after pruning) are added as neighbours.
        embedding_dim, recover_percent, learning_rate, max_epochs, patience, seed: DGI settings (see [`train_dgi`]).
        return_info (`bool`): also return a [`RefinementInfo`].

    Returns:
        `(adj_refined, embeddings)` (and `info` with `return_info`): the refined adjacency (`adj_refined[i, j]` = 1
        for an edge j → i; not symmetric once neighbours are added) and the DGI representations `(N, embedding_dim)`.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"`x` must be a tensor of shape (num_nodes, num_features), got {getattr(x, 'shape', x)}.")
    adj = remove_self_loops(check_adjacency(adj, "adj", x.shape[0]))
    if not torch.equal(adj, adj.t()):
        raise ValueError("`adj` must be symmetric (an undirected graph); see `hf_methods.common.graph.symmetrize`.")
    for name, value in (("jaccard_t", jaccard_t), ("cos_t", cos_t), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"`{name}` must be a number, got {type(value).__name__}.")
    if not 0.0 <= jaccard_t <= 1.0:
        raise ValueError(f"`jaccard_t` must be in [0, 1], got {jaccard_t!r}.")
    if not -1.0 <= cos_t <= 1.0:
        raise ValueError(f"`cos_t` must be in [-1, 1], got {cos_t!r}.")
    if not beta >= 0:
        raise ValueError(f"`beta` (self-loop weight) must be >= 0, got {beta!r}.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"`k` (reliable neighbours per node) must be a non-negative integer, got {k!r}.")
    x = x.float()
    adj_pre = drop_dissimilar_edges(adj, jaccard_similarity_matrix(x), jaccard_t)
    embeddings, dgi_log = train_dgi(
        x,
        adj_pre,
        adj - adj_pre,
        embedding_dim=embedding_dim,
        self_loop_weight=float(beta),
        recover_percent=recover_percent,
        learning_rate=learning_rate,
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
    )
    # refinement acts on the attacked graph itself, not on the pre-pruned one
    cosine = cosine_similarity_matrix(embeddings)
    adj_clean = torch.where(cosine > cos_t, adj, torch.zeros_like(adj))
    adj_refined = add_reliable_neighbors(adj_clean, embeddings, k, degree_threshold)
    if not return_info:
        return adj_refined, embeddings
    info = RefinementInfo(
        edges_attacked=num_undirected_edges(adj),
        edges_pre_pruned=num_undirected_edges(adj_pre),
        edges_after_cosine_pruning=num_undirected_edges(adj_clean),
        directed_edges_refined=int((remove_self_loops(adj_refined) != 0).sum()),
        dgi={k_: v for k_, v in dgi_log.items() if k_ != "losses"} | {"final_loss": dgi_log["losses"][-1]},
    )
    return adj_refined, embeddings, info
