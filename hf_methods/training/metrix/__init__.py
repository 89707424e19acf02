"""P57 `metrix`: Metrix, mixup of examples and of pair labels for deep metric learning (Venkataramanan, Psomas et
al., ICLR 2022).

```python
from hf_methods.common.metric_learning import contrastive_loss
from hf_methods.training.metrix import MetrixLoss, MetrixTrainer, metrix_loss, utilization

loss = contrastive_loss(emb, y) + metrix_loss(emb, y, level="embedding", alpha=2.0, weight=0.4)  # embeddings mixed
loss = MetrixLoss(base="multisimilarity", seed=0)(emb, y)                                      # base + Metrix
trainer = MetrixTrainer(model=model, args=args, train_dataset=ds,                              # features mixed
                        loss=MetrixLoss(level="feature", seed=0), feature_module="mlp.layers")
u = utilization(train_embeddings, test_embeddings)  # mean distance of test embeddings to the nearest training one
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MetrixLoss": ".loss",
        "MixPlan": ".loss",
        "base_loss": ".loss",
        "metrix_loss": ".loss",
        "metrix_term": ".loss",
        "mix_embeddings": ".loss",
        "mix_plan": ".loss",
        "mixed_pair_loss": ".loss",
        "multi_similarity_loss": ".loss",
        "MetrixTrainer": ".trainer",
        "feature_mixing_hook": ".trainer",
        "metrix_step_loss": ".trainer",
        "nearest_train_distances": ".analysis",
        "utilization": ".analysis",
    },
)
