"""A plain multilayer perceptron as a transformers model (`model_type` "hfm-mlp"), the backbone of small experiments.

Several methods train an MLP on flat features (digits 8×8, tabular data). Making it a `PreTrainedModel` gives those
recipes `save_pretrained` / `AutoModelForImageClassification.from_pretrained` / remote code for free.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MLPConfig": ".configuration_mlp",
        "MLPModel": ".modeling_mlp",
        "MLPForImageClassification": ".modeling_mlp",
        "MLPPreTrainedModel": ".modeling_mlp",
    },
)
