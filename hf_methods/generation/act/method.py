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
    claim=(
        "ACT raises few-shot accuracy (up to +7.30% average on Llama-30B) by calibrating hidden, non-initial "
        "attention sinks; the CPU check measures hidden sinks in SmolLM2-135M, that the greedy head search never "
        "lowers calibration accuracy, and whether ACT adds >= 1 point of held-out 3-shot accuracy (3 seeds)."
    ),
    venue="ICML 2024",
    usage=(
        "from hf_methods.generation.act import ActConfig, act_calibrate, apply_act, find_act_heads\n"
        "# calibration = [{'text': prompt, 'choices': [' bible', ' jargon', ' python'], 'label': 0}, ...]\n"
        "config = find_act_heads(model, calibration, tokenizer=tokenizer, beta=0.4, threshold=0.1)\n"
        "with act_calibrate(model, config):  # the 'act_eager' attention function on the chosen heads\n"
        "    logits = model(**inputs).logits\n"
        "apply_act(model, ActConfig(heads={5: [0, 3]}))  # permanent; save_pretrained keeps it in config.json\n"
        "model.save_pretrained('calibrated')  # config.json carries act_config and attn_implementation\n"
        "# in a new process: import any name of hf_methods.generation.act (registers 'act_eager'), then\n"
        "# AutoModelForCausalLM.from_pretrained('calibrated') is calibrated again"
    ),
    notes=(
        "A custom attention function registered with AttentionInterface and AttentionMaskInterface ('act_eager', "
        "eager math plus the calibration on the selected query heads), not hooks or a patched Llama. Settings live "
        "in the model config (act_config, attn_implementation). Departures from the official code: padded "
        "batches are handled (the sink normaliser counts the valid queries that see a key; the official code uses "
        "batch element 0 only), decoding steps are not calibrated by default (the official decode path sets "
        "A[0, 0] = 1 and breaks row sums), and the default head search is cumulative greedy (a head is kept only "
        "if it improves on the heads kept so far; strategy='independent' is the official per-head test). The "
        "search skips heads without hidden sinks on the calibration prompts and can be limited to the heads with "
        "the most hidden-sink mass (max_candidates). The CPU claim is tiny: SmolLM2-135M, one offline 3-shot task, "
        "12 calibration and 32 held-out prompts per seed; the paper used 7B-30B models and real benchmarks. There "
        "SmolLM2-135M scored near chance (0.35 for 3 classes) and no single head changed calibration accuracy, so "
        "the search kept no head and the held-out accuracy was unchanged. Prefill cost (benchmarks/perf/act.py, "
        "1x128 tokens, CPU): act_eager with every head of layers 2-28 calibrated is 1.05x eager and 1.11x sdpa."
    ),
)
