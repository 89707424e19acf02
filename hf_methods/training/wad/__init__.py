"""P44 `wad`: Weight-Aware Distillation under class-distribution mismatch (Du, Zhao, Sheng, Li & Chen, ICCV 2023).

A frozen contrastive teacher labels each unlabelled example with its most similar known class and weights it by the
top-two similarity margin `w = s_(1) − s_(2)`, so unknown-class examples, which sit between the known classes, count
little; the student trains on `mean_l CE + mean_u w·CE(·, ŷ)`, and after each round the examples it agrees on best
join the labelled groups.

```python
from hf_methods.training.wad import WADTrainer, prototype_pseudo_labels

yhat, w = prototype_pseudo_labels(teacher(x_unlabelled), teacher(x_labelled), y_labelled)
trainer = WADTrainer(student, args, labeled_dataset=labelled, unlabeled_dataset=unlabelled, teacher=teacher)
trainer.train()
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "class_similarity_scores": ".knowledge",
        "promotion_fraction": ".knowledge",
        "prototype_pseudo_labels": ".knowledge",
        "pseudo_labels_and_weights": ".knowledge",
        "select_reliable": ".knowledge",
        "WADLoss": ".loss",
        "wad_objective": ".loss",
        "weighted_pseudo_label_loss": ".loss",
        "WADTrainer": ".trainer",
        "features_of": ".trainer",
    },
)
