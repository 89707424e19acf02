"""P24 `self_distillation`: self-distillation with ground-truth weighting (Borup & Andersen, NeurIPS 2021).

Kernel ridge regression in closed form (numpy/scipy) and a `transformers.Trainer` that distils a network into itself:

```python
from hf_methods.training.self_distillation import (
    SelfDistillationTrainer, krr_distillation_limit, krr_self_distillation, optimal_alpha,
)

f_T = krr_self_distillation(K, y, alpha=0.3, steps=200, lam=0.1)      # 200 refits, ground-truth weight 0.3
f_inf = krr_distillation_limit(K, y, alpha=0.3, lam=0.1)              # = kernel ridge regression with λ/α
SelfDistillationTrainer(model=model, alpha=0.5, steps=3, args=args, train_dataset=ds).train()
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "krr_self_distillation": ".kernel",
        "krr_distillation_limit": ".kernel",
        "krr_distillation_spectrum": ".kernel",
        "krr_distillation_affine_terms": ".kernel",
        "optimal_alpha": ".kernel",
        "SelfDistillationLoss": ".loss",
        "self_distillation_loss": ".loss",
        "SelfDistillationTrainer": ".trainer",
    },
)
