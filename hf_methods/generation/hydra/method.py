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
        "from hf_methods.generation.hydra import HydraHeads, HydraForCausalLM, hydra_generate\n"
        "heads = HydraHeads.from_base(base, head_kind='hydra++', num_heads=3)  # or medusa / hydra; then train\n"
        "model = HydraForCausalLM(base, heads)\n"
        "out = model.generate(**inputs, max_new_tokens=64)  # token-for-token equal to greedy decoding\n"
        "out = base.generate(**inputs, custom_generate=hydra_generate, draft_heads=heads, max_new_tokens=64)"
    ),
    notes=(
        "Batch size 1, like the originals; greedy acceptance is lossless (tested token for token against greedy "
        "generate() on a tiny Llama and SmolLM2-135M for every head kind), typical acceptance is opt-in and lossy. "
        "Deviations: stacked ResBlocks have independent weights (the official code repeats one instance); the "
        "residual Linear of a Hydra head's first block starts as [I, 0, ...] (official: random) so Hydra and "
        "Medusa heads start from the same predictor; `share_lm_head=True` (the recipe's CPU default) uses one "
        "frozen copy of the base lm_head for all heads (legacy Medusa) instead of one trainable lm_head per head; "
        "heads keep a frozen copy of the base input embedding. The default tree is generated from a simple "
        "rank-decay acceptance model (`default_tree(num_heads, size)`), not Medusa's tuned mc_sim_7b_63. The "
        "Hydra++ prefix layer is a one-layer LlamaModel over base hidden states with its own KV cache. The CPU "
        "claim uses a synthetic topic-mixture Markov language and a tiny Llama; the "
        "SmolLM2 acceptance/speed numbers come from heads trained for minutes, far below the paper's budget."
    ),
)
