"""QST in the adapter matrix (tests/test_adapter_matrix.py): a side network on the tiny Llama, no merge."""

import torch

from tests.cases import AdapterCase, _tiny_llama, _token_inputs


def _apply(base):
    from hf_methods.adapters.qst import QSTConfig, get_qst_model

    model = get_qst_model(base, QSTConfig(reduction_factor=4, adapter_rank=8))
    # The default output gate is a fixed buffer (ζ_lm = 1 everywhere): random values make a save/load that dropped or
    # mixed up the gate change the output, so the matrix's round-trip tests can fail
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.qst.output_gate.copy_(torch.rand(model.qst.output_gate.shape, generator=g))
    return model


def _load(base, path):
    from hf_methods.adapters.qst import QSTModel

    return QSTModel.from_pretrained(base, path)


ADAPTER_CASES = [
    AdapterCase(
        name="qst",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=lambda model, path: model.save_pretrained(path),
        load=_load,
        disable=lambda model: model.disable_adapter(),
        is_adapter_param=lambda name: name.startswith("qst."),
        merge=None,  # the side network is not a weight delta
    )
]
