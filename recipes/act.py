"""Recipe for P06 `act`: find the heads to calibrate with ACT (training-free) and write a calibrated model folder.

Yu, Wang, Fu, Shi, Shaikh, Lin, "Unveiling and Harnessing Hidden Attention Sinks: Enhancing Large Language Models
without Training through Attention Calibration" (ICML 2024). ACT detects, per input, the tokens that receive a mean
attention above `--threshold` (sinks), keeps the first one, and moves `1 - beta` of the attention on the others back
to the non-sink tokens, on heads chosen offline. This recipe runs that offline choice: the greedy head search on a
calibration split of an embedded few-shot task (`--task corpus-source` or `wordnet-pos`, built from offline Debian
corpora), over the `--max_candidates` heads with the most hidden-sink mass, one head per step (a step is one
candidate: checkpoints and `--resume_from_checkpoint` work per candidate). It then scores a held-out split with and
without the found heads.

No weight changes: the output folder holds `act_config.json` (the heads, beta, threshold), the model's `config.json`
with the ACT settings in it, the tokenizer, `metrics.json`, a sink plot in `assets/` and the card. By default the
540 MB base weights are not copied; load the calibrated model with

```python
from hf_methods.generation.act import ActConfig, apply_act  # using the package registers "act_eager"
from transformers import AutoConfig, AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained(base_path, config=AutoConfig.from_pretrained("outputs/act"))
# or: apply_act(AutoModelForCausalLM.from_pretrained(base_path), ActConfig.from_pretrained("outputs/act"))
```

With `--save_weights` the folder is a stand-alone checkpoint: `AutoModelForCausalLM.from_pretrained("outputs/act")`.

Usage:

```bash
accelerate launch recipes/act.py                                  # SmolLM2-135M-Instruct, corpus-source task
accelerate launch recipes/act.py --task wordnet-pos --max_candidates 16 --n_calibration 24
accelerate launch recipes/act.py --beta 0.4 --threshold 0.1 --strategy independent
accelerate launch recipes/act.py --resume_from_checkpoint latest
accelerate launch recipes/act.py --save_weights --push_to_hub --hub_model_id me/smollm2-act
```

The search is sequential (each step depends on the heads kept so far): extra processes repeat the same work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hf_methods.harness.recipe import RecipeArguments, RecipeRunner, parse_recipe_args
from hf_methods.generation.act import (
    ActConfig,
    act_calibrate,
    apply_act,
    choice_accuracy,
    plot_attention_sinks,
    sink_statistics,
)
from hf_methods.generation.act.search import _default_layers
from hf_methods.generation.act.tasks import TASKS, build_fewshot_task

SLUG = "act"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass
class Args(RecipeArguments):
    model_name_or_path: str = field(
        default="smollm2",
        metadata={"help": "'smollm2' (the offline SmolLM2-135M-Instruct), 'tiny' (a random 4-layer Llama, smoke "
                  "tests) or a local transformers folder."},
    )  # fmt: skip
    task: str = field(default="corpus-source", metadata={"help": f"Embedded few-shot task, one of {TASKS}."})
    shots: int = field(default=3, metadata={"help": "Demonstrations per prompt."})
    words: int = field(default=8, metadata={"help": "Passages / glosses are clipped to this many words."})
    n_calibration: int = field(default=12, metadata={"help": "Calibration prompts (the head search's data)."})
    n_eval: int = field(default=24, metadata={"help": "Held-out prompts scored with and without ACT."})
    beta: float = field(default=0.4, metadata={"help": "Fraction of attention a hidden sink keeps (official 0.4)."})
    threshold: float = field(default=0.1, metadata={"help": "Absolute sink threshold on the mean attention (0.1)."})
    layers: str | None = field(
        default=None, metadata={"help": "Layers to search, e.g. '2-28' or '3,5,7'. Default: all but the first two and "
                                "the last (the official range)."}
    )  # fmt: skip
    max_candidates: int = field(default=8, metadata={"help": "Heads tried, by decreasing hidden-sink mass."})
    strategy: str = field(
        default="greedy", metadata={"help": "'greedy' (keep a head if it beats the current set) or 'independent' "
                                   "(official: keep a head if it alone beats the uncalibrated model)."}
    )  # fmt: skip
    batch_size: int = field(default=8, metadata={"help": "Evaluation batch size."})
    save_weights: bool = field(
        default=False, metadata={"help": "Also write the (unchanged) weights: a stand-alone calibrated checkpoint."}
    )
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)."})
    checkpoint_every: int = field(default=4, metadata={"help": "Save a resumable checkpoint every N candidates."})

    def validate(self) -> None:
        super().validate()
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {TASKS}, got {self.task!r}")
        if self.strategy not in ("greedy", "independent"):
            raise ValueError(f"--strategy must be 'greedy' or 'independent', got {self.strategy!r}")
        for name in ("n_calibration", "n_eval", "max_candidates", "batch_size", "words"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        ActConfig(beta=self.beta, threshold=self.threshold)  # raises naming beta / threshold


def parse_layers(spec: str | None, num_layers: int) -> list[int]:
    if spec is None:
        return _default_layers(num_layers)
    layers: list[int] = []
    try:
        for part in spec.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                layers.extend(range(int(lo), int(hi) + 1))
            elif part.strip():
                layers.append(int(part))
    except ValueError:
        raise ValueError(f"--layers must look like '2-28' or '3,5,7', got {spec!r}") from None
    bad = [layer for layer in layers if not 0 <= layer < num_layers]
    if bad or not layers:
        raise ValueError(f"--layers {spec!r}: layers must be in [0, {num_layers}), got {layers}")
    return sorted(set(layers))


class SearchState:
    """The head search's progress, saved with each checkpoint."""

    def __init__(self):
        self.baseline: float | None = None
        self.best: float | None = None
        self.kept: list[list[int]] = []
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return {"json": json.dumps(vars(self))}

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(json.loads(state["json"]))


