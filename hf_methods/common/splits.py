"""Class-structured subsets of a labelled set: imbalanced training sets, seen/unseen class splits, client splits.

- [`step_imbalance`]: keep every example of the majority classes and `minority_count` of each minority class (the
  "step" imbalance of imbalanced-learning benchmarks);
- [`long_tail_imbalance`]: class c keeps n_max · ratio^(−c/(C−1)) examples (the exponential profile of CIFAR-LT);
- [`class_split`]: the examples of the seen classes and of the unseen ones (zero-shot retrieval, novel class
  discovery), with the unseen labels optionally renumbered from 0;
- [`shards_per_client_split`], [`dirichlet_split`]: non-IID client datasets for federated learning (a few label
  shards per client; Dirichlet class proportions).

All functions take numpy or torch integer labels and return sorted numpy index arrays (one per client for the
client splits), so they index either.

Example:

```python
>>> train, test = load_digits()
>>> keep = step_imbalance(train.y, minority_classes=range(5, 10), minority_count=15, seed=0)
>>> seen, unseen = class_split(test.y, seen_classes=range(5))
```
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def _labels(labels) -> np.ndarray:
    array = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"labels must be a 1-D integer array or tensor, got {array.dtype} of shape {array.shape}")
    return array


def _classes(classes: Iterable[int], labels: np.ndarray, name: str) -> list[int]:
    classes = sorted({int(c) for c in classes})
    present = set(np.unique(labels).tolist())
    missing = [c for c in classes if c not in present]
    if missing:
        raise ValueError(f"{name} {missing} do not occur in the labels (classes present: {sorted(present)})")
    return classes


def step_imbalance(labels, minority_classes: Iterable[int], minority_count: int, *, seed: int = 0) -> np.ndarray:
    """Indices keeping all examples of the other classes and `minority_count` random ones of each minority class."""
    labels = _labels(labels)
    minority = _classes(minority_classes, labels, "minority_classes")
    if not isinstance(minority_count, int) or minority_count < 1:
        raise ValueError(f"minority_count must be an int >= 1, got {minority_count!r}")
    rng = np.random.default_rng(seed)
    keep = [np.flatnonzero(~np.isin(labels, minority))]
    for c in minority:
        members = np.flatnonzero(labels == c)
        if len(members) < minority_count:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than minority_count={minority_count}")
        keep.append(rng.choice(members, size=minority_count, replace=False))
    return np.sort(np.concatenate(keep))


def long_tail_imbalance(labels, imbalance_ratio: float, *, seed: int = 0) -> np.ndarray:
    """Indices where the c-th class (in label order) keeps ⌊n_max · ratio^(−c/(C−1))⌋ examples (at least 1)."""
    labels = _labels(labels)
    if not imbalance_ratio >= 1:
        raise ValueError(f"imbalance_ratio must be >= 1 (largest / smallest class size), got {imbalance_ratio}")
    classes = np.unique(labels)
    n_max = min(int((labels == c).sum()) for c in classes)
    rng = np.random.default_rng(seed)
    keep = []
    for rank, c in enumerate(classes):
        count = max(1, int(n_max * imbalance_ratio ** (-rank / max(len(classes) - 1, 1))))
        keep.append(rng.choice(np.flatnonzero(labels == c), size=count, replace=False))
    return np.sort(np.concatenate(keep))


def class_split(labels, seen_classes: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the seen classes, indices of the others)."""
    labels = _labels(labels)
    seen = _classes(seen_classes, labels, "seen_classes")
    is_seen = np.isin(labels, seen)
    if is_seen.all():
        raise ValueError("seen_classes covers every class: no unseen class is left")
    return np.flatnonzero(is_seen), np.flatnonzero(~is_seen)


def class_sizes(labels, num_classes: int) -> np.ndarray:
    """The number of examples of each class 0..num_classes−1."""
    labels = _labels(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    return np.bincount(labels, minlength=num_classes)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def shards_per_client_split(labels, num_clients: int, classes_per_client: int, *, seed: int = 0) -> list[np.ndarray]:
    """Non-IID client datasets where each client holds examples of about `classes_per_client` classes.

    The pathological split of federated benchmarks (McMahan et al., 2017): sort the examples by label, cut them into
    `num_clients · classes_per_client` equal shards and deal `classes_per_client` random shards to each client.
    Every example goes to exactly one client. Returns one sorted index array per client.
    """
    labels = _labels(labels)
    num_clients = _check_count("num_clients", num_clients)
    classes_per_client = _check_count("classes_per_client", classes_per_client)
    shards = num_clients * classes_per_client
    if shards > labels.size:
        raise ValueError(f"{shards} shards need at least as many examples, got {labels.size}")
    rng = np.random.default_rng(seed)
    # Stable sort by label, random order within a label, so shards are label-pure wherever the sizes allow.
    order = np.lexsort((rng.permutation(labels.size), labels))
    pieces = np.array_split(order, shards)
    dealt = rng.permutation(shards).reshape(num_clients, classes_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in dealt]


def dirichlet_split(labels, num_clients: int, alpha: float, *, seed: int = 0) -> list[np.ndarray]:
    """Non-IID client datasets whose class proportions are drawn from Dirichlet(α) per class (Hsu et al., 2019).

    For each class, its examples are divided among the clients in proportions q ~ Dir(α·1); small α gives clients
    dominated by few classes, large α approaches an IID split. Every example goes to exactly one client (a client
    may receive none). Returns one sorted index array per client.
    """
    labels = _labels(labels)
    num_clients = _check_count("num_clients", num_clients)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not alpha > 0:
        raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
    rng = np.random.default_rng(seed)
    owned: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        cuts = (np.cumsum(rng.dirichlet(np.full(num_clients, float(alpha)))) * members.size).astype(int)[:-1]
        for client, part in enumerate(np.split(members, cuts)):
            owned[client].append(part)
    return [np.sort(np.concatenate(parts)).astype(np.int64) for parts in owned]
