"""Weight compander (P10): every weight trained as v and used as w = WC(v; α, β), through `torch.nn.utils.parametrize`.

`apply_weight_compander(model)` (or `get_weight_compander_model(model, WeightCompanderConfig(...))`) registers the
reparameterization with per-layer α, β (learnable by default); `remove_weight_compander(model)` (alias
`merge_and_unload`) bakes the effective weights so the saved checkpoint is a vanilla one. `training.py` holds the
digits experiment shared by the recipe, the claim and the tests.
"""

from hf_methods.lazy import lazy_exports

__all__ = [
    "COMPANDERS",
    "WeightCompander",
    "WeightCompanderConfig",
    "apply_weight_compander",
    "arctan_compander",
    "compander_modules",
    "compander_values",
    "disable_weight_compander",
    "get_weight_compander_model",
    "merge_and_unload",
    "near_zero_fraction",
    "remove_weight_compander",
    "tanh_compander",
]

__getattr__, __dir__ = lazy_exports(__name__, {name: ".compander" for name in __all__})
