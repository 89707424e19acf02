"""P12 `blindspot`: Blindspot unlearning and Gaussian-amnesiac fine-tuning for deep regression (Tarun, Chundawat,
Mandal & Kankanhalli, ICML 2023, "Deep Regression Unlearning").

```python
from hf_methods.training.blindspot import BlindspotUnlearningTrainer, blindspot_unlearn, gaussian_amnesiac_relabel

unlearned = blindspot_unlearn(model, forget, retain, model_init=make_model, activation_layers=["mlp.layers.1"])
trainer = BlindspotUnlearningTrainer(model=copy_of_model, blindspot_model=proxy, args=args, train_dataset=mixed)
y_amnesiac = gaussian_amnesiac_relabel(y_train, forget_mask)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BlindspotUnlearningLoss": ".loss",
        "attention_distance": ".loss",
        "blindspot_unlearning_loss": ".loss",
        "BlindspotUnlearningTrainer": ".trainer",
        "capture_activations": ".trainer",
        "BlindspotDataset": ".unlearning",
        "blindspot_unlearn": ".unlearning",
        "gaussian_amnesiac_relabel": ".unlearning",
        "gaussian_amnesiac_unlearn": ".unlearning",
        "train_blindspot_model": ".unlearning",
        "train_l1_regressor": ".unlearning",
    },
)
