"""P35 `ldr`: label-distributionally robust losses LDR-KL and adaptive ALDR-KL (Zhu, Ying & Yang, ICML 2023).

```python
from hf_methods.training.ldr import LDRKLLoss, ALDRKLLoss, LDRTrainer

loss = LDRKLLoss(lambda_=10.0, margin=0.1)(logits, labels)
loss = ALDRKLLoss(num_samples=N, lambda0=10.0, alpha=2.0)(logits, labels, sample_idx)
trainer = LDRTrainer(model=model, args=args, train_dataset=ds, loss=ALDRKLLoss(len(ds)))  # ds has "sample_idx"
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ALDRKLLoss": ".loss",
        "CrossEntropyLoss": ".loss",
        "LDRKLLoss": ".loss",
        "LOSSES": ".loss",
        "build_loss": ".loss",
        "ldr_kl_loss": ".loss",
        "needs_index": ".loss",
        "LDRTrainer": ".trainer",
    },
)
