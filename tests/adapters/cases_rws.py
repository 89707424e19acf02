"""Robust weight signatures in the adapter matrix (tests/test_adapter_matrix.py).

A signature is extracted from three tiny Llamas (a "pretrained" one and two seeded perturbations of it standing for
the clean and the robust fine-tune) over the first four layers (embedding, q/k/v projections of block 0). The
matrix's adapter view is [`RobustWeightSignature.attach`]: weight = original + α·RWS through
`torch.nn.utils.parametrize`, α a learnable scalar (the frozen base does not train); the adapter folder holds the
signature alone (`save_pretrained` with the current α as `default_scale`); `merge` bakes it into plain weights.
"""

import copy

import torch

from tests.cases import AdapterCase, _tiny_llama, _token_inputs


def _signature():
    from hf_methods.adapters.rws import RobustWeightSignature

    pretrained = _tiny_llama()
    clean, robust = copy.deepcopy(pretrained), copy.deepcopy(pretrained)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p, q in zip(clean.parameters(), robust.parameters()):
            p.add_(0.05 * torch.randn(p.shape, generator=g))
            q.add_(0.05 * torch.randn(q.shape, generator=g))
    return RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers=4, default_scale=0.8)


def _apply(base):
    base.requires_grad_(False)
    return _signature().attach(base, learnable=True)


def _save(model, path):
    from hf_methods.adapters.rws import attached_signature

    attached_signature(model).save_pretrained(path)


def _load(base, path):
    from hf_methods.adapters.rws import RobustWeightSignature

    base.requires_grad_(False)
    return RobustWeightSignature.from_pretrained(path).attach(base, learnable=True)


def _disable(model):
    from hf_methods.adapters.rws import signatures_disabled

    return signatures_disabled(model)


def _merge(model):
    from hf_methods.adapters.rws import merge_signatures

    return merge_signatures(model)


def _is_signature_param(name: str) -> bool:
    return name.endswith(".scale") and ".parametrizations." in name


ADAPTER_CASES = [
    AdapterCase(
        name="rws",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=_save,
        load=_load,
        disable=_disable,
        is_adapter_param=_is_signature_param,
        merge=_merge,
    )
]
