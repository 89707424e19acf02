"""P54 `comp_sum`: comp-sum losses and smooth adversarial comp-sum training (Mao, Mohri & Zhong, ICML 2023).

```python
from hf_methods.common.adversarial import PGDConfig
from hf_methods.training.comp_sum import AdvCompSumTrainer, CompSumLoss, comp_sum_loss, smooth_adv_comp_sum_loss

loss = comp_sum_loss(logits, labels, tau=1.5)                    # τ = 0 exp, 1 CE, 1 + q GCE, 2 MAE
loss = smooth_adv_comp_sum_loss(model, x, labels, tau=1.0, nu=6.0, attack=PGDConfig(eps=0.1, steps=10))
trainer = AdvCompSumTrainer(model=model, args=args, train_dataset=ds, tau=1.0, nu=6.0, attack=PGDConfig(eps=0.1))
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CompSumLoss": ".loss",
        "comp_sum_loss": ".loss",
        "score_difference_distance": ".loss",
        "smooth_adv_comp_sum_loss": ".loss",
        "smooth_adv_comp_sum_terms": ".loss",
        "trades_kl": ".loss",
        "trades_loss": ".loss",
        "AdvCompSumTrainer": ".trainer",
    },
)
