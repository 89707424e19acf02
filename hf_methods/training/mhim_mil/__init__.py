"""P63 `mhim_mil`: masked hard instance mining for multiple-instance learning (Tang et al., ICCV 2023).

```python
from hf_methods.training.mhim_mil import ABMILConfig, ABMILForBagClassification, MHIMTrainer

student = ABMILForBagClassification(ABMILConfig(input_dim=64, hidden_size=128, num_labels=2))
MHIMTrainer(model=student, teacher=pretrained_abmil, args=args, train_dataset=bags).train()
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ABMILConfig": ".configuration_mhim_mil",
        "ABMILForBagClassification": ".modeling_mhim_mil",
        "BagClassifierOutput": ".modeling_mhim_mil",
        "MHIMConsistencyLoss": ".loss",
        "mhim_consistency_loss": ".loss",
        "mhim_instance_mask": ".masking",
        "cosine_decay": ".masking",
        "MHIMTrainer": ".trainer",
        "mhim_loss": ".trainer",
        "mhim_teacher": ".trainer",
        "collate_bags": ".trainer",
        "MHIMArguments": ".training",
        "digit_bags": ".training",
        "train_abmil": ".training",
        "train_mhim": ".training",
        "bag_auc": ".training",
    },
)
