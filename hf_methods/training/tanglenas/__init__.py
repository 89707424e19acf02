"""P16 `tanglenas`: gradient-based NAS over weight-entangled supernets (Sukthanker, Krishnakumar, Safari & Hutter,
"Weight-Entanglement Meets Gradient-Based Neural Architecture Search", AutoML 2024).

Candidates that are slices of one largest operation (centre kernels, leading channels) are mixed by superimposing
their *weights*, W_mix = Σ_i α_i pad(W[slice_i]), and run in one forward pass; α comes from architecture parameters
β by the DARTS, DrNAS or GDAS rule, and β has its own Adam optimiser inside a `transformers.Trainer`.

```python
from hf_methods.training.tanglenas import TangleNASConvConfig, TangleNASConvNet, TangleNASTrainer

supernet = TangleNASConvNet(TangleNASConvConfig())          # kernels {1,3,5} × widths {4,8,16} × hidden {16,32,64}
trainer = TangleNASTrainer(model=supernet, args=args, train_dataset=train, arch_dataset=val,
                           arch_lr=3e-4, optimizer="darts")
trainer.train()
architecture = supernet.derive_architecture()              # argmax of every β
subnet = supernet.extract_subnet()                         # a standalone TangleNASConvNet, save_pretrained-able
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EntangledConv2d": ".entangled",
        "EntangledLinear": ".entangled",
        "architecture_weights": ".entangled",
        "TangleNASConvConfig": ".modeling",
        "TangleNASConvNet": ".modeling",
        "TangleNASSearchLoss": ".loss",
        "supernet_cross_entropy": ".loss",
        "TangleNASTrainer": ".trainer",
    },
)
