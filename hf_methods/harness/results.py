"""Reading the committed claim results, `benchmarks/results/<slug>.json` (written by `hf_methods.harness.claims`).

The one place results are read from: the catalogue's status, `hf-methods show` and the model cards all come here.
Standard library only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_result", "result_path", "results_dir"]


def results_dir() -> Path:
    """`benchmarks/results/` of the checkout."""
    from hf_methods.zoo import repo_root

    return repo_root() / "benchmarks" / "results"


def result_path(slug: str) -> Path:
    return results_dir() / f"{slug}.json"


def load_result(slug: str) -> dict[str, Any] | None:
    """The parsed results of `slug`'s claim, or `None` when the claim has not been run.

    Raises:
        `ValueError`: the file is not valid JSON or does not hold an object (its path is named).
    """
    path = result_path(slug)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"The benchmark result {path} is not valid JSON: {error}") from error
    if not isinstance(result, dict):
        raise ValueError(f"The benchmark result {path} must hold a JSON object, got {type(result).__name__}.")
    return result
