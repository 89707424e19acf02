"""Adapter-matrix case for lottery jackpots (P49): a 50%-sparse magnitude-initialised mask on three projections of a
tiny Llama, saved as the mask file only and re-registered on a fresh base."""

from tests.cases import AdapterCase, _tiny_llama, _token_inputs

# the masks cover q_proj, v_proj and down_proj only, so the mask file stays well under half the base's size
_EXCLUDE = ("lm_head", "k_proj", "o_proj", "gate_proj", "up_proj")


def _apply(base):
    from hf_methods.adapters.lottery_jackpot import JackpotMaskConfig, apply_jackpot_masks

    return apply_jackpot_masks(base, JackpotMaskConfig(sparsity=0.5, layerwise="l1", exclude=_EXCLUDE))


def _save(model, path):
    from hf_methods.adapters.lottery_jackpot import save_jackpot_masks

    save_jackpot_masks(model, path)


def _load(base, path):
    from hf_methods.adapters.lottery_jackpot import load_jackpot_masks

    return load_jackpot_masks(base, path)


def _disable(model):
    from hf_methods.adapters.lottery_jackpot import disable_jackpot_masks

    return disable_jackpot_masks(model)


def _merge(model):
    from hf_methods.adapters.lottery_jackpot import bake_jackpot

    return bake_jackpot(model)


ADAPTER_CASES = [
    AdapterCase(
        name="lottery_jackpot",
        make_base=_tiny_llama,
        make_inputs=_token_inputs,
        apply=_apply,
        save=_save,
        load=_load,
        disable=_disable,
        is_adapter_param=lambda n: n.endswith(".scores"),
        merge=_merge,
    )
]
