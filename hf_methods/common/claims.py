"""Harness for `benchmarks/claims/<slug>.py`: run a paper's claim at CPU scale and record it.

A claim script builds a :class:`ClaimReport`, adds one :class:`ClaimCheck` per comparison the paper makes (method
against the paper's baseline, or an exact property), and calls :meth:`ClaimReport.write`, which stores
`benchmarks/results/<slug>.json`. The schema, read by `hf-methods show`, the model cards and `zoo.Method.status`:

```json
{
  "slug": "ldr", "paper_id": "P35", "claim": "...",
  "outcome": "held" | "did not hold",          # "held" only when every check held
  "checks": [{"name", "metric", "method", "method_value", "baseline", "baseline_value", "criterion", "held",
              "method_std"?, "baseline_std"?, "per_seed"?}],
  "metrics": {"<method or baseline name>": {"<metric>": mean, "<metric>_std": std}},
  "seeds": [0, 1, 2], "config": {...}, "task": {"type", "dataset_name", "dataset_type", "split"},
  "plots": ["benchmarks/results/<slug>-....png"], "notes": "...",
  "versions": {"python", "torch", "transformers", "peft", "accelerate", "hf_methods"},
  "runtime_s": 12.3, "date": "2026-11-28T21:00:00+00:00"
}
```

Checks are never tuned until they pass: a check that fails is recorded as failed and the outcome says so.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

OUTCOME_HELD = "held"
OUTCOME_NOT_HELD = "did not hold"


@dataclass
class ClaimCheck:
    """One comparison: `method_value` of `method` against `baseline_value` of `baseline` on `metric`.

    `criterion` states the rule in words (e.g. "method >= baseline + 0.05"); `held` is its result, computed by the
    claim script. For exact properties with no baseline, leave `baseline` as None.
    """

    name: str
    metric: str
    method: str
    method_value: float
    held: bool
    criterion: str
    baseline: str | None = None
    baseline_value: float | None = None
    method_std: float | None = None
    baseline_std: float | None = None
    per_seed: dict[str, list[float]] | None = None

    def __post_init__(self):
        self.held = bool(self.held)
        self.method_value = float(self.method_value)
        if self.baseline_value is not None:
            self.baseline_value = float(self.baseline_value)


def mean_std(values) -> tuple[float, float]:
    """Mean and (population) standard deviation of a list of numbers."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in (
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "huggingface_hub",
        "numpy",
        "scikit-learn",
        "hf-methods",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def results_dir() -> Path:
    from hf_methods.zoo import repo_root

    return repo_root() / "benchmarks" / "results"


@dataclass
class ClaimReport:
    """Collects the checks of one claim run; `write()` stores them as `benchmarks/results/<slug>.json`."""

    slug: str
    seeds: list[int]
    config: dict[str, Any] = field(default_factory=dict)
    task: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    checks: list[ClaimCheck] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    _start: float = field(default_factory=time.perf_counter, repr=False)

    def add_check(self, check: ClaimCheck) -> ClaimCheck:
        self.checks.append(check)
        return check

    def compare(
        self,
        name: str,
        metric: str,
        method: str,
        method_values,
        baseline: str,
        baseline_values,
        *,
        margin: float = 0.0,
        higher_is_better: bool = True,
    ) -> ClaimCheck:
        """Adds a seeded comparison: held when mean(method) beats mean(baseline) by at least `margin`."""
        m, ms = mean_std(method_values)
        b, bs = mean_std(baseline_values)
        if higher_is_better:
            held = m >= b + margin
            criterion = f"mean {method} >= mean {baseline} {'+' if margin >= 0 else '-'} {abs(margin):g}"
        else:
            held = m <= b - margin
            criterion = f"mean {method} <= mean {baseline} {'-' if margin >= 0 else '+'} {abs(margin):g}"
        self.record(method, metric, method_values)
        self.record(baseline, metric, baseline_values)
        return self.add_check(
            ClaimCheck(
                name=name,
                metric=metric,
                method=method,
                method_value=m,
                method_std=ms,
                baseline=baseline,
                baseline_value=b,
                baseline_std=bs,
                criterion=criterion,
                held=held,
                per_seed={method: [float(v) for v in method_values], baseline: [float(v) for v in baseline_values]},
            )
        )

    def record(self, name: str, metric: str, values) -> None:
        """Stores mean and std of `values` under `metrics[name][metric]`."""
        values = values if isinstance(values, (list, tuple)) else [values]
        m, s = mean_std(values)
        self.metrics.setdefault(name, {})[metric] = m
        if len(values) > 1:
            self.metrics[name][f"{metric}_std"] = s

    @property
    def outcome(self) -> str:
        if not self.checks:
            raise ValueError(f"claim {self.slug!r} has no checks: add at least one before writing")
        return OUTCOME_HELD if all(c.held for c in self.checks) else OUTCOME_NOT_HELD

    def to_dict(self) -> dict[str, Any]:
        from hf_methods.zoo import get_method

        method = get_method(self.slug)
        return {
            "slug": self.slug,
            "paper_id": method.paper_id,
            "claim": method.claim,
            "outcome": self.outcome,
            "checks": [{k: v for k, v in asdict(c).items() if v is not None} for c in self.checks],
            "metrics": self.metrics,
            "seeds": list(self.seeds),
            "config": self.config,
            "task": self.task,
            "plots": self.plots,
            "notes": self.notes,
            "versions": library_versions(),
            "runtime_s": round(time.perf_counter() - self._start, 2),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def write(self, path: str | Path | None = None) -> Path:
        """Writes the JSON (default `benchmarks/results/<slug>.json`) and prints a short summary."""
        path = Path(path) if path is not None else results_dir() / f"{self.slug}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        print(format_summary(data))
        print(f"wrote {path}")
        return path


def format_summary(data: dict[str, Any]) -> str:
    lines = [f"[{data['slug']}] outcome: {data['outcome']}  ({data['runtime_s']} s, seeds {data['seeds']})"]
    for c in data["checks"]:
        mark = "held" if c["held"] else "NOT held"
        value = f"{c['method']}={c['method_value']:.4g}"
        if c.get("baseline") is not None and c.get("baseline_value") is not None:
            value += f" vs {c['baseline']}={c['baseline_value']:.4g}"
        lines.append(f"  - {c['name']}: {value} [{c['criterion']}] -> {mark}")
    return "\n".join(lines)


def load_result(slug: str) -> dict[str, Any] | None:
    path = results_dir() / f"{slug}.json"
    return json.loads(path.read_text()) if path.exists() else None
