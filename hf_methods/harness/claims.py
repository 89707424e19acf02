"""The claims harness: `benchmarks/claims/<slug>.py` declares a paper's claim as data; this module runs it honestly.

A claim script declares, at its top, everything the experiment uses (`settings`), the seeds, and the outcome rules
(`Compare`, `Threshold`), then hands a `run(claim)` function to :meth:`Claim.main`:

```python
from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="ldr",
    seeds=[0, 1, 2],
    settings={"noise_rate": 0.6, "epochs": 100, "lambdas": [0.1, 1.0, 10.0]},
    smoke={"epochs": 2},                      # a minutes-long dry run: `python benchmarks/claims/ldr.py --smoke`
    rules=[
        Compare("ALDR-KL vs CE", metric="clean_test_accuracy", method="ALDR-KL", baseline="CE", margin=0.05),
        Threshold("(i) CE limit", metric="max_abs_deviation", method="LDR-KL", op="<", value=1e-6),
    ],
)

def run(claim):
    for seed in claim.seeds:
        result = claim.cached(f"ce-seed{seed}", train_one, "ce", seed, claim.settings)   # kept on disk
        claim.record("CE", "clean_test_accuracy", result["accuracy"], unit=f"seed{seed}")
    ...

if __name__ == "__main__":
    CLAIM.main(run)
```

What the harness guarantees:

- **Settings fixed in advance.** Before `run` starts, `benchmarks/results/<slug>.json` is written with the settings,
  seeds and rules and `"status": "running"`, so the committed file shows what was decided before any number was seen.
  A previous result with other settings is moved into the file's `history` (it stays visible; nothing is lost).
- **Runs survive interruptions.** `claim.cached(key, fn, ...)` stores each finished run's JSON result under
  `benchmarks/results/<slug>/runs/<settings hash>/<key>.json` and returns it without running again when the script
  is restarted with the same settings.
- **Paired comparisons with intervals.** Values are recorded per *unit* (a seed, an evaluation item, a prompt); a
  `Compare` rule pairs method and baseline on their common units and reports the mean difference with a percentile
  bootstrap 95% interval. `decide_by="mean"` holds when the mean difference clears the margin; `decide_by="interval"`
  when the whole interval does.
- **Timings as ratios.** `time_ratio` warms up, interleaves the two functions and compares medians of >= 5 runs.
- **Plots.** `claim.plot_path(name)` names (and records) a PNG; `plot_curves` draws mean ± std curves over seeds.

The results JSON (read by `hf-methods show`, the model cards and the catalogue's status):

```json
{"slug", "paper_id", "claim", "status": "running" | "finished", "outcome": "held" | "did not hold" | null,
 "settings", "settings_hash", "seeds", "rules", "checks": [{"name", "metric", "method", "method_value", "baseline",
 "baseline_value", "difference", "interval", "criterion", "held", "n_units", ...}], "metrics": {name: {metric: mean,
 metric_std}}, "task", "plots", "notes", "details", "versions", "runtime_s", "date", "history": [older results]}
```

Checks are never tuned until they pass: a rule that fails is recorded as failed, and the outcome says so.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import operator
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from hf_methods.harness.results import load_result, results_dir

default_results_dir = results_dir

__all__ = [
    "OUTCOME_HELD",
    "OUTCOME_NOT_HELD",
    "Claim",
    "ClaimRun",
    "Compare",
    "Threshold",
    "bootstrap_interval",
    "format_summary",
    "library_versions",
    "load_result",
    "mean_std",
    "results_dir",
    "time_ratio",
]

OUTCOME_HELD = "held"
OUTCOME_NOT_HELD = "did not hold"
BOOTSTRAP_SAMPLES = 10_000
CONFIDENCE = 0.95


# ------------------------------------------------------------------------------------------------------- statistics


def mean_std(values) -> tuple[float, float]:
    """Mean and (population) standard deviation of a list of numbers."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def bootstrap_interval(
    values: Sequence[float], *, confidence: float = CONFIDENCE, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (e.g. paired differences), seeded and deterministic."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("bootstrap_interval needs at least one value")
    if len(values) == 1:
        return values[0], values[0]
    rng = random.Random(seed)
    n = len(values)
    means = sorted(statistics.fmean(rng.choices(values, k=n)) for _ in range(samples))
    low = means[int(math.floor((1 - confidence) / 2 * (samples - 1)))]
    high = means[int(math.ceil((1 + confidence) / 2 * (samples - 1)))]
    return low, high


