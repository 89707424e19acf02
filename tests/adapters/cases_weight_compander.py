"""The weight compander in the adapter matrix (tests/test_adapter_matrix.py).

The method trains every weight v together with α, β; the matrix's "adapter" view is the compander on a frozen base:
only the per-layer α, β train, the adapter file holds them alone, and merging bakes w = WC(v; α, β) into the weights.
"""

from safetensors.torch import load_file, save_file

from tests.cases import AdapterCase, _tiny_llama, _token_inputs

_FILE = "weight_compander.safetensors"


def _is_compander_param(name: str) -> bool:
    return name.endswith("log_alpha") or name.endswith("log_beta")


def _apply(base):
    from hf_methods.adapters.weight_compander import apply_weight_compander

    base.requires_grad_(False)
    # α of the order of the weights, so the compander visibly changes the output and the round trip can fail
    return apply_weight_compander(base, alpha=0.05, beta=1.5, learnable=True, exclude=("lm_head",))


def _save(model, path):
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if _is_compander_param(k)}
    save_file(state, f"{path}/{_FILE}")


def _load(base, path):
    model = _apply(base)
    state = load_file(f"{path}/{_FILE}")
    missing = [k for k in state if k not in model.state_dict()]
    assert not missing, missing
    model.load_state_dict(state, strict=False)
    return model


def _merge(model):
    from hf_methods.adapters.weight_compander import remove_weight_compander

    return remove_weight_compander(model)


def _disable(model):
    from hf_methods.adapters.weight_compander import disable_weight_compander

    return disable_weight_compander(model)


ADAPTER_CASES = [
    AdapterCase(
        name="weight_compander",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=_save,
        load=_load,
        disable=_disable,
        is_adapter_param=_is_compander_param,
        merge=_merge,
    )
]
