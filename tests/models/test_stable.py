"""Tests of P45 `stable`: the advanced normalisation and the classifier against the paper's equations written out, the
DGI objective and the refinement steps against loops, PyG `Data`/`Batch` inputs, the recipe, and the errors.

The generic model matrix (save/load, Auto classes, remote code, a training step) lives in `tests/test_model_matrix.py`.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from hf_methods.common.graph import cosine_similarity_matrix, edge_index_to_adjacency
from hf_methods.models.stable import (
    DGIEncoder,
    STABLEConfig,
    STABLEForNodeClassification,
    add_reliable_neighbors,
    advanced_normalize,
    dgi_loss,
    recovery_view,
    stable_refine_graph,
    train_dgi,
)
from hf_methods.models.stable.training import StableArguments, attack_graph, train_node_classifier


def small_graph(n=8, p=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu((torch.rand(n, n, generator=g) < p).float(), diagonal=1)
    return upper + upper.t()


def tiny_model(**kwargs):
    torch.manual_seed(0)
    return STABLEForNodeClassification(STABLEConfig(**{"in_dim": 3, "hidden_size": 4, "num_labels": 3, **kwargs}))


EDGES = torch.tensor([[0, 1, 1, 2, 3, 4, 2], [1, 0, 2, 1, 4, 3, 4]])


# --------------------------------------------------------------------------------------------------- the math


@pytest.mark.parametrize("alpha", [-0.5, -0.3, 0.0, 0.6, 2.0])
def test_advanced_normalize_matches_the_equation(alpha):
    adj = small_graph(seed=1)
    adj[0, 5] = 1.0  # a directed edge 5 → 0: degrees are row sums
    out = advanced_normalize(adj, alpha)
    n = adj.shape[0]
    looped = [[adj[i, j].item() + (i == j) for j in range(n)] for i in range(n)]
    degree = [sum(row) for row in looped]
    expected = [[degree[i] ** alpha * looped[i][j] * degree[j] ** alpha for j in range(n)] for i in range(n)]
    if alpha != -0.5:  # rows normalised, except for the plain GCN normalisation
        expected = [[v / sum(row) for v in row] for row in expected]
    torch.testing.assert_close(out, torch.tensor(expected), atol=1e-6, rtol=0)


def test_advanced_normalize_at_minus_half_is_gcn_and_rows_sum_to_one_otherwise():
    from hf_methods.common.graph import gcn_normalize

    adj = small_graph(seed=2)
    torch.testing.assert_close(advanced_normalize(adj, -0.5), gcn_normalize(adj), atol=1e-6, rtol=0)
    torch.testing.assert_close(advanced_normalize(adj, 0.3).sum(1), torch.ones(8), atol=1e-6, rtol=0)


def test_classifier_matches_the_equation_written_out():
    model = tiny_model(alpha=0.3).eval()
    x = torch.randn(5, 3)
    adj = edge_index_to_adjacency(EDGES, 5)
    logits = model(x, EDGES).logits
    a = advanced_normalize(adj, 0.3).tolist()
    w1, b1 = model.conv1.weight.tolist(), model.conv1.bias.tolist()
    w2, b2 = model.conv2.weight.tolist(), model.conv2.bias.tolist()
    xw = [[sum(x[i, f].item() * w1[f][h] for f in range(3)) for h in range(4)] for i in range(5)]
    hidden = [[max(0.0, sum(a[i][j] * xw[j][h] for j in range(5)) + b1[h]) for h in range(4)] for i in range(5)]
    hw = [[sum(hidden[i][h] * w2[h][c] for h in range(4)) for c in range(3)] for i in range(5)]
    expected = [[sum(a[i][j] * hw[j][c] for j in range(5)) + b2[c] for c in range(3)] for i in range(5)]
    torch.testing.assert_close(logits, torch.tensor(expected), atol=1e-5, rtol=0)


def test_loss_is_cross_entropy_over_labelled_nodes():
    model = tiny_model().eval()
    x = torch.randn(5, 3)
    labels = torch.tensor([0, -100, 2, -100, 1])
    out = model(x, EDGES, labels=labels)
    log_probs = out.logits.log_softmax(-1)
    expected = -sum(log_probs[i, labels[i]].item() for i in (0, 2, 4)) / 3
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)


def test_edge_index_edge_weight_and_dense_adjacency_agree():
    model = tiny_model(alpha=0.6).eval()
    x = torch.randn(5, 3)
    weight = torch.rand(EDGES.shape[1])
    dense = edge_index_to_adjacency(EDGES, 5, weight)
    torch.testing.assert_close(
        model(x, EDGES, edge_weight=weight).logits, model(x, adjacency=dense).logits, atol=1e-6, rtol=0
    )


def test_pyg_data_and_batch_inputs():
    data_module = pytest.importorskip("torch_geometric.data")
    model = tiny_model(alpha=0.3).eval()
    first = data_module.Data(x=torch.randn(5, 3), edge_index=EDGES)
    second = data_module.Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2], [1, 0, 3]]))
    torch.testing.assert_close(model(first).logits, model(first.x, first.edge_index).logits, atol=0, rtol=0)
    batch = data_module.Batch.from_data_list([first, second])
    together = model(batch).logits
    alone = torch.cat([model(first).logits, model(second).logits])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=0)  # the graphs of a batch do not mix


def test_dgi_score_is_the_bilinear_discriminator_and_loss_matches_formula():
    torch.manual_seed(0)
    encoder = DGIEncoder(4, 6)
    h, s = torch.randn(5, 6), torch.rand(6)
    torch.testing.assert_close(
        encoder.score(h, s), encoder.discriminator(h, s.expand(5, 6)).squeeze(-1), atol=1e-6, rtol=0
    )
    x, adj = torch.randn(5, 4), small_graph(5, 0.6, seed=3)
    from hf_methods.common.graph import gcn_normalize

    anchor = gcn_normalize(adj, 2.0)
    views = [gcn_normalize(adj, 2.0), gcn_normalize(torch.ones(5, 5) - torch.eye(5), 2.0)]
    perm = torch.tensor([3, 0, 4, 1, 2])
    logits = encoder(x, anchor, views, perm)
    positive, negative = encoder.embed(x, anchor), encoder.embed(x[perm], anchor)
    m, c = encoder.discriminator.weight[0], encoder.discriminator.bias.item()
    expected = []
    for rows in (positive, negative):
        for i in range(5):
            total = 0.0
            for view in views:
                summary = torch.sigmoid(encoder.embed(x, view).mean(0))
                total += (rows[i] @ m @ summary).item() + c
            expected.append(total)
    torch.testing.assert_close(logits, torch.tensor(expected), atol=1e-5, rtol=0)
    loss = dgi_loss(logits)
    sig = [1 / (1 + math.exp(-v)) for v in expected]
    reference = -(sum(math.log(p) for p in sig[:5]) + sum(math.log(1 - p) for p in sig[5:])) / 10
    assert loss.item() == pytest.approx(reference, abs=1e-5)


def test_recovery_view_adds_back_a_share_of_the_deleted_edges():
    adj = small_graph(12, 0.5, seed=4)
    upper = torch.triu(adj, diagonal=1).nonzero()
    deleted = torch.zeros_like(adj)
    for i, j in upper[::2].tolist():
        deleted[i, j] = deleted[j, i] = 1.0
    pre = adj - deleted
    view = recovery_view(pre, deleted, 0.5, torch.Generator().manual_seed(0))
    added = view - pre
    assert torch.equal(view, view.t()) and bool((added >= 0).all()) and bool((added <= deleted).all())
    assert int(torch.triu(added, diagonal=1).sum()) == int(len(upper[::2]) * 0.5)


def test_add_reliable_neighbors_matches_loop():
    adj = small_graph(10, 0.3, seed=5)
    emb = torch.randn(10, 4, generator=torch.Generator().manual_seed(6))
    k, threshold = 2, 1.0
    out = add_reliable_neighbors(adj, emb, k, threshold)
    degree = adj.sum(1).tolist()
    cos = cosine_similarity_matrix(emb)
    for i in range(10):
        candidates = sorted(
            ((cos[i, j].item(), j) for j in range(10) if j != i and degree[j] > threshold), reverse=True
        )
        expected = adj[i].clone()
        for _, j in candidates[:k]:
            expected[j] = 1.0
        assert torch.equal(out[i], expected)


def test_refinement_prunes_the_attacked_graph_and_adds_neighbours():
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(30, 12, generator=g) > 0.5).float()
    adj = small_graph(30, 0.2, seed=8)
    refined, emb, info = stable_refine_graph(
        x, adj, jaccard_t=0.2, cos_t=0.5, k=2, embedding_dim=8, max_epochs=5, seed=0, return_info=True
    )
    cos = cosine_similarity_matrix(emb)
    kept = (adj != 0) & (cos > 0.5)
    off_diagonal = ~torch.eye(30, dtype=torch.bool)
    # every kept edge of the attacked graph survives; nothing else survives except the added neighbours (≤ k per row)
    assert bool((refined[kept] == 1).all())
    extra = (refined != 0) & ~kept & off_diagonal
    assert bool((extra.sum(1) <= 2).all()) and bool(refined.diagonal().eq(0).all())
    assert info.edges_attacked == int(torch.triu(adj, diagonal=1).sum())
    jaccard_kept = int(torch.triu(adj, diagonal=1).sum()) - info.edges_pre_pruned
    assert jaccard_kept >= 0 and emb.shape == (30, 8)


def test_train_dgi_keeps_the_best_epoch_and_is_seeded():
    x = torch.rand(20, 5, generator=torch.Generator().manual_seed(9))
    adj = small_graph(20, 0.3, seed=10)
    emb, info = train_dgi(x, adj, embedding_dim=8, max_epochs=15, patience=3, seed=1)
    again, _ = train_dgi(x, adj, embedding_dim=8, max_epochs=15, patience=3, seed=1)
    assert torch.equal(emb, again)
    assert info["losses"][info["best_epoch"]] == min(info["losses"])
    assert info["epochs"] <= 15


def test_train_node_classifier_learns_a_separable_graph():
    labels = torch.arange(40) % 2
    x = F.one_hot(labels, 2).float() + 0.1 * torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    adj = (labels[:, None] == labels[None, :]).float() - torch.eye(40)
    train, val = torch.arange(40) < 8, (torch.arange(40) >= 8) & (torch.arange(40) < 16)
    config = STABLEConfig(in_dim=2, hidden_size=8, num_labels=2, alpha=0.3, dropout=0.0)
    model, log = train_node_classifier(config, x, adj, labels, train, val, epochs=30, seed=0)
    assert log["val_accuracy"] == 1.0 and not model.training


def test_attack_graph_budget():
    adj = small_graph(30, 0.3, seed=11)
    labels = torch.arange(30) % 3
    attacked = attack_graph(adj, labels, "dice", 0.2, seed=0)
    budget = int(0.2 * int(torch.triu(adj, diagonal=1).sum()))
    assert int(torch.triu(attacked != adj, diagonal=1).sum()) == budget
    assert torch.equal(attack_graph(adj, labels, "none", 0.2), adj)


# --------------------------------------------------------------------------------------------------- recipe


def test_recipe_runs_a_few_steps(tmp_path):
    from safetensors.torch import load_file

    from recipes.stable import main

    out = tmp_path / "run"
    argv = ["--output_dir", out, "--max_steps", "3", "--dgi_epochs", "2", "--embedding_dim", "8", "--log_every", "1"]
    metrics = main([*argv, "--checkpoint_every", "0"])
    assert 0.0 <= metrics["eval/test_accuracy"] <= 1.0
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    inputs = load_file(out / "graph.safetensors")
    model = STABLEForNodeClassification.from_pretrained(out).eval()
    logits = model(inputs["x"], inputs["edge_index"], edge_weight=inputs["edge_weight"]).logits
    accuracy = (logits.argmax(-1) == inputs["labels"])[inputs["test_mask"]].float().mean().item()
    assert accuracy == pytest.approx(metrics["eval/test_accuracy"], abs=1e-6)
    assert json.loads((out / "config.json").read_text())["model_type"] == "hfm-stable"


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    from safetensors.torch import load_file

    from recipes.stable import main

    common = ["--max_steps", "6", "--dgi_epochs", "2", "--embedding_dim", "8", "--log_every", "0"]
    main([*common, "--output_dir", tmp_path / "a", "--checkpoint_every", "0"])
    main([*common, "--output_dir", tmp_path / "b", "--checkpoint_every", "3"])
    first = sorted((tmp_path / "b" / "checkpoints").iterdir())[0]  # after step 3
    main([*common, "--output_dir", tmp_path / "b", "--resume_from_checkpoint", first, "--checkpoint_every", "3"])
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_recipe_rejects_bad_arguments():
    for flags, name in (
        (["--attack", "metattack"], "--attack"),
        (["--ptb_rate", "1.5"], "--ptb_rate"),
        (["--k", "-1"], "--k"),
        (["--cos_t", "2"], "--cos_t"),
        (["--dropout", "1"], "--dropout"),
    ):
        args = StableArguments()
        for flag, value in zip(flags[::2], flags[1::2]):
            setattr(args, flag[2:], type(getattr(args, flag[2:]))(value))
        with pytest.raises(ValueError, match=name):
            args.validate()


# --------------------------------------------------------------------------------------------------- errors


def test_error_edge_index_and_adjacency_both_or_neither():
    model, x = tiny_model(), torch.randn(5, 3)
    with pytest.raises(ValueError, match="exactly one of `edge_index`"):
        model(x)
    with pytest.raises(ValueError, match="exactly one of `edge_index`"):
        model(x, EDGES, adjacency=torch.zeros(5, 5))


def test_error_wrong_feature_width():
    with pytest.raises(ValueError, match="in_dim"):
        tiny_model()(torch.randn(5, 4), EDGES)


def test_error_edge_index_out_of_range_or_float():
    model, x = tiny_model(), torch.randn(3, 3)
    with pytest.raises(ValueError, match="edge_index"):
        model(x, EDGES)
    with pytest.raises(TypeError, match="edge_index"):
        model(torch.randn(5, 3), EDGES.float())


def test_error_adjacency_shape():
    with pytest.raises(ValueError, match="adjacency"):
        tiny_model()(torch.randn(5, 3), adjacency=torch.zeros(4, 4))


def test_error_labels():
    model, x = tiny_model(), torch.randn(5, 3)
    with pytest.raises(ValueError, match="labels"):
        model(x, EDGES, labels=torch.tensor([0, 1, 5, 0, 0]))
    with pytest.raises(ValueError, match="labels"):
        model(x, EDGES, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="no labelled node"):
        model(x, EDGES, labels=torch.full((5,), -100))


def test_error_not_a_graph_object():
    with pytest.raises(TypeError, match="Data"):
        tiny_model()([1, 2, 3])


def test_error_refine_needs_an_undirected_graph():
    adj = torch.triu(small_graph(6, 0.6, seed=12), diagonal=1)
    with pytest.raises(ValueError, match="symmetric"):
        stable_refine_graph(torch.rand(6, 3), adj)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"jaccard_t": 1.5}, "jaccard_t"), ({"cos_t": -2.0}, "cos_t"), ({"beta": -1.0}, "beta"), ({"k": -1}, "`k`")],
)
def test_error_refine_arguments(kwargs, match):
    x, adj = torch.rand(6, 3), small_graph(6, 0.8, seed=13)
    with pytest.raises(ValueError, match=match):
        stable_refine_graph(x, adj, **{"embedding_dim": 4, "max_epochs": 1, **kwargs})


def test_error_refine_features_and_graph_sizes():
    with pytest.raises(ValueError, match="adj"):
        stable_refine_graph(torch.rand(5, 3), small_graph(6))
    with pytest.raises(ValueError, match="`x`"):
        stable_refine_graph(torch.rand(6), small_graph(6))


def test_error_too_few_nodes_to_add_neighbours():
    adj = torch.zeros(4, 4)
    adj[0, 1] = adj[1, 0] = 1.0
    with pytest.raises(ValueError, match="too few"):
        add_reliable_neighbors(adj, torch.randn(4, 2), k=2)


def test_error_dgi_settings():
    with pytest.raises(ValueError, match="max_epochs"):
        train_dgi(torch.rand(4, 2), small_graph(4), max_epochs=0)
    with pytest.raises(ValueError, match="recover_percent"):
        recovery_view(small_graph(4), small_graph(4), 1.5)
    with pytest.raises(ValueError, match="logits"):
        dgi_loss(torch.zeros(3))


@pytest.mark.slow
def test_usage_snippet_runs():
    from hf_methods.models.stable.method import METHOD

    namespace = {}
    exec(METHOD.usage, namespace)
    assert namespace["logits"].shape == (200, 4) and torch.isfinite(namespace["loss"])
