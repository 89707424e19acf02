"""Lazy attribute exports for packages (the pattern of transformers' `_LazyModule`, in a few lines).

`import hf_methods` must stay about as cheap as importing transformers' Auto classes, so packages expose their public
names through a module-level `__getattr__` that imports the defining submodule on first access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Returns `(__getattr__, __dir__)` for `package` exporting `name -> module` lazily.

    Modules may be absolute (`"hf_methods.training.ldr.loss"`) or relative to `package` (`".loss"`).

    Example (in a package `__init__.py`):

    ```python
    __getattr__, __dir__ = lazy_exports(__name__, {"LDRKLLoss": ".loss"})
    ```
    """

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        return getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
