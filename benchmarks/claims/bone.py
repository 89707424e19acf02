"""Claim of P46 (Kang, arXiv 2409.15371 v1): at a matched parameter count, Bone fits better than LoRA (and PiSSA).

Paper: Bone (Block Affine, `W'_{a,b} = W_{a,b} + W_{a,b} B_a + B_a`, PEFT's MiSS `init_weights="bat"`), r=64 with
87.0M trainable parameters on the seven projections of every LLaMA2-7B layer, beats LoRA and PiSSA (r=36, 89.9M)
fine-tuned on MetaMathQA (GSM8K 49.36 vs 43.52 PiSSA, 38.97 LoRA). At CPU scale, all settings fixed in advance:

- base SmolLM2-135M-Instruct (fp32); arithmetic word problems with exact answers (`hf_methods.common.instruct`):
  1024 training problems (generator seed 0), 32 validation and 64 held-out test problems (seed 1, disjoint), plain
  "Question: ... Answer: " prompts, loss on the answer tokens only;
- all seven projections of all 30 layers: Bone (Bat) r=64 = 9.95M parameters; LoRA and PiSSA at the rank whose
  count is closest (33, 10.07M), alpha 2·rank (LoRA) and rank (PiSSA), as the official comparison scripts;
- AdamW, no weight decay, cosine to 0 without warm-up, batch 8 × at most 64 tokens; each method's learning rate
  is picked from {1e-4, 3e-4, 1e-3} by the validation answer loss of a 40-step run with seed 0; then seeds 0, 1, 2
  train 100 steps at the chosen rates (seed = data order and LoRA init), evaluated on the 64 test problems: answer
  loss per problem (mean over its answer tokens; primary) and greedy exact match (adapter merged; no rule).

Rule, decided before any run: the units are (seed, test problem) pairs, 3 × 64 = 192; Bone and LoRA are paired on
each unit and the claim holds when the whole percentile-bootstrap 95% interval of the mean difference
Bone − LoRA of held-out answer loss lies below 0 (`decide_by="interval"`, margin 0): Bone's loss is lower, beyond
the spread of the problems. The bootstrap resamples units independently (no widening for the correlation of the
problems within one seed). PiSSA is measured the same way and reported without a rule.

Run: `python benchmarks/claims/bone.py` (~90 min on one CPU thread; finished runs are cached); `--smoke`: a dry run.
"""

from __future__ import annotations

import copy
import math
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from hf_methods.adapters.bone.training import BASE_MODEL_ID, PROJECTIONS  # noqa: E402
from hf_methods.harness.claims import Claim, Compare  # noqa: E402

METHODS = {"Bone": "bone", "LoRA": "lora", "PiSSA": "pissa"}
CLAIM = Claim(
    slug="bone",
    seeds=[0, 1, 2],
    settings={
        "base_model": BASE_MODEL_ID,
        "r": 64,
        "variant": "bat",
        "target_modules": list(PROJECTIONS),
        "layers": "all",
        "lora_alpha": "2·rank (LoRA), rank (PiSSA); rank matched to Bone's parameter count",
        "learning_rates": [1e-4, 3e-4, 1e-3],
        "select_seed": 0,
        "select_steps": 40,
        "steps": 100,
        "schedule": "cosine",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "batch_size": 8,
        "max_length": 64,
        "n_train": 1024,
        "n_validation": 32,
        "n_test": 64,
    },
    smoke={"layers": "28-29", "select_steps": 2, "steps": 3, "n_train": 64, "n_validation": 4, "n_test": 4},
    rules=[
        Compare(
            "Bone vs LoRA: held-out answer loss",
            metric="answer_loss",
            method="Bone",
            baseline="LoRA",
            higher_is_better=False,
            decide_by="interval",
            margin=0.0,
        )
    ],
    task={
        "type": "text-generation",
        "dataset_name": "arithmetic word problems (generated, hf_methods.common.instruct)",
        "dataset_type": "hf-methods/arithmetic-word-problems",
        "split": "held-out test (seed 1)",
    },
)

_BASE: dict = {}


def base_and_data(s: dict):
    """SmolLM2 and the problem sets, loaded once per process (every run trains a deep copy of the base)."""
    if not _BASE:
        from hf_methods.adapters.bone.training import word_problem_splits
        from hf_methods.common.data import load_smollm2

        model, tokenizer = load_smollm2()
        data = word_problem_splits(
            tokenizer, s["n_train"], s["n_test"], s["max_length"], n_validation=s["n_validation"]
        )
        _BASE.update(model=model, tokenizer=tokenizer, data=data)
    return _BASE["model"], _BASE["tokenizer"], _BASE["data"]


