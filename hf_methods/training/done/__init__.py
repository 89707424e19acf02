"""P18 `done`: doubly robust instance-reweighted adversarial training (Sow, Lin, Wang & Liang, ICLR 2024).

The adversarial loss of each example is weighted by the solution of a KL-regularised DRO problem,
`w* = softmax(ℓ / r)`, estimated on mini-batches with a running normaliser `u`: `w_i = exp(ℓ_i / r) / u`.

```python
from hf_methods.common.adversarial import PGDConfig
from hf_methods.training.done import DONETrainer, DONEWeightedLoss, kl_dro_weights

w = kl_dro_weights(per_sample_losses, r=2.0)                      # sums to 1; r → ∞ uniform, r → 0 argmax
loss = DONEWeightedLoss(r=2.0, beta=0.9)(adv_logits, labels)      # (1/B) Σ w_i ℓ_i, weights detached
trainer = DONETrainer(model=model, args=args, train_dataset=ds, attack=PGDConfig(eps=0.1, steps=5), r=2.0)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DONEWeightedLoss": ".loss",
        "KLDRONormalizer": ".loss",
        "kl_dro_objective": ".loss",
        "kl_dro_weights": ".loss",
        "DONETrainer": ".trainer",
        "adversarial_per_sample_losses": ".trainer",
    },
)
