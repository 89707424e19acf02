"""ACT (P06) in the generation matrix (calibrated prefill under `act_calibrate`, then `generate`) and in the analysis
matrix (`sink_statistics` and `plot_attention_sinks`)."""

import torch

from tests.cases import AnalysisCase, GenerateCase

_HEADS = {0: [0, 1, 2, 3], 1: [0, 1, 2, 3], 2: [0, 1, 2, 3]}


def _llama():
    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(seed=0, num_hidden_layers=3).eval()
    model.set_attn_implementation("eager")
    model.generation_config.pad_token_id = 0
    return model


def _prompt(seed=0, length=12):
    g = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(3, 259, (1, length), generator=g)}


def _act_generate(model, inputs, **kwargs):
    from hf_methods.generation.act import act_calibrate

    with act_calibrate(model, heads=_HEADS, threshold=0.05):
        return model.generate(**inputs, do_sample=False, **kwargs)


GENERATE_CASES = [
    GenerateCase(
        name="act",
        make_model=_llama,
        make_inputs=_prompt,
        generate=_act_generate,
        supports=("max_new_tokens", "eos_token_id", "min_new_tokens", "repetition_penalty", "suppress_tokens"),
    ),
]


def _sink_statistics(seed):
    from hf_methods.generation.act import sink_statistics

    examples = [{"input_ids": _prompt(seed=seed * 10 + i)["input_ids"][0]} for i in range(3)]
    return sink_statistics(_llama(), examples, threshold=0.05)


def _plot(stats, path):
    from hf_methods.common.tiny import byte_tokenizer
    from hf_methods.generation.act import ActConfig, plot_attention_sinks

    heads = stats.ranked_heads()[:2] or [(0, 0)]
    config = ActConfig(heads=heads, threshold=stats.threshold)
    return plot_attention_sinks(_llama(), byte_tokenizer(), "a tiny prompt for the plot", config=config, path=path)


ANALYSIS_CASES = [AnalysisCase(name="act-sink-statistics", run=_sink_statistics, plot=_plot)]
