"""Tests of `hf_methods.common.graph`: every dense utility against a plain Python loop, the attacks' budgets and
classes, PyG inputs (when PyTorch Geometric is installed), and the errors."""

from __future__ import annotations

import math

import pytest
import torch

from hf_methods.common.graph import (
    adjacency_to_edge_index,
    cosine_similarity_matrix,
    dice_attack,
    drop_dissimilar_edges,
    edge_index_to_adjacency,
    gcn_normalize,
    graph_inputs,
    inter_class_edge_fraction,
    jaccard_similarity_matrix,
    knn_graph,
    num_undirected_edges,
    random_attack,
    remove_self_loops,
    symmetrize,
)


def random_graph(n=12, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu((torch.rand(n, n, generator=g) < p).float(), diagonal=1)
    return upper + upper.t()


def edges(n=6):
    return torch.tensor([[0, 1, 1, 2, 4, 4], [1, 0, 2, 3, 5, 5]])


# --------------------------------------------------------------------------------------------------- dense forms


def test_edge_index_to_adjacency_matches_loop_and_sums_repeats():
    edge_index = edges()
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.5, 0.25])
    adj = edge_index_to_adjacency(edge_index, 6, weight)
    expected = [[0.0] * 6 for _ in range(6)]
    for (source, target), w in zip(edge_index.t().tolist(), weight.tolist()):
        expected[target][source] += w  # row = target: node `target` aggregates from `source`
    assert adj.tolist() == expected
    assert adj[5, 4] == 0.75  # the repeated edge 4 → 5 adds up


def test_adjacency_round_trip():
    adj = edge_index_to_adjacency(torch.tensor([[0, 2, 3, 1], [1, 1, 0, 3]]), 4, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    edge_index, weight = adjacency_to_edge_index(adj)
    assert edge_index.tolist() == [[0, 1, 2, 3], [1, 3, 1, 0]]  # sorted by source
    assert weight.tolist() == [1.0, 4.0, 2.0, 3.0]
    assert torch.equal(edge_index_to_adjacency(edge_index, 4, weight), adj)


def test_matches_pyg_to_dense_adj_transposed():
    utils = pytest.importorskip("torch_geometric.utils")
    edge_index = edges()
    assert torch.equal(edge_index_to_adjacency(edge_index, 6), utils.to_dense_adj(edge_index, max_num_nodes=6)[0].t())


def test_symmetrize_and_self_loops():
    adj = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 4.0], [0.0, 0.0, 3.0]])
    for reduce, fn in (("max", max), ("mean", lambda a, b: (a + b) / 2), ("sum", lambda a, b: a + b)):
        out = symmetrize(adj, reduce)
        assert out.tolist() == [[fn(adj[i, j].item(), adj[j, i].item()) for j in range(3)] for i in range(3)]
    assert remove_self_loops(adj).diagonal().tolist() == [0.0, 0.0, 0.0]
    assert num_undirected_edges(symmetrize(adj)) == 2


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_graph_matches_loop(metric):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(15, 4, generator=g)
    k = 3
    directed = knn_graph(x, k, metric=metric, symmetric=False)
    for i in range(15):
        scores = []
        for j in range(15):
            if j == i:
                continue
            a, b = x[i].tolist(), x[j].tolist()
            if metric == "euclidean":
                scores.append((-math.dist(a, b), j))
            else:
                dot = sum(u * v for u, v in zip(a, b))
                scores.append((dot / (math.hypot(*a) * math.hypot(*b)), j))
        nearest = {j for _, j in sorted(scores, reverse=True)[:k]}
        assert set(directed[i].nonzero().flatten().tolist()) == nearest
    assert torch.equal(knn_graph(x, k, metric=metric), torch.maximum(directed, directed.t()))


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_gcn_normalize_matches_loop(beta):
    adj = random_graph(8, seed=3)
    adj[0] = 0
    adj[:, 0] = 0  # an isolated node
    out = gcn_normalize(adj, beta)
    looped = adj + beta * torch.eye(8)
    degree = [sum(looped[i].tolist()) for i in range(8)]
    for i in range(8):
        for j in range(8):
            expected = (
                0.0 if degree[i] == 0 or degree[j] == 0 else looped[i, j].item() / math.sqrt(degree[i] * degree[j])
            )
            assert out[i, j].item() == pytest.approx(expected, abs=1e-7)


