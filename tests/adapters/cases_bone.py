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


ADAPTER_CASES = [
    _perturbed(peft_case("bone-bat", _config("bat"), prefix="miss_")),
    _perturbed(peft_case("bone-bone", _config("bone"), prefix="miss_")),
    _perturbed(peft_case("bone-mini", _config("mini", mini_r=4), prefix="miss_")),
]
