"""Claim of P45 STABLE (Li et al., KDD 2022): refining the graph with contrastive representations and classifying
with the advanced GCN defends a GNN against structure attacks.

The paper attacks Cora, Citeseer, Polblogs and Pubmed with Metattack, Nettack, DICE and random noise; neither those
graphs nor Metattack (DeepRobust) are available offline, so this check tests the pipeline under DICE, not the paper's
strongest-attack numbers.

Setup (per seed 0, 1, 2): the 1,797 scikit-learn digits as nodes of their symmetrised 10-NN graph on pixels
(homophilous), split at random 10 % train / 10 % validation / 80 % test; DICE flips 20 % of the edges (each
perturbation removes an intra-class edge or inserts an inter-class one with probability 1/2). STABLE's
hyper-parameters are the official ones for Cora at 20 % perturbation (jt = 0.03, cos = 0.25, k = 7, β = 2), DGI
512-d with edge-recovery views (20 %), Adam 1e-3, patience 20, at most 300 epochs; α of the advanced GCN is chosen
per seed on the validation nodes from {−0.5, −0.3, 0, 0.3, 0.6, 1.0} (the attack rate is unknown to a defender).
Classifiers: 2-layer GCN, hidden 16, dropout 0.5, Adam 1e-2, weight decay 5e-4, 200 epochs, weights of the best
validation epoch. The baseline GCN (α = −0.5, raw pixel features) is trained on the clean and on the attacked graph.

Rules (fixed before the first run):

1. the attack matters: GCN accuracy clean − attacked ≥ 0.05 (mean over seeds);
2. recovery: (STABLE attacked − GCN attacked) / (GCN clean − GCN attacked) ≥ 0.6, computed from the seed means;
3. refinement removes attack edges: the inter-class share of edges is lower after refinement than in the attacked
   graph (attacked − refined > 0, mean over seeds).

Run: `python benchmarks/claims/stable.py [--smoke]` (a few minutes on one thread: the 300 DGI epochs dominate).
"""

from __future__ import annotations

import statistics

import torch

from hf_methods.common.graph import inter_class_edge_fraction
from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.models.stable import STABLEConfig, stable_refine_graph
from hf_methods.models.stable.training import attack_graph, digits_graph, node_accuracy, train_node_classifier

CLAIM = Claim(
    slug="stable",
    seeds=[0, 1, 2],
    settings={
        "graph": "sklearn digits, symmetrised k-NN on pixels",
        "knn": 10,
        "train_fraction": 0.1,
        "val_fraction": 0.1,
        "attack": "dice",
        "ptb_rate": 0.2,
        "jaccard_t": 0.03,
        "cos_t": 0.25,
        "k": 7,
        "beta": 2.0,
        "degree_threshold": 1.0,
        "embedding_dim": 512,
        "recover_percent": 0.2,
        "dgi_learning_rate": 1e-3,
        "dgi_epochs": 300,
        "dgi_patience": 20,
        "alpha_grid": [-0.5, -0.3, 0.0, 0.3, 0.6, 1.0],
        "hidden_size": 16,
        "dropout": 0.5,
        "epochs": 200,
        "learning_rate": 1e-2,
        "weight_decay": 5e-4,
        "selection": "α: best validation accuracy per seed (first grid value on ties); weights: best validation epoch",
        "recovery": "(mean STABLE attacked − mean GCN attacked) / (mean GCN clean − mean GCN attacked)",
    },
    smoke={"dgi_epochs": 5, "epochs": 10, "alpha_grid": [-0.5, 0.6], "embedding_dim": 32, "seeds": [0]},
    rules=[
        Threshold("the attack costs GCN ≥ 5 points", "attack_drop", "GCN", ">=", 0.05),
        Threshold("STABLE recovers ≥ 60% of the drop", "recovered_fraction", "STABLE", ">=", 0.6),
        Compare(
            "refinement lowers the inter-class edge share",
            "inter_class_edge_fraction",
            method="refined graph",
            baseline="attacked graph",
            margin=1e-9,
            higher_is_better=False,
        ),
    ],
    task={
        "type": "node-classification",
        "dataset_name": "sklearn digits 10-NN graph under 20% DICE",
        "dataset_type": "digits",
        "split": "test",
    },
)


