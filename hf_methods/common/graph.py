"""Dense graph utilities in plain torch, for graph methods on small graphs (a few thousand nodes).

Conventions:

- `edge_index` is a `LongTensor` of shape `(2, E)` in PyTorch Geometric's order: row 0 holds the source node, row 1
  the target node of each edge, and messages flow from source to target.
- A dense `adjacency` is an `(N, N)` float tensor whose row i holds node i's *incoming* edges: `adj[i, j]` is the weight
  of the edge j → i. With this orientation `adj @ h` is message passing (node i sums its neighbours' `h`), as in the
  GCN papers, and an undirected graph has a symmetric matrix. It is the transpose of
  `torch_geometric.utils.to_dense_adj`, which puts the source in the row.

Contents:

- [`graph_inputs`]: `(x, edge_index, num_nodes)` from a `torch_geometric.data.Data` / `Batch` (duck-typed, PyG is not
  imported) or from plain tensors, with clear errors;
- [`check_edge_index`], [`edge_index_to_adjacency`], [`adjacency_to_edge_index`], [`symmetrize`],
  [`remove_self_loops`], [`num_undirected_edges`];
- [`knn_graph`]: the k-nearest-neighbour graph of node features (Euclidean or cosine);
- [`gcn_normalize`]: D^{-1/2} (A + βI) D^{-1/2} of Kipf & Welling (β = 1) and its weighted-self-loop variant;
- [`cosine_similarity_matrix`], [`jaccard_similarity_matrix`], [`drop_dissimilar_edges`]: edge similarity (the
  Jaccard defence of Wu et al., 2019, and representation-based pruning);
- [`random_attack`], [`dice_attack`]: structure attacks that need no model (random flips; DICE, "delete internally,
  connect externally", Waniek et al., 2018), seeded with a `torch.Generator`;
- [`inter_class_edge_fraction`]: the share of edges joining two classes (1 − edge homophily).
"""

from __future__ import annotations

import torch

__all__ = [
    "adjacency_to_edge_index",
    "check_adjacency",
    "check_edge_index",
    "cosine_similarity_matrix",
    "dice_attack",
    "drop_dissimilar_edges",
    "edge_index_to_adjacency",
    "gcn_normalize",
    "graph_inputs",
    "inter_class_edge_fraction",
    "jaccard_similarity_matrix",
    "knn_graph",
    "num_undirected_edges",
    "random_attack",
    "remove_self_loops",
    "symmetrize",
]


# ------------------------------------------------------------------------------------------------------- inputs


def check_edge_index(edge_index, num_nodes: int, name: str = "edge_index") -> torch.Tensor:
    """Checks an `edge_index` (integer tensor of shape `(2, E)` with entries in `[0, num_nodes)`); returns it as long.

    Raises:
        TypeError: `edge_index` is not an integer tensor.
        ValueError: wrong shape or a node index out of range.
    """
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor of shape (2, num_edges), got {type(edge_index).__name__}.")
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise TypeError(f"`{name}` must hold integer node indices, got dtype {edge_index.dtype}.")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"`{name}` must have shape (2, num_edges), got {tuple(edge_index.shape)}.")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(
            f"`{name}` holds node indices in [{int(edge_index.min())}, {int(edge_index.max())}], outside "
            f"[0, {num_nodes}) for a graph of {num_nodes} nodes."
        )
    return edge_index.long()


def check_adjacency(adj, name: str = "adj", num_nodes: int | None = None) -> torch.Tensor:
    """Checks a dense adjacency (a square floating-point matrix, `num_nodes` × `num_nodes` when given)."""
    if not isinstance(adj, torch.Tensor):
        raise TypeError(f"`{name}` must be a dense torch.Tensor of shape (N, N), got {type(adj).__name__}.")
    if adj.is_sparse:
        raise TypeError(f"`{name}` must be a dense tensor (call `.to_dense()`), got a sparse one.")
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"`{name}` must be a square matrix (N, N), got shape {tuple(adj.shape)}.")
    if num_nodes is not None and adj.shape[0] != num_nodes:
        raise ValueError(f"`{name}` has {adj.shape[0]} nodes, expected {num_nodes} (the rows of the features).")
    if not adj.is_floating_point():
        adj = adj.float()
    return adj