def time_ratio(
    fn_a: Callable[[], Any], fn_b: Callable[[], Any], *, warmup: int = 2, repeats: int = 5
) -> dict[str, float]:
    """Times `fn_a` against `fn_b` in one run: `warmup` calls each, then `repeats` interleaved calls (a, b, a, b, ...).

    Returns the medians in seconds and `ratio` = median(a) / median(b). Compare ratios, never absolute seconds:
    machines and their load differ.
    """
    if repeats < 5:
        raise ValueError(f"`repeats` must be >= 5 for a median worth reporting, got {repeats}")
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    a, b = statistics.median(times_a), statistics.median(times_b)
    return {"a_median_s": a, "b_median_s": b, "ratio": a / b, "repeats": repeats, "warmup": warmup}


# ------------------------------------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Compare:
    """`method` against `baseline` on `metric`, paired on their common units.

    Held when `method - baseline >= margin` (`higher_is_better`) or `method - baseline <= -margin` (lower is better;
    a negative margin allows the method to be that much worse). `decide_by="mean"` tests the mean paired difference;
    `decide_by="interval"` requires the whole bootstrap 95% interval of the difference to clear the margin (strictly).
    """

    name: str
    metric: str
    method: str
    baseline: str
    margin: float = 0.0
    higher_is_better: bool = True
    decide_by: str = "mean"

    def __post_init__(self):
        if self.decide_by not in ("mean", "interval"):
            raise ValueError(f"`decide_by` must be 'mean' or 'interval', got {self.decide_by!r}")

    @property
    def criterion(self) -> str:
        diff = f"{self.method} − {self.baseline}"
        if self.higher_is_better:
            rule = f"{diff} ≥ {self.margin:g}" if self.decide_by == "mean" else f"{diff} > {self.margin:g}"
        else:
            bar = -self.margin + 0.0  # + 0.0: a zero margin reads "0", not "-0"
            rule = f"{diff} ≤ {bar:g}" if self.decide_by == "mean" else f"{diff} < {bar:g}"
        where = "mean paired difference" if self.decide_by == "mean" else "whole 95% bootstrap interval of the mean"
        return f"{rule} ({where}; {self.metric})"

    def evaluate(self, records: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
        method = _values(records, self.method, self.metric)
        baseline = _values(records, self.baseline, self.metric)
        units = [u for u in method if u in baseline]
        if not units:
            raise ValueError(f"rule {self.name!r}: {self.method} and {self.baseline} share no unit of {self.metric}")
        diffs = [method[u] - baseline[u] for u in units]
        diff = statistics.fmean(diffs)
        low, high = bootstrap_interval(diffs)
        if self.decide_by == "mean":
            held = diff >= self.margin if self.higher_is_better else diff <= -self.margin
        else:
            held = low > self.margin if self.higher_is_better else high < -self.margin
        m, ms = mean_std([method[u] for u in units])
        b, bs = mean_std([baseline[u] for u in units])
        return {
            "name": self.name,
            "metric": self.metric,
            "method": self.method,
            "method_value": m,
            "method_std": ms,
            "baseline": self.baseline,
            "baseline_value": b,
            "baseline_std": bs,
            "difference": diff,
            "interval": [low, high],
            "n_units": len(units),
            "criterion": self.criterion,
            "held": bool(held),
        }


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Threshold:
    """An exact property or an absolute bar: `mean(method's metric) <op> value`, e.g. a max deviation `< 1e-6`."""

    name: str
    metric: str
    method: str
    op: str
    value: float

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"`op` must be one of {sorted(_OPS)}, got {self.op!r}")

    @property
    def criterion(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def evaluate(self, records: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
        values = list(_values(records, self.method, self.metric).values())
        m, s = mean_std(values)
        check = {
            "name": self.name,
            "metric": self.metric,
            "method": self.method,
            "method_value": m,
            "criterion": self.criterion,
            "held": bool(_OPS[self.op](m, self.value)),
            "n_units": len(values),
        }
        if len(values) > 1:
            check["method_std"] = s
            check["interval"] = list(bootstrap_interval(values))
        return check


def _values(records, name: str, metric: str) -> dict[str, float]:
    try:
        return records[name][metric]
    except KeyError:
        raise ValueError(f"nothing was recorded for {name!r} / {metric!r}; recorded: {_recorded(records)}") from None


def _recorded(records) -> list[str]:
    return [f"{name}/{metric}" for name, metrics in records.items() for metric in metrics]


def _rule_dict(rule) -> dict[str, Any]:
    return {"type": type(rule).__name__, **asdict(rule), "criterion": rule.criterion}


# ------------------------------------------------------------------------------------------------------------ claim


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "peft", "accelerate", "huggingface_hub", "numpy", "scikit-learn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    versions["hf_methods"] = _package_version()
    return versions


def _package_version() -> str:
    try:
        return metadata.version("hf-methods")
    except metadata.PackageNotFoundError:
        return "source"


def _settings_hash(settings: dict, seeds: list[int]) -> str:
    text = json.dumps({"settings": settings, "seeds": seeds}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Claim:
    """The declaration of one claim check: settings, seeds and outcome rules, all fixed before any run.

    Args:
        slug: the method's slug (the results go to `benchmarks/results/<slug>.json`).
        settings: everything the experiment uses (data sizes, steps, learning rates, evaluation items, ...), as JSON
            data; the run reads them from `claim.settings`.
        seeds: the seeds the run loops over.
        rules: the outcome rules (`Compare`, `Threshold`); the outcome is "held" only when every rule holds.
        smoke: settings overridden by `--smoke` (a minutes-long dry run written to a temporary folder).
        task: the model-index task of the card: `{"type", "dataset_name", "dataset_type", "split"}`.
    """

    slug: str
    settings: dict[str, Any]
    seeds: list[int]
    rules: list[Compare | Threshold]
    smoke: dict[str, Any] = field(default_factory=dict)
    task: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not self.rules:
            raise ValueError(f"claim {self.slug!r} needs at least one rule")
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"claim {self.slug!r}: rule names must be unique, got {names}")
        unknown = sorted(set(self.smoke) - set(self.settings) - {"seeds"})
        if unknown:
            raise ValueError(f"claim {self.slug!r}: `smoke` overrides unknown settings {unknown}")
        json.dumps(self.settings)  # settings must be plain data

    def main(self, run: Callable[[ClaimRun], None], argv: list[str] | None = None) -> Path:
        """The command line of a claim script: `[--smoke] [--fresh] [--results-dir DIR]`; returns the JSON's path."""
        parser = argparse.ArgumentParser(description=f"Claim check of `{self.slug}` (see the script's docstring).")
        parser.add_argument("--smoke", action="store_true", help="tiny settings, written to a temporary folder")
        parser.add_argument("--fresh", action="store_true", help="ignore runs cached by an earlier start")
        parser.add_argument("--results-dir", default=None, help="where to write (default: benchmarks/results)")
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        folder = Path(args.results_dir) if args.results_dir else None
        if args.smoke and folder is None:
            folder = Path(tempfile.mkdtemp(prefix=f"claim-{self.slug}-smoke-"))
        claim = self.start(results_dir=folder, smoke=args.smoke, fresh=args.fresh)
        run(claim)
        return claim.finish()

    def start(self, *, results_dir: str | Path | None = None, smoke: bool = False, fresh: bool = False) -> ClaimRun:
        """Writes the settings and rules (status "running") before anything runs; returns the run's context."""
        settings = copy.deepcopy(self.settings)
        seeds = list(self.seeds)
        if smoke:
            overrides = copy.deepcopy(self.smoke)
            seeds = list(overrides.pop("seeds", seeds[:1]))
            settings.update(overrides)
        folder = Path(results_dir) if results_dir is not None else default_results_dir()
        return ClaimRun(self, settings, seeds, folder, smoke, fresh)


class ClaimRun:
    """One run of a claim: the settings in force, the cache of finished runs, the recorded values and the plots."""

    def __init__(self, claim: Claim, settings: dict, seeds: list[int], folder: Path, smoke: bool, fresh: bool):
        self.claim, self.settings, self.seeds, self.folder, self.smoke = claim, settings, seeds, folder, smoke
        self.slug = claim.slug
        self.hash = _settings_hash(settings, seeds)
        self.runs_dir = folder / claim.slug / "runs" / self.hash
        self.records: dict[str, dict[str, dict[str, float]]] = {}
        self.plots: list[str] = []
        self.notes: list[str] = []
        self.details: dict[str, Any] = {}
        self._start = time.perf_counter()
        self._cached_seconds = 0.0
        if fresh and self.runs_dir.is_dir():
            for path in self.runs_dir.glob("*.json"):
                path.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{claim.slug}.json"
        self._history = self._previous_history()
        self._write(self._base(status="running"))
        print(f"[{self.slug}] settings {self.hash} written to {self.path} before the run")

    # ------------------------------------------------------------------------------------------- recording
    def cached(self, key: str, fn: Callable[..., dict], *args, **kwargs) -> dict:
        """`fn(*args, **kwargs)` (a JSON-serialisable dict), or its stored result from an earlier start."""
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"cache key must be a plain file name, got {key!r}")
        path = self.runs_dir / f"{key}.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            self._cached_seconds += stored.get("_seconds", 0.0)
            print(f"[{self.slug}] {key}: cached")
            return stored["result"]
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "result": result, "_seconds": seconds}, default=float) + "\n")
        tmp.replace(path)  # atomic: a killed run leaves no half-written result
        print(f"[{self.slug}] {key}: {seconds:.1f} s")
        return result

    def record(self, name: str, metric: str, value: float, *, unit: str | int = "all") -> None:
        """Records `value` of `name` (a method or baseline) on `metric` for one unit (a seed, an item, a prompt)."""
        value = float(value)
        if not math.isfinite(value):
            print(f"[{self.slug}] warning: {name}/{metric} is {value} for unit {unit}")
        self.records.setdefault(name, {}).setdefault(metric, {})[str(unit)] = value

    def record_units(self, name: str, metric: str, values: Sequence[float], *, prefix: str = "") -> None:
        """Records one value per unit, the units named `<prefix><index>` (e.g. evaluation items of one seed)."""
        for index, value in enumerate(values):
            self.record(name, metric, value, unit=f"{prefix}{index}")

    def note(self, text: str) -> None:
        self.notes.append(text.strip())

    def plot_path(self, name: str) -> Path:
        """`<results>/<slug>-<name>.png`, recorded in the results' `plots`."""
        path = self.folder / f"{self.slug}-{name}.png"
        self.plots.append(str(path.relative_to(_repo_root())) if _is_inside_repo(path) else str(path))
        return path

    def plot_curves(self, name: str, curves: dict[str, dict[str, Sequence[tuple[float, float]]]], **labels) -> Path:
        """Mean ± std over units of `{label: {unit: [(x, y), ...]}}` as one PNG (`xlabel`, `ylabel`, `title`)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for label, runs in curves.items():
            xs = sorted({x for points in runs.values() for x, _ in points})
            by_x = {x: [y for points in runs.values() for px, y in points if px == x] for x in xs}
            mean = [statistics.fmean(by_x[x]) for x in xs]
            std = [statistics.pstdev(by_x[x]) if len(by_x[x]) > 1 else 0.0 for x in xs]
            ax.plot(xs, mean, label=label)
            ax.fill_between(xs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
        ax.set_xlabel(labels.get("xlabel", ""))
        ax.set_ylabel(labels.get("ylabel", ""))
        ax.set_title(labels.get("title", ""), fontsize=9)
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = self.plot_path(name)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    def plot_points(
        self, name: str, metrics: Sequence[str], *, methods: Sequence[str] | None = None, **labels
    ) -> Path:
        """One panel per metric: each method's recorded per-unit values as dots, their mean and bootstrap 95% interval.

        Args:
            name: the plot's name (`<results>/<slug>-<name>.png`).
            metrics: recorded metrics to show, one panel each.
            methods: the methods to show, in order (default: every method that recorded the metric).
            labels: `title`, and `ylabel_<metric>` for a panel's y label (default: the metric's name).
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        metrics = list(metrics)
        if not metrics:
            raise ValueError("plot_points needs at least one metric")
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 + 2.6 * len(metrics), 3.8), squeeze=False)
        order = list(methods or self.records)
        for ax, metric in zip(axes[0], metrics):
            shown = [m for m in order if metric in self.records.get(m, {})]
            if not shown:
                raise ValueError(f"nothing recorded for metric {metric!r}")
            for i, method in enumerate(shown):
                values = list(self.records[method][metric].values())
                ax.scatter([i] * len(values), values, s=14, alpha=0.6, color=f"C{order.index(method)}")
                mean = statistics.fmean(values)
                low, high = bootstrap_interval(values)
                ax.errorbar([i + 0.18], [mean], yerr=[[mean - low], [high - mean]], fmt="o", color="black", capsize=4)
            ax.set_xticks(range(len(shown)), shown, rotation=20, ha="right")
            ax.set_ylabel(labels.get(f"ylabel_{metric}", metric))
            ax.grid(alpha=0.3, axis="y")
        fig.suptitle(labels.get("title", f"{self.slug}: per-seed values, mean and 95% bootstrap interval"), fontsize=9)
        fig.tight_layout()
        path = self.plot_path(name)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    # ------------------------------------------------------------------------------------------- outcome
    def finish(self) -> Path:
        """Applies the rules to what was recorded, writes the results JSON and prints a summary; returns its path."""
        checks = [rule.evaluate(self.records) for rule in self.claim.rules]
        data = self._base(status="finished")
        data["outcome"] = OUTCOME_HELD if all(c["held"] for c in checks) else OUTCOME_NOT_HELD
        data["checks"] = checks
        self._write(data)
        print(format_summary(data))
        print(f"wrote {self.path}")
        return self.path

    def _base(self, status: str) -> dict[str, Any]:
        from hf_methods.zoo import get_method

        method = get_method(self.slug)
        metrics = {}
        for name, by_metric in self.records.items():
            for metric, values in by_metric.items():
                m, s = mean_std(list(values.values()))
                metrics.setdefault(name, {})[metric] = m
                if len(values) > 1:
                    metrics[name][f"{metric}_std"] = s
        return {
            "slug": self.slug,
            "paper_id": method.paper_id,
            "claim": method.claim,
            "status": status,
            "outcome": None,
            "smoke": self.smoke,
            "settings": self.settings,
            "settings_hash": self.hash,
            "seeds": self.seeds,
            "rules": [_rule_dict(rule) for rule in self.claim.rules],
            "checks": [],
            "metrics": metrics,
            "per_unit": self.records,
            "task": self.claim.task,
            "plots": self.plots,
            "notes": " ".join(self.notes),
            "details": self.details,
            "versions": library_versions(),
            "runtime_s": round(time.perf_counter() - self._start + self._cached_seconds, 2),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "history": self._history,
        }

    def _previous_history(self) -> list[dict]:
        """The history to carry: the earlier results of this file (older ones first), unless they share the hash."""
        if not self.path.is_file():
            return []
        previous = json.loads(self.path.read_text())
        history = previous.pop("history", [])
        if previous.get("settings_hash") == self.hash:
            return history  # a restart of the same settings: the file is this run's own
        previous.pop("per_unit", None)  # keep the history readable: summaries only
        return [*history, previous]

    def _write(self, data: dict) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=float) + "\n")
        tmp.replace(self.path)


