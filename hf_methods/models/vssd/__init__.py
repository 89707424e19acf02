"""VSSD (P03): "VSSD: Vision Mamba with Non-Casual State Space Duality" (Shi, Dong, Li, Xu; arXiv 2407.18559).

A `transformers` image backbone and classifier built on the non-causal state space duality (NC-SSD) mixer, the pure
torch NC-SSD kernel and Mamba2's causal SSD as a masked reference, and the training pieces shared by the recipe, the
claim check and the tests. Exports are lazy.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "VSSD_MIXERS": ".configuration_vssd",
        "VSSD_SSD_MODES": ".configuration_vssd",
        "VSSDConfig": ".configuration_vssd",
        "NonCausalSSD": ".modeling_vssd",
        "VSSDAttention": ".modeling_vssd",
        "VSSDBlock": ".modeling_vssd",
        "VSSDForImageClassification": ".modeling_vssd",
        "VSSDModel": ".modeling_vssd",
        "VSSDPreTrainedModel": ".modeling_vssd",
        "causal_ssd": ".modeling_vssd",
        "non_causal_ssd": ".modeling_vssd",
        "VSSDArguments": ".training",
        "digits_image_processor": ".training",
        "digits_images": ".training",
        "train_vssd_on_digits": ".training",
    },
)