def graph_inputs(
    data=None, edge_index: torch.Tensor | None = None, num_nodes: int | None = None, *, x: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The node features, edges and node count of a graph given in either form graph users hold.

    Accepts a `torch_geometric.data.Data` or `Batch` (anything with `x` and `edge_index` attributes; PyG itself is
    not imported), or plain tensors: `graph_inputs(x, edge_index)` / `graph_inputs(x=x, edge_index=edge_index)`.
    A `Batch` is one graph with `num_nodes` nodes whose components are the batched graphs (the edge index is already
    offset), so dense message passing never mixes them.

    Args:
        data: a PyG `Data` / `Batch`, or the node-feature tensor `(N, F)`.
        edge_index (`torch.LongTensor` of shape `(2, E)`, *optional*): edges (source, target) with plain tensors.
        num_nodes (`int`, *optional*): defaults to the rows of `x` (must agree with them).
        x (`torch.Tensor` of shape `(N, F)`, *optional*): node features by keyword.

    Returns:
        `(x, edge_index, num_nodes)`, the features as float and the edges checked and as long.

    Raises:
        TypeError: `data` is neither a tensor nor a graph object, or a tensor has the wrong kind.
        ValueError: missing or inconsistent pieces (no edges, features not 2-D, indices out of range).
    """
    if data is not None and not isinstance(data, torch.Tensor):
        if not (hasattr(data, "x") and hasattr(data, "edge_index")):
            raise TypeError(
                "Expected a torch_geometric `Data`/`Batch` (with `x` and `edge_index`) or a node-feature tensor, got "
                f"{type(data).__name__}."
            )
        if x is not None or edge_index is not None:
            raise ValueError("Give a graph object or `x` + `edge_index` tensors, not both.")
        x, edge_index = data.x, data.edge_index
        if num_nodes is None:
            num_nodes = getattr(data, "num_nodes", None)
        if x is None:
            raise ValueError("The graph object has no node features `x`: set `data.x` (an (N, F) tensor).")
        if edge_index is None:
            raise ValueError("The graph object has no `edge_index`: set `data.edge_index` (a (2, E) tensor).")
    elif data is not None:
        if x is not None:
            raise ValueError("Give the node features once: positionally or as `x=`, not both.")
        x = data
    if x is None:
        raise ValueError("`x` (node features of shape (N, F)) is required.")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`x` must be a torch.Tensor of shape (num_nodes, num_features), got {type(x).__name__}.")
    if x.dim() != 2:
        raise ValueError(f"`x` must have shape (num_nodes, num_features), got {tuple(x.shape)}.")
    if edge_index is None:
        raise ValueError("`edge_index` (a (2, E) tensor of source/target nodes) is required with tensor inputs.")
    if num_nodes is None:
        num_nodes = x.shape[0]
    if int(num_nodes) != x.shape[0]:
        raise ValueError(f"`num_nodes` is {num_nodes} but `x` has {x.shape[0]} rows.")
    edge_index = check_edge_index(edge_index, int(num_nodes))
    if not x.is_floating_point():
        x = x.float()
    return x, edge_index, int(num_nodes)


# ------------------------------------------------------------------------------------------------------- dense form


def edge_index_to_adjacency(
    edge_index: torch.Tensor,
    num_nodes: int,
    edge_weight: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The dense adjacency of `edge_index`: `adj[target, source]` = the edge's weight (1 by default).

    Repeated edges add up (as in `torch_geometric.utils.to_dense_adj`, whose transpose this is).

    Args:
        edge_index (`torch.LongTensor` of shape `(2, E)`): (source, target) pairs.
        num_nodes (`int`): N.
        edge_weight (`torch.Tensor` of shape `(E,)`, *optional*): weights; 1 when omitted.
    """
    edge_index = check_edge_index(edge_index, num_nodes)
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1], dtype=dtype, device=edge_index.device)
    elif edge_weight.shape != (edge_index.shape[1],):
        raise ValueError(
            f"`edge_weight` must have shape ({edge_index.shape[1]},) (one weight per edge), got "
            f"{tuple(edge_weight.shape)}."
        )
    adj = torch.zeros(num_nodes, num_nodes, dtype=dtype, device=edge_index.device)
    adj.index_put_((edge_index[1], edge_index[0]), edge_weight.to(dtype), accumulate=True)
    return adj


