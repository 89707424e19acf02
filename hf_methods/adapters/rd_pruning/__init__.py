"""Layer-adaptive weight pruning as rate–distortion optimisation (P38, Xu, Wang et al., ICCV 2023).

Per-layer distortion curves δ_l(a) (only layer l magnitude-pruned by amount a), the additivity approximation
D ≈ Σ_l δ_l(a_l), and the exact dynamic-programming allocation of per-layer amounts under a global budget of kept
weights (`pruner.py`); `PruneAndFinetuneCallback` runs the paper's iterative prune / fine-tune schedule in a
`transformers.Trainer`. Masks use `hf_methods.common.masks` (parametrize); `bake` leaves a plain checkpoint.
"""

from hf_methods.lazy import lazy_exports

__all__ = [
    "PruneAndFinetuneCallback",
    "RDLayerAdaptivePruner",
    "dp_allocate",
    "kept_counts",
    "layer_magnitude_mask",
    "masks_disabled",
    "output_distortion",
    "rd_curves",
    "saved_kept_fraction",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PruneAndFinetuneCallback": ".callback",
        "RDLayerAdaptivePruner": ".pruner",
        "dp_allocate": ".pruner",
        "kept_counts": ".pruner",
        "layer_magnitude_mask": ".pruner",
        "masks_disabled": ".pruner",
        "output_distortion": ".pruner",
        "rd_curves": ".pruner",
        "saved_kept_fraction": ".pruner",
    },
)
