"""Pieces every `recipes/<slug>.py` shares: arguments, the Accelerator, checkpoint/resume, progress, logs, output.

A recipe is an accelerate `examples/`-style script: a dataclass of arguments (flags, or a YAML file given with
`--config`, flags winning), one `Accelerator`, a training loop over `RecipeRunner.steps`, and a Hub-ready output
folder written by `RecipeRunner.finish`:

```python
@dataclass
class Args(RecipeArguments):
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})

def main(argv=None):
    args = parse_recipe_args(Args, argv, slug="my_method")
    runner = RecipeRunner(args, slug="my_method")
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()                          # 0, or the step after the checkpoint it loaded
    for step, batch in runner.steps(loader, start):  # same batches in the same order, resumed or not
        ...
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)
    runner.finish(model, metrics={"eval/accuracy": acc})
```

Layout of `--output_dir` (the Hub-ready folder; `hf-methods push` leaves `checkpoints/` and `logs/` out):

```
<output_dir>/README.md  config.json  model.safetensors  <remote code>.py  metrics.json  assets/
<output_dir>/checkpoints/checkpoint_<n>/   accelerate `save_state` + recipe_state.json (the step counter)
<output_dir>/logs/<run>.jsonl              one JSON line per `log` call
```
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RECIPE_STATE = "recipe_state.json"


@dataclass
class RecipeArguments:
    """Arguments shared by every recipe. A recipe subclasses this dataclass and adds its own knobs."""

    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "Hub-ready output folder (weights, config, card); checkpoints go to <output_dir>/checkpoints. "
            "Default: outputs/<slug>."
        },
    )
    max_steps: int = field(default=200, metadata={"help": "Number of optimisation steps."})
    seed: int = field(default=0, metadata={"help": "Seed of every random number generator (model init, data order)."})
    checkpoint_every: int = field(
        default=50, metadata={"help": "Save a resumable checkpoint every N steps (0: only at the end)."}
    )
    checkpoints_total_limit: int = field(
        default=2,
        metadata={"help": "Keep at most this many of this run's checkpoints (older runs' are never deleted)."},
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "'latest' (the newest checkpoint in <output_dir>/checkpoints) or a checkpoint folder."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train anew into a non-empty --output_dir (its files are replaced; checkpoints of earlier runs are "
            "kept, new ones numbered after them). Without it, a non-empty folder is refused before training."
        },
    )
    log_every: int = field(default=10, metadata={"help": "Log training metrics every N steps."})
    report_to: str = field(
        default="jsonl",
        metadata={
            "help": "Comma-separated accelerate trackers to log to, besides <output_dir>/logs/<slug>.jsonl which is "
            "always written: 'jsonl' (only that), 'tensorboard', 'wandb', 'mlflow', ... (each must be installed), "
            "or 'all' (every installed tracker)."
        },
    )
    cpu_threads: int = field(
        default=0,
        metadata={
            "help": "torch intra-op threads per process on CPU (0: torch's default). Small models on a busy machine "
            "often run fastest with 1."
        },
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the output folder to the Hub at the end."})
    hub_model_id: str | None = field(
        default=None,
        metadata={"help": "Repository id 'namespace/name' to push to (needs HF_TOKEN or `hf auth login`)."},
    )
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repository as private."})
    hub_token: str | None = field(
        default=None,
        metadata={"help": "Hub token with write access (default: HF_TOKEN or the one saved by `hf auth login`)."},
    )
    config: str | None = field(
        default=None, metadata={"help": "YAML file of argument values; flags given on the command line win."}
    )

    def validate(self) -> None:
        """Raises `ValueError` naming the argument for values no recipe can run with."""
        for name in ("max_steps", "checkpoint_every", "log_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.cpu_threads < 0:
            raise ValueError(f"--cpu_threads must be >= 0, got {self.cpu_threads}")
        trackers(self.report_to)  # raises naming --report_to
        if self.checkpoints_total_limit < 1:
            raise ValueError(f"--checkpoints_total_limit must be >= 1, got {self.checkpoints_total_limit}")
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id namespace/name")
        if self.resume_from_checkpoint and self.overwrite_output_dir:
            raise ValueError("--resume_from_checkpoint and --overwrite_output_dir exclude each other: pick one")

    def check_output_dir(self) -> None:
        """Decides before training what a non-empty `--output_dir` means, as `transformers.Trainer` users expect.

        Resume when `--resume_from_checkpoint` is given, train anew when `--overwrite_output_dir` is given, and
        otherwise refuse a folder that already holds files, naming both flags.
        """
        folder = Path(self.output_dir)
        if self.resume_from_checkpoint or self.overwrite_output_dir or not folder.exists():
            return
        if not folder.is_dir():
            raise ValueError(f"--output_dir {folder} exists and is not a folder")
        if any(folder.iterdir()):
            raise ValueError(
                f"--output_dir {folder} is not empty (an earlier run's output or checkpoints). Pass "
                "--resume_from_checkpoint latest to continue that run, --overwrite_output_dir to train anew into it, "
                "or choose another --output_dir."
            )


@dataclass
class PretrainedRecipeArguments(RecipeArguments):
    """Arguments of a recipe that adapts, calibrates or reads a pretrained model on a data set: the shared flags for
    the base model and the data, with the offline assets as defaults."""

    model_name_or_path: str = field(
        default="smollm2-135m-instruct",
        metadata={
            "help": "Base model: 'smollm2-135m-instruct' (the offline asset), 'tiny' (a tiny Llama for smoke runs), a "
            "local folder, or a Hub id (needs the network unless cached)."
        },
    )
    dataset_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "The recipe's data (to train or calibrate on): a local .json/.jsonl/.csv/.parquet/.txt file or a `datasets` name (needs the "
            "network unless cached). Default: the recipe's embedded offline data set (see the recipe's docstring)."
        },
    )


def parse_recipe_args(args_cls: type[RecipeArguments], argv: list[str] | None = None, *, slug: str):
    """Parses flags (and `--config file.yaml`) into `args_cls` with `transformers.HfArgumentParser`."""
    from transformers import HfArgumentParser

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = HfArgumentParser(args_cls, description=f"hf-methods recipe `{slug}` (see the module docstring).")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config:
        path = Path(known.config)
        if not path.is_file():
            raise FileNotFoundError(f"--config {known.config}: no such YAML file")
        (defaults,) = parser.parse_yaml_file(path)  # unknown keys raise a ValueError naming them
        parser.set_defaults(**{k: v for k, v in asdict(defaults).items() if k != "config"})
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    if args.output_dir is None:
        args.output_dir = f"outputs/{slug}"
    args.validate()
    args.check_output_dir()
    if args.push_to_hub:
        from hf_methods.hub.push import check_push_target

        # before training: a bad repo id or token fails now, not after the run (the token is never printed)
        args.hub_token = check_push_target(args.hub_model_id, token=args.hub_token)
    return args


class JsonlTracker:
    """An accelerate tracker writing one JSON object per `log` call to `<logging_dir>/<run_name>.jsonl`.

    Nothing is created in `__init__` (creating accelerate state before `Accelerator(...)` freezes a torchrun CPU run
    to a single process), and accelerate calls the methods on the main process only.
    """

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, run_name: str, logging_dir: str | Path):
        self.run_name = run_name
        self.path = Path(logging_dir) / f"{run_name}.jsonl"

    @property
    def tracker(self):
        return self.path

    def start(self):
        pass

    def _write(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def store_init_configuration(self, values: dict) -> None:
        self._write({"config": values, "time": time.time()})

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        self._write({"step": step, **values, "time": time.time()})

    def finish(self):
        pass


def _as_general_tracker():
    # Subclass lazily so importing this module does not import accelerate.
    from accelerate.tracking import GeneralTracker

    class _Jsonl(JsonlTracker, GeneralTracker):
        def __init__(self, run_name, logging_dir):
            JsonlTracker.__init__(self, run_name, logging_dir)
            GeneralTracker.__init__(self)

    return _Jsonl


def trackers(report_to: str) -> list[str]:
    """The accelerate tracker names of `--report_to` besides the JSONL log (checked: known and installed)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    names = [name.strip().lower() for name in report_to.split(",") if name.strip()]
    if names == ["all"]:
        return [name for name, cls in LOGGER_TYPE_TO_CLASS.items() if _tracker_available(name)]
    chosen = []
    for name in names:
        if name in ("jsonl", "none"):
            continue
        if name not in LOGGER_TYPE_TO_CLASS:
            known = ", ".join(["jsonl", "all", *LOGGER_TYPE_TO_CLASS])
            raise ValueError(f"--report_to {report_to!r}: unknown tracker {name!r}; known: {known}")
        if not _tracker_available(name):
            raise ValueError(f"--report_to {report_to!r}: {name!r} is not installed (pip install {name})")
        chosen.append(name)
    return chosen


