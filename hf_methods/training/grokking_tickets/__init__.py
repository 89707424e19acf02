"""P59 `grokking_tickets`: lottery tickets that accelerate grokking (Minegishi et al., TMLR 2025).

```python
from hf_methods.training.grokking_tickets import (
    GrokkingMLPConfig, GrokkingMLPForModularArithmetic, StepsToAccuracyCallback, find_grokking_ticket,
    modular_arithmetic, random_masks_like,
)

split = modular_arithmetic(modulus=97, train_fraction=0.3, seed=0)
model = GrokkingMLPForModularArithmetic(GrokkingMLPConfig(modulus=97, hidden_size=500))
initial = copy.deepcopy(model)                            # θ₀
...                                                       # train `model` until it generalises
ticket = find_grokking_ticket(model, initial, keep=0.5)   # global magnitude masks of θ_T, rewound to θ₀
callback = StepsToAccuracyCallback(split.x_test, split.y_test, threshold=0.95)  # how fast the ticket groks
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "GrokkingMLPConfig": ".configuration_grokking_mlp",
        "GrokkingMLPForModularArithmetic": ".modeling_grokking_mlp",
        "GrokkingMLPPreTrainedModel": ".modeling_grokking_mlp",
        "OneHotMSELoss": ".loss",
        "one_hot_mse_loss": ".loss",
        "ModularArithmeticSplit": ".data",
        "modular_arithmetic": ".data",
        "find_grokking_ticket": ".tickets",
        "grokking_ticket_masks": ".tickets",
        "match_weight_norm": ".tickets",
        "random_masks_like": ".tickets",
        "rewind_ticket": ".tickets",
        "weight_norm": ".tickets",
        "StepsToAccuracyCallback": ".callback",
        "full_batch_accuracy": ".callback",
        "steps_to_accuracy": ".callback",
        "GrokkingTicketsArguments": ".training",
        "grokking_mlp": ".training",
        "train_full_batch": ".training",
    },
)