def run_seed(seed: int, s: dict) -> dict:
    """GCN on the clean and the attacked graph, then STABLE on the attacked graph (α chosen on validation)."""
    torch.set_num_threads(1)
    graph = digits_graph(s["knn"], s["train_fraction"], s["val_fraction"], seed=seed)
    attacked = attack_graph(graph.adj, graph.labels, s["attack"], s["ptb_rate"], seed=seed)
    train = dict(epochs=s["epochs"], learning_rate=s["learning_rate"], weight_decay=s["weight_decay"], seed=seed)
    masks = (graph.train_mask, graph.val_mask)

    def classifier(in_dim, alpha):
        return STABLEConfig(
            in_dim=in_dim, hidden_size=s["hidden_size"], num_labels=10, alpha=alpha, dropout=s["dropout"]
        )

    result = {}
    for name, adj in (("gcn_clean", graph.adj), ("gcn_attacked", attacked)):
        model, _ = train_node_classifier(
            classifier(graph.x.shape[1], -0.5), graph.x, adj, graph.labels, *masks, **train
        )
        result[name] = node_accuracy(model, graph.x, adj, graph.labels, graph.test_mask)

    refined, embeddings, info = stable_refine_graph(
        graph.x,
        attacked,
        jaccard_t=s["jaccard_t"],
        cos_t=s["cos_t"],
        k=s["k"],
        beta=s["beta"],
        degree_threshold=s["degree_threshold"],
        embedding_dim=s["embedding_dim"],
        recover_percent=s["recover_percent"],
        learning_rate=s["dgi_learning_rate"],
        max_epochs=s["dgi_epochs"],
        patience=s["dgi_patience"],
        seed=seed,
        return_info=True,
    )
    per_alpha = {}
    for alpha in s["alpha_grid"]:
        model, log = train_node_classifier(
            classifier(embeddings.shape[1], alpha), embeddings, refined, graph.labels, *masks, **train
        )
        per_alpha[alpha] = {
            "val": log["val_accuracy"],
            "test": node_accuracy(model, embeddings, refined, graph.labels, graph.test_mask),
        }
    best = max(s["alpha_grid"], key=lambda a: per_alpha[a]["val"])  # max keeps the first on ties
    result.update(
        stable_attacked=per_alpha[best]["test"],
        alpha=best,
        per_alpha={str(a): v for a, v in per_alpha.items()},
        inter_class_attacked=inter_class_edge_fraction(attacked, graph.labels),
        inter_class_clean=inter_class_edge_fraction(graph.adj, graph.labels),
        inter_class_refined=inter_class_edge_fraction(refined, graph.labels),
        refinement={k: v for k, v in vars(info).items()},
    )
    return result


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    results = {seed: claim.cached(f"seed{seed}", run_seed, seed, s) for seed in claim.seeds}
    for seed, r in results.items():
        claim.record("GCN", "clean_accuracy", r["gcn_clean"], unit=seed)
        claim.record("GCN", "attacked_accuracy", r["gcn_attacked"], unit=seed)
        claim.record("GCN", "attack_drop", r["gcn_clean"] - r["gcn_attacked"], unit=seed)
        claim.record("STABLE", "attacked_accuracy", r["stable_attacked"], unit=seed)
        claim.record("attacked graph", "inter_class_edge_fraction", r["inter_class_attacked"], unit=seed)
        claim.record("refined graph", "inter_class_edge_fraction", r["inter_class_refined"], unit=seed)
        claim.record("clean graph", "inter_class_edge_fraction", r["inter_class_clean"], unit=seed)
    clean = statistics.fmean(r["gcn_clean"] for r in results.values())
    gcn = statistics.fmean(r["gcn_attacked"] for r in results.values())
    stable = statistics.fmean(r["stable_attacked"] for r in results.values())
    drop = clean - gcn
    claim.record("STABLE", "recovered_fraction", (stable - gcn) / drop if drop > 0 else float("nan"))
    claim.details["selected_alpha"] = {f"seed{seed}": r["alpha"] for seed, r in results.items()}
    claim.details["per_alpha"] = {f"seed{seed}": r["per_alpha"] for seed, r in results.items()}
    claim.details["refinement"] = {f"seed{seed}": r["refinement"] for seed, r in results.items()}
    for seed, r in results.items():  # one metric for the plot's first panel
        claim.record("GCN, clean graph", "test_accuracy", r["gcn_clean"], unit=seed)
        claim.record("GCN, attacked graph", "test_accuracy", r["gcn_attacked"], unit=seed)
        claim.record("STABLE, attacked graph", "test_accuracy", r["stable_attacked"], unit=seed)
    claim.plot_points(
        "accuracy",
        ["test_accuracy", "inter_class_edge_fraction"],
        methods=[
            "GCN, clean graph",
            "GCN, attacked graph",
            "STABLE, attacked graph",
            "clean graph",
            "attacked graph",
            "refined graph",
        ],
        title=f"digits 10-NN graph, {s['ptb_rate']:.0%} DICE: test accuracy and inter-class edge share",
    )
    claim.note(
        "DICE on a digits k-NN graph replaces the paper's Metattack on citation graphs (neither is available "
        "offline). STABLE's jt/cos/k/β are the official Cora values at 20% perturbation, fixed before the run; α is "
        f"chosen per seed on validation nodes (selected: {claim.details['selected_alpha']}). The Jaccard pre-pruning "
        "uses the non-zero pattern of the pixels."
    )


if __name__ == "__main__":
    CLAIM.main(run)
