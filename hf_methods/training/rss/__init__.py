"""P20 `rss`: robust self-supervised training with out-of-domain unlabelled data (Saberi et al., ICLR 2024).

```python
from hf_methods.training.rss import RobustSelfSupervisedTrainer, RobustRampLoss, linear_robust_ramp_loss

trainer = RobustSelfSupervisedTrainer(model=model, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled,
                                      gamma=1.0, gamma_unlabeled=0.5, lam=1.0)   # WRM inner maximisation
loss = linear_robust_ramp_loss(scores, labels_pm1, gamma=2.0)       # closed form for a linear score θᵀx
fit = fit_linear_rss(x, y, x_unlabeled, gamma=2.0, gamma_unlabeled=0.5, lam=1.0)  # the official simulation's fit
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RSSLossOutput": ".loss",
        "RobustRampLoss": ".loss",
        "binary_scores": ".loss",
        "linear_robust_ramp_loss": ".loss",
        "linear_robust_zero_one_loss": ".loss",
        "pseudo_labels": ".loss",
        "robust_self_training_loss": ".loss",
        "RobustSelfSupervisedTrainer": ".trainer",
        "TwoGaussianTask": ".data",
        "bayes_accuracy": ".data",
        "make_two_gaussian_task": ".data",
        "two_gaussian_mixture": ".data",
        "LinearRSSFit": ".training",
        "RSSArguments": ".training",
        "fit_linear_rss": ".training",
        "linear_accuracy": ".training",
        "unlabeled_batch_indices": ".training",
    },
)
