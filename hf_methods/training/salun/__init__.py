"""P27 `salun`: SalUn, machine unlearning through gradient-based weight saliency (Fan et al., ICLR 2024).

```python
from hf_methods.training.salun import SalUnTrainer, compute_weight_saliency_mask

mask = compute_weight_saliency_mask(model, (x_forget, y_forget), keep_ratio=0.5)  # top 50% of |∇ ℓ_f|, globally
trainer = SalUnTrainer(model, args, forget_dataset=(x_forget, y_forget), retain_dataset=(x_retain, y_retain),
                       mask=mask, num_classes=10)
unlearned = trainer.unlearn()  # random-label unlearning of the salient weights; `model` itself is untouched
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SalUnLoss": ".loss",
        "draw_random_labels": ".loss",
        "salun_loss": ".loss",
        "compute_weight_saliency_mask": ".saliency",
        "saliency_mask_from_scores": ".saliency",
        "weight_saliency": ".saliency",
        "ForgetRetainBatchSampler": ".trainer",
        "SalUnTrainer": ".trainer",
        "UnlearningDataset": ".trainer",
        "mask_gradients": ".trainer",
        "restore_masked_weights": ".trainer",
        "TinyCNNConfig": ".modeling_cnn",
        "TinyCNNForImageClassification": ".modeling_cnn",
        "SalUnArguments": ".training",
        "digits_unlearning_split": ".training",
        "salun_unlearn": ".training",
        "tiny_cnn": ".training",
        "train_original": ".training",
    },
)
