"""P30 `filter_db`: degeneracy and distribution shift of trained 3×3 convolution filters (Gavrikov & Keuper, CVPR
2022, "CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters").

```python
from hf_methods.analysis.filter_db import FilterQualityCallback, filter_distribution_shift, measure_conv_quality

quality = measure_conv_quality(model)           # ConvQuality: per 3×3 conv, sparsity, variance entropy, orthogonality
quality.save_plot("quality.png")
shift = filter_distribution_shift(model_a, model_b)   # FilterShift: D = Σ_i ρ_i · symmetric KL of PCA coefficients
trainer = Trainer(..., callbacks=[FilterQualityCallback(every_n_steps=50)])   # the metrics during training
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ConvQuality": ".quality",
        "LayerQuality": ".quality",
        "measure_conv_quality": ".quality",
        "measure_weight_quality": ".quality",
        "filter_sparsity": ".quality",
        "variance_entropy": ".quality",
        "filter_orthogonality": ".quality",
        "random_entropy": ".quality",
        "plot_conv_quality": ".quality",
        "FilterBasis": ".shift",
        "FilterShift": ".shift",
        "collect_filters": ".shift",
        "fit_filter_basis": ".shift",
        "filter_distribution_shift": ".shift",
        "FilterQualityCallback": ".callback",
        "plot_quality_history": ".callback",
        "FilterDBArguments": ".training",
        "FilterTrainingResult": ".training",
        "load_image_data": ".training",
        "tiny_resnet_config": ".training",
        "train_filter_classifier": ".training",
    },
)