def adjacency_to_edge_index(adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The edges of a dense adjacency: `(edge_index, edge_weight)` with one edge j → i per non-zero `adj[i, j]`.

    Edges come sorted by source, then target.
    """
    adj = check_adjacency(adj)
    source_target = adj.t().nonzero()  # rows of adjᵀ are sources: sorted by source, then target
    edge_index = source_target.t().contiguous()
    return edge_index, adj[edge_index[1], edge_index[0]]


def symmetrize(adj: torch.Tensor, reduce: str = "max") -> torch.Tensor:
    """Makes a graph undirected: `max(A, Aᵀ)` (an edge in either direction, the default), `"mean"` or `"sum"`."""
    adj = check_adjacency(adj)
    if reduce == "max":
        return torch.maximum(adj, adj.t())
    if reduce == "mean":
        return (adj + adj.t()) / 2
    if reduce == "sum":
        return adj + adj.t()
    raise ValueError(f"`reduce` must be 'max', 'mean' or 'sum', got {reduce!r}.")


def remove_self_loops(adj: torch.Tensor) -> torch.Tensor:
    """A copy of `adj` with a zero diagonal."""
    adj = check_adjacency(adj).clone()
    adj.fill_diagonal_(0)
    return adj


def num_undirected_edges(adj: torch.Tensor) -> int:
    """The number of undirected edges {i, j}, i ≠ j, of a symmetric adjacency (non-zeros above the diagonal)."""
    adj = check_adjacency(adj)
    return int(torch.triu(adj != 0, diagonal=1).sum())


def knn_graph(x: torch.Tensor, k: int, metric: str = "euclidean", symmetric: bool = True) -> torch.Tensor:
    """The k-nearest-neighbour graph of node features, as a dense 0/1 adjacency without self loops.

    Node i receives an edge from each of its k nearest other nodes (ties broken by `torch.topk`); with `symmetric`
    (default) the graph is made undirected by keeping an edge found in either direction.

    Args:
        x (`torch.Tensor` of shape `(N, F)`): node features.
        k (`int`): neighbours per node, 1 ≤ k < N.
        metric (`str`): `"euclidean"` (smallest distance) or `"cosine"` (largest cosine similarity).
        symmetric (`bool`): return max(A, Aᵀ).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"`x` must be a tensor of shape (num_nodes, num_features), got {getattr(x, 'shape', x)}.")
    n = x.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"`k` must be an integer in [1, {n - 1}] for {n} nodes, got {k!r}.")
    x = x.float()
    if metric == "euclidean":
        score = -torch.cdist(x, x)
    elif metric == "cosine":
        score = cosine_similarity_matrix(x)
    else:
        raise ValueError(f"`metric` must be 'euclidean' or 'cosine', got {metric!r}.")
    score.fill_diagonal_(float("-inf"))
    neighbours = score.topk(k, dim=1).indices
    adj = torch.zeros(n, n, device=x.device)
    adj.scatter_(1, neighbours, 1.0)
    return symmetrize(adj) if symmetric else adj


# ------------------------------------------------------------------------------------------------------- normalisation


def gcn_normalize(adj: torch.Tensor, self_loop_weight: float = 1.0) -> torch.Tensor:
    r"""The GCN propagation matrix of Kipf & Welling (ICLR 2017), with a weighted self loop:

        Â = D^{-1/2} (A + βI) D^{-1/2},   D_ii = Σ_j (A + βI)_ij,   β = `self_loop_weight`

    Nodes of degree 0 get a zero row and column (not inf). β = 1 is the usual GCN; β = 0 normalises A alone.
    """
    adj = check_adjacency(adj)
    if not self_loop_weight >= 0:
        raise ValueError(f"`self_loop_weight` must be >= 0, got {self_loop_weight!r}.")
    if self_loop_weight:
        adj = adj + self_loop_weight * torch.eye(adj.shape[0], dtype=adj.dtype, device=adj.device)
    degree = adj.sum(dim=1)
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt = torch.where(torch.isfinite(inv_sqrt), inv_sqrt, torch.zeros_like(inv_sqrt))
    return inv_sqrt[:, None] * adj * inv_sqrt[None, :]


