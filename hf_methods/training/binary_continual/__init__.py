"""P42 `binary_continual`: variational continual learning of binary-weight networks in field space (Li et al., 2023).

```python
from hf_methods.training.binary_continual import ContinualVCLTrainer, VariationalBinaryMLP, VariationalBinaryMLPConfig

model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[64, 256, 10], beta_schedule="tanh"))
trainer = ContinualVCLTrainer(model=model, args=args, tasks=[ds1, ds2, ds3], prior="previous_task")
trainer.train()
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BinaryMeanFieldLinear": ".modeling_binary_continual",
        "VariationalBinaryMLP": ".modeling_binary_continual",
        "VariationalBinaryMLPConfig": ".configuration_binary_continual",
        "tanh_beta_schedule": ".modeling_binary_continual",
        "BernoulliFieldKL": ".loss",
        "bernoulli_field_kl": ".loss",
        "bernoulli_field_kl_grad": ".loss",
        "BinaryContinualArguments": ".training",
        "FieldPrior": ".training",
        "permuted_digits_tasks": ".training",
        "train_continual": ".training",
        "ContinualVCLTrainer": ".trainer",
    },
)
