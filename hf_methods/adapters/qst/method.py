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
        "hf_methods.adapters.qst:QSTTrainer",
    ),
    recipe="recipes/qst.py",
    library_name="hf-methods",  # peft cannot load a QST side network: QSTModel.from_pretrained does
    claim=(
        "Paper: up to 2.3x less training memory and up to 3x faster than QLoRA at competitive accuracy; the CPU "
        "check adapts a tiny Llama pretrained on one Markov language to a shifted one for 300 steps (QST, QST with "
        "identity init, LoRA, full fine-tuning, frozen base; learning rates picked on a validation split; 3 seeds) "
        "and holds when QST closes at least 70% of the frozen-base-to-LoRA test-loss gap with at most half of "
        "LoRA's saved-for-backward bytes; it also reports the QST/QLoRA step-time ratio on an NF4 base and one "
        "QST-vs-LoRA run on SmolLM2-135M word problems."
    ),
    venue="ACL 2024",
    usage=(
        "import tempfile\n"
        "from hf_methods.adapters.qst import QSTConfig, QSTModel, get_qst_model\n"
        "from hf_methods.common.data import load_causal_lm\n"
        "# a 4-bit base works the same: from_pretrained(..., quantization_config=BitsAndBytesConfig(load_in_4bit=True))\n"
        "base, tokenizer, _ = load_causal_lm('smollm2-135m-instruct')  # offline SmolLM2-135M-Instruct, fp32\n"
        "ids = tokenizer('2 + 3 =', return_tensors='pt').input_ids\n"
        "model = get_qst_model(base, QSTConfig(reduction_factor=16, adapter_rank=16))  # only qst.* trains\n"
        "model(input_ids=ids, labels=ids).loss.backward()  # no gradient and no saved activations in the base\n"
        "out = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False)  # base + side KV caches\n"
        "folder = tempfile.mkdtemp()\n"
        "model.save_pretrained(folder)  # qst_config.json + qst_model.safetensors (model.push_to_hub('me/qst') too)\n"
        "model.unload()  # detach the side network's hooks from the base\n"
        "model = QSTModel.from_pretrained(base, folder)  # or a Hub repo id; QSTTrainer for transformers.Trainer"
    ),
    notes=(
        "PEFT-shaped API outside PEFT (PEFT's method enum is closed to out-of-tree tuners). The side network is "
        "attached to the unmodified base with forward hooks instead of copied modeling code; the base runs under "
        "torch.no_grad() and is not a registered submodule of QSTModel (state_dict, optimizer and checkpoints hold "
        "the side network only). generate() is the base model's own: the side stack keeps its KV states in L "
        "extra layers of the base's DynamicCache. Defaults follow the official code (YouAreSpecialToMe/QST): the "
        "output mix o = a*h + (1 - a)*U(g) with a fixed gate a = sigmoid(1) ~ 0.73, and side layers at PyTorch's "
        "default init (the official side layers never go through transformers' normal(0.02) init; "
        "side_init='normal' gives that). identity_init=True is the option that starts exactly at the base model "
        "(o = h + gamma*(U(g) - h), gamma trained from 0); it trains slowly, because the side network gets no "
        "gradient while gamma is 0 and then moves only as fast as Adam moves gamma (in an earlier 60-step tiny-"
        "Llama run: loss 4.20 with identity init against 3.00 with the official mix and 1.99 for LoRA). "
        "train_output_gate=True trains the official gate logit. Other deviations from the official code, each a "
        "bug or pitfall there: (1) the embeddings get their own downsampler (share_embedding_downsampler=True "
        "restores the official sharing of D_0 with layer 1); (2) side weights stay fp32 (the official code casts "
        "every module to bf16 by an always-true condition); (3) no vocab+1 loss reshape and no forced rope_theta; "
        "(4) no adapter dropout (it is effectively off in the official code). Pooling downsamplers "
        "('avgpool'/'maxpool') are a reconstruction of the paper's parameter-free option, unverified against the "
        "paper text; only 'adapter' is in the official code. Llama-family bases only; no sequence-classification "
        "head and no multi-task side networks yet. The claim uses fp32 bases for the quality runs (bitsandbytes "
        "4-bit is a slow fallback on CPU); the 4-bit paths are timed there and in benchmarks/perf/qst.py."
    ),
)
