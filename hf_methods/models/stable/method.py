"""The catalogue record of `stable` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="stable",
    paper_id="P45",
    title="Reliable Representations Make A Stronger Defender: Unsupervised Structure Refinement for Robust GNN",
    arxiv="2207.00012",
    official_code="likuanppd/STABLE",
    kind="models",
    tags=("gnn", "adversarial-robustness", "graph-structure-learning"),
    entry_points=(
        "hf_methods.models.stable:STABLEConfig",
        "hf_methods.models.stable:STABLEForNodeClassification",
        "hf_methods.models.stable:stable_refine_graph",
    ),
    recipe="recipes/stable.py",
    claim=(
        "Refining the graph from contrastive embeddings plus an advanced GCN defends GNNs against structure "
        "attacks better than prior defenders; on a digits 10-NN graph under DICE the check asserts the attack "
        "costs a GCN ≥5 points and STABLE recovers ≥60% of that drop, with fewer inter-class edges after "
        "refinement."
    ),
    venue="KDD 2022",
    usage=(
        "adj_ref, emb = stable_refine_graph(X, A_perturbed, jaccard_t=0.03, cos_t=0.1, k=5, beta=2.0)\n"
        "model = STABLEForNodeClassification(STABLEConfig(in_dim=emb.shape[1], n_classes=7, alpha=0.3))"
    ),
    notes="Metattack (deeprobust) and Cora are unavailable offline: the check uses DICE on a digits graph.",
)
