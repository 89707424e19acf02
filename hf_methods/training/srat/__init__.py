"""P13 `srat`: Separable Reweighted Adversarial Training for imbalanced data (Wang, Xu, Liu, Li, Thuraisingham & Tang,
2021, arXiv:2107.13639).

PGD adversarial training with class weights applied late in training (deferred re-weighting, effective-number
weights) plus a feature-separation loss on the penultimate features of the adversarial examples:

```python
from hf_methods.common.adversarial import PGDConfig
from hf_methods.training.srat import DeferredReweighting, SeparableReweightedATLoss, SRATTrainer

schedule = DeferredReweighting(class_counts, kind="effective_num", drw_start=20)
loss = SeparableReweightedATLoss(separation_weight=1.0)(logits, features, labels, schedule.weights_at(epoch))
trainer = SRATTrainer(model=model, args=args, train_dataset=imbalanced_ds,
                      attack=PGDConfig(eps=0.15, steps=5), class_weights="effective_num", drw_start=20)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DeferredReweighting": ".loss",
        "SeparableReweightedATLoss": ".loss",
        "WEIGHTINGS": ".loss",
        "class_weights_from_counts": ".loss",
        "effective_number_weights": ".loss",
        "feature_separation_loss": ".loss",
        "inverse_frequency_weights": ".loss",
        "reweighted_classification_loss": ".loss",
        "SRATTrainer": ".trainer",
        "SRATArguments": ".training",
        "capture_features": ".training",
        "evaluate_imbalanced_robustness": ".training",
        "fisher_ratio": ".training",
        "imbalanced_digits": ".training",
        "logits_and_features": ".training",
        "train_imbalanced_at": ".training",
    },
)
