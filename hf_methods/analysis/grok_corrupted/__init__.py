"""P48 `grok_corrupted`: grokking with corrupted labels, memorising and generalising neurons told apart by the inverse
participation ratio of their Fourier spectrum (Doshi, Das, He & Gromov, 2023, "To grok or not to grok:
Disentangling generalization and memorization on corrupted algorithmic datasets").

```python
from hf_methods.analysis.grok_corrupted import (
    IPRCallback, corrupted_modular_arithmetic, fourier_ipr, prune_low_ipr_neurons, split_accuracies)

split = corrupted_modular_arithmetic(modulus=97, train_fraction=0.5, noise=0.35)  # ξ = 35% of train labels random
ipr = fourier_ipr(model, "fc_in", "fc_out")        # per-neuron IPR of |rfft| of U_k, V_k, W_k; ipr.save_plot(path)
pruned = prune_low_ipr_neurons(model, 300)          # a copy without the 300 least periodic (memorising) neurons
split_accuracies(pruned, split)                     # train / corrupted / clean / test accuracy
callback = IPRCallback(split, every=10)             # the same, tracked while a Trainer trains
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CorruptedModularSplit": ".data",
        "corrupt_labels": ".data",
        "corrupted_modular_arithmetic": ".data",
        "FourierIPR": ".ipr",
        "fourier_ipr": ".ipr",
        "inverse_participation_ratio": ".ipr",
        "prune_neurons": ".prune",
        "prune_low_ipr_neurons": ".prune",
        "IPRTrace": ".analysis",
        "PruningCurve": ".analysis",
        "SplitAccuracy": ".analysis",
        "pruning_curve": ".analysis",
        "split_accuracies": ".analysis",
        "IPRCallback": ".callback",
        "GrokCorruptedArguments": ".training",
        "GrokCorruptedResult": ".training",
        "run_grok_corrupted": ".training",
        "train_corrupted": ".training",
    },
)
