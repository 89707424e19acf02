"""P43 `ecaml`: Energy Confused Adversarial Metric Learning (Chen & Deng, AAAI 2019).

A metric loss pushes classes apart; the Energy Confusion term `λ·log E`, with `E` the weighted energy
`Σ (1/w_ij)·½‖f_i − f_j‖²` of sampled pairs, pulls them together on an embedding made from *detached* backbone
features, so it only regularises the embedding head against over-fitting the seen classes.

```python
from hf_methods.training.ecaml import EnergyConfusionLoss, MetricLearningTrainer, MLPForMetricLearning

ec = EnergyConfusionLoss(num_partners=10, weight=0.13)
out = model(pixel_values=x)                         # out.embeddings = head(out.features)
loss = binomial_deviance_loss(out.embeddings, y) + ec(model.get_embedding_head()(out.features.detach()), y)
trainer = MetricLearningTrainer(model=model, args=args, train_dataset=seen, eval_dataset=unseen, energy_confusion=ec)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EnergyConfusionLoss": ".loss",
        "energy_confusion_loss": ".loss",
        "pair_counts": ".loss",
        "sample_partners": ".loss",
        "MLPForMetricLearning": ".modeling",
        "MetricLearningOutput": ".modeling",
        "METRIC_LOSSES": ".evaluation",
        "MetricLearningTrainer": ".trainer",
        "retrieval_metrics": ".evaluation",
    },
)
