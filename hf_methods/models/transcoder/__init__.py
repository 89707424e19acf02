"""Transcoders: "Transcoders Find Interpretable LLM Feature Circuits" (Dunefsky, Chlenski, Nanda, NeurIPS 2024).

A transcoder is a wide, sparsely activating MLP trained to imitate one dense MLP sublayer of a language model, from
its input (post-LayerNorm) to its output: `TranscoderConfig` / `TranscoderModel` (a `PreTrainedModel`, Auto classes,
remote code), forward hooks that harvest MLP activations and splice a transcoder into any transformers causal LM
(`harvest_mlp_activations`, `attach_transcoder`, `splice`, `splice_fidelity`), and weights-based circuit attribution
between transcoder features (`feature_connections`, `feature_attribution`).

Exports are lazy: the modeling module is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TranscoderConfig": ".configuration_transcoder",
        "TranscoderModel": ".modeling_transcoder",
        "TranscoderPreTrainedModel": ".modeling_transcoder",
        "TranscoderOutput": ".modeling_transcoder",
        "transcoder_loss": ".modeling_transcoder",
        "attach_transcoder": ".hooks",
        "splice": ".hooks",
        "mlp_zero_ablation": ".hooks",
        "harvest_mlp_activations": ".hooks",
        "splice_fidelity": ".hooks",
        "SpliceFidelity": ".hooks",
        "find_mlp": ".hooks",
        "lm_cross_entropy": ".hooks",
        "feature_connections": ".attribution",
        "feature_attribution": ".attribution",
        "top_feature_connections": ".attribution",
        "train_transcoder": ".training",
        "TranscoderArguments": ".training",
        "DecoderNormCallback": ".training",
    },
)
