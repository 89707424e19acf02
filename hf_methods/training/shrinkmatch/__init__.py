"""P56 `shrinkmatch`: shrinking the class space of uncertain samples in semi-supervised learning (Yang et al.,
ICCV 2023), on top of FixMatch (Sohn et al., NeurIPS 2020).

```python
from hf_methods.training.shrinkmatch import AuxHeadWrapper, FixMatchTrainer, ShrinkMatchTrainer, shrink_loss

loss_s = shrink_loss(probs_weak.detach(), aux_logits_strong, threshold=0.95)   # (1/B) Σ_b p_(1) · CE in the shrunk space
trainer = ShrinkMatchTrainer(model=AuxHeadWrapper(classifier), args=args, train_dataset=labeled,
                             unlabeled_dataset=unlabeled, image_shape=(1, 8, 8))
baseline = FixMatchTrainer(model=classifier, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled,
                           image_shape=(1, 8, 8))
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FixMatchConsistencyLoss": ".loss",
        "ShrinkLoss": ".loss",
        "ShrunkClassSpace": ".loss",
        "fixmatch_consistency_loss": ".loss",
        "shrink_class_space": ".loss",
        "shrink_loss": ".loss",
        "AuxHeadOutput": ".modeling",
        "AuxHeadWrapper": ".modeling",
        "SSLStepOutput": ".objective",
        "ShrinkMatchState": ".objective",
        "ssl_step": ".objective",
        "FixMatchTrainer": ".trainer",
        "ShrinkMatchTrainer": ".trainer",
        "ShrinkMatchArguments": ".training",
        "ssl_digits": ".training",
        "train_ssl": ".training",
    },
)
