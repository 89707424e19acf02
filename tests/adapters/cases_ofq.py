"""OFQ in the adapter matrix (tests/test_adapter_matrix.py), on the tiny Llama of the matrix.

OFQ trains every weight (quantization-aware training), so the matrix's "adapter on a frozen base" view is the
quantizers' own parameters on frozen weights, which is how a quantized model is calibrated:

- `ofq`: StatsQ weights (2 bits, no parameter) with LSQ activation quantizers (4 bits): the adapter is the
  activation steps and the learnable biases around them; activation quantization has no merge;
- `ofq-lsq-weights`: the LSQ weight baseline (2 bits, weights only): the adapter is the per-row steps, and merging
  folds the quantized weights into plain Linear layers.

The adapter file holds the quantizers' parameters and buffers; loading re-applies the quantizers to a fresh base and
loads them. `disable` is `quantization_disabled` (the floating-point model, exactly).
"""

from safetensors.torch import load_file, save_file

from tests.cases import AdapterCase, _tiny_llama, _token_inputs

_FILE = "ofq_quantizers.safetensors"


def _is_quantizer_state(name: str) -> bool:
    return "_quantizer." in name


def _make(weight_quantizer, a_bits):
    def apply(base):
        from hf_methods.adapters.ofq import quantize_linear_layers

        base.requires_grad_(False)
        model = quantize_linear_layers(
            base, w_bits=2, a_bits=a_bits, weight_quantizer=weight_quantizer, exclude=("lm_head",)
        )
        model(**_token_inputs())  # initialises the activation steps from one batch
        return model

    def load(base, path):
        model = apply(base)
        state = load_file(f"{path}/{_FILE}")
        missing = [k for k in state if k not in model.state_dict()]
        assert not missing, missing
        model.load_state_dict(state, strict=False)
        return model

    return apply, load


def _save(model, path):
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if _is_quantizer_state(k)}
    save_file(state, f"{path}/{_FILE}")


def _disable(model):
    from hf_methods.adapters.ofq import quantization_disabled

    return quantization_disabled(model)


def _merge(model):
    from hf_methods.adapters.ofq import merge_and_unload

    return merge_and_unload(model)


_apply_statsq, _load_statsq = _make("statsq", 4)
_apply_lsq, _load_lsq = _make("lsq", None)

ADAPTER_CASES = [
    AdapterCase(
        name="ofq",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply_statsq,
        save=_save,
        load=_load_statsq,
        disable=_disable,
        is_adapter_param=lambda name: "input_quantizer." in name,
        merge=None,
    ),
    AdapterCase(
        name="ofq-lsq-weights",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply_lsq,
        save=_save,
        load=_load_lsq,
        disable=_disable,
        is_adapter_param=lambda name: "weight_quantizer." in name,
        merge=_merge,
    ),
]