def test_gcn_normalize_is_pyg_gcn_norm():
    gcn = pytest.importorskip("torch_geometric.nn.conv.gcn_conv")
    adj = random_graph(9, seed=4)
    edge_index, _ = adjacency_to_edge_index(adj)
    index, weight = gcn.gcn_norm(edge_index, num_nodes=9, add_self_loops=True)
    # PyG's (source, target) weights: adj[target, source]
    torch.testing.assert_close(edge_index_to_adjacency(index, 9, weight), gcn_normalize(adj), atol=1e-6, rtol=0)


def test_similarities_match_loops():
    x = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.5, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    cos, jac = cosine_similarity_matrix(x), jaccard_similarity_matrix(x)
    for i in range(4):
        for j in range(4):
            a, b = x[i].tolist(), x[j].tolist()
            dot = sum(u * v for u, v in zip(a, b))
            assert cos[i, j].item() == pytest.approx(dot / (math.hypot(*a) * math.hypot(*b) + 1e-8), abs=1e-6)
            s, t = {f for f, v in enumerate(a) if v}, {f for f, v in enumerate(b) if v}
            assert jac[i, j].item() == pytest.approx(len(s & t) / len(s | t) if s | t else 0.0)


def test_drop_dissimilar_edges():
    adj = random_graph(6, p=0.6, seed=5)
    similarity = torch.arange(36.0).reshape(6, 6) / 36
    out = drop_dissimilar_edges(adj, similarity, 0.5)
    for i in range(6):
        for j in range(6):
            assert out[i, j] == (adj[i, j] if similarity[i, j] >= 0.5 else 0.0)


# --------------------------------------------------------------------------------------------------- attacks


def test_dice_attack_budget_and_classes():
    adj = random_graph(40, p=0.2, seed=6)
    labels = torch.arange(40) % 3
    attacked = dice_attack(adj, labels, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(attacked, attacked.t()) and attacked.diagonal().abs().sum() == 0
    changed = torch.triu(attacked != adj, diagonal=1).nonzero().tolist()
    assert len(changed) == 30
    for i, j in changed:
        if adj[i, j] == 1:  # removed: only inside a class
            assert labels[i] == labels[j]
        else:  # inserted: only across classes
            assert labels[i] != labels[j]
    again = dice_attack(adj, labels, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, attacked)  # seeded
    assert inter_class_edge_fraction(attacked, labels) > inter_class_edge_fraction(adj, labels)


@pytest.mark.parametrize("attack_type", ["add", "remove", "flip"])
def test_random_attack(attack_type):
    adj = random_graph(30, p=0.2, seed=7)
    attacked = random_attack(adj, 25, attack_type, generator=torch.Generator().manual_seed(1))
    assert torch.equal(attacked, attacked.t()) and attacked.diagonal().abs().sum() == 0
    changed = torch.triu(attacked != adj, diagonal=1)
    assert int(changed.sum()) == 25
    if attack_type == "add":
        assert bool((adj[changed] == 0).all())
    if attack_type == "remove":
        assert bool((adj[changed] == 1).all())


def test_inter_class_edge_fraction_matches_loop():
    adj = random_graph(10, seed=8)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    pairs = [(i, j) for i in range(10) for j in range(10) if i != j and adj[i, j]]
    expected = sum(labels[i] != labels[j] for i, j in pairs) / len(pairs)
    assert inter_class_edge_fraction(adj, labels) == pytest.approx(float(expected))


# --------------------------------------------------------------------------------------------------- inputs


def test_graph_inputs_from_tensors():
    x = torch.randn(6, 3)
    out_x, out_edges, n = graph_inputs(x, edges())
    assert out_x is x and torch.equal(out_edges, edges()) and n == 6
    assert graph_inputs(x=x.int().abs(), edge_index=edges())[0].dtype == torch.float32


def test_graph_inputs_from_pyg_data_and_batch():
    data_module = pytest.importorskip("torch_geometric.data")
    first = data_module.Data(x=torch.randn(6, 3), edge_index=edges())
    second = data_module.Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1], [1, 3]]))
    x, edge_index, n = graph_inputs(first)
    assert torch.equal(x, first.x) and torch.equal(edge_index, first.edge_index) and n == 6
    batch = data_module.Batch.from_data_list([first, second])
    x, edge_index, n = graph_inputs(batch)
    assert n == 10 and x.shape == (10, 3) and edge_index[:, -2:].tolist() == [[6, 7], [7, 9]]  # offset by 6


