"""Claim of P46 (Kang, arXiv 2409.15371 v1): Bone converges faster and fits better than LoRA and PiSSA.

Paper: Bone (Block Affine, `W'_{a,b} = W_{a,b} + W_{a,b} B_a + B_a`, PEFT's MiSS `init_weights="bat"`), r=64 with
87.0M trainable parameters on LLaMA2-7B, beats LoRA and PiSSA (r=36, 89.9M) fine-tuned on MetaMathQA: GSM8K 49.36 vs
43.52 (PiSSA) and 38.97 (LoRA), with a faster-falling training loss. Here, at CPU scale (all settings fixed before
the first run, not tuned):

- base: SmolLM2-135M-Instruct (fp32), the offline asset;
- task: arithmetic word problems with exact answers (`hf_methods.common.instruct`), 512 training problems (generator
  seed 0), 32 held-out problems (seed 1, none seen in training), plain "Question: ... Answer: " prompts, loss on the
  answer tokens only;
- adapters on q,k,v,o,gate,up,down of the last 8 of 30 decoder layers (22-29; fewer layers than the paper to fit the
  CPU budget): Bone (Bat) r=64 = 2,654,208 parameters; LoRA and PiSSA rank 33 = 2,686,464 (+1.2%, the rank whose
  count is closest, as the paper's 87.0M vs 89.9M), alpha 2·r for LoRA and r for PiSSA (official `JL-er/MiSS`
  scripts);
- AdamW lr 3e-4 (all methods; the paper uses one lr, 2e-5, for all three at 6k steps), no weight decay, cosine to
  0, no warm-up, batch 8, 10 steps, seeds 0, 1, 2 (data order and LoRA init; the same batches for every method).
  (These are the settings first fixed. A run cut to 8 steps of batch 4 was started when two torch threads on the
  shared 2-core machine ran ~25x slower than one; it was stopped after seed 0 of Bone and LoRA once one thread proved
  fast enough, and the first settings were restored, unchanged.)

Checks (mean over seeds, margin 0): Bone's mean training loss over the 10 steps (the convergence claim) is below
LoRA's and PiSSA's; Bone's held-out answer loss after training is below both; Bone's greedy exact-match accuracy on
the 32 held-out problems is at least both.

Run: `python benchmarks/claims/bone.py` (about 10 minutes on 2 idle cores); writes `benchmarks/results/bone.json`
and `benchmarks/results/bone-curves.png`.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from hf_methods.harness.claims import ClaimReport, mean_std  # noqa: E402
from hf_methods.zoo import repo_root  # noqa: E402

SLUG = "bone"
SEEDS = [0, 1, 2]
METHODS = {"bone": "Bone (Bat) r=64", "lora": "LoRA r=33", "pissa": "PiSSA r=33"}
SETTINGS = dict(
    r=64,
    variant="bat",
    layers="22-29",
    learning_rate=3e-4,
    lr_schedule="cosine",
    warmup_steps=0,
    weight_decay=0.0,
    batch_size=8,
    max_steps=10,
    max_length=64,
    n_train=512,
    n_eval=32,
    n_accuracy=32,
    chat_template=False,
    target_modules="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
)
PLOT = "benchmarks/results/bone-curves.png"


def _recipe():
    """The recipe module (recipes/ is not a package): the claim uses its adapter, data and schedule helpers."""
    spec = importlib.util.spec_from_file_location("bone_recipe", repo_root() / "recipes" / "bone.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_BASE: list = []


def run(recipe, method: str, seed: int) -> dict:
    from transformers import set_seed

    from hf_methods.common.instruct import collate_sft, exact_match_accuracy

    args = recipe.BoneArguments(method=method, seed=seed, output_dir="/tmp/bone-claim", **SETTINGS)
    set_seed(seed)
    base, tokenizer = copy.deepcopy(_BASE[0]), _BASE[1]  # PiSSA rewrites base weights: every run gets a fresh copy
    model, info = recipe.build_adapter(base, args)
    train_ds, eval_ds, eval_problems = recipe.make_data(tokenizer, args)
    collate = collate_sft(tokenizer.pad_token_id)
    order = torch.Generator().manual_seed(seed)  # the same batches for every method of a seed
    loader = torch.utils.data.DataLoader(
        train_ds, batch_size=args.batch_size, shuffle=True, collate_fn=collate, generator=order
    )
    eval_loader = torch.utils.data.DataLoader(eval_ds, batch_size=args.batch_size, collate_fn=collate)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.learning_rate, weight_decay=args.weight_decay
    )
    model.train()
    losses, step_times = [], []
    batches = iter(loader)
    for step in range(args.max_steps):
        batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(step, args)
        start = time.perf_counter()
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_times.append(time.perf_counter() - start)
        losses.append(loss.item())
        print(f"  {method} seed {seed} step {step}: loss {losses[-1]:.4f} ({step_times[-1]:.1f} s)", flush=True)
    eval_loss = recipe.eval_loss(model, eval_loader)
    merged = model.merge_and_unload().eval()  # same outputs, and greedy decoding without rebuilding W' per token
    accuracy = exact_match_accuracy(merged, tokenizer, eval_problems[: args.n_accuracy])
    print(f"  {method} seed {seed}: eval loss {eval_loss:.4f}, exact match {accuracy:.3f}", flush=True)
    return {"losses": losses, "eval_loss": eval_loss, "exact_match": accuracy, "step_time": step_times, **info}


def save_plot(curves: dict[str, list[list[float]]], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for method, runs in curves.items():
        arr = np.array(runs)
        steps = np.arange(1, arr.shape[1] + 1)
        mean, std = arr.mean(0), arr.std(0)
        ax.plot(steps, mean, marker="o", ms=3, label=METHODS[method])
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("step (batch 8)")
    ax.set_ylabel("training answer loss")
    ax.set_title("SmolLM2-135M on word problems: mean ± std over 3 seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BONE_THREADS", "1")))  # 1: a shared 2-core machine stalls 2 threads
    recipe = _recipe()
    from hf_methods.common.data import load_smollm2

    _BASE.extend(load_smollm2())
    report = ClaimReport(
        slug=SLUG,
        seeds=SEEDS,
        config={
            **SETTINGS,
            "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "optimizer": "AdamW",
            "lora_alpha": "2r (LoRA), r (PiSSA)",
        },
        task={
            "type": "text-generation",
            "dataset_name": "arithmetic word problems (generated, hf_methods.common.instruct)",
            "dataset_type": "hf-methods/arithmetic-word-problems",
            "split": "held-out (seed 1)",
        },
    )
    results = {m: [] for m in METHODS}
    for seed in SEEDS:
        for method in METHODS:
            results[method].append(run(recipe, method, seed))

    def values(method, key):
        return [r[key] for r in results[method]]

    def mean_loss(method):
        return [sum(r["losses"]) / len(r["losses"]) for r in results[method]]

    for baseline in ("lora", "pissa"):
        report.compare(
            f"faster convergence than {METHODS[baseline]}",
            "mean training loss over 10 steps",
            METHODS["bone"],
            mean_loss("bone"),
            METHODS[baseline],
            mean_loss(baseline),
            higher_is_better=False,
        )
    for baseline in ("lora", "pissa"):
        report.compare(
            f"better fit than {METHODS[baseline]}",
            "held-out answer loss",
            METHODS["bone"],
            values("bone", "eval_loss"),
            METHODS[baseline],
            values(baseline, "eval_loss"),
            higher_is_better=False,
        )
    for baseline in ("lora", "pissa"):
        report.compare(
            f"exact match vs {METHODS[baseline]}",
            "exact-match accuracy (32 held-out)",
            METHODS["bone"],
            values("bone", "exact_match"),
            METHODS[baseline],
            values(baseline, "exact_match"),
        )
    for method in METHODS:
        report.record(METHODS[method], "trainable parameters", values(method, "trainable_parameters"))
        report.record(METHODS[method], "final training loss", [r["losses"][-1] for r in results[method]])
        report.record(
            METHODS[method],
            "step time (s, loaded machine)",
            [sum(r["step_time"]) / len(r["step_time"]) for r in results[method]],
        )
    report.config["loss_curves"] = {
        METHODS[m]: [[round(x, 4) for x in r["losses"]] for r in results[m]] for m in METHODS
    }
    save_plot({m: values(m, "losses") for m in METHODS}, repo_root() / PLOT)
    report.plots.append(PLOT)
    bone_mean, _ = mean_std(mean_loss("bone"))
    report.notes = (
        "CPU scale: 10 steps of batch 8 on 8 of 30 layers of a 135M model, not the paper's 6k steps on LLaMA2-7B; "
        "one learning rate for all methods (3e-4), chosen before the run and not tuned. Exact match on 32 problems "
        f"is coarse (1 problem = 3.1 points). Bone's mean training loss over the run: {bone_mean:.3f}. Step times "
        "were measured on a machine shared with other jobs (see benchmarks/results/perf-bone.json for ratios)."
    )
    path = report.write()
    print(f"outcome: {report.outcome} -> {path}")


if __name__ == "__main__":
    main()