def _tracker_available(name: str) -> bool:
    import accelerate.utils as utils

    check = getattr(utils, f"is_{name}_available", None)
    return bool(check and check())


def checkpoint_number(path: Path) -> int:
    match = re.fullmatch(r"checkpoint_(\d+)", path.name)
    return int(match.group(1)) if match else -1


def _next_checkpoint_number(output_dir: str | Path) -> int:
    folder = Path(output_dir) / "checkpoints"
    numbers = [checkpoint_number(p) for p in folder.iterdir()] if folder.is_dir() else []
    return max([-1, *numbers]) + 1


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest `checkpoint_<n>` folder under `<output_dir>/checkpoints` that holds a complete save, or None."""
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    done = [p for p in folder.iterdir() if checkpoint_number(p) >= 0 and (p / RECIPE_STATE).exists()]
    return max(done, key=checkpoint_number) if done else None


class RecipeRunner:
    """Owns the `Accelerator` of a recipe run and the bookkeeping around it.

    Args:
        args (`RecipeArguments`): parsed arguments.
        slug (`str`): the method's slug (names the run, the card and the progress bar).
        accelerator_kwargs: passed on to `accelerate.Accelerator` (e.g. `mixed_precision`).
    """

    def __init__(self, args: RecipeArguments, slug: str, **accelerator_kwargs):
        from accelerate import Accelerator
        from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed

        self.args, self.slug = args, slug
        self.output_dir = Path(args.output_dir)
        if args.cpu_threads > 0:
            import torch

            torch.set_num_threads(args.cpu_threads)
        project = ProjectConfiguration(
            project_dir=str(self.output_dir),
            logging_dir=str(self.output_dir / "logs"),
            automatic_checkpoint_naming=True,
            total_limit=None,  # pruned by the runner itself: only checkpoints this run wrote (see save_checkpoint)
        )
        tracker = _as_general_tracker()(slug, self.output_dir / "logs")
        self.accelerator = Accelerator(
            project_config=project,
            log_with=[tracker, *trackers(args.report_to)],
            # A seeded sampler shuffles each epoch from (seed, epoch) alone, so a resumed run sees the same batches.
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
            **accelerator_kwargs,
        )
        set_seed(args.seed)
        # New checkpoints are numbered after every existing one, so an earlier run's checkpoints are never overwritten.
        self.accelerator.project_configuration.iteration = _next_checkpoint_number(self.output_dir)
        self._written: list[Path] = []
        self.accelerator.init_trackers(slug, config=_loggable_args(args))
        self.start_time = time.perf_counter()
        self.step = 0
        self._bar = None
        self._last_logged: dict[str, float] = {}
        self.print(
            f"[{slug}] output folder: {self.output_dir.resolve()}  ({self.accelerator.num_processes} process(es), "
            f"{self.accelerator.device})"
        )

    # ------------------------------------------------------------------------------------------------ plumbing
    @property
    def is_main_process(self) -> bool:
        return self.accelerator.is_main_process

    def print(self, *values) -> None:
        self.accelerator.print(*values)

    def prepare(self, *objects):
        return self.accelerator.prepare(*objects)

    def register_for_checkpointing(self, *objects) -> None:
        """Extra state saved with each checkpoint (anything with `state_dict`/`load_state_dict`, e.g. a loss buffer)."""
        self.accelerator.register_for_checkpointing(*objects)

    # ------------------------------------------------------------------------------------------------ resume
    def resume(self) -> int:
        """Loads the checkpoint asked for by `--resume_from_checkpoint`; returns the step to continue from."""
        spec = self.args.resume_from_checkpoint
        if not spec:
            return 0
        path = latest_checkpoint(self.output_dir) if spec == "latest" else Path(spec)
        if path is None:
            self.print(
                f"[{self.slug}] --resume_from_checkpoint latest: no checkpoint in {self.output_dir}, starting fresh"
            )
            return 0
        if not (path / RECIPE_STATE).exists():
            raise FileNotFoundError(f"--resume_from_checkpoint {spec}: {path} is not a complete recipe checkpoint")
        self.accelerator.load_state(str(path))
        # load_state restores model, optimizer, RNG and registered objects, but not the checkpoint counter: continue
        # after every existing checkpoint (newer ones, e.g. a save cut short by a kill, are left alone).
        self.accelerator.project_configuration.iteration = _next_checkpoint_number(self.output_dir)
        self.step = json.loads((path / RECIPE_STATE).read_text())["step"]
        self.print(f"[{self.slug}] resumed from {path} at step {self.step}")
        return self.step

    def save_checkpoint(self, step: int) -> Path:
        """Saves a resumable checkpoint after `step` (so resuming continues at `step + 1`)."""
        self.accelerator.wait_for_everyone()
        path = Path(self.accelerator.save_state())
        if self.is_main_process:
            (path / RECIPE_STATE).write_text(json.dumps({"step": step + 1}))
            self._written.append(path)
            self._prune_own_checkpoints()
        self.accelerator.wait_for_everyone()
        return path

    def _prune_own_checkpoints(self) -> None:
        """Keeps the newest `--checkpoints_total_limit` checkpoints of this run; never touches any other."""
        import shutil

        while len(self._written) > self.args.checkpoints_total_limit:
            shutil.rmtree(self._written.pop(0), ignore_errors=True)

    def maybe_checkpoint(self, step: int) -> Path | None:
        every = self.args.checkpoint_every
        last = step + 1 == self.args.max_steps
        if (every and (step + 1) % every == 0) or last:
            return self.save_checkpoint(step)
        return None

    # ------------------------------------------------------------------------------------------------ the loop
    def steps(self, loader, start_step: int = 0, max_steps: int | None = None) -> Iterator[tuple[int, Any]]:
        """Yields `(step, batch)` for `step` in `[start_step, max_steps)`, cycling over epochs of `loader`.

        The batch order depends only on the seed and the step, so a run resumed at step s sees exactly the batches
        an uninterrupted run sees from step s on (epoch `s // len(loader)` reshuffled from the seed, then the first
        `s % len(loader)` batches skipped).
        """
        import torch
        from tqdm.auto import tqdm

        max_steps = self.args.max_steps if max_steps is None else max_steps
        per_epoch = len(loader)
        if per_epoch == 0:
            raise ValueError("the training DataLoader is empty: check the data set and --batch_size")
        self._bar = tqdm(
            total=max_steps, initial=start_step, desc=self.slug, disable=not self.accelerator.is_local_main_process
        )
        step = start_step
        while step < max_steps:
            epoch, skip = divmod(step, per_epoch)
            loader.set_epoch(epoch)
            batches = self.accelerator.skip_first_batches(loader, skip) if skip else loader
            # Starting a DataLoader iterator draws a seed from torch's global generator; a resumed run starts its
            # iterator at another point of that stream than an uninterrupted one, which would shift every later
            # dropout / stochastic-depth mask. The batch order comes from the seeded sampler, so the draw is isolated.
            iterator = iter(batches)
            with torch.random.fork_rng(devices=[]):
                batch = next(iterator, None)  # the iterator starts (and draws) at the first batch
            while batch is not None:
                self.step = step
                yield step, batch
                step += 1
                self._bar.update(1)
                if step >= max_steps:
                    break
                batch = next(iterator, None)
        self._bar.close()

    def log(self, metrics: dict[str, Any], step: int, *, force: bool = False) -> dict[str, float]:
        """Averages tensor metrics over processes and logs them (every `--log_every` steps unless `force`)."""
        import torch

        every = self.args.log_every
        if not force and not (every and (step % every == 0 or step + 1 == self.args.max_steps)):
            return {}
        values = {}
        for key, value in metrics.items():
            if isinstance(value, torch.Tensor):
                value = self.accelerator.reduce(value.detach().float().reshape(()), reduction="mean").item()
            values[key] = float(value)
        self.accelerator.log(values, step=step)
        self._last_logged.update(values)
        if self._bar is not None:
            self._bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in values.items()}, refresh=False)
        return values

    # ------------------------------------------------------------------------------------------------ output
    def finish(
        self,
        model,
        metrics: dict[str, float] | None = None,
        *,
        tokenizer=None,
        base_model: str | None = None,
        datasets: list[str] | None = None,
        model_name: str | None = None,
        card_kwargs: dict | None = None,
    ) -> Path:
        """Writes the Hub-ready folder: `model.save_pretrained`, tokenizer, `metrics.json`, the generated card.

        Pushes it with `hf_methods.hub.push.push_folder` when `--push_to_hub` is set. Returns the folder.
        """
        from hf_methods.hub.cards import build_card

        acc = self.accelerator
        acc.wait_for_everyone()
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        unwrapped = acc.unwrap_model(model)
        unwrapped.save_pretrained(self.output_dir, is_main_process=acc.is_main_process, save_function=acc.save)
        if acc.is_main_process:
            if tokenizer is not None:
                tokenizer.save_pretrained(self.output_dir)
            runtime = time.perf_counter() - self.start_time
            summary = {
                "slug": self.slug,
                "metrics": metrics,
                "train": self._last_logged,
                "runtime_s": round(runtime, 2),
                "args": _loggable_args(self.args),
            }
            (self.output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
            command = "accelerate launch " + shlex.join(["recipes/" + f"{self.slug}.py", *_explicit_flags(self.args)])
            card = build_card(
                self.slug,
                model_name=model_name or f"{self.slug}-{self.output_dir.name}",
                base_model=base_model,
                datasets=datasets,
                run_metrics=metrics,
                run_command=command,
                output_dir=self.output_dir,
                **(card_kwargs or {}),
            )
            card.save(self.output_dir / "README.md")  # after save_pretrained, which may write its own README
        if self.args.push_to_hub:
            if acc.is_main_process:
                from hf_methods.hub.push import push_folder

                url = push_folder(
                    self.output_dir, self.args.hub_model_id, token=self.args.hub_token, private=self.args.hub_private
                )
                self.print(f"[{self.slug}] pushed to {url}")
            acc.wait_for_everyone()
        acc.end_training()
        if acc.is_main_process:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) or "(no eval metrics)"
            self.print(f"[{self.slug}] done in {time.perf_counter() - self.start_time:.1f} s: {shown}")
            self.print(f"[{self.slug}] Hub-ready folder: {self.output_dir.resolve()}")
        return self.output_dir


def _loggable_args(args: RecipeArguments) -> dict[str, Any]:
    """The arguments as logged to trackers and `metrics.json`: scalars only, never the Hub token."""
    return {k: v for k, v in asdict(args).items() if _is_scalar(v) and k != "hub_token"}


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _explicit_flags(args: RecipeArguments) -> list[str]:
    """The flags that differ from the dataclass defaults, to show how the checkpoint was made."""
    defaults = type(args)()
    flags = []
    for key, value in asdict(args).items():
        if key in (
            "hub_token",
            "output_dir",
            "config",
            "resume_from_checkpoint",
            "overwrite_output_dir",
            "push_to_hub",
            "hub_model_id",
            "hub_private",
        ):
            continue
        if value != getattr(defaults, key) and _is_scalar(value):
            if isinstance(value, float) and math.isfinite(value):
                value = f"{value:g}"
            flags += [f"--{key}", str(value)]
    return flags


__all__ = [
    "JsonlTracker",
    "PretrainedRecipeArguments",
    "RecipeArguments",
    "RecipeRunner",
    "latest_checkpoint",
    "parse_recipe_args",
]
