"""The catalogue record of `act` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="act",
    paper_id="P06",
    title=(
        "Unveiling and Harnessing Hidden Attention Sinks: Enhancing Large Language Models without Training "
        "through Attention Calibration"
    ),
    arxiv="2406.15765",
    official_code="GATECH-EIC/ACT",
    kind="generation",
    tags=("attention-sinks", "training-free", "attention-calibration", "llm"),
    entry_points=(
        "hf_methods.generation.act:ActConfig",
        "hf_methods.generation.act:act_calibrate",
        "hf_methods.generation.act:apply_act",
        "hf_methods.generation.act:remove_act",
        "hf_methods.generation.act:calibrate_attention",
        "hf_methods.generation.act:find_act_heads",
        "hf_methods.generation.act:sink_statistics",
        "hf_methods.generation.act:plot_attention_sinks",
    ),
    recipe="recipes/act.py",
    on_transformers_import=("hf_methods.generation.act.attention:register_act_attention",),
    claim=(
        "ACT raises few-shot accuracy (up to +7.30% average on Llama-30B) by calibrating hidden, non-initial "
        "attention sinks; the CPU check on SmolLM2-135M picks its task by a pilot rule (uncalibrated accuracy in "
        "[0.5, 0.85], no label predicted for < 10% of prompts), keeps each of the 16 heads with most hidden-sink "
        "mass that alone raises the calibration margin of the correct label (32 prompts), and asks whether the union "
        "raises the held-out margin (paired bootstrap 95% interval above 0) without lowering accuracy on 128 "
        "held-out prompts (3 seeds); a threshold relative to the prompt length (alpha / N) is reported beside 0.1."
    ),
    venue="ICML 2024",
    usage=(
        "from hf_methods.common.data import load_causal_lm\n"
        "from hf_methods.generation.act import act_calibrate, apply_act, find_act_heads\n"
        "\n"
        'model, tokenizer, _ = load_causal_lm("smollm2-135m-instruct")  # the offline SmolLM2-135M-Instruct\n'
        'demos = "Is it food? bread: yes. stone: no. rice: yes. chair: no."\n'
        'calibration = [{"text": f"{demos} {word}:", "choices": [" yes", " no"], "label": label}\n'
        '               for word, label in [("apple", 0), ("table", 1), ("soup", 0), ("shoe", 1)]]\n'
        'config = find_act_heads(model, calibration, tokenizer=tokenizer, score="margin", max_candidates=4)\n'
        "with act_calibrate(model, config):  # the 'act_eager' attention function on the chosen heads, inside the block\n"
        '    logits = model(**tokenizer(calibration[0]["text"], return_tensors="pt")).logits\n'
        "apply_act(model, config)  # permanent; model.save_pretrained(folder) writes the ACT settings into config.json\n"
        "# AutoModelForCausalLM.from_pretrained(folder) is calibrated again after `import hf_methods`; without hf-methods,\n"
        "# transformers refuses the folder: 'Specified `attn_implementation=\"act_eager\"` is not supported'"
    ),
    notes=(
        "A custom attention function registered with AttentionInterface and AttentionMaskInterface ('act_eager', "
        "eager math plus the calibration on the selected query heads), not hooks or a patched Llama. Settings live "
        "in the model config (act_config, attn_implementation), so a saved calibrated model (and the recipe's output "
        "folder, which holds the weights by default) loads with AutoModelForCausalLM.from_pretrained once hf-methods "
        "is imported; transformers offers no hook to name the missing package, so without it the load fails with "
        "'attn_implementation=\"act_eager\" is not supported'. Departures from the official code: padded "
        "batches are handled (the sink normaliser counts the valid queries that see a key; the official code uses "
        "batch element 0 only), decoding steps are not calibrated by default (the official decode path sets "
        "A[0, 0] = 1 and breaks row sums), and the default head search is cumulative greedy (a head is kept only "
        "if it improves on the heads kept so far; strategy='independent' is the official per-head test). The "
        "search skips heads without hidden sinks on the calibration prompts and can be limited to the heads with "
        "the most hidden-sink mass (max_candidates), and scores a head set by accuracy or by the mean "
        "correct-label log-probability margin (score='margin'). The sink threshold is absolute (official 0.1) or "
        "relative to the prompt length (threshold_mode='relative': alpha / N). An earlier, smaller CPU check "
        "(3-shot prompts, accuracy-scored search on 12 prompts) kept no head on any seed: SmolLM2-135M was near "
        "chance there and predicted one label. Prefill cost (benchmarks/perf/act.py, "
        "1x128 tokens, CPU): act_eager with every head of layers 2-28 calibrated is 1.05x eager and 1.11x sdpa."
    ),
)
