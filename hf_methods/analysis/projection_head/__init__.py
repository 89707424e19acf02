"""P22 `projection_head`: why training with a projection head and reading the representation before it helps (Xue et
al., ICLR 2024, "Investigating the Benefits of Projection Head for Representation Learning").

```python
from hf_methods.analysis.projection_head import FixedReweightProjectionHead, ProjectionHeadModel, layerwise_feature_gains

gains = layerwise_feature_gains(encoder, feature_dirs=E)   # dataclass: gains[l][j] = ‖f≤l(e_j) − f≤l(0)‖, log ratios
head = FixedReweightProjectionHead(dim=64, kappa=2.0)      # z = h ⊙ (κ^0, κ^-1, …), fixed
model = ProjectionHeadModel(encoder, head)                 # model(x, "post") trains, model(x, "pre") is used downstream
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LayerwiseFeatureGains": ".analysis",
        "layerwise_feature_gains": ".analysis",
        "linear_probe_accuracy": ".analysis",
        "plot_feature_gains": ".analysis",
        "FixedReweightProjectionHead": ".modeling",
        "ProjectionHeadModel": ".modeling",
        "spectral_contrastive_loss": ".modeling",
        "FeatureWeightingConfig": ".training",
        "FeatureWeightingResult": ".training",
        "ProjectionHeadArguments": ".training",
        "SpuriousDigitsResult": ".training",
        "run_feature_weighting": ".training",
        "run_spurious_digits": ".training",
        "train_contrastive": ".training",
    },
)
