"""DiTi (P17): "Exploring Diffusion Time-steps for Unsupervised Representation Learning" (Yue, Wang, Zhang, Zhang;
ICLR 2024).

An image encoder whose representation is split into chunks tied to ranges of diffusion time-steps (`DiTiConfig`,
`DiTiEncoder`, `DiTiForImageClassification`: a `transformers` model with Auto classes and remote code), trained
against a frozen diffusers denoiser with the time-step-chunked PDAE loss (`diti_loss`, `DiTiTrainer`, the shift
decoder `DiTiShiftDecoder`), and its analyses (`chunk_probe`, `counterfactual_interpolate`). Exports are lazy; the
training pieces need the `diffusion` extra.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DiTiConfig": ".configuration_diti",
        "DiTiEncoder": ".modeling_diti",
        "DiTiEncoderOutput": ".modeling_diti",
        "DiTiForImageClassification": ".modeling_diti",
        "DiTiImageClassifierOutput": ".modeling_diti",
        "DiTiPreTrainedModel": ".modeling_diti",
        "chunk_masks": ".modeling_diti",
        "timestep_chunk_index": ".modeling_diti",
        "diti_loss": ".loss",
        "conditioning_code": ".loss",
        "shift_coefficients": ".loss",
        "loss_weights": ".loss",
        "DiTiShiftDecoder": ".decoder",
        "DiTiTrainer": ".trainer",
        "ChunkProbeResult": ".analysis",
        "chunk_probe": ".analysis",
        "counterfactual_interpolate": ".analysis",
        "plot_chunk_probe": ".analysis",
        "DiTiArguments": ".training",
        "textured_digits": ".training",
        "train_base_diffusion": ".training",
        "train_diti": ".training",
    },
)
