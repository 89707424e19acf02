"""The registry the test matrices run over (DESIGN.md §5), in the style of peft's `tests/test_custom_models.py`.

A method plugs into the matrices by adding one case here: a tiny config and dummy inputs for a model, or a way to
build, save, load, disable and merge an adapter on a tiny base. `test_catalogue_has_cases` fails when an implemented
method of the catalogue has no case, so the matrix stays driven by `hf_methods.zoo`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch


def resolve(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


# ----------------------------------------------------------------------------------------------------------- models


@dataclass
class ModelCase:
    """A transformers architecture of hf-methods.

    `models` maps each model class ("module:Class") to the Auto class that must resolve to it; `make_inputs(config)`
    returns forward kwargs (with labels when `loss_key` is set); `output_key` names the output compared across
    save/load; `bad_configs` lists `(kwargs, message regex)` that the config must reject with a ValueError.
    """

    name: str
    config: str
    config_kwargs: dict[str, Any]
    models: dict[str, str]
    make_inputs: Callable[[Any], dict[str, torch.Tensor]]
    output_key: str = "logits"
    bad_configs: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    batch_invariant: bool = True
    batch_keys: tuple[str, ...] = ()  # input keys sliced along dim 0 in the batch-invariance test

    def __str__(self) -> str:
        return self.name


def _digits_like(config):
    g = torch.Generator().manual_seed(0)
    return {
        "pixel_values": torch.rand(5, config.input_size, generator=g),
        "labels": torch.randint(0, config.num_labels, (5,), generator=g),
    }


def _random_features_inputs(config):
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.rand(6, config.in_dim, generator=g) * 2 - 1,
        "labels": torch.randn(6, config.out_dim, generator=g),
    }


MODEL_CASES: list[ModelCase] = [
    ModelCase(
        name="random_features",
        config="hf_methods.models.random_features:RandomFeatureConfig",
        config_kwargs={"in_dim": 3, "width": 32, "out_dim": 2, "bandwidth": 4.0},
        models={"hf_methods.models.random_features:RandomFeatureModel": "AutoModel"},
        make_inputs=_random_features_inputs,
        output_key="predictions",
        bad_configs=[
            ({"width": 0}, "width"),
            ({"activation": "swish"}, "activation"),
            ({"bandwidth": -1.0}, "bandwidth"),
            ({"ridge": -1.0}, "ridge"),
            ({"weight_dist": "laplace"}, "weight_dist"),
        ],
        batch_keys=("inputs", "labels"),
    ),
    # a shared building block (hf_methods.common.mlp), not a method: it backs the training methods' recipes
    ModelCase(
        name="mlp",
        config="hf_methods.common.mlp:MLPConfig",
        config_kwargs={"input_size": 64, "hidden_sizes": [16, 8], "num_labels": 10},
        models={
            "hf_methods.common.mlp:MLPModel": "AutoModel",
            "hf_methods.common.mlp:MLPForImageClassification": "AutoModelForImageClassification",
        },
        make_inputs=_digits_like,
        bad_configs=[({"hidden_act": "swish"}, "hidden_act"), ({"hidden_sizes": [0]}, "hidden_sizes")],
        batch_keys=("pixel_values", "labels"),
    ),
]


# ----------------------------------------------------------------------------------------------------------- adapters


@dataclass
class AdapterCase:
    """An adapter of hf-methods on a tiny base model.

    - `make_base()` builds the (seeded, deterministic) base; `make_inputs()` its forward kwargs;
    - `apply(base)` returns the adapted model, with adapter weights set to a non-identity value so tests can fail;
    - `save(adapted, path)` / `load(base, path)` the adapter-only round trip;
    - `disable(adapted)` a context manager under which the base output must come back;
    - `merge(adapted)` returns a model with the adapter folded in (None when the math has no merge);
    - `is_adapter_param(name)` tells adapter parameters from base ones.
    """

    name: str
    make_base: Callable[[], torch.nn.Module]
    make_inputs: Callable[[], dict[str, torch.Tensor]]
    apply: Callable[[torch.nn.Module], torch.nn.Module]
    save: Callable[[torch.nn.Module, str], None]
    load: Callable[[torch.nn.Module, str], torch.nn.Module]
    disable: Callable[[torch.nn.Module], AbstractContextManager]
    is_adapter_param: Callable[[str], bool]
    merge: Callable[[torch.nn.Module], torch.nn.Module] | None = None

    def __str__(self) -> str:
        return self.name


def _tiny_llama():
    from hf_methods.common.tiny import tiny_llama

    return tiny_llama(seed=0)


def _token_inputs():
    g = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(3, 259, (2, 12), generator=g)}


def peft_case(name: str, make_config: Callable[[], Any], prefix: str, *, merge: bool = True) -> AdapterCase:
    """A case for an adapter that is a PEFT method (built in or registered): `get_peft_model` and friends."""

    def apply(base):
        from peft import get_peft_model

        return get_peft_model(base, make_config())

    def load(base, path):
        from peft import PeftModel

        return PeftModel.from_pretrained(base, path)

    return AdapterCase(
        name=name,
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=apply,
        save=lambda model, path: model.save_pretrained(path),
        load=load,
        disable=lambda model: model.disable_adapter(),
        is_adapter_param=lambda n: prefix in n,
        merge=(lambda model: model.merge_and_unload()) if merge else None,
    )


def _reference_lora_config():
    from peft import LoraConfig

    # init_lora_weights=False: B is random too, so the adapter changes the output and every test can fail
    return LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)


ADAPTER_CASES: list[AdapterCase] = [
    # peft's own LoRA: the reference the matrix is checked on; hf-methods adapters join the list as they land
    peft_case("peft-lora-reference", _reference_lora_config, prefix="lora_"),
]


# ----------------------------------------------------------------------------------------------------------- discovery
# A method may keep its cases next to its own tests, in `tests/<kind>/cases_<slug>.py` defining `MODEL_CASES` and/or
# `ADAPTER_CASES` lists; they join the matrices here.


def _discover() -> None:
    from pathlib import Path

    for path in sorted(Path(__file__).parent.glob("*/cases_*.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.{path.stem}")
        MODEL_CASES.extend(getattr(module, "MODEL_CASES", []))
        ADAPTER_CASES.extend(getattr(module, "ADAPTER_CASES", []))


_discover()
