"""D2NWG: "Diffusion-Based Neural Network Weights Generation" (Soro et al., arXiv 2402.18153).

A weight VAE, a dataset set-encoder and a latent denoiser (transformers models in `modeling_d2nwg`), a diffusers
pipeline that trains them on a zoo of pretrained weights and generates state dicts for a target dataset
(`pipeline`), the zoo container (`zoo`) and the digit-pair task zoo of the recipe and the claim (`training`).

Exports are lazy: torch, transformers and diffusers are imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "D2NWGConfig": ".configuration_d2nwg",
        "D2NWGModel": ".modeling_d2nwg",
        "D2NWGOutput": ".modeling_d2nwg",
        "D2NWGPreTrainedModel": ".modeling_d2nwg",
        "WeightVAE": ".modeling_d2nwg",
        "DatasetSetEncoder": ".modeling_d2nwg",
        "LatentWeightDiffusion": ".modeling_d2nwg",
        "flatten_parameters": ".modeling_d2nwg",
        "unflatten_parameters": ".modeling_d2nwg",
        "D2NWGPipeline": ".pipeline",
        "WeightZoo": ".zoo",
        "D2NWGArguments": ".training",
        "build_digit_pair_zoo": ".training",
        "digit_pair_tasks": ".training",
    },
)
