"""The report of a side-by-side comparison (`benchmarks/compare/<family>.py`): summary, JSON, table and bar chart.

A comparison trains several methods and their common baseline on one shared task and records, per method, one dict
of metrics per seed. [`report_comparison`] turns that into `benchmarks/results/compare-<family>.json` (settings,
per-seed values, mean ± std), a markdown table on stdout (the one the README shows) and a grouped bar chart
`compare-<family>.png`. A comparison has no pass/fail rule: each method's own claim tests its paper.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def summarize(per_seed: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """`{method: {metric: {"mean", "std"}}}` over the seeds of `{method: [{metric: value} per seed]}`."""
    return {
        method: {
            metric: {
                "mean": float(np.mean([r[metric] for r in runs])),
                "std": float(np.std([r[metric] for r in runs])),
            }
            for metric in runs[0]
        }
        for method, runs in per_seed.items()
    }


def markdown_table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """The summary as a markdown table, one row per method, `mean ± std` cells."""
    metrics = list(next(iter(summary.values())))
    lines = ["| method | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for method, values in summary.items():
        lines.append(
            f"| {method} | " + " | ".join(f"{values[k]['mean']:.3f} ± {values[k]['std']:.3f}" for k in metrics) + " |"
        )
    return "\n".join(lines)


def report_comparison(
    family: str,
    *,
    description: str,
    settings: dict,
    per_seed: dict[str, list[dict[str, float]]],
    started: float,
    title: str,
    ylabel: str,
    ylim: tuple[float, float] = (0.0, 1.0),
    smoke: bool = False,
    results_dir: Path | None = None,
) -> Path:
    """Writes `compare-<family>[-smoke].json` and `.png` and prints the table; returns the JSON's path."""
    from hf_methods.zoo import repo_root

    out_dir = results_dir or repo_root() / "benchmarks" / "results"
    name = f"compare-{family}" + ("-smoke" if smoke else "")
    summary = summarize(per_seed)
    record = {
        "comparison": description,
        "settings": settings,
        "summary": summary,
        "per_seed": per_seed,
        "runtime_s": round(time.time() - started, 1),
    }
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(markdown_table(summary))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods, metrics = list(summary), list(next(iter(summary.values())))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(metrics) + 1.0), 3.6))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        means = [summary[method][k]["mean"] for k in metrics]
        stds = [summary[method][k]["std"] for k in metrics]
        ax.bar(np.arange(len(metrics)) + i * width, means, width, yerr=stds, label=method, capsize=2)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(methods) - 1) / 2)
    ax.set_xticklabels([k.replace("_", " ").replace(" ", "\n") for k in metrics], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(*ylim)
    ax.legend(fontsize=8, ncol=min(len(methods), 4))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / f"{name}.png", dpi=120)
    plt.close(fig)
    print(f"wrote {path} and {name}.png")
    return path