def train_and_evaluate(method: str | None, lr: float, seed: int, steps: int, split: str, s: dict) -> dict:
    """Trains `method` (None: the untouched base) for `steps` and evaluates it on `split` ("validation" or "test")."""
    from transformers import set_seed

    from hf_methods.adapters.bone import BoneConfig
    from hf_methods.adapters.bone.training import build_adapter, evaluate, make_optimizer, make_scheduler, train_step
    from hf_methods.common.instruct import collate_sft
    from hf_methods.common.layers import parse_layers

    base, tokenizer, data = base_and_data(s)
    model, info, losses, step_s = copy.deepcopy(base), {}, [], []
    if method is not None:
        set_seed(seed)
        layers = parse_layers(s["layers"], base.config.num_hidden_layers)
        config = BoneConfig(
            r=s["r"], target_modules=s["target_modules"], variant=s["variant"], layers_to_transform=layers
        )
        model, info = build_adapter(model, method, config)
        order = torch.Generator().manual_seed(seed)  # the same batches for every method of a seed
        loader = torch.utils.data.DataLoader(
            data["train"],
            s["batch_size"],
            shuffle=True,
            generator=order,
            collate_fn=collate_sft(tokenizer.pad_token_id),
        )
        optimizer = make_optimizer(model, lr, s["weight_decay"])
        scheduler = make_scheduler(optimizer, s["schedule"], steps, s["warmup_steps"])
        model.train()
        batches = iter(loader)
        for step in range(steps):
            start = time.perf_counter()
            losses.append(float(train_step(model, next(batches), optimizer, scheduler)))
            step_s.append(time.perf_counter() - start)
            print(f"  {method} lr {lr:g} seed {seed} step {step}: {losses[-1]:.4f} ({step_s[-1]:.1f} s)", flush=True)
        model = model.merge_and_unload()  # same function; greedy decoding without rebuilding W' per token
    result = evaluate(
        model.eval(),
        tokenizer,
        data[split],
        data[f"{split}_problems"],
        n_accuracy=0 if split == "validation" else None,
    )
    return {**result, **info, "train_losses": losses, "step_s": step_s}


def run(claim) -> None:
    torch.set_num_threads(1)  # one thread: a shared machine stalls on two
    s = claim.settings
    chosen, selection = {}, {}
    for name, method in METHODS.items():
        scores = {}
        for lr in s["learning_rates"]:
            key = f"select-{method}-lr{lr:g}"
            result = claim.cached(
                key, train_and_evaluate, method, lr, s["select_seed"], s["select_steps"], "validation", s
            )
            loss = sum(result["problem_losses"]) / len(result["problem_losses"])
            scores[lr] = loss if math.isfinite(loss) else math.inf
        chosen[name] = min(scores, key=scores.get)
        selection[name] = {f"{lr:g}": scores[lr] for lr in scores}
    claim.details.update(validation_answer_loss=selection, chosen_learning_rate=chosen)

    base = claim.cached("base-test", train_and_evaluate, None, 0.0, 0, 0, "test", s)
    claim.record_units("SmolLM2 (no adapter)", "answer_loss", base["problem_losses"], prefix="base-p")
    claim.record("SmolLM2 (no adapter)", "exact_match", base["exact_match"])
    curves = {}
    for name, method in METHODS.items():
        lr = chosen[name]
        for seed in claim.seeds:
            result = claim.cached(
                f"{method}-lr{lr:g}-s{seed}", train_and_evaluate, method, lr, seed, s["steps"], "test", s
            )
            claim.record_units(name, "answer_loss", result["problem_losses"], prefix=f"s{seed}-p")
            claim.record(name, "exact_match", result["exact_match"], unit=f"s{seed}")
            claim.record(name, "final_train_loss", result["train_losses"][-1], unit=f"s{seed}")
            claim.record(name, "trainable_parameters", result["trainable_parameters"], unit=f"s{seed}")
            claim.record(name, "step_seconds", sum(result["step_s"]) / len(result["step_s"]), unit=f"s{seed}")
            curves.setdefault(f"{name} (lr {lr:g})", {})[f"s{seed}"] = list(enumerate(result["train_losses"], 1))
            if "lora_rank" in result:
                claim.details[f"{name} rank / alpha"] = [result["lora_rank"], result["lora_alpha"]]
    claim.plot_curves(
        "curves",
        curves,
        xlabel="step (batch 8)",
        ylabel="training answer loss",
        title="SmolLM2-135M: mean ± std over seeds",
    )
    claim.note(
        f"CPU scale: {s['steps']} steps of batch {s['batch_size']} on a 135M model, not 6k steps on LLaMA2-7B. Learning "
        f"rates chosen on the validation split (seed {s['select_seed']}, {s['select_steps']} steps): "
        + ", ".join(f"{k} {v:g}" for k, v in chosen.items())
        + f". Exact match on {s['n_test']} problems is coarse (one problem = {100 / s['n_test']:.1f} points). Step "
        "times come from a machine shared with other jobs (ratios: benchmarks/perf/bone.py)."
    )


if __name__ == "__main__":
    CLAIM.main(run)
