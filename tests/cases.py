"""The registry the test matrices run over, in the style of peft's `tests/test_custom_models.py`.

Every kind of method has a matrix (`tests/test_<kind>_matrix.py`) and a case type here:

- `ModelCase` (models): a tiny config and dummy inputs of a transformers architecture;
- `AdapterCase` (adapters): how to build, save, load, disable and merge an adapter on a tiny base;
- `LossCase` (training objectives): a loss module and dummy `(logits, labels, ...)` inputs;
- `GenerateCase` (generation strategies): a tiny model, a prompt and how to run the strategy through `generate`;
- `AnalysisCase` (analysis functions): a function returning a dataclass of numbers, and its plot helper.

A method plugs into a matrix by adding one case, preferably next to its own tests in `tests/<kind>/cases_<slug>.py`
(a module defining `MODEL_CASES`, `ADAPTER_CASES`, `LOSS_CASES`, `GENERATE_CASES` and/or `ANALYSIS_CASES` lists, found
by `_discover` below). Each matrix's `test_catalogue_has_cases` fails when an implemented method of its kind has no
case, so the matrices stay driven by `hf_methods.zoo`.
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
    returns forward kwargs (with `labels` for the models that compute a loss); `output_key` names the output the
    tests compare (save/load, remote code, batch invariance) and `output_keys` overrides it per model class (e.g. a
    base model's `last_hidden_state` next to its head's `logits`); `bad_configs` lists `(kwargs, message regex)`
    that the config must reject with a ValueError.
    """

    name: str
    config: str
    config_kwargs: dict[str, Any]
    models: dict[str, str]
    make_inputs: Callable[[Any], dict[str, torch.Tensor]]
    output_key: str = "logits"
    output_keys: dict[str, str] = field(default_factory=dict)
    bad_configs: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    batch_invariant: bool = True
    batch_keys: tuple[str, ...] = ()  # input keys sliced along dim 0 in the batch-invariance test

    def key_of(self, model_path: str) -> str:
        """The output of `model_path` ("module:Class") that the tests compare."""
        return self.output_keys.get(model_path, self.output_key)

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
        output_keys={"hf_methods.common.mlp:MLPModel": "last_hidden_state"},
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


# ----------------------------------------------------------------------------------------------------------- losses


@dataclass
class LossCase:
    """A training objective, called as `loss(**inputs)`.

    - `make_loss(reduction)` builds a fresh loss module (a stateful loss, e.g. one with a per-example buffer, starts
      clean on every call, so results do not depend on the order of the tests);
    - `make_inputs(batch_size)` returns seeded keyword arguments: the float tensor named by `input_key` (what a model
      would output; gradients must reach it), the labels and any extra argument (e.g. `sample_idx`). Every tensor is
      sliced along dim 0 in the batch-invariance test;
    - `bad_inputs` lists `(what, change, exception type, message regex)`: `change(inputs)` returns broken inputs
      (bad labels or shapes) that the loss must refuse with that exception and a message matching the regex;
    - `known_failures` maps a matrix test's name to the reason it fails today: the test runs as a strict xfail, so it
      turns red once the bug is fixed and the entry must go;
    - `batch_invariant=False` marks an objective defined over the batch (pairs or bags of examples, e.g. a metric
      learning loss): the matrix then checks that permuting the batch permutes the per-example losses instead of
      checking each example alone.
    """

    name: str
    make_loss: Callable[[str], torch.nn.Module]
    make_inputs: Callable[[int], dict[str, torch.Tensor]]
    bad_inputs: list[tuple[str, Callable[[dict], dict], type[Exception], str]]
    input_key: str = "logits"
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    known_failures: dict[str, str] = field(default_factory=dict)
    batch_invariant: bool = True

    def __str__(self) -> str:
        return self.name


