"""Model cards and Hub uploads for hf-methods.

- `cards`: `build_card` / `write_card` render a method's `huggingface_hub.ModelCard` (YAML metadata with eval
  results, usage, recipe, reproduced claim); `write_model_cards` regenerates `model_cards/<slug>.md` (`make cards`).
- `push`: `push_folder` uploads a recipe's output folder with `huggingface_hub.HfApi`.

The submodules are imported on first use, so `import hf_methods.hub` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cards import build_card, write_card, write_model_cards
    from .push import push_folder

_LAZY = {
    "build_card": "cards",
    "write_card": "cards",
    "write_model_cards": "cards",
    "push_folder": "push",
}

__all__ = ["build_card", "push_folder", "write_card", "write_model_cards"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
