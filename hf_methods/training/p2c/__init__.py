"""P60 `p2c`: Prefer to Classify, a classifier trained with auxiliary pairwise preferences (Kim, Shin & Kang, ICML 2023).

```python
from hf_methods.training.p2c import P2CConfig, P2CForSequenceClassification, P2CTrainer, preference_from_votes

model = P2CForSequenceClassification.from_backbone(encoder, num_labels=2, num_preference_heads=3)
pairs = ...  # rows: input_ids, pair_input_ids (+ masks), labels, preference (1: x₁ ≻ x₂, 0: x₂ ≻ x₁, 2: tie)
trainer = P2CTrainer(model=model, args=args, train_dataset=pairs, lambda_cons=1.0, lambda_div=0.1)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "P2CConfig": ".configuration_p2c",
        "P2CForSequenceClassification": ".modeling_p2c",
        "P2CPreTrainedModel": ".modeling_p2c",
        "P2CSequenceClassifierOutput": ".modeling_p2c",
        "P2CLoss": ".loss",
        "consistency_loss": ".loss",
        "diversity_loss": ".loss",
        "preference_from_votes": ".loss",
        "preference_loss": ".loss",
        "preference_probabilities": ".loss",
        "soft_label_consistency_loss": ".loss",
        "soft_label_cross_entropy": ".loss",
        "P2CPairCollator": ".trainer",
        "P2CTrainer": ".trainer",
    },
)
