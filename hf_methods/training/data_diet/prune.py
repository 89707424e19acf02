"""Pruning a `datasets.Dataset` by a per-example score: `add_score_column`, `select_by_score`, `prune_dataset`.

The official code (`mansheej/data_diet`, `data_diet/data.py`, `subset_train_idxs_by_scores` / `..._by_offset`) sorts
the scores in ascending order and keeps a window of it: `keep_max_scores` the last |S| (the hardest examples),
`keep_min_scores` the first |S|, `offset` the |S| examples starting at position `offset`. Here the window is counted
from the end a mode keeps: `offset_frac` skips that fraction of the hardest examples under `keep_max` (the paper's
way to leave out the very top scores, mostly mislabelled examples, Section 5), so the official `offset` equals
`N − |S| − round(offset_frac · N)`. The kept indices are returned in the data set's order, as the official code
sorts them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MODES = ("keep_max", "keep_min", "random")


def _as_scores(scores, n: int) -> np.ndarray:
    import torch

    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().double().numpy()
    if isinstance(scores, (str, bytes)) or not hasattr(scores, "__len__"):
        raise TypeError(
            f"scores must be a sequence of numbers (list, numpy array, tensor), got {type(scores).__name__}"
        )
    array = np.asarray(scores, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"scores must have shape ({n},) (one score per example), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite (found NaN or inf)")
    return array


def _counts(n: int, keep_frac: float, offset_frac: float) -> tuple[int, int]:
    if isinstance(keep_frac, bool) or not isinstance(keep_frac, (int, float)) or not 0.0 < keep_frac <= 1.0:
        raise ValueError(f"keep_frac must be in (0, 1], got {keep_frac!r}")
    if isinstance(offset_frac, bool) or not isinstance(offset_frac, (int, float)) or not 0.0 <= offset_frac < 1.0:
        raise ValueError(f"offset_frac must be in [0, 1), got {offset_frac!r}")
    keep, skip = max(1, round(keep_frac * n)), round(offset_frac * n)
    if keep + skip > n:
        raise ValueError(
            f"keep_frac + offset_frac must be <= 1: keeping {keep} after skipping {skip} of {n} examples is impossible"
        )
    return keep, skip


def select_by_score(
    scores: Sequence[float],
    keep_frac: float,
    *,
    offset_frac: float = 0.0,
    mode: str = "keep_max",
    seed: int = 0,
) -> np.ndarray:
    """The indices of the examples to keep, in increasing order.

    Args:
        scores (sequence of `float`): one score per example (higher = harder).
        keep_frac (`float`): fraction of the examples kept, in (0, 1] (`round(keep_frac · N)` examples, at least 1).
        offset_frac (`float`, *optional*, defaults to 0): fraction of examples skipped at the kept end before the
            window starts (under `keep_max`: the very hardest, often mislabelled, examples).
        mode (`str`, *optional*, defaults to `"keep_max"`): `"keep_max"` keeps the highest scores (the paper's
            choice), `"keep_min"` the lowest, `"random"` a uniformly random subset (scores ignored, `offset_frac` must
            be 0).
        seed (`int`, *optional*, defaults to 0): the random subset's seed.

    Ties are broken by position (the earlier example first), so the selection is deterministic.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    values = _as_scores(scores, len(scores) if hasattr(scores, "__len__") else -1)
    n = len(values)
    if n == 0:
        raise ValueError("scores is empty: nothing to select from")
    keep, skip = _counts(n, keep_frac, offset_frac)
    if mode == "random":
        if skip:
            raise ValueError("offset_frac must be 0 with mode='random' (a random subset has no hardest end)")
        order = np.random.default_rng(seed).permutation(n)
    elif mode == "keep_max":
        order = np.argsort(-values, kind="stable")
    else:
        order = np.argsort(values, kind="stable")
    return np.sort(order[skip : skip + keep])


def add_score_column(dataset, scores: Sequence[float], name: str = "el2n"):
    """A copy of `dataset` with a float column `name` holding `scores` (replaced if it exists), through
    `Dataset.map(..., with_indices=True)` so the new column is cached and fingerprinted like any other map.

    Args:
        dataset (`datasets.Dataset`): the scored examples.
        scores (sequence of `float`): one score per example, in the data set's order.
        name (`str`, *optional*, defaults to `"el2n"`): the column's name.
    """
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty column name, got {name!r}")
    values = _as_scores(scores, len(dataset))
    if name in dataset.column_names:
        dataset = dataset.remove_columns(name)
    return dataset.map(
        lambda _, indices: {name: values[np.asarray(indices)].tolist()},
        with_indices=True,
        batched=True,
        desc=f"adding the {name} column",
    )


def prune_dataset(
    dataset,
    scores: Sequence[float] | str | None = None,
    keep_frac: float = 0.5,
    *,
    offset_frac: float = 0.0,
    mode: str = "keep_max",
    score_column: str = "el2n",
    seed: int = 0,
):
    """The pruned `datasets.Dataset`: the score written as a column, then `select` of the kept examples.

    Args:
        dataset (`datasets.Dataset`): the full training set.
        scores (sequence of `float`, `str` or `None`): one score per example (written to `score_column` first), or the
            name of a column of `dataset` already holding them (`None`: `score_column`).
        keep_frac (`float`, *optional*, defaults to 0.5): fraction of examples kept.
        offset_frac (`float`, *optional*, defaults to 0): fraction skipped at the hardest end (see [`select_by_score`]).
        mode (`str`, *optional*, defaults to `"keep_max"`): `"keep_max"`, `"keep_min"` or `"random"`.
        score_column (`str`, *optional*, defaults to `"el2n"`): the column written (or read, when `scores` is None).
        seed (`int`, *optional*, defaults to 0): seed of `mode="random"`.

    Returns:
        `datasets.Dataset` with the kept examples in their original order, `score_column` included; train a *fresh*
        model on it (e.g. with `transformers.Trainer`), as the paper does.

    Example:

    ```python
    >>> scores = EL2NScorer(model_init=make_model, n_runs=5, score_epoch=3).score(train_ds)
    >>> subset = prune_dataset(train_ds, scores, keep_frac=0.6, offset_frac=0.05)  # hardest 60% after the top 5%
    >>> Trainer(model=make_model(), args=args, train_dataset=subset).train()
    ```
    """
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
    if isinstance(scores, str) or scores is None:
        column = score_column if scores is None else scores
        if column not in dataset.column_names:
            raise ValueError(
                f"scores: {column!r} is not a column of dataset (columns {dataset.column_names}); pass the scores"
            )
        scored = dataset
    else:
        column = score_column
        scored = add_score_column(dataset, scores, column)
    values = scored.with_format("numpy", columns=[column])[:][column]
    keep = select_by_score(values, keep_frac, offset_frac=offset_frac, mode=mode, seed=seed)
    return scored.select(keep.tolist())


__all__ = ["MODES", "add_score_column", "prune_dataset", "select_by_score"]
