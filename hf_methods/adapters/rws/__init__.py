"""Robust weight signatures (RWS, P28): robustness to a corruption as a small, removable patch of shallow weights.

`RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers=...)` computes, per tensor of the first
layers, the robust fine-tune's update with the clean fine-tuning direction projected out; the signature then
`apply`s (scaled, composable) to a model in place, `remove`s exactly (or `attach`es through `torch.nn.utils.parametrize`, with a learnable α, and
`merge_signatures` bakes it), `quantize`s to a few bits per value and saves
alone (`save_pretrained` / `from_pretrained`: a JSON config and one safetensors file). `corruptions.py` holds the
image corruptions in torch (Gaussian noise, Gaussian blur, contrast); `training.py` the digits experiment shared by
the recipe, the claim and the tests.
"""

from hf_methods.lazy import lazy_exports

__all__ = [
    "CORRUPTIONS",
    "RobustWeightSignature",
    "RobustWeightSignatureConfig",
    "SignaturePatch",
    "applied_signatures",
    "apply_image_corruption",
    "attached_signature",
    "contrast",
    "gaussian_blur",
    "gaussian_noise",
    "linear_dequantize",
    "linear_quantize",
    "merge_signatures",
    "project_out",
    "shallow_parameter_names",
    "signatures_disabled",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **{
            name: ".corruptions"
            for name in ("CORRUPTIONS", "apply_image_corruption", "contrast", "gaussian_blur", "gaussian_noise")
        },
        **{
            name: ".signature"
            for name in (
                "RobustWeightSignature",
                "RobustWeightSignatureConfig",
                "SignaturePatch",
                "applied_signatures",
                "attached_signature",
                "linear_dequantize",
                "linear_quantize",
                "merge_signatures",
                "project_out",
                "shallow_parameter_names",
                "signatures_disabled",
            )
        },
    },
)
