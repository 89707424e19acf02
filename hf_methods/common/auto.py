"""Registration of hf-methods architectures with transformers' Auto classes, without importing them.

transformers 5.24 has no plugin discovery: `AutoConfig.register` / `AutoModel*.register` must run in-process before
`from_pretrained` on a folder whose `model_type` is one of ours. Registering a model class the normal way imports it,
and importing any `PreTrainedModel` costs as much as transformers' own import again (torch, `modeling_utils`). So:

- configs are registered eagerly with `AutoConfig.register` (configuration modules are cheap);
- models are registered *by name*: each Auto mapping's `_extra_content` (the dict that `_LazyAutoMapping.register`
  fills) is swapped for a :class:`_LazyClassDict` that imports `"module:Class"` the first time the mapping is read.

The second point relies on a private attribute of `_LazyAutoMapping`; `tests/test_auto.py` pins the behaviour.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping


def _resolve(value):
    if isinstance(value, str) and ":" in value:
        module, name = value.split(":")
        return getattr(importlib.import_module(module), name)
    return value


class _LazyClassDict(dict):
    """A dict whose string values `"module:Class"` are imported (and replaced by the class) when read."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, str):
            value = _resolve(value)
            super().__setitem__(key, value)
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return [self[k] for k in self.keys()]

    def items(self):
        return [(k, self[k]) for k in self.keys()]


def _auto_class(name: str):
    import transformers

    return getattr(transformers, name)


def register_config(model_type: str, config_path: str):
    """Registers a configuration class (given as `"module:Class"`) with `AutoConfig` and returns it."""
    from transformers import AutoConfig

    config_cls = _resolve(config_path)
    AutoConfig.register(model_type, config_cls, exist_ok=True)
    return config_cls


def register_model_lazily(config_cls, auto_classes: Mapping[str, str]) -> None:
    """Registers `{"AutoModel": "module:Class", ...}` for `config_cls` without importing the model modules."""
    for auto_name, model_path in auto_classes.items():
        mapping = _auto_class(auto_name)._model_mapping
        if not isinstance(mapping._extra_content, _LazyClassDict):
            mapping._extra_content = _LazyClassDict(mapping._extra_content)
        mapping._extra_content[config_cls] = model_path
