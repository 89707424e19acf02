"""Quantized Side Tuning (P04, Zhang et al., ACL 2024): a side network on a frozen (4-bit) causal LM.

PEFT's method enum is closed to out-of-tree tuners and QST is a model-level side network rather than a layer swap, so
QST gets a PEFT-shaped API of its own: `QSTConfig`, `get_qst_model(base, config)`, `QSTModel.save_pretrained(path)`
(side weights + config only), `QSTModel.push_to_hub(repo_id)`, `QSTModel.from_pretrained(base, path_or_repo_id)`,
and `QSTTrainer`, a `transformers.Trainer` whose `save_model` and checkpoints write that format.
"""

from hf_methods.lazy import lazy_exports

__all__ = ["QSTConfig", "QSTModel", "QSTSideNetwork", "QSTTrainer", "get_qst_model"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "QSTConfig": ".config",
        "QSTModel": ".model",
        "QSTSideNetwork": ".model",
        "QSTTrainer": ".trainer",
        "get_qst_model": ".model",
    },
)
