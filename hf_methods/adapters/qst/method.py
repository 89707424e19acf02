"""The catalogue record of `qst` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="qst",
    paper_id="P04",
    title="Quantized Side Tuning: Fast and Memory-Efficient Tuning of Quantized Large Language Models",
    arxiv="2401.07159",
    official_code="YouAreSpecialToMe/QST",
    kind="adapters",
    tags=("peft", "side-tuning", "quantization", "memory-efficient"),
    entry_points=(
        "hf_methods.adapters.qst:QSTConfig",
        "hf_methods.adapters.qst:QSTModel",
        "hf_methods.adapters.qst:get_qst_model",
    ),
    recipe="recipes/qst.py",
    claim=(
        "Paper: up to 2.3x less training memory and up to 3x faster than QLoRA at competitive accuracy; the CPU "
        "check fine-tunes SmolLM2-135M on arithmetic word problems with QST and LoRA (fp32 base, 40 steps, 3 "
        "seeds) and a tiny Llama across two Markov languages, counts saved-for-backward bytes, asserts no "
        "gradient reaches the base, and reads the peak-memory and step-time ratios to QLoRA on an NF4 "
        "SmolLM2-135M from benchmarks/perf/qst.py."
    ),
    venue="ACL 2024",
    usage=(
        "from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig\n"
        "from hf_methods.adapters.qst import QSTConfig, QSTModel, get_qst_model\n"
        "repo = 'HuggingFaceTB/SmolLM2-135M-Instruct'\n"
        "bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True)\n"
        "base = AutoModelForCausalLM.from_pretrained(repo, quantization_config=bnb)\n"
        "ids = AutoTokenizer.from_pretrained(repo)('2 + 3 =', return_tensors='pt').input_ids\n"
        "model = get_qst_model(base, QSTConfig(reduction_factor=16, adapter_rank=16))  # only qst.* trains\n"
        "loss = model(input_ids=ids, labels=ids).loss\n"
        "out = model.generate(input_ids=ids, max_new_tokens=16)  # base + side KV caches\n"
        "model.save_pretrained('out')  # qst_config.json + qst_model.safetensors\n"
        "model = QSTModel.from_pretrained(base, 'out')"
    ),
    notes=(
        "PEFT-shaped API outside PEFT (PEFT's method enum is closed to out-of-tree tuners). The side network is "
        "attached to the unmodified base with forward hooks instead of copied modeling code; the base runs under "
        "torch.no_grad() and is not a registered submodule of QSTModel (state_dict, optimizer and checkpoints hold "
        "the side network only). generate() is the base model's own: the side stack keeps its KV states in L "
        "extra layers of the base's DynamicCache. Deviations from the official code (YouAreSpecialToMe/QST), each "
        "a bug or pitfall named in the brief: (1) output mix o = h + gamma*(U(g) - h) with gamma = 0 at init, so "
        "the model equals the base exactly at init (identity_init=False gives the official sigmoid(zeta_lm) gate, "
        "zeta_lm = 1); (2) the output gate is a registered, trained parameter (the official lm_head_z is a plain "
        "tensor after .to(device) and never trains); (3) the embeddings get their own downsampler "
        "(share_embedding_downsampler=True restores the official sharing of D_0 with layer 1); (4) side weights "
        "stay fp32 (the official code casts every module to bf16 by an always-true condition); (5) no vocab+1 "
        "loss reshape and no forced rope_theta; (6) no adapter dropout (it is effectively off in the official "
        "code). Pooling downsamplers ('avgpool'/'maxpool') are a reconstruction of the paper's parameter-free "
        "option, unverified against the paper text; only 'adapter' is in the official code. Llama-family bases "
        "only; no sequence-classification head and no multi-task side networks yet. The claim run uses an fp32 "
        "base (bitsandbytes 4-bit is a slow fallback on CPU); the 4-bit paths are timed in perf-qst.json."
    ),
)
