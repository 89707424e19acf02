"""The catalogue record of `hydra` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="hydra",
    paper_id="P09",
    title="Hydra: Sequentially-Dependent Draft Heads for Medusa Decoding",
    arxiv="2402.05109",
    official_code="zankner/Hydra",
    kind="generation",
    tags=("speculative-decoding", "draft-heads", "medusa", "llm"),
    entry_points=(
        "hf_methods.generation.hydra:HydraConfig",
        "hf_methods.generation.hydra:HydraHeads",
        "hf_methods.generation.hydra:HydraForCausalLM",
        "hf_methods.generation.hydra:hydra_generate",
        "hf_methods.generation.hydra:default_tree",
    ),
    recipe="recipes/hydra.py",
    auto_classes={
        "AutoConfig": "hf_methods.generation.hydra.configuration_hydra:HydraConfig",
        "AutoModel": "hf_methods.generation.hydra.modeling_hydra:HydraHeads",
    },
    claim=(
        "Sequentially dependent Hydra heads accept more tokens per base forward than Medusa heads, and the Hydra++ "
        "recipe more still, losslessly (paper, Vicuna-7B: mean acceptance length 2.58 / 3.04 / 3.70; Hydra++ 1.31x "
        "Medusa's throughput); the CPU check orders τ Medusa < Hydra < Hydra++ by paired bootstrap over 20 prompts x "
        "3 seeds on a 4-topic Markov language with a 6-layer tiny Llama (plus a Hydra++-without-prefix-layer "
        "ablation), checks every output against plain greedy generate(), and reports wall-clock without asserting it."
    ),
    venue="COLM 2024",
    usage=(
        "import tempfile\n"
        "\n"
        "from hf_methods.common.data import load_causal_lm\n"
        "from hf_methods.generation.hydra import HydraForCausalLM, HydraHeads, hydra_generate\n"
        "\n"
        'base, tokenizer, _ = load_causal_lm("smollm2-135m-instruct")  # the offline SmolLM2-135M-Instruct\n'
        '# "medusa", "hydra" or "hydra++" heads, untrained here (recipes/hydra.py trains them)\n'
        'heads = HydraHeads.from_base(base, head_kind="hydra", num_heads=3, share_lm_head=True)\n'
        'inputs, kwargs = tokenizer("The capital of France is", return_tensors="pt"), dict(do_sample=False, max_new_tokens=12)\n'
        "out = base.generate(**inputs, **kwargs, custom_generate=hydra_generate, draft_heads=heads)\n"
        "assert (out == base.generate(**inputs, **kwargs)).all()  # lossless: the tokens of greedy decoding\n"
        "heads.save_pretrained(folder := tempfile.mkdtemp())  # heads only: the base's embedding and lm_head stay with it\n"
        "model = HydraForCausalLM(base, HydraHeads.from_pretrained(folder, base_model=base))\n"
        "print(tokenizer.decode(model.generate(**inputs, **kwargs)[0]))"
    ),
    notes=(
        "Batch size 1, like the originals; greedy acceptance is lossless (tested token for token against greedy "
        "generate() on a tiny Llama and SmolLM2-135M for every head kind), typical acceptance is opt-in and lossy. "
        "Deviations: stacked ResBlocks have independent weights (the official code repeats one instance); the "
        "residual Linear of a Hydra head's first block starts as [I, 0, ...] (official: random) so Hydra and "
        "Medusa heads start from the same predictor; `share_lm_head=True` (the recipe's CPU default) uses one "
        "frozen copy of the base lm_head for all heads (legacy Medusa) instead of one trainable lm_head per head; "
        "the heads read the base input embedding and (shared) lm_head but, when they record their base, are saved "
        "without them and take them from the base again when loaded (`save_base_weights=True` stores copies, for "
        "standalone heads). The default tree is generated from a simple "
        "rank-decay acceptance model (`default_tree(num_heads, size)`), not Medusa's tuned mc_sim_7b_63. The "
        "Hydra++ prefix layer is a one-layer LlamaModel over base hidden states with its own KV cache. The CPU "
        "claim uses a synthetic topic-mixture Markov language and a tiny Llama; the "
        "SmolLM2 acceptance/speed numbers come from heads trained for minutes, far below the paper's budget."
        " SmolLM2-135M at scale (benchmarks/perf/hydra_smollm2.py, one CPU thread): Hydra++ heads (4 heads, 4-layer"
        " prefix, shared frozen LM head) trained 1,000 steps on 2,020 self-distilled continuations (reproduce:"
        " `accelerate launch recipes/hydra.py --output_dir outputs/hydra-smollm2 --head_kind hydra++ --num_heads 4"
        " --n_sequences 2020 --max_steps 1000 --batch_size 8 --corpora bible,jargon,python-docs --cpu_threads 1`,"
        " about 2 hours, resumable). The measured cost model picks tree size 1: verifying even 2 tokens costs 1.7x a"
        " one-token forward on CPU (0.098 vs 0.057 s), while τ only grows from 1.34 (size 1) to 2.07 (size 64). On 20"
        " held-out prompts × 128 tokens: lossless, τ = 1.39, 12.3 vs 16.95 tokens/s greedy (0.73x; base forwards 87%"
        " of the time, heads 12%). Targets τ ≥ 2.5 and ≥ 1.5x greedy not met: the heads' acceptance is low at this"
        " training scale, and on a CPU a tree forward is not nearly free as on a memory-bound GPU."
    ),
)
