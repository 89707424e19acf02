"""JLCM in the adapter matrix (tests/test_adapter_matrix.py): 2-bit grouped codebooks on q_proj, v_proj and
down_proj of a tiny Llama.

The matrix's "adapter" view of a post-training quantizer: the codebooks are the adapter (they are what fine-tuning
after quantization trains; the indices are fixed), the adapter file holds the packed indices and float16 codebooks
only, `disable` computes with the kept full-precision weights, and `merge` bakes Ŵ = C[I] into plain Linears.
"""

import torch

from tests.cases import AdapterCase, _tiny_llama, _token_inputs

_TARGETS = ("q_proj", "v_proj", "down_proj")


def _apply(base):
    from hf_methods.adapters.jlcm import JLCMQuantizer

    base.requires_grad_(False)
    calib = {"input_ids": torch.randint(3, 259, (4, 12), generator=torch.Generator().manual_seed(1))}
    quantizer = JLCMQuantizer(bits=2, n_groups=2, steps=3, target_modules=_TARGETS, keep_original=True)
    return quantizer.quantize(base, calib)


def _save(model, path):
    from hf_methods.adapters.jlcm import save_codebook_model

    save_codebook_model(model, path)


def _load(base, path):
    from hf_methods.adapters.jlcm import load_codebook_model

    return load_codebook_model(base, path)


def _disable(model):
    from hf_methods.adapters.jlcm import disable_codebooks

    return disable_codebooks(model)


def _merge(model):
    from hf_methods.adapters.jlcm import dequantize_codebooks

    return dequantize_codebooks(model)


ADAPTER_CASES = [
    AdapterCase(
        name="jlcm",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=_save,
        load=_load,
        disable=_disable,
        is_adapter_param=lambda name: name.endswith(".codebook"),
        merge=_merge,
    )
]
