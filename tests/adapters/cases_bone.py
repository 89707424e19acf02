"""Adapter-matrix cases for Bone (P46): one per variant, with random (non-identity) adapter weights."""

from dataclasses import replace

import torch

from tests.cases import peft_case

_TARGETS = ["q_proj", "v_proj", "down_proj"]


def _perturbed(case, scale: float = 0.2):
    """Wraps `apply` so every `miss_block` gets seeded random values: Bone starts at zero (identity) otherwise."""
    plain_apply = case.apply

    def apply(base):
        model = plain_apply(base)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "miss_block" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * scale)
        return model

    return replace(case, apply=apply)


def _config(variant: str, **kwargs):
    def make():
        from hf_methods.adapters.bone import BoneConfig

        return BoneConfig(r=8, target_modules=_TARGETS, variant=variant, **kwargs)

    return make


def _efficient_bat_case():
    """Bat built through `get_bone_model`, so its layers run hf-methods' efficient Bat path; reloaded with plain
    `PeftModel.from_pretrained` and switched to the same path (the matrix compares reloads bit for bit; the reload
    into PEFT's own forward is checked to round-off in test_bone.py)."""

    def apply(base):
        from hf_methods.adapters.bone import get_bone_model

        return get_bone_model(base, _config("bat")())

    def load(base, path):
        from peft import PeftModel

        from hf_methods.adapters.bone import enable_efficient_bat

        model = PeftModel.from_pretrained(base, path)
        enable_efficient_bat(model)
        return model

    case = peft_case("bone-bat-efficient", _config("bat"), prefix="miss_")
    return replace(case, apply=apply, load=load)


ADAPTER_CASES = [
    _perturbed(peft_case("bone-bat", _config("bat"), prefix="miss_")),
    _perturbed(_efficient_bat_case()),
    _perturbed(peft_case("bone-bone", _config("bone"), prefix="miss_")),
    _perturbed(peft_case("bone-mini", _config("mini", mini_r=4), prefix="miss_")),
]
