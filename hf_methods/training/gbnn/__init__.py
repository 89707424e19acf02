"""P11 `gbnn`: "Sequential Training of Neural Networks with Gradient Boosting" (Emami & Martínez-Muñoz).

Hidden units are trained by gradient boosting: each step fits a small network (J units, L-BFGS) to the
pseudo-residuals of the ensemble so far, and the steps are assembled into one ordinary transformers model that can be
cut back to its first units.

```python
from hf_methods.training.gbnn import GradientBoostedMLPTrainer

model = GradientBoostedMLPTrainer(total_units=100).fit(x_train, y_train)  # a GradientBoostedMLPModel
logits = model(torch.as_tensor(x_test, dtype=torch.float32)).logits
model.truncate_hidden(75)  # the model after the first 75 boosting steps
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "GradientBoostedMLPConfig": ".configuration_gbnn",
        "GradientBoostedMLPModel": ".modeling_gbnn",
        "GradientBoostedMLPOutput": ".modeling_gbnn",
        "GradientBoostedMLPPreTrainedModel": ".modeling_gbnn",
        "GradientBoostedMLPTrainer": ".trainer",
        "fit_mlp_lbfgs": ".trainer",
        "mlp_objective": ".trainer",
        "BoostingLoss": ".loss",
        "GBNNSquaredLoss": ".loss",
        "GBNNLogExponentialLoss": ".loss",
        "GBNNMultinomialLoss": ".loss",
        "boosting_loss_for": ".loss",
        "GBNNArguments": ".training",
        "load_tabular": ".training",
        "train_mlp_end_to_end": ".training",
    },
)