class _NoEdges:
    x = torch.zeros(2, 2)
    edge_index = None


def test_error_graph_inputs_wrong_object():
    with pytest.raises(TypeError, match="Data"):
        graph_inputs([1, 2, 3])


def test_error_graph_inputs_missing_edges():
    with pytest.raises(ValueError, match="edge_index"):
        graph_inputs(_NoEdges())
    with pytest.raises(ValueError, match="edge_index"):
        graph_inputs(torch.zeros(3, 2))


def test_error_graph_inputs_x_not_2d():
    with pytest.raises(ValueError, match="`x` must have shape"):
        graph_inputs(torch.zeros(3), edges())


def test_error_edge_index_shape_dtype_and_range():
    with pytest.raises(ValueError, match="edge_index"):
        edge_index_to_adjacency(torch.zeros(3, 2, dtype=torch.long), 4)
    with pytest.raises(TypeError, match="edge_index"):
        edge_index_to_adjacency(torch.zeros(2, 2), 4)
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        edge_index_to_adjacency(torch.tensor([[0], [4]]), 4)


def test_error_edge_weight_shape():
    with pytest.raises(ValueError, match="edge_weight"):
        edge_index_to_adjacency(edges(), 6, torch.ones(2))


def test_error_adjacency_not_square():
    with pytest.raises(ValueError, match="square"):
        gcn_normalize(torch.zeros(2, 3))


def test_error_knn_k_and_metric():
    with pytest.raises(ValueError, match="`k`"):
        knn_graph(torch.zeros(4, 2), 4)
    with pytest.raises(ValueError, match="metric"):
        knn_graph(torch.zeros(4, 2), 1, metric="manhattan")


def test_error_symmetrize_reduce():
    with pytest.raises(ValueError, match="reduce"):
        symmetrize(torch.zeros(2, 2), "min")


def test_error_negative_self_loop_weight():
    with pytest.raises(ValueError, match="self_loop_weight"):
        gcn_normalize(torch.zeros(2, 2), -1.0)


def test_error_attacks():
    adj = random_graph(10, seed=9)
    labels = torch.arange(10) % 2
    with pytest.raises(ValueError, match="n_perturbations"):
        dice_attack(adj, labels, -1)
    with pytest.raises(ValueError, match="n_perturbations"):
        random_attack(adj, 10_000, "add")
    with pytest.raises(ValueError, match="attack_type"):
        random_attack(adj, 1, "swap")
    with pytest.raises(ValueError, match="symmetric"):
        random_attack(torch.triu(torch.ones(3, 3), diagonal=1), 1)
    with pytest.raises(ValueError, match="labels"):
        dice_attack(adj, labels[:5], 1)


def test_error_similarity_shape():
    with pytest.raises(ValueError, match="similarity"):
        drop_dissimilar_edges(torch.zeros(3, 3), torch.zeros(2, 2), 0.1)
