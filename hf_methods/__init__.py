"""hf-methods: recent ML research methods in the forms of the Hugging Face stack.

`import hf_methods` registers every hf-methods architecture with transformers' Auto classes and exposes the public
API of every method lazily. Both are derived from the method records (`hf_methods/<kind>/<slug>/method.py`, read by
`hf_methods.zoo`), so adding a method edits no file here. Nothing heavy is imported until it is used: the Auto
classes are registered when transformers' Auto module is imported (see `hf_methods.auto`), a method's code when one
of its names is first read.

```python
import hf_methods
from hf_methods import LDRKLLoss, RandomFeatureConfig, RandomFeatureModel
hf_methods.list_methods()          # the catalogue of all 64 methods (see `hf-methods list`)
```
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The catalogue's own public names; every method's come from its record, the shared blocks' from `common.EXPORTS`.
_CATALOGUE_EXPORTS = {
    "METHODS": "hf_methods.zoo",
    "Method": "hf_methods.record",
    "get_method": "hf_methods.zoo",
    "list_methods": "hf_methods.zoo",
}


def _exports() -> dict[str, str]:
    common = importlib.import_module("hf_methods.common")
    zoo = importlib.import_module("hf_methods.zoo")
    names = dict(_CATALOGUE_EXPORTS)
    for source in (common.EXPORTS, zoo.public_names()):
        clash = sorted(set(names) & set(source))
        if clash:
            raise RuntimeError(f"public names defined twice: {clash}")
        names.update(source)
    return names


def __getattr__(name: str):
    if name.startswith("__") and name != "__all__":  # dunder lookups (e.g. by import machinery) are not exports
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name == "__all__":
        return sorted(_exports())
    module = _exports().get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_exports()))


def _register() -> None:
    from hf_methods.auto import register_when_transformers_loads

    register_when_transformers_loads()


_register()