def _repo_root() -> Path:
    from hf_methods.zoo import repo_root

    return repo_root()


def _is_inside_repo(path: Path) -> bool:
    try:
        path.resolve().relative_to(_repo_root())
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------------- summaries


def format_summary(data: dict[str, Any]) -> str:
    """A few lines on a results JSON (used by claim scripts and `hf-methods show`)."""
    status = data.get("status", "finished")
    outcome = data.get("outcome") or ("running, not finished" if status == "running" else "unknown")
    lines = [f"[{data['slug']}] outcome: {outcome}  ({data.get('runtime_s', '?')} s, seeds {data.get('seeds')})"]
    for c in data.get("checks", []):
        mark = "held" if c["held"] else "NOT held"
        value = f"{c['method']}={c['method_value']:.4g}"
        if c.get("baseline") is not None and c.get("baseline_value") is not None:
            value += f" vs {c['baseline']}={c['baseline_value']:.4g}"
        if c.get("interval") and c.get("difference") is not None:
            low, high = c["interval"]
            value += f", difference {c['difference']:+.4g} [{low:+.4g}, {high:+.4g}]"
        lines.append(f"  - {c['name']}: {value} [{c['criterion']}] -> {mark}")
    for old in data.get("history", [])[-2:]:
        held = sum(bool(c.get("held")) for c in old.get("checks", []))
        lines.append(
            f"  earlier run ({old.get('date', '?')}): {old.get('outcome')} ({held} of {len(old.get('checks', []))} "
            "checks held)"
        )
    return "\n".join(lines)
