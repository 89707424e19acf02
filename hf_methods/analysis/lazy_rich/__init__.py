"""P26 `lazy_rich`: grokking as the transition from lazy to rich training dynamics (Kumar, Bordelon, Gershman and
Pehlevan, ICLR 2024).

A network first fits its training set like kernel regression with its initial neural tangent kernel (lazy) and only
later learns features that generalise (rich); the output scale α sets how long the lazy phase lasts. The room gives
the measurements of that transition for any model, a `TrainerCallback` that tracks them, the α-scaled model and the
paper's polynomial task:

```python
from hf_methods.analysis.lazy_rich import (
    GrokkingConfig, LazyRichTrackerCallback, OutputScaledModel, kernel_alignment, run_polynomial_grokking)

cb = LazyRichTrackerCallback(probe_inputs=X_te, probe_targets=y_te, every=100)   # Trainer(..., callbacks=[cb])
cb.trace.save_plot("lazy_rich.png")                                              # alignment, kernel distance, ...
result = run_polynomial_grokking(GrokkingConfig(alpha=1.0), seed=0)              # steps to train / test fit
```

The empirical NTK, the linearised model and the uncentred kernel–target alignment come from
`hf_methods.common.ntk` and are re-exported here.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LazyRichTrace": ".analysis",
        "kernel_alignment": ".analysis",
        "kernel_distance": ".analysis",
        "kernel_regression_mse": ".analysis",
        "linearized_gd_losses": ".analysis",
        "parameter_snapshot": ".analysis",
        "relative_weight_change": ".analysis",
        "LazyRichTrackerCallback": ".callback",
        "FixedReadoutNetwork": ".modeling",
        "OutputScaledModel": ".modeling",
        "GrokkingConfig": ".training",
        "GrokkingResult": ".training",
        "LazyRichArguments": ".training",
        "grokking_setup": ".training",
        "make_polynomial_task": ".training",
        "plot_grokking": ".training",
        "run_polynomial_grokking": ".training",
        "LinearizedModel": "hf_methods.common.ntk",
        "empirical_ntk": "hf_methods.common.ntk",
        "kernel_target_alignment": "hf_methods.common.ntk",
    },
)