class CalibratedFolder(torch.nn.Module):
    """What `RecipeRunner.finish` saves: the ACT config and the model config (and the weights with --save_weights)."""

    def __init__(self, model, config: ActConfig, save_weights: bool):
        super().__init__()
        self.model, self.act_config, self.save_weights = model, config, save_weights

    def save_pretrained(self, save_directory, is_main_process: bool = True, save_function=torch.save, **kwargs):
        if self.save_weights:
            self.model.save_pretrained(save_directory, is_main_process=is_main_process, save_function=save_function)
        elif is_main_process:
            self.model.config.save_pretrained(save_directory)
            if getattr(self.model, "generation_config", None) is not None:
                self.model.generation_config.save_pretrained(save_directory)
        if is_main_process:
            self.act_config.save_pretrained(save_directory)


def load_model(name: str):
    if name == "smollm2":
        from hf_methods.common.data import load_smollm2

        model, tokenizer = load_smollm2()
        return model, tokenizer, SMOLLM2_HUB_ID
    if name == "tiny":
        from hf_methods.common.tiny import byte_tokenizer, tiny_llama

        return tiny_llama(seed=0, num_hidden_layers=4), byte_tokenizer(), None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(name), AutoTokenizer.from_pretrained(name), name


def main(argv=None):
    args = parse_recipe_args(Args, argv, slug=SLUG)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    runner = RecipeRunner(args, slug=SLUG)
    model, tokenizer, base_id = load_model(args.model_name_or_path)
    model = model.to(runner.accelerator.device).eval()
    model.set_attn_implementation("eager")
    layers = parse_layers(args.layers, model.config.num_hidden_layers)
    used: set[str] = set()
    cal = build_fewshot_task(args.task, args.n_calibration, args.shots, args.words, seed=args.seed, exclude=used)
    held_out = build_fewshot_task(
        args.task, args.n_eval, args.shots, args.words, seed=10_000 + args.seed, exclude=used
    )
    base = ActConfig(beta=args.beta, threshold=args.threshold, base_model_name_or_path=base_id)

    with torch.no_grad():
        stats = sink_statistics(model, cal, tokenizer, threshold=args.threshold, layers=layers)
        candidates = stats.ranked_heads()[: args.max_candidates]
        runner.print(
            f"[{SLUG}] {len(candidates)} candidate heads with hidden sinks (of {len(layers)} layers x "
            f"{model.config.num_attention_heads} heads): {candidates}"
        )

        def score(heads) -> float:
            with act_calibrate(model, base.with_heads(heads)):
                return choice_accuracy(model, cal, tokenizer, batch_size=args.batch_size)

        state = SearchState()
        runner.register_for_checkpointing(state)
        start = runner.resume()
        if state.baseline is None:
            state.baseline = state.best = score([])
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(candidates), initial=start, desc=SLUG, disable=not runner.accelerator.is_local_main_process
        )
        for step in range(start, len(candidates)):
            cand = list(candidates[step])
            trial = [*state.kept, cand] if args.strategy == "greedy" else [cand]
            value = score(trial)
            reference = state.best if args.strategy == "greedy" else state.baseline
            keep = value > reference
            if keep:
                state.kept.append(cand)
                if args.strategy == "greedy":
                    state.best = value
            state.history.append({"head": cand, "score": value, "kept": keep})
            runner.log({"search/score": value, "search/kept": len(state.kept)}, step, force=True)
            bar.update(1)
            bar.set_postfix(kept=len(state.kept), best=f"{state.best:.3f}", refresh=False)
            if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0 and step + 1 < len(candidates):
                runner.save_checkpoint(step)
        bar.close()
        if candidates and start < len(candidates):
            runner.save_checkpoint(len(candidates) - 1)

        config = base.with_heads(state.kept)
        cal_act = score(config.heads) if args.strategy == "independent" else state.best
        eval_base = choice_accuracy(model, held_out, tokenizer, batch_size=args.batch_size)
        apply_act(model, config)
        eval_act = choice_accuracy(model, held_out, tokenizer, batch_size=args.batch_size)

    metrics = {
        "calibration/accuracy_base": state.baseline,
        "calibration/accuracy_act": cal_act,
        "eval/accuracy_base": eval_base,
        "eval/accuracy_act": eval_act,
        "act/heads_selected": float(len(config.heads)),
        "act/hidden_sink_mass": float(stats.hidden_sink_mass.mean()),
    }
    runner.print(f"[{SLUG}] kept heads {list(config.heads)}")
    if runner.is_main_process:
        out = Path(args.output_dir)
        (out / "search_history.json").parent.mkdir(parents=True, exist_ok=True)
        (out / "search_history.json").write_text(json.dumps(state.history, indent=2) + "\n")
        shown = config if config.heads else base.with_heads(candidates[:2])
        if shown.heads:
            plot_attention_sinks(
                model, tokenizer, cal[0]["text"], layers=sorted({h[0] for h in shown.heads})[:3], config=shown,
                path=out / "assets" / "act-run-sinks.png",
            )  # fmt: skip
    runner.finish(
        CalibratedFolder(model, config, args.save_weights),
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=base_id,
        model_name=f"{SLUG}-{Path(args.output_dir).name}",
    )


if __name__ == "__main__":
    main()