def classification_inputs(batch_size: int, num_classes: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded `logits` `(batch, num_classes)` (scaled so no row is flat) and `labels` `(batch,)`."""
    g = torch.Generator().manual_seed(seed)
    return {
        "logits": torch.randn(batch_size, num_classes, generator=g) * 2.0,
        "labels": torch.randint(0, num_classes, (batch_size,), generator=g),
    }


def with_labels(labels: torch.Tensor | Callable[[dict], torch.Tensor]) -> Callable[[dict], dict]:
    """A `LossCase.bad_inputs` change that replaces the labels."""
    return lambda inputs: {**inputs, "labels": labels(inputs) if callable(labels) else labels}


def with_input(key: str, value: Callable[[dict], torch.Tensor]) -> Callable[[dict], dict]:
    """A `LossCase.bad_inputs` change that replaces `inputs[key]` by `value(inputs)`."""
    return lambda inputs: {**inputs, key: value(inputs)}


LOSS_CASES: list[LossCase] = [
    # torch's cross-entropy: the reference the matrix is checked on; hf-methods losses join in tests/training/
    LossCase(
        name="torch-cross-entropy-reference",
        make_loss=lambda reduction: torch.nn.CrossEntropyLoss(reduction=reduction),
        make_inputs=lambda batch_size: {
            "input": (d := classification_inputs(batch_size))["logits"],
            "target": d["labels"],
        },
        input_key="input",
        bad_inputs=[
            ("label out of range", lambda x: {**x, "target": x["target"].clone().fill_(7)}, IndexError, "out of"),
            ("batch mismatch", lambda x: {**x, "target": x["target"][:-1]}, ValueError, "batch_size"),
        ],
    ),
]


# ----------------------------------------------------------------------------------------------------------- generation


@dataclass
class GenerateCase:
    """A generation strategy, run through `model.generate`.

    - `make_model()` builds the seeded tiny model (built once per test module); `make_inputs()` the prompt kwargs;
    - `generate(model, inputs, **kwargs)` runs the strategy with extra generation kwargs; it must go through
      `model.generate` (the matrix counts the calls);
    - `supports` names the generation kwargs the strategy honours, among those the matrix knows how to check:
      `max_new_tokens`, `eos_token_id`, `min_new_tokens`, `repetition_penalty`, `suppress_tokens`;
    - `reference(model, inputs, **kwargs)`, for a lossless strategy, returns what it must reproduce token for token
      (e.g. plain greedy decoding) with the same kwargs;
    - `unsupported` lists `(generation kwargs, message regex)` that the strategy must refuse with a ValueError
      instead of silently ignoring them;
    - `known_failures` maps the id of an unsupported-kwargs test (`"<case>-<key>=<value>"`) to the reason it fails
      today: it runs as a strict xfail, so it turns red once fixed and the entry must go.
    """

    name: str
    make_model: Callable[[], Any]
    make_inputs: Callable[[], dict[str, torch.Tensor]]
    generate: Callable[..., torch.Tensor]
    supports: tuple[str, ...]
    reference: Callable[..., torch.Tensor] | None = None
    unsupported: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    known_failures: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def _greedy(model, inputs, **kwargs):
    return model.generate(**inputs, do_sample=False, **kwargs)


def _tiny_llama_for_generation():
    model = _tiny_llama().eval()
    model.generation_config.pad_token_id = 0
    return model


def prompt_inputs(length: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded batch-of-one prompt over the byte vocabulary of the tiny Llama."""
    g = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(3, 259, (1, length), generator=g)}


GENERATE_KWARGS = ("max_new_tokens", "eos_token_id", "min_new_tokens", "repetition_penalty", "suppress_tokens")

GENERATE_CASES: list[GenerateCase] = [
    # plain greedy decoding: the reference the matrix is checked on
    GenerateCase(
        name="greedy-reference",
        make_model=_tiny_llama_for_generation,
        make_inputs=prompt_inputs,
        generate=_greedy,
        supports=GENERATE_KWARGS,
        reference=_greedy,
    ),
]


# ----------------------------------------------------------------------------------------------------------- analysis


@dataclass
class AnalysisCase:
    """An analysis function and its plot helper.

    - `run(seed)` returns a dataclass whose fields are numbers (floats, ints, tensors, arrays, or lists / dicts /
      tuples of them; strings and booleans are allowed as labels); it must be deterministic for a given seed;
    - `plot(result, path)` writes a PNG of `result` at `path`.
    """

    name: str
    run: Callable[[int], Any]
    plot: Callable[[Any, Any], Any]

    def __str__(self) -> str:
        return self.name


@dataclass
class HiddenStateNorms:
    """Per layer, the mean and standard deviation over tokens of the hidden states' L2 norms."""

    layers: list[int]
    mean_norm: list[float]
    std_norm: list[float]


def reference_hidden_state_norms(seed: int) -> HiddenStateNorms:
    """A reference analysis: hidden-state norms of the tiny Llama on a seeded random prompt."""
    model = _tiny_llama().eval()
    with torch.no_grad():
        hidden = model(**prompt_inputs(length=12, seed=seed), output_hidden_states=True).hidden_states
    norms = [h[0].norm(dim=-1) for h in hidden]
    return HiddenStateNorms(
        layers=list(range(len(norms))),
        mean_norm=[float(n.mean()) for n in norms],
        std_norm=[float(n.std()) for n in norms],
    )


def plot_hidden_state_norms(result: HiddenStateNorms, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.errorbar(result.layers, result.mean_norm, yerr=result.std_norm, marker="o")
    ax.set_xlabel("layer")
    ax.set_ylabel("hidden-state norm")
    fig.savefig(path)
    plt.close(fig)


ANALYSIS_CASES: list[AnalysisCase] = [
    AnalysisCase(name="hidden-state-norms-reference", run=reference_hidden_state_norms, plot=plot_hidden_state_norms),
]


# ----------------------------------------------------------------------------------------------------------- discovery
# A method keeps its cases next to its own tests, in `tests/<kind>/cases_<slug>.py` defining any of the lists below;
# they join the matrices here.

CASE_LISTS = {
    "MODEL_CASES": MODEL_CASES,
    "ADAPTER_CASES": ADAPTER_CASES,
    "LOSS_CASES": LOSS_CASES,
    "GENERATE_CASES": GENERATE_CASES,
    "ANALYSIS_CASES": ANALYSIS_CASES,
}


# The lists are handed out through the module's `__getattr__`, filled on first access: a `cases_<slug>.py` named on
# the pytest command line is imported before this module, and importing it again from here at import time would see
# it half-initialised (its lists not yet defined) and silently drop its cases.
for _name in CASE_LISTS:
    del globals()[_name]
_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    from pathlib import Path

    for path in sorted(Path(__file__).parent.glob("*/cases_*.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.{path.stem}")
        for list_name, cases in CASE_LISTS.items():
            cases.extend(getattr(module, list_name, []))


def __getattr__(name: str):
    if name in CASE_LISTS:
        _discover()
        return CASE_LISTS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
