"""P19 `crkd`: class-relation knowledge distillation for novel class discovery (Gu, Zhang, Xu & He, ICCV 2023).

```python
from hf_methods.training.crkd import CrKDNCDConfig, CrKDNCDModel, CrKDNCDTrainer, class_relation_kd_loss

loss_kd = class_relation_kd_loss(teacher_known_logits, logits, unlabeled_mask, kd_temperature=4.0, temperature=0.1)
trainer = CrKDNCDTrainer(model=student, teacher=pretrained, args=args, train_dataset=labeled,
                         unlabeled_dataset=unlabeled, alpha=0.1)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ClassRelationKDLoss": ".loss",
        "class_relation_kd_loss": ".loss",
        "known_class_weights": ".loss",
        "swapped_prediction_loss": ".loss",
        "CrKDNCDConfig": ".configuration_crkd",
        "CrKDNCDModel": ".modeling_crkd",
        "CrKDNCDOutput": ".modeling_crkd",
        "CrKDNCDTrainer": ".trainer",
        "NoiseShiftAugment": ".trainer",
        "crkd_discovery_loss": ".trainer",
        "mix_labeled_unlabeled": ".trainer",
        "CrKDArguments": ".training",
        "ncd_digits": ".training",
        "train_ncd": ".training",
    },
)
