"""Weight matching (P37) in the adapter matrix (tests/test_adapter_matrix.py).

The method's "adapter" view is a merge along the linear path of the paper: a second tiny Llama (another seed) is
matched to the base by weight matching (the intermediate neurons of every gated MLP), and the base's MLP weights become
`(1 − t) W + t π(W_partner)` through `add_merge_partner` (a `torch.nn.utils.parametrize` reparameterisation) with a
learnable `t` per weight. The adapter file holds the permuted partner MLP weights and the `t`s; `disable` gives the
base weights back exactly; `merge` bakes `W(t)` into plain parameters.
"""

from safetensors.torch import load_file, save_file

from tests.cases import AdapterCase, _tiny_llama, _token_inputs

_FILE = "merge_partner.safetensors"
_MARK = ".parametrizations.weight.0."


def _is_merge_param(name: str) -> bool:
    return name.endswith(_MARK + "t")


def _mlp_weights(model):
    return [name for name, _ in model.named_parameters() if ".mlp." in name and name.endswith("_proj.weight")]


def _apply(base):
    from hf_methods.adapters.weight_matching import add_merge_partner, apply_permutation, weight_matching
    from hf_methods.common.tiny import tiny_llama

    partner = tiny_llama(seed=1)
    matched = apply_permutation(partner, weight_matching(base, partner))
    base.requires_grad_(False)
    return add_merge_partner(base, matched, t=0.5, parameters=_mlp_weights(base), learnable_t=True)


def _save(model, path):
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if _MARK in k}
    save_file(state, f"{path}/{_FILE}")


def _load(base, path):
    from hf_methods.adapters.weight_matching import add_merge_partner

    state = load_file(f"{path}/{_FILE}")
    partners = {k.split(".parametrizations.")[0] + ".weight": v for k, v in state.items() if k.endswith("partner")}
    base.requires_grad_(False)
    model = add_merge_partner(base, partners, parameters=list(partners), learnable_t=True)
    missing = [k for k in state if k not in model.state_dict()]
    assert not missing, missing
    model.load_state_dict(state, strict=False)
    return model


def _disable(model):
    from hf_methods.adapters.weight_matching import merge_partner_disabled

    return merge_partner_disabled(model)


def _merge(model):
    from hf_methods.adapters.weight_matching import bake_merge_partner

    return bake_merge_partner(model)


ADAPTER_CASES = [
    AdapterCase(
        name="weight_matching",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=_save,
        load=_load,
        disable=_disable,
        is_adapter_param=_is_merge_param,
        merge=_merge,
    )
]