# ------------------------------------------------------------------------------------------------------- similarity


def cosine_similarity_matrix(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """All-pairs cosine similarity ⟨x_i, x_j⟩ / (‖x_i‖ ‖x_j‖ + eps), shape `(N, N)`; zero rows give 0."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"`x` must be a tensor of shape (num_nodes, num_features), got {getattr(x, 'shape', x)}.")
    x = x.float()
    norms = x.norm(dim=1)
    return (x @ x.t()) / (norms[:, None] * norms[None, :] + eps)


def jaccard_similarity_matrix(x: torch.Tensor) -> torch.Tensor:
    """All-pairs Jaccard similarity of the non-zero patterns of the features: |S_i ∩ S_j| / |S_i ∪ S_j|.

    S_i = {f : x_if ≠ 0} (binary bag-of-words features, as in the Jaccard defence of Wu et al., IJCAI 2019). Two
    all-zero rows have similarity 0.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"`x` must be a tensor of shape (num_nodes, num_features), got {getattr(x, 'shape', x)}.")
    binary = (x != 0).float()
    intersection = binary @ binary.t()
    counts = binary.sum(dim=1)
    union = counts[:, None] + counts[None, :] - intersection
    return torch.where(union > 0, intersection / union.clamp_min(1), torch.zeros_like(intersection))


def drop_dissimilar_edges(adj: torch.Tensor, similarity: torch.Tensor, threshold: float) -> torch.Tensor:
    """Removes the edges whose endpoints have `similarity < threshold`; other entries are kept as they are.

    Args:
        adj (`torch.Tensor` of shape `(N, N)`): dense adjacency.
        similarity (`torch.Tensor` of shape `(N, N)`): e.g. [`jaccard_similarity_matrix`] or
            [`cosine_similarity_matrix`] of node features or representations.
        threshold (`float`): edges strictly below it are dropped.
    """
    adj = check_adjacency(adj)
    if not isinstance(similarity, torch.Tensor) or similarity.shape != adj.shape:
        raise ValueError(
            f"`similarity` must be a tensor of the adjacency's shape {tuple(adj.shape)}, got "
            f"{tuple(getattr(similarity, 'shape', ()))}."
        )
    return torch.where(similarity >= threshold, adj, torch.zeros_like(adj))


# ------------------------------------------------------------------------------------------------------- attacks


def _check_undirected(adj: torch.Tensor) -> torch.Tensor:
    adj = check_adjacency(adj)
    if not torch.equal(adj, adj.t()):
        raise ValueError("`adj` must be symmetric (an undirected graph); see `symmetrize`.")
    if not bool(((adj == 0) | (adj == 1)).all()):
        raise ValueError("`adj` must be a 0/1 adjacency (an unweighted graph).")
    return adj


def _check_budget(n_perturbations, available: int, what: str) -> int:
    if isinstance(n_perturbations, bool) or not isinstance(n_perturbations, int) or n_perturbations < 0:
        raise ValueError(f"`n_perturbations` must be a non-negative integer, got {n_perturbations!r}.")
    if n_perturbations > available:
        raise ValueError(f"`n_perturbations` ({n_perturbations}) exceeds the {available} {what} available.")
    return n_perturbations


def _flip(adj: torch.Tensor, pairs: torch.Tensor, value: float) -> torch.Tensor:
    adj[pairs[:, 0], pairs[:, 1]] = value
    adj[pairs[:, 1], pairs[:, 0]] = value
    return adj


def _sample_pairs(mask: torch.Tensor, count: int, generator: torch.Generator | None) -> torch.Tensor:
    """`count` distinct pairs (i < j) drawn uniformly without replacement among the True entries of `mask`."""
    candidates = torch.triu(mask, diagonal=1).nonzero()
    order = torch.randperm(candidates.shape[0], generator=generator, device="cpu")[:count]
    return candidates[order.to(candidates.device)]


