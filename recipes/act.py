"""Recipe for P06 `act`: find the heads to calibrate with ACT (training-free) and write a calibrated model folder.

Yu, Wang, Fu, Shi, Shaikh, Lin, "Unveiling and Harnessing Hidden Attention Sinks: Enhancing Large Language Models
without Training through Attention Calibration" (ICML 2024). ACT detects, per input, the tokens that receive a mean
attention above `--threshold` (sinks), keeps the first one, and moves `1 - beta` of the attention on the others back
to the non-sink tokens, on heads chosen offline. This recipe runs that offline choice: the greedy head search on a
calibration split of an embedded few-shot task (`--task corpus-source` or `wordnet-pos`, built from offline Debian
corpora), over the `--max_candidates` heads with the most hidden-sink mass, one head per step (a step is one
candidate: checkpoints and `--resume_from_checkpoint` work per candidate), scored by the correct label's
log-probability margin (`--score margin`) or accuracy. It then scores a held-out split with and without the heads.
The search itself lives in the package (`hf_methods.generation.act.HeadSearch`); this script is its entry point.

The weights are not changed, only the attention function of the chosen heads, but by default the output folder is a
stand-alone checkpoint: the (unchanged) weights, a `config.json` that carries the ACT settings (`act_config`,
`attn_implementation="act_eager"`), `act_config.json` (the heads, beta, threshold), the tokenizer, `metrics.json`,
`search_history.json`, a sink plot in `assets/` and the card. It loads calibrated with

```python
import hf_methods  # registers the "act_eager" attention function with transformers
from transformers import AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained("outputs/act")
```

Without hf-methods, transformers refuses the folder with `Specified attn_implementation="act_eager" is not
supported`: `pip install hf-methods` and `import hf_methods` first. With `--save_weights false` the folder holds no
weights (a few kB instead of a copy of the base) and `from_pretrained` of it alone fails; load the base with its
config instead:

```python
import hf_methods
from transformers import AutoConfig, AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained(base_path, config=AutoConfig.from_pretrained("outputs/act"))
# or: apply_act(AutoModelForCausalLM.from_pretrained(base_path), ActConfig.from_pretrained("outputs/act"))
```

Your own multiple-choice task: `--dataset_name_or_path prompts.jsonl` with one `{"text": prompt, "choices": [" yes",
" no"], "label": 0}` per line (text with its demonstrations; each choice scored by its first token). The rows are
shuffled with `--seed`; the first `--n_calibration` are the search's data and the next (up to `--n_eval`) the
held-out split, and `--task`, `--shots`, `--words` and `--min_words` are not used.

Usage:

```bash
accelerate launch recipes/act.py                                  # SmolLM2-135M-Instruct, corpus-source task
accelerate launch recipes/act.py --task wordnet-pos --shots 8 --words 16 --min_words 0
accelerate launch recipes/act.py --beta 0.4 --threshold 0.1 --strategy greedy
accelerate launch recipes/act.py --threshold 10 --threshold_mode relative          # sinks score > 10 / N
accelerate launch recipes/act.py --resume_from_checkpoint latest
accelerate launch recipes/act.py --dataset_name_or_path prompts.jsonl --n_calibration 64 --n_eval 256
accelerate launch recipes/act.py --model_name_or_path tiny --n_calibration 4 --n_eval 4 --max_candidates 2  # smoke
accelerate launch recipes/act.py --save_weights false                   # ACT settings only, no copy of the weights
accelerate launch recipes/act.py --push_to_hub --hub_model_id me/smollm2-act
```

The search is sequential (each step depends on the heads kept so far): extra processes repeat the same work.
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hf_methods.common.data import load_causal_lm
from hf_methods.common.layers import parse_layers
from hf_methods.generation.act import ActConfig, ChoiceScorer, HeadSearch, apply_act, plot_attention_sinks
from hf_methods.generation.act.configuration_act import THRESHOLD_MODES
from hf_methods.generation.act.search import SCORES, STRATEGIES, default_search_layers
from hf_methods.generation.act.tasks import TASKS, build_fewshot_task, choice_examples
from hf_methods.harness.recipe import PretrainedRecipeArguments, RecipeRunner, parse_recipe_args

SLUG = "act"


@dataclass
class ActArguments(PretrainedRecipeArguments):
    """The recipe's flags; `--model_name_or_path` and `--dataset_name_or_path` (rows of `text`, `choices`, `label`;
    default: the embedded `--task`) are the shared ones."""

    task: str = field(default="corpus-source", metadata={"help": f"Embedded few-shot task, one of {TASKS}."})
    shots: int = field(default=6, metadata={"help": "Demonstrations per prompt."})
    words: int = field(default=32, metadata={"help": "Passages / glosses are clipped to at most this many words."})
    min_words: int = field(
        default=16, metadata={"help": "Use passages of >= this many words, clipped to a length in [min_words, words] "
                              "(0: every passage, clipped to --words)."}
    )  # fmt: skip
    n_calibration: int = field(default=32, metadata={"help": "Calibration prompts (the head search's data)."})
    n_eval: int = field(default=128, metadata={"help": "Held-out prompts scored with and without ACT."})
    beta: float = field(default=0.4, metadata={"help": "Fraction of attention a hidden sink keeps (official 0.4)."})
    threshold: float = field(
        default=0.1, metadata={"help": "Sink threshold: a mean attention weight (absolute, official 0.1) or alpha "
                               "(relative: sinks score > alpha / N)."}
    )  # fmt: skip
    threshold_mode: str = field(default="absolute", metadata={"help": f"One of {THRESHOLD_MODES}."})
    layers: str | None = field(
        default=None, metadata={"help": "Layers to search, e.g. '2-28', '3,5,7' or 'last4'. Default ('all' too): all "
                                "but the first two and the last (the official range)."}
    )  # fmt: skip
    max_candidates: int = field(default=16, metadata={"help": "Heads tried, by decreasing hidden-sink mass."})
    strategy: str = field(
        default="independent", metadata={"help": "'independent' (official: keep a head if it alone beats the "
                                        "uncalibrated model, then the union) or 'greedy' (keep a head if it beats the "
                                        "current set)."}
    )  # fmt: skip
    score: str = field(default="margin", metadata={"help": f"Calibration score, one of {SCORES}."})
    batch_size: int = field(default=8, metadata={"help": "Evaluation batch size."})
    save_weights: bool = field(
        default=True, metadata={"help": "Write the (unchanged) weights, so `from_pretrained(output_dir)` loads the "
                                "calibrated model; false: only the configs (load the base with the folder's config)."}
    )  # fmt: skip
    checkpoint_every: int = field(default=4, metadata={"help": "Save a resumable checkpoint every N candidates."})

    def validate(self) -> None:
        super().validate()
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {TASKS}, got {self.task!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"--strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.score not in SCORES:
            raise ValueError(f"--score must be one of {SCORES}, got {self.score!r}")
        for name in ("n_calibration", "n_eval", "max_candidates", "batch_size", "words", "shots"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.min_words <= self.words:
            raise ValueError(f"--min_words must be in [0, --words], got {self.min_words}")
        parse_layers(self.layers)  # raises naming --layers
        self.act_config()  # raises naming beta / threshold / threshold_mode

    def act_config(self, heads=(), base_model_name_or_path: str | None = None) -> ActConfig:
        """The `ActConfig` these arguments describe, with `heads`."""
        return ActConfig(
            heads=heads, beta=self.beta, threshold=self.threshold, threshold_mode=self.threshold_mode,
            base_model_name_or_path=base_model_name_or_path,
        )  # fmt: skip

    def prompts(self, n: int, seed: int, exclude: set[str]) -> list[dict]:
        return build_fewshot_task(
            self.task, n, self.shots, self.words, seed=seed, exclude=exclude, min_words=self.min_words or None
        )

    def calibration_and_held_out(self) -> tuple[list[dict], list[dict]]:
        """The search's prompts and the held-out prompts: from `--dataset_name_or_path` (shuffled with `--seed`, the
        first `--n_calibration` rows, then up to `--n_eval`), or drawn from the embedded `--task` without overlap."""
        if self.dataset_name_or_path is None:
            used: set[str] = set()  # the held-out prompts exclude the calibration queries
            calibration = self.prompts(self.n_calibration, self.seed, used)
            return calibration, self.prompts(self.n_eval, 10_000 + self.seed, used)
        from hf_methods.common.data import load_user_dataset

        source = f"--dataset_name_or_path {self.dataset_name_or_path}"
        rows = choice_examples(load_user_dataset(self.dataset_name_or_path), source=source)
        random.Random(self.seed).shuffle(rows)
        if len(rows) <= self.n_calibration:
            raise ValueError(
                f"{source}: {len(rows)} rows leave none held out after --n_calibration {self.n_calibration}"
            )
        return rows[: self.n_calibration], rows[self.n_calibration : self.n_calibration + self.n_eval]

    def head_search(self, model, calibration: list[dict], tokenizer) -> HeadSearch:
        """The head search these arguments describe (layers: `--layers`, or the official default range)."""
        num_layers = model.config.num_hidden_layers
        layers = parse_layers(self.layers, num_layers) or default_search_layers(num_layers)
        return HeadSearch(
            model, calibration, tokenizer, beta=self.beta, threshold=self.threshold,
            threshold_mode=self.threshold_mode, layers=layers, max_candidates=self.max_candidates,
            strategy=self.strategy, score=self.score, batch_size=self.batch_size,
        )  # fmt: skip


class CalibratedFolder(torch.nn.Module):
    """What `RecipeRunner.finish` saves: the ACT config, the model config and, unless `--save_weights false`, the
    weights."""

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


def main(argv=None):
    args = parse_recipe_args(ActArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    model, tokenizer, base_id = load_causal_lm(args.model_name_or_path)
    model = model.to(runner.accelerator.device).eval()
    model.set_attn_implementation("eager")
    calibration, held_out = args.calibration_and_held_out()

    with torch.no_grad():
        search = args.head_search(model, calibration, tokenizer)
        runner.print(f"[{SLUG}] {len(search.candidates)} candidate heads with hidden sinks: {search.candidates}")
        runner.register_for_checkpointing(search)
        start = runner.resume()
        from tqdm.auto import tqdm

        bar = tqdm(total=len(search.candidates), initial=len(search.history), desc=SLUG,
                   disable=not runner.accelerator.is_local_main_process)  # fmt: skip
        while not search.done:
            step = len(search.history)
            record = search.step()
            runner.log({"search/score": record["score"], "search/kept": len(search.kept)}, step, force=True)
            bar.update(1)
            if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0 and not search.done:
                runner.save_checkpoint(step)
        bar.close()
        if search.candidates and start < len(search.candidates):
            runner.save_checkpoint(len(search.candidates) - 1)
        summary = search.summary()
        config = args.act_config(search.kept, base_id)
        scorer = ChoiceScorer(model, held_out, tokenizer, args.batch_size)
        eval_base, eval_act = scorer.correct(), scorer.correct(config)
        margin_base, margin_act = scorer.margins(), scorer.margins(config)

    metrics = {
        f"calibration/{args.score}_base": summary["baseline"],
        f"calibration/{args.score}_act": summary["final"],
        "eval/accuracy_base": statistics.fmean(eval_base),
        "eval/accuracy_act": statistics.fmean(eval_act),
        "eval/margin_base": statistics.fmean(margin_base),
        "eval/margin_act": statistics.fmean(margin_act),
        "act/heads_selected": float(len(config.heads)),
        "act/hidden_sink_mass": float(search.statistics.hidden_sink_mass.mean()),
    }
    runner.print(f"[{SLUG}] kept heads {list(config.heads)}")
    apply_to = config if config.heads else config.with_heads(search.candidates[:2])
    if runner.is_main_process:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "search_history.json").write_text(json.dumps(summary["candidates"], indent=2) + "\n")
        if apply_to.heads:
            plot_attention_sinks(
                model, tokenizer, calibration[0]["text"], layers=sorted({h[0] for h in apply_to.heads})[:3],
                config=apply_to, path=out / "assets" / "act-run-sinks.png",
            )  # fmt: skip
    apply_act(model, config)
    runner.finish(
        CalibratedFolder(model, config, args.save_weights),
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=base_id,
        model_name=f"{SLUG}-{Path(args.output_dir).name}",
        # with its weights the folder is a transformers checkpoint (after `import hf_methods`)
        card_kwargs={"library_name": "transformers", "pipeline_tag": "text-generation"} if args.save_weights else None,
    )


if __name__ == "__main__":
    main()
