"""STABLE (P45): "Reliable Representations Make A Stronger Defender: Unsupervised Structure Refinement for Robust
GNN" (Li, Liu, Ao, Chi, Feng, Yang, He; KDD 2022, arXiv 2207.00012).

The "advanced GCN" node classifier as a transformers model (`STABLEConfig`, `STABLEForNodeClassification`, remote
code), the unsupervised structure refinement (`stable_refine_graph`: Jaccard pre-pruning, DGI representations with
edge-recovery views, cosine pruning and reliable-neighbour addition) and the digits-graph training pieces. Exports
are lazy.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "STABLEConfig": ".configuration_stable",
        "STABLEForNodeClassification": ".modeling_stable",
        "STABLEPreTrainedModel": ".modeling_stable",
        "STABLENodeClassifierOutput": ".modeling_stable",
        "advanced_normalize": ".modeling_stable",
        "stable_refine_graph": ".refine",
        "DGIEncoder": ".refine",
        "dgi_loss": ".refine",
        "train_dgi": ".refine",
        "add_reliable_neighbors": ".refine",
        "recovery_view": ".refine",
        "RefinementInfo": ".refine",
        "StableArguments": ".training",
        "digits_graph": ".training",
        "attack_graph": ".training",
        "train_node_classifier": ".training",
    },
)