def random_attack(
    adj: torch.Tensor,
    n_perturbations: int,
    attack_type: str = "add",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random structure attack: adds, removes or flips `n_perturbations` undirected edges chosen uniformly.

    `"add"` connects random unconnected pairs, `"remove"` deletes random edges, `"flip"` toggles random pairs (an
    edge is removed, a non-edge added). Never touches the diagonal. Returns a new symmetric 0/1 adjacency.
    """
    adj = _check_undirected(adj)
    n = adj.shape[0]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=adj.device)
    if attack_type == "add":
        mask, what = (adj == 0) & off_diagonal, "unconnected pairs"
    elif attack_type == "remove":
        mask, what = adj != 0, "edges"
    elif attack_type == "flip":
        mask, what = off_diagonal, "node pairs"
    else:
        raise ValueError(f"`attack_type` must be 'add', 'remove' or 'flip', got {attack_type!r}.")
    count = _check_budget(n_perturbations, int(torch.triu(mask, diagonal=1).sum()), what)
    pairs = _sample_pairs(mask, count, generator)
    attacked = adj.clone()
    new_values = 1.0 - attacked[pairs[:, 0], pairs[:, 1]]
    attacked[pairs[:, 0], pairs[:, 1]] = new_values
    attacked[pairs[:, 1], pairs[:, 0]] = new_values
    return attacked


def dice_attack(
    adj: torch.Tensor,
    labels: torch.Tensor,
    n_perturbations: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DICE ("delete internally, connect externally"; Waniek et al., Nature Human Behaviour 2018), as in DeepRobust.

    Each of the `n_perturbations` perturbations is, with probability 1/2, the removal of an edge between two nodes of
    the same class or the insertion of an edge between two nodes of different classes; the edges are drawn uniformly
    without replacement. Returns a new symmetric 0/1 adjacency.

    Args:
        adj (`torch.Tensor` of shape `(N, N)`): symmetric 0/1 adjacency.
        labels (`torch.LongTensor` of shape `(N,)`): node classes (the attacker knows them).
        n_perturbations (`int`): number of flipped undirected edges (e.g. 20% of the edges).
        generator (`torch.Generator`, *optional*): CPU generator for reproducible draws.
    """
    adj = _check_undirected(adj)
    n = adj.shape[0]
    if not isinstance(labels, torch.Tensor) or labels.shape != (n,) or labels.is_floating_point():
        raise ValueError(
            f"`labels` must be an integer tensor of shape ({n},), got {getattr(labels, 'shape', labels)}."
        )
    labels = labels.to(adj.device)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=adj.device)
    removable = (adj != 0) & same
    insertable = (adj == 0) & ~same & off_diagonal
    if isinstance(n_perturbations, bool) or not isinstance(n_perturbations, int) or n_perturbations < 0:
        raise ValueError(f"`n_perturbations` must be a non-negative integer, got {n_perturbations!r}.")
    n_remove = int(torch.bernoulli(torch.full((n_perturbations,), 0.5), generator=generator).sum())
    n_insert = n_perturbations - n_remove
    _check_budget(n_remove, int(torch.triu(removable, diagonal=1).sum()), "intra-class edges")
    _check_budget(n_insert, int(torch.triu(insertable, diagonal=1).sum()), "inter-class unconnected pairs")
    attacked = adj.clone()
    _flip(attacked, _sample_pairs(removable, n_remove, generator), 0.0)
    _flip(attacked, _sample_pairs(insertable, n_insert, generator), 1.0)
    return attacked


def inter_class_edge_fraction(adj: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of (weighted, directed) edge mass between nodes of different classes, self loops excluded."""
    adj = check_adjacency(adj)
    n = adj.shape[0]
    if not isinstance(labels, torch.Tensor) or labels.shape != (n,):
        raise ValueError(f"`labels` must be a tensor of shape ({n},), got {getattr(labels, 'shape', labels)}.")
    labels = labels.to(adj.device)
    off = remove_self_loops(adj)
    total = off.sum()
    if total == 0:
        raise ValueError("`adj` has no edges besides self loops: the inter-class fraction is undefined.")
    different = (labels[:, None] != labels[None, :]).float()
    return float((off * different).sum() / total)
