"""Registration of hf-methods architectures with transformers' Auto classes, without importing them.

transformers has no plugin discovery: `AutoConfig.register` / `AutoModel*.register` must run in-process before
`from_pretrained` on a folder whose `model_type` is one of ours. The table of what to register is derived from the
method records (`Method.auto_classes`, see `hf_methods.zoo.auto_classes`) and from the shared blocks
(`hf_methods.common.AUTO_CLASSES`). Three things keep `import hf_methods` cheap:

- nothing is registered before transformers' Auto module is imported: `import hf_methods` alone imports neither
  transformers nor torch (so `hf-methods list` stays fast). If `transformers.models.auto` is already imported, the
  registration runs at once; otherwise a one-shot import hook runs it right after transformers imports its Auto
  module, i.e. before any `AutoConfig` / `AutoModel` call can happen;
- configs are registered with `AutoConfig.register` (configuration modules are cheap);
- models are registered *by name*: each Auto mapping's `_extra_content` (the dict that `_LazyAutoMapping.register`
  fills) is swapped for a :class:`_LazyClassDict` that imports `"module:Class"` the first time the mapping is read.

The last point relies on a private attribute of `_LazyAutoMapping` (transformers 5.x); `tests/test_auto.py` pins the
behaviour so an upgrade that changes it fails loudly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Mapping

#: transformers' Auto modules; the registration runs right after each has finished importing.
CONFIG_MODULE = "transformers.models.auto.configuration_auto"
MODELING_MODULE = "transformers.models.auto.modeling_auto"
#: transformers' modeling code; the methods' `on_transformers_import` hooks run right after it has imported.
MODELING_UTILS_MODULE = "transformers.modeling_utils"

_state = {"configs": False, "models": False, "hooks": False}
_lock = threading.RLock()


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

    auto_cls = getattr(transformers, name, None)
    if auto_cls is None or not hasattr(auto_cls, "_model_mapping"):
        raise ValueError(f"{name!r} is not a transformers Auto model class (e.g. 'AutoModelForCausalLM').")
    return auto_cls


def register_configs_lazily(configs: Mapping[str, str]) -> None:
    """Registers `{model_type: "module:Class"}` with `AutoConfig` without importing the configuration modules."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if not isinstance(CONFIG_MAPPING._extra_content, _LazyClassDict):
        CONFIG_MAPPING._extra_content = _LazyClassDict(CONFIG_MAPPING._extra_content)
    for model_type, config_path in configs.items():
        if model_type in CONFIG_MAPPING._mapping:
            raise ValueError(f"{model_type!r} is already used by a transformers configuration.")
        CONFIG_MAPPING._extra_content[model_type] = config_path


def register_model_lazily(config_cls, auto_classes: Mapping[str, str]) -> None:
    """Registers `{"AutoModel": "module:Class", ...}` for `config_cls` without importing the model modules."""
    for auto_name, model_path in auto_classes.items():
        mapping = _auto_class(auto_name)._model_mapping
        if not isinstance(mapping._extra_content, _LazyClassDict):
            mapping._extra_content = _LazyClassDict(mapping._extra_content)
        mapping._extra_content[config_cls] = model_path


def auto_table() -> dict[str, dict[str, str]]:
    """`{model_type: {"AutoConfig": "module:Class", "AutoModel...": "module:Class"}}` of methods and shared blocks."""
    common = importlib.import_module("hf_methods.common")
    zoo = importlib.import_module("hf_methods.zoo")
    table = dict(common.AUTO_CLASSES)
    for model_type, classes in zoo.auto_classes().items():
        if model_type in table:
            raise RuntimeError(f"model_type {model_type!r} is registered twice.")
        table[model_type] = classes
    return table


def register_auto_configs() -> None:
    """Registers every hf-methods configuration class with `AutoConfig`, by name (once per process)."""
    with _lock:
        if not _state["configs"]:
            _state["configs"] = True
            register_configs_lazily({model_type: c["AutoConfig"] for model_type, c in auto_table().items()})


def register_auto_models() -> None:
    """Registers every hf-methods model class with its `AutoModel*` classes, by name (once per process).

    The configuration classes are imported here (they key transformers' model mappings); the model classes are not.
    """
    with _lock:
        if _state["models"]:
            return
        register_auto_configs()
        _state["models"] = True
        for classes in auto_table().values():
            models = {name: path for name, path in classes.items() if name != "AutoConfig"}
            register_model_lazily(_resolve(classes["AutoConfig"]), models)


def run_transformers_import_hooks() -> None:
    """Calls every landed method's `on_transformers_import` functions (once per process).

    They register what a saved checkpoint needs beyond its classes, e.g. an attention implementation, so that
    `import hf_methods` alone makes every hf-methods checkpoint load.
    """
    with _lock:
        if _state["hooks"]:
            return
        _state["hooks"] = True
        zoo = importlib.import_module("hf_methods.zoo")
        for hook in zoo.transformers_import_hooks():
            _resolve(hook)()


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Runs a callback right after a module finishes importing (a one-shot post-import hook per module)."""

    def __init__(self, callbacks):
        self.callbacks = dict(callbacks)

    def find_spec(self, name, path=None, target=None):
        if name not in self.callbacks:
            return None
        sys.meta_path.remove(self)  # find the real module with the other finders, then wrap its loader
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _CallbackLoader(spec.loader, self._pop(name))
        return spec

    def _pop(self, name):
        with _lock:
            callback = self.callbacks.pop(name)
            if not self.callbacks and self in sys.meta_path:
                sys.meta_path.remove(self)
        return callback


class _CallbackLoader(importlib.abc.Loader):
    def __init__(self, loader, callback):
        self.loader, self.callback = loader, callback

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.callback()


def register_when_transformers_loads() -> None:
    """What `import hf_methods` does: registers with the Auto classes now if transformers' Auto modules are imported,
    else right after each is (so `import hf_methods` itself imports neither transformers nor torch)."""
    with _lock:
        pending = {}
        for module, callback in (
            (CONFIG_MODULE, register_auto_configs),
            (MODELING_MODULE, register_auto_models),
            (MODELING_UTILS_MODULE, run_transformers_import_hooks),
        ):
            if module in sys.modules:
                callback()
            else:
                pending[module] = callback
        if pending and not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _RegisterAfterImport(pending))
