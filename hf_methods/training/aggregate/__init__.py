"""P21 `aggregate`: learning from aggregate responses with bag-level, instance-level and interpolating losses
(Javanmard, Chen, Mirrokni, Badanidiyuru & Fu, ICLR 2024).

```python
from hf_methods.training.aggregate import (
    AggregateResponseLoss, AggregateTrainer, BagCollator, BagDataset, linear_interpolating_estimator,
    privatize_bag_responses,
)

loss = AggregateResponseLoss(mode="interpolate", rho=0.1)(predictions, bag_ids, bag_targets)
bags = BagDataset.from_responses(x, y, bag_size=10, bagging="random", privacy_eps=1.0, response_bound=3.0)
trainer = AggregateTrainer(model=model, args=args, train_dataset=bags, data_collator=BagCollator(bag_size=10))
theta = linear_interpolating_estimator(x, bag_ids, bag_targets, rho=0.1)  # closed form for a linear model
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AggregateResponseLoss": ".loss",
        "aggregate_response_loss": ".loss",
        "bag_level_loss": ".loss",
        "instance_level_loss": ".loss",
        "within_bag_variance": ".loss",
        "BagCollator": ".bagging",
        "BagDataset": ".bagging",
        "aggregate_responses": ".bagging",
        "assign_bags": ".bagging",
        "laplace_scale": ".bagging",
        "privatize_bag_responses": ".bagging",
        "linear_interpolating_estimator": ".estimator",
        "AggregateTrainer": ".trainer",
    },
)
