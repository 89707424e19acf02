"""Claim of P04 (Zhang et al., ACL 2024): Quantized Side Tuning reaches quality competitive with QLoRA while
backpropagating through a small side network only, so it saves far fewer activations and no gradient reaches the LLM.

Paper: up to 2.3× less total training memory and up to 3× faster fine-tuning than QLoRA at competitive accuracy
(MMLU, LLaMA-2 7B: QST ~45% vs QLoRA ~46%). The memory and speed ratios on SmolLM2-135M are measured by
`benchmarks/perf/qst.py` (`benchmarks/results/perf-qst.json`) and read back here as checks 5-6.

Quality, experiment 1: the recipe's task on SmolLM2-135M (deliverable 7 of issue 4; settings fixed before any result
and not tuned). Base SmolLM2-135M-Instruct in **fp32** for both methods: bitsandbytes 4-bit runs a very slow fallback on
CPU, so "QLoRA" here is LoRA on the unquantized base (the 4-bit memory/speed side stays in `benchmarks/perf/qst.py`).
- data and prompts: the recipe's own (`recipes/qst.py` is imported; `make_data` = `instruct.sft_splits(tokenizer,
  n_train=512, n_eval=32, max_length=64)`, chat-template prompts, loss on the answer tokens);
- 40 steps, batch 8, the same batches in the same order for both methods (DataLoader generator seeded with the seed),
  seeds 0, 1, 2, AdamW (β2 0.999, no weight decay), gradient clipping 0.3, the recipe's warm-up rule (`lr_at`),
  2 torch threads;
- QST: the recipe's default QSTConfig (r = 16, k = 16, adapter downsamplers, identity-initialised output gate) at the
  recipe's lr 1e-3; LoRA: r = 16, alpha 32, dropout 0.05 on q/k/v/o/gate/up/down at lr 2e-4 (the QLoRA default);
- evaluation after training: answer loss on the 32 held-out problems and greedy exact match on the first 16 of them
  (32 were planned; cut to 16 by a rule fixed in advance because a timing probe put the 240 steps plus evaluations
  above ~12 minutes); the frozen base is evaluated once the same way.

Quality, experiment 2 (a faster proxy, kept from the first version of this claim, when one SmolLM2 training step took
60-150 s on the then overloaded shared machine): a small pretrained model adapted to a shifted language:
- language A: a first-order Markov chain over 64 tokens, each token with 4 successors of probabilities
  0.4/0.3/0.2/0.1 (seeded); language B: the same chain with the successor lists of half of the tokens permuted;
- base: a tiny Llama (4 layers, d = 128, 4 heads, 2 KV heads, MLP 256) pretrained on A for 150 steps (AdamW 3e-3,
  batch 8 × 64), then frozen;
- adaptation to B for 60 steps, batch 8 × 64, AdamW lr 1e-3, no weight decay, gradient clipping 0.3 (the official
  `max_grad_norm`), seeds 0, 1, 2 (adapter initialisation and data):
  QST r = 4, k = 8 (side width 32, head_dim 8, identity-initialised output gate) vs LoRA r = 8, alpha 16 on all seven
  projections, both on the **fp32** base (bitsandbytes 4-bit runs a slow fallback on CPU, so "QLoRA" here is LoRA
  without the quantization; NF4 would add the same quantization error to both); full fine-tuning at lr 3e-4 is
  recorded as a reference, and so is QST with the official output gate (`identity_init=False`, a = σ(1) at init),
  added after the first run showed the identity-initialised QST far behind LoRA (a supplementary record, not a check).
- metric: mean next-token loss on 32 held-out sequences of B.
(Sizes were cut from the brief's 300/150 steps to fit the shared machine, before any quality result was seen.)

Checks:
1. quality (proxy): QST's final loss on B <= LoRA's + 0.1 nats (competitive);
2. QST learns: QST's final loss on B <= the frozen base's loss on B − 0.5 nats;
3. mechanism: bytes saved for backward in one training forward, QST <= 0.5 × LoRA's (same batch);
4. mechanism: after training, no base parameter has a gradient and every base weight is bit-identical;
5-6. from `benchmarks/results/perf-qst.json` (run `python benchmarks/perf/qst.py` first), the paper's memory/speed
   claim with the issue's targets: QST peak training memory <= 0.45 × QLoRA's and step time <= 0.5 × QLoRA's
   (SmolLM2-135M, NF4 base, batch 4 × 64);
7. quality on word problems (SmolLM2): mean QST answer loss <= mean LoRA answer loss + 0.1;
8. exact match on word problems (SmolLM2): mean QST exact match >= mean LoRA exact match − 0.05.

Run: `python benchmarks/claims/qst.py` (about 15 minutes on 2 idle cores, ~1.5 of them the proxy); writes
`benchmarks/results/qst.json`, `benchmarks/results/qst-curves.png` (proxy) and `benchmarks/results/qst-smollm2-curves.png`.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from hf_methods.harness.claims import ClaimCheck, ClaimReport, mean_std  # noqa: E402

SLUG = "qst"
SEEDS = [0, 1, 2]
VOCAB, SUCCESSOR_PROBS, SEQ = 64, (0.4, 0.3, 0.2, 0.1), 64
BASE_KW = dict(
    vocab_size=VOCAB,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=SEQ,
    pad_token_id=None,
    bos_token_id=None,
    eos_token_id=None,
)
PRETRAIN_STEPS, PRETRAIN_LR = 150, 3e-3
STEPS, BATCH, LR, FULL_LR, MAX_GRAD_NORM, N_EVAL = 60, 8, 1e-3, 3e-4, 0.3, 32
EVAL_AT = (10, 30, 60)
QST = dict(reduction_factor=4, adapter_rank=8)
LORA = dict(
    r=8,
    lora_alpha=16,
    lora_dropout=0.0,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
)
LOSS_MARGIN, LEARN_MARGIN, ACT_RATIO = 0.1, 0.5, 0.5
PLOT = "benchmarks/results/qst-curves.png"

# SmolLM2-135M-Instruct on the recipe's word problems (fixed before the first run; see the module docstring)
SM_SEEDS = [0, 1, 2]
SM_DATA = dict(n_train=512, n_eval=32, max_length=64)
SM_STEPS, SM_BATCH, SM_THREADS, SM_MAX_GRAD_NORM = 40, 8, 2, 0.3
SM_LORA_LR = 2e-4  # the QLoRA paper's default
SM_LORA = dict(
    r=16,
    lora_alpha=32,
    lora_dropout=0.05,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
)
# exact match on the first N_EM held-out problems: 32 planned; cut to 16 (the brief's rule, fixed in advance) because a
# timing probe put 240 steps + evals at ~13.5 min (QST ~2.0 s/step, LoRA ~4.2 s/step on 2 threads)
SM_N_EM = 16
SM_EM_MARGIN = 0.05
SM_NAMES = {"qst": "QST (SmolLM2, fp32 base)", "lora": "LoRA r=16 (SmolLM2, fp32 base)", "base": "SmolLM2 frozen base"}
SM_PLOT = "benchmarks/results/qst-smollm2-curves.png"


def markov_languages(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Transition matrices of A (4 successors per token) and B (successor lists of half the tokens permuted)."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.tensor(SUCCESSOR_PROBS)
    a = torch.zeros(VOCAB, VOCAB)
    for t in range(VOCAB):
        a[t, torch.randperm(VOCAB, generator=g)[: len(probs)]] = probs
    b = a.clone()
    half = torch.randperm(VOCAB, generator=g)[: VOCAB // 2]
    b[half] = a[half[torch.randperm(len(half), generator=g)]]
    return a, b


def sample(transition: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    ids = torch.empty(n, SEQ, dtype=torch.long)
    ids[:, 0] = torch.randint(0, VOCAB, (n,), generator=g)
    for t in range(1, SEQ):
        ids[:, t] = torch.multinomial(transition[ids[:, t - 1]], 1, generator=g).squeeze(1)
    return ids


def pretrain(lang_a: torch.Tensor):
    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(1234, **BASE_KW).train()
    opt = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR, weight_decay=0.0)
    g = torch.Generator().manual_seed(1234)
    for _ in range(PRETRAIN_STEPS):
        ids = sample(lang_a, BATCH, g)
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def eval_loss(model, ids: torch.Tensor) -> float:
    was = model.training
    model.eval()
    loss = model(input_ids=ids, labels=ids).loss.item()
    model.train(was)
    return loss


def saved_bytes(model, batch) -> tuple[int, torch.Tensor]:
    """Bytes of distinct non-parameter storages autograd saves for backward in one forward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    base = getattr(model, "base_model", None)
    if base is not None:
        params |= {p.untyped_storage().data_ptr() for p in base.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(**batch).loss
    return sum(seen.values()), loss


def train(method: str, seed: int, pretrained, lang_b: torch.Tensor, eval_ids: torch.Tensor) -> dict:
    """One adaptation run: `method` in {"qst", "qst_official_gate", "lora", "full"}."""
    from peft import LoraConfig, get_peft_model

    from hf_methods.adapters.qst import QSTConfig, get_qst_model

    base = copy.deepcopy(pretrained)
    reference = {k: v.clone() for k, v in base.state_dict().items()}
    torch.manual_seed(seed)
    if method == "full":
        model, lr = base.train(), FULL_LR
    else:
        base.requires_grad_(False)
        if method.startswith("qst"):
            model = get_qst_model(base, QSTConfig(**QST, identity_init=method == "qst"))
        else:
            model = get_peft_model(base, LoraConfig(**LORA))
        lr = LR
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(100 + seed)
    model.train()
    curve, times, act = {0: eval_loss(model, eval_ids)}, [], None
    for step in range(1, STEPS + 1):
        ids = sample(lang_b, BATCH, g)
        batch = {"input_ids": ids, "labels": ids}
        t0 = time.perf_counter()
        if step == 1:
            act, loss = saved_bytes(model, batch)
        else:
            loss = model(**batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        opt.step()
        times.append(time.perf_counter() - t0)
        if step in EVAL_AT:
            curve[step] = eval_loss(model, eval_ids)
    result = {
        "loss_b": curve[STEPS],
        "curve": curve,
        "step_s": sorted(times)[len(times) // 2],
        "saved_mib": act / 2**20,
        "trainable": sum(p.numel() for p in params),
    }
    if method.startswith("qst"):
        result["base_grads"] = sum(p.grad is not None for p in base.parameters())
        result["base_unchanged"] = all(torch.equal(reference[k], v) for k, v in base.state_dict().items())
    print(
        f"[qst claim] {method} seed {seed}: loss on B {result['loss_b']:.4f}, saved {result['saved_mib']:.2f} MiB, "
        f"step {result['step_s']:.3f} s, curve {curve}",
        flush=True,
    )
    return result


def add_perf_checks(report: ClaimReport) -> None:
    """Checks 5-6 from `benchmarks/results/perf-qst.json` (run `benchmarks/perf/qst.py` first)."""
    import json

    from hf_methods.harness.claims import results_dir

    path = results_dir() / "perf-qst.json"
    if not path.exists():
        print("[qst claim] no perf-qst.json: run benchmarks/perf/qst.py first for the memory/speed checks")
        return
    rows = json.loads(path.read_text())["configs"]
    names = {
        "qst": "QST (NF4 base, SmolLM2)",
        "qlora": "QLoRA (NF4 base, SmolLM2)",
        "lora": "LoRA (fp32 base, SmolLM2)",
        "full": "full fine-tuning (SmolLM2)",
        "qst_fp32": "QST (fp32 base, SmolLM2)",
    }
    for key, name in names.items():
        for metric in ("peak_mib", "activations_mib", "optimizer_mib", "weights_mib", "step_s"):
            report.record(name, metric, [rows[key][metric]])
    for metric, target, what in (("peak_mib", 0.45, "peak training memory"), ("step_s", 0.5, "step time")):
        ratio = rows["qst"][metric] / rows["qlora"][metric]
        report.add_check(
            ClaimCheck(
                name=f"{what} on SmolLM2-135M: QST <= {target} x QLoRA (perf-qst.json, ratio {ratio:.3f})",
                metric=metric,
                method=names["qst"],
                method_value=rows["qst"][metric],
                baseline=names["qlora"],
                baseline_value=rows["qlora"][metric],
                criterion=f"QST <= {target} x QLoRA (issue 4 target)",
                held=ratio <= target,
            )
        )


def perf_notes() -> str:
    """Where the memory goes on SmolLM2-135M (from perf-qst.json), for the card."""
    import json

    from hf_methods.harness.claims import results_dir

    path = results_dir() / "perf-qst.json"
    if not path.exists():
        return ""
    perf = json.loads(path.read_text())
    rows, ratios = perf["configs"], perf["ratios"]
    parts = []
    for key, name in (("qst", "QST/NF4"), ("qlora", "QLoRA/NF4"), ("lora", "LoRA/fp32"), ("full", "full FT/fp32")):
        r = rows[key]
        parts.append(
            f"{name} {r['peak_mib']:.0f} MiB = weights {r['weights_mib']:.0f} + grads {r['gradients_mib']:.0f} + "
            f"AdamW {r['optimizer_mib']:.0f} + activations {r['activations_mib']:.0f}, step {r['step_s']:.1f} s"
        )
    return (
        f" SmolLM2-135M, batch {perf['batch']} x {perf['seq_len']} (perf-qst.json): " + "; ".join(parts) + ". "
        f"QST/QLoRA: peak memory {ratios['qst_vs_qlora_peak_memory']:.3f}x, activations "
        f"{ratios['qst_vs_qlora_activations']:.3f}x, step time {ratios['qst_vs_qlora_step_time']:.3f}x; QST/full FT "
        f"peak memory {ratios['qst_vs_full_peak_memory']:.3f}x (paper: up to 7x less). Estimated from the shapes (not "
        "measured per tensor), about half of QST's saved activations is the fp32 log-softmax of the logits kept by "
        "the cross-entropy (4 x 64 x 49152 x 4 B = 48 MiB) and about 17 MiB the detached inputs of the 31 "
        "downsamplers (31 x 4 x 64 x 576 x 4 B); the rest is the side stack. The step times are single measurements on a machine shared with several other jobs "
        "(the fp32 QST step even measured slower than the full fine-tuning step, taken under different load), so "
        "the step-time ratio is indicative only."
    )


def plot(runs: dict[str, list[dict]], base_loss: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hf_methods.zoo import repo_root

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, rs in runs.items():
        steps = sorted(rs[0]["curve"])
        t = torch.tensor([[r["curve"][s] for s in steps] for r in rs])
        ax.plot(steps, t.mean(0), marker="o", label=name)
        ax.fill_between(steps, t.min(0).values, t.max(0).values, alpha=0.2)
    ax.axhline(base_loss, color="gray", ls="--", lw=1, label="frozen base")
    ax.set_xlabel("adaptation step")
    ax.set_ylabel("held-out loss on language B")
    ax.set_title("QST vs LoRA vs full FT (tiny Llama, 3 seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(repo_root() / PLOT, dpi=120)


def _recipe():
    """The recipe module (recipes/ is not a package): the claim reuses its base loader, data, schedule and config."""
    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("qst_recipe", repo_root() / "recipes" / "qst.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def smollm2_run(method: str, seed: int, recipe, args, base, tokenizer, data) -> dict:
    """One fine-tuning run on the recipe's word problems: `method` in {"qst", "lora"}, same batches per seed."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    from hf_methods.adapters.qst import QSTConfig, get_qst_model
    from hf_methods.common.instruct import answer_loss, collate_sft, exact_match_accuracy

    train_ds, eval_ds, problems = data
    set_seed(seed)
    model_base = copy.deepcopy(base)
    if method == "qst":  # the recipe's default QSTConfig, built as recipes/qst.py builds it
        config = QSTConfig(
            reduction_factor=args.reduction_factor,
            adapter_rank=args.adapter_rank,
            activation=args.activation,
            downsample=args.downsample,
            gate_init=args.gate_init,
            identity_init=args.identity_init,
            share_embedding_downsampler=args.share_embedding_downsampler,
            base_model_name_or_path=recipe.BASE_MODEL_ID,
        )
        model, run_args = get_qst_model(model_base, config), args
    else:
        model_base.requires_grad_(False)
        model = get_peft_model(model_base, LoraConfig(**SM_LORA))
        run_args = dataclasses.replace(args, learning_rate=SM_LORA_LR)  # same warm-up rule, QLoRA's lr
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=run_args.learning_rate, betas=(0.9, run_args.adam_beta2), weight_decay=run_args.weight_decay
    )
    collate = collate_sft(tokenizer.pad_token_id)
    loader = torch.utils.data.DataLoader(
        train_ds,
        batch_size=SM_BATCH,
        shuffle=True,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),  # the same batches in the same order for both methods
    )
    eval_loader = torch.utils.data.DataLoader(eval_ds, batch_size=SM_BATCH, collate_fn=collate)
    model.train()
    losses, batches = [], iter(loader)
    start = time.perf_counter()
    for step in range(SM_STEPS):
        batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(step, run_args)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, SM_MAX_GRAD_NORM)
        optimizer.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - start
    model.eval()
    result = {
        "train_losses": losses,
        "train_s": train_s,
        "answer_loss": answer_loss(model, eval_loader),
        "exact_match": exact_match_accuracy(model, tokenizer, problems[:SM_N_EM]),
        "trainable": sum(p.numel() for p in params),
        "learning_rate": run_args.learning_rate,
    }
    print(
        f"[qst claim] SmolLM2 {method} seed {seed}: answer loss {result['answer_loss']:.4f}, exact match "
        f"{result['exact_match']:.3f}, training {train_s:.0f} s, last train loss {losses[-1]:.4f}",
        flush=True,
    )
    return result


def smollm2_plot(runs: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hf_methods.zoo import repo_root

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for method, rs in runs.items():
        t = torch.tensor([r["train_losses"] for r in rs])
        steps = range(1, t.shape[1] + 1)
        mean, std = t.mean(0), t.std(0, correction=0)
        ax.plot(steps, mean, marker="o", ms=2, label=SM_NAMES[method])
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("step (batch 8)")
    ax.set_ylabel("training answer loss")
    ax.set_title("SmolLM2-135M word problems: QST vs LoRA (mean ± std, 3 seeds)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(repo_root() / SM_PLOT, dpi=120)
    plt.close(fig)


def smollm2_experiment(report: ClaimReport) -> None:
    """QST vs LoRA ("QLoRA" without 4-bit) on the recipe's word problems; adds checks 7-8, records and notes."""
    from hf_methods.common.instruct import answer_loss, collate_sft, exact_match_accuracy

    torch.set_num_threads(SM_THREADS)
    recipe = _recipe()
    args = recipe.QSTArguments(quantization="none", output_dir="/tmp/qst-claim", **SM_DATA)
    base, tokenizer, quant = recipe.load_base(args)  # fp32 SmolLM2-135M-Instruct, pad token set as in the recipe
    data = recipe.make_data(tokenizer, args)  # instruct.sft_splits(tokenizer, 512, 32, 64), the recipe's prompts
    eval_loader = torch.utils.data.DataLoader(
        data[1], batch_size=SM_BATCH, collate_fn=collate_sft(tokenizer.pad_token_id)
    )
    base_loss = answer_loss(base, eval_loader)
    base_em = exact_match_accuracy(base, tokenizer, data[2][:SM_N_EM])
    print(f"[qst claim] SmolLM2 frozen base: answer loss {base_loss:.4f}, exact match {base_em:.3f}", flush=True)
    runs = {"qst": [], "lora": []}
    for seed in SM_SEEDS:
        for method in runs:
            runs[method].append(smollm2_run(method, seed, recipe, args, base, tokenizer, data))
    qst, lora = runs["qst"], runs["lora"]
    report.compare(
        "competitive quality on word problems (SmolLM2-135M): QST answer loss <= LoRA's + 0.1",
        "answer_loss",
        SM_NAMES["qst"],
        [r["answer_loss"] for r in qst],
        SM_NAMES["lora"],
        [r["answer_loss"] for r in lora],
        margin=-LOSS_MARGIN,
        higher_is_better=False,
    )
    report.compare(
        f"competitive exact match on word problems (SmolLM2-135M, {SM_N_EM} problems): QST >= LoRA - 0.05",
        "exact_match",
        SM_NAMES["qst"],
        [r["exact_match"] for r in qst],
        SM_NAMES["lora"],
        [r["exact_match"] for r in lora],
        margin=-SM_EM_MARGIN,
        higher_is_better=True,
    )
    report.record(SM_NAMES["base"], "answer_loss", [base_loss])
    report.record(SM_NAMES["base"], "exact_match", [base_em])
    for method, rs in runs.items():
        report.record(SM_NAMES[method], "train_s", [r["train_s"] for r in rs])
        report.record(SM_NAMES[method], "final_train_loss", [r["train_losses"][-1] for r in rs])
        report.record(SM_NAMES[method], "trainable_params", [rs[0]["trainable"]])
    report.config["smollm2"] = {
        "base": recipe.BASE_MODEL_ID,
        "base_dtype": "float32 (quantization 'none' for both methods)",
        "data": {**SM_DATA, "prompt": "recipe default (instruct.format_prompt: the tokenizer's chat template)"},
        "n_exact_match": SM_N_EM,
        "steps": SM_STEPS,
        "batch_size": SM_BATCH,
        "seeds": SM_SEEDS,
        "torch_threads": SM_THREADS,
        "max_grad_norm": SM_MAX_GRAD_NORM,
        "optimizer": {"name": "AdamW", "betas": [0.9, args.adam_beta2], "weight_decay": args.weight_decay},
        "warmup": f"recipe lr_at: linear over int({args.warmup_ratio} x {SM_STEPS}) steps, then constant",
        "qst": {
            "learning_rate": args.learning_rate,
            "reduction_factor": args.reduction_factor,
            "adapter_rank": args.adapter_rank,
            "activation": args.activation,
            "downsample": args.downsample,
            "gate_init": args.gate_init,
            "identity_init": args.identity_init,
            "share_embedding_downsampler": args.share_embedding_downsampler,
        },
        "lora": {**SM_LORA, "learning_rate": SM_LORA_LR},
        "trainable_params": {SM_NAMES[m]: rs[0]["trainable"] for m, rs in runs.items()},
    }
    smollm2_plot(runs)
    report.plots.append(SM_PLOT)

    def fmt(values, digits=3):
        m, s = mean_std(values)
        return f"{m:.{digits}f} ± {s:.{digits}f} (" + ", ".join(f"{v:.{digits}f}" for v in values) + ")"

    report.notes += (
        f" Word problems (checks 7-8): SmolLM2-135M-Instruct in fp32 (recipe quantization {quant!r}) for both methods, so 'QLoRA' is LoRA "
        "on the unquantized base (bitsandbytes 4-bit runs a very slow fallback on CPU; the 4-bit memory/speed side is "
        "benchmarks/perf/qst.py). Recipe data and prompts (instruct.sft_splits 512/32, max_length 64, chat "
        f"template), {SM_STEPS} steps of batch {SM_BATCH}, the same batches per seed for both methods, AdamW "
        f"(wd {args.weight_decay}), clip {SM_MAX_GRAD_NORM}, the recipe's warm-up rule; QST with the recipe's "
        f"default QSTConfig (r={args.reduction_factor}, k={args.adapter_rank}, identity_init={args.identity_init}) at "
        f"lr {args.learning_rate:g}, LoRA r=16/alpha 32/dropout 0.05 on all seven projections at lr {SM_LORA_LR:g}. "
        f"Exact match on the first {SM_N_EM} of the 32 held-out problems (cut from 32 by the rule fixed in advance, "
        f"after a timing probe), answer loss on all 32. Frozen base: answer loss {base_loss:.3f}, exact match "
        f"{base_em:.3f}. Answer loss (mean ± std, per seed): QST {fmt([r['answer_loss'] for r in qst])}, LoRA "
        f"{fmt([r['answer_loss'] for r in lora])}. Exact match: QST {fmt([r['exact_match'] for r in qst])}, LoRA "
        f"{fmt([r['exact_match'] for r in lora])}. Trainable parameters: QST {qst[0]['trainable']:,d}, LoRA "
        f"{lora[0]['trainable']:,d}. Training wall time per run (2 threads): QST {fmt([r['train_s'] for r in qst], 0)} s, "
        f"LoRA {fmt([r['train_s'] for r in lora], 0)} s."
    )


def main():
    torch.set_num_threads(1)  # a tiny model on a shared 2-core machine: one thread avoids oversubscription
    report = ClaimReport(slug=SLUG, seeds=SEEDS)  # created first, so its runtime covers the whole run
    lang_a, lang_b = markov_languages(0)
    pretrained = pretrain(lang_a)
    eval_ids = sample(lang_b, N_EVAL, torch.Generator().manual_seed(999))
    eval_a = sample(lang_a, N_EVAL, torch.Generator().manual_seed(998))
    base_b, base_a = eval_loss(pretrained, eval_ids), eval_loss(pretrained, eval_a)
    print(f"[qst claim] pretrained base: loss on A {base_a:.4f}, on B {base_b:.4f}", flush=True)

    methods = (("QST", "qst"), ("LoRA", "lora"), ("full FT", "full"), ("QST, official gate", "qst_official_gate"))
    runs = {name: [] for name, _ in methods}
    for seed in SEEDS:
        for name, method in methods:
            runs[name].append(train(method, seed, pretrained, lang_b, eval_ids))

    report.config.update(
        {
            "base": BASE_KW,
            "pretrain_steps": PRETRAIN_STEPS,
            "pretrain_lr": PRETRAIN_LR,
            "steps": STEPS,
            "batch_size": BATCH,
            "seq_len": SEQ,
            "learning_rate": LR,
            "full_ft_learning_rate": FULL_LR,
            "max_grad_norm": MAX_GRAD_NORM,
            "n_eval": N_EVAL,
            "qst": QST,
            "lora": LORA,
            "successor_probs": SUCCESSOR_PROBS,
            "trainable_params": {m: rs[0]["trainable"] for m, rs in runs.items()},
        }
    )
    report.task = {
        "type": "text-generation",
        "dataset_name": "synthetic Markov languages A -> B (V=64)",
        "dataset_type": "hf-methods/markov-shift",
        "split": "held-out sequences of B",
    }
    qst, lora, full = runs["QST"], runs["LoRA"], runs["full FT"]
    report.compare(
        "loss on B: QST competitive with LoRA (<= LoRA + 0.1)",
        "loss_b",
        "QST",
        [r["loss_b"] for r in qst],
        "LoRA",
        [r["loss_b"] for r in lora],
        margin=-LOSS_MARGIN,
        higher_is_better=False,
    )
    report.compare(
        "QST learns B (loss <= frozen base - 0.5)",
        "loss_b",
        "QST",
        [r["loss_b"] for r in qst],
        "frozen base",
        [base_b],
        margin=LEARN_MARGIN,
        higher_is_better=False,
    )
    q_act, _ = mean_std([r["saved_mib"] for r in qst])
    l_act, _ = mean_std([r["saved_mib"] for r in lora])
    report.add_check(
        ClaimCheck(
            name="saved-for-backward activations: QST <= 0.5 x LoRA",
            metric="saved_mib_per_step",
            method="QST",
            method_value=q_act,
            baseline="LoRA",
            baseline_value=l_act,
            criterion="QST <= 0.5 x LoRA",
            held=q_act <= ACT_RATIO * l_act,
        )
    )
    base_grads = sum(r["base_grads"] for r in qst)
    report.add_check(
        ClaimCheck(
            name="no gradient reaches the base; base weights bit-identical after training",
            metric="base_params_with_grad",
            method="QST",
            method_value=base_grads,
            criterion="0 base parameters with a gradient and unchanged weights",
            held=base_grads == 0 and all(r["base_unchanged"] for r in qst),
        )
    )
    add_perf_checks(report)
    report.record("full FT", "loss_b", [r["loss_b"] for r in full])
    # supplementary, not a check: the official output gate a = sigmoid(1) (not identity at init)
    report.record("QST, official gate", "loss_b", [r["loss_b"] for r in runs["QST, official gate"]])
    report.record("frozen base", "loss_a", [base_a])
    for name, rs in runs.items():
        report.record(name, "step_s", [r["step_s"] for r in rs])
        report.record(name, "saved_mib_per_step", [r["saved_mib"] for r in rs])
        for s in EVAL_AT[:-1]:
            report.record(name, f"loss_b@{s}", [r["curve"][s] for r in rs])
    plot(runs, base_b)
    report.plots.append(PLOT)
    report.notes = (
        "Quality: tiny pretrained Llama, Markov language A -> B, fp32 base for QST and LoRA (LoRA stands in for QLoRA "
        "without quantization: bitsandbytes 4-bit is a slow fallback on CPU). Memory/speed: SmolLM2-135M with an NF4 "
        "base, from perf-qst.json (peak = weights + gradients + AdamW states + saved activations, counted; step "
        "times on a shared, heavily loaded 2-core machine, one timed 4-bit step). Settings were fixed before the "
        "first run and not tuned. Observed after the first run: with identity_init the output gate gamma starts at 0 "
        "and Adam moves it by about the learning rate per step, so after 60 steps at lr 1e-3 the side network can "
        "contribute only a few percent of the final hidden state; the supplementary 'QST, official gate' record "
        "(a = sigmoid(1), side output mixed in from step 0) shows how much of the gap to LoRA this parametrisation "
        "explains. Longer runs or a larger learning rate for the gate would change the picture; neither was tried."
    )
    sup, sup_std = mean_std([r["loss_b"] for r in runs["QST, official gate"]])
    full_m, _ = mean_std([r["loss_b"] for r in full])
    report.notes += (
        f" Supplementary: QST with the official gate ended at {sup:.3f} ± {sup_std:.3f} on B (it starts at "
        f"{mean_std([r['curve'][0] for r in runs['QST, official gate']])[0]:.3f}, not at the base's {base_b:.3f}); "
        f"full fine-tuning at {full_m:.3f}."
    )
    report.notes += perf_notes()
    smollm2_experiment(report)  # checks 7-8, after the proxy's (1-4) and perf (5-6) checks
    report.task = {
        "type": "text-generation",
        "dataset_name": "arithmetic word problems (hf_methods.common.instruct, recipe default) + synthetic Markov "
        "languages A -> B (V=64, proxy)",
        "dataset_type": "hf-methods/arithmetic-word-problems",
        "split": "32 held-out problems (seed 1); held-out sequences of B (proxy)",
    }
    report.write()


if __name__ == "__main__":
    main()
