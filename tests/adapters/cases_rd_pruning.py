"""Adapter-matrix case for rate–distortion pruning (P38): the DP allocation at 50 % over q_proj, v_proj and down_proj
of a tiny Llama, as masks on those layers.

The matrix's "adapter" view: the pruned layers are the adapter (their masked weights are what fine-tuning after
pruning trains, with the masks fixed), the rest of the base is frozen; the adapter file holds the pruned layers'
weights only (the mask is their non-zero pattern); `disable` lets every weight through; `merge` bakes the masks.
"""

import torch
from safetensors.torch import load_file, save_file

from tests.cases import AdapterCase, _tiny_llama, _token_inputs

_EXCLUDE = ("lm_head", "k_proj", "o_proj", "gate_proj", "up_proj")
_FILE = "rd_pruned_layers.safetensors"


def _is_pruned_weight(name: str) -> bool:
    return name.endswith("parametrizations.weight.original")


def _apply(base):
    from hf_methods.adapters.rd_pruning import RDLayerAdaptivePruner

    base.requires_grad_(False)
    calib = {"input_ids": torch.randint(3, 259, (4, 12), generator=torch.Generator().manual_seed(1))}
    pruner = RDLayerAdaptivePruner(base, calib, levels=5, exclude=_EXCLUDE)
    pruner.apply(pruner.allocate(0.5))
    for name, p in base.named_parameters():
        p.requires_grad_(_is_pruned_weight(name))
    return base


def _save(model, path):
    from hf_methods.common.masks import masks_of

    state = {name: model.get_submodule(name[: -len(".weight")]).weight.detach().clone() for name in masks_of(model)}
    save_file(state, f"{path}/{_FILE}")


def _load(base, path):
    from hf_methods.common.masks import apply_masks

    state = load_file(f"{path}/{_FILE}")
    with torch.no_grad():
        for name, weight in state.items():
            base.get_submodule(name[: -len(".weight")]).weight.copy_(weight)
    return apply_masks(base, {name: weight != 0 for name, weight in state.items()})


def _disable(model):
    from hf_methods.adapters.rd_pruning import masks_disabled

    return masks_disabled(model)


def _merge(model):
    from hf_methods.common.masks import bake

    return bake(model)


ADAPTER_CASES = [
    AdapterCase(
        name="rd_pruning",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=_save,
        load=_load,
        disable=_disable,
        is_adapter_param=_is_pruned_weight,
        merge=_merge,
    )
]
