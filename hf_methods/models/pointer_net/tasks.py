"""The Pointer Network tasks of Vinyals et al. (NeurIPS 2015), built in code, and their metrics.

- [`sorting_task`]: sort uniform numbers (output: the permutation that sorts them, ascending);
- [`convex_hull_task`]: the planar convex hull of uniform points in the unit square, from `scipy.spatial.ConvexHull`,
  in a canonical order: counter-clockwise, starting at the hull vertex of lowest input index, closed by repeating
  that vertex (so decoding under the `"cycle"` constraint knows where the polygon ends);
- metrics: exact-sequence and per-position accuracy, the share of decoded sequences repeating a position, and the
  convex-hull area coverage (area of the decoded polygon over the area of the true hull).

Examples of different sizes are right-padded: `points` `(N, n_max, d)`, `attention_mask` `(N, n_max)`, `labels`
`(N, m_max)` with `-100` after a shorter target.
"""

from __future__ import annotations

import numpy as np
import torch

IGNORE_INDEX = -100
TASKS = ("sorting", "convex_hull")


def _check_sizes(num_examples: int, min_points: int, max_points: int, smallest: int) -> None:
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"`num_examples` must be a positive integer, got {num_examples!r}.")
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < smallest:
        raise ValueError(f"`min_points` must be an integer >= {smallest}, got {min_points!r}.")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < min_points:
        raise ValueError(f"`max_points` must be an integer >= min_points={min_points}, got {max_points!r}.")


def _pad(rows: list[np.ndarray], width: int, value) -> np.ndarray:
    out = np.full((len(rows), width, *rows[0].shape[1:]), value, dtype=rows[0].dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _batch(points: list[np.ndarray], labels: list[np.ndarray]) -> dict[str, torch.Tensor]:
    n_max = max(len(p) for p in points)
    mask = _pad([np.ones(len(p), dtype=np.int64) for p in points], n_max, 0)
    return {
        "points": torch.from_numpy(_pad(points, n_max, 0.0)),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(_pad(labels, max(len(t) for t in labels), IGNORE_INDEX)),
    }


def sorting_task(num_examples: int, min_points: int, max_points: int, *, seed: int) -> dict[str, torch.Tensor]:
    """Sorting: n ~ U{min_points … max_points} numbers x_j ~ U(0, 1); the label is argsort(x) (ascending).

    Returns `points` `(N, n_max, 1)` float32, `attention_mask` `(N, n_max)` and `labels` `(N, n_max)`.
    """
    _check_sizes(num_examples, min_points, max_points, 1)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(min_points, max_points + 1, num_examples)
    points = [rng.random((n, 1), dtype=np.float32) for n in sizes]
    labels = [np.argsort(p[:, 0], kind="stable").astype(np.int64) for p in points]
    return _batch(points, labels)


def convex_hull_order(points: np.ndarray) -> np.ndarray:
    """Hull vertices of 2-D `points` (scipy's Qhull), counter-clockwise from the lowest index, closed: `[a, …, a]`."""
    from scipy.spatial import ConvexHull

    vertices = ConvexHull(points).vertices  # counter-clockwise for 2-D input
    start = int(np.argmin(vertices))
    cycle = np.roll(vertices, -start)
    return np.append(cycle, cycle[0]).astype(np.int64)


def convex_hull_task(num_examples: int, min_points: int, max_points: int, *, seed: int) -> dict[str, torch.Tensor]:
    """Planar convex hull: n ~ U{min_points … max_points} points uniform in [0, 1]²; the label is
    [`convex_hull_order`] (counter-clockwise from the lowest-index vertex, closed by repeating it).

    Returns `points` `(N, n_max, 2)` float32, `attention_mask` `(N, n_max)` and `labels` `(N, h_max + 1)`.
    """
    _check_sizes(num_examples, min_points, max_points, 3)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(min_points, max_points + 1, num_examples)
    points = [rng.random((n, 2), dtype=np.float32) for n in sizes]
    labels = [convex_hull_order(p.astype(np.float64)) for p in points]
    return _batch(points, labels)


def make_task(task: str, num_examples: int, min_points: int, max_points: int, *, seed: int):
    """`sorting_task` or `convex_hull_task` by name."""
    if task == "sorting":
        return sorting_task(num_examples, min_points, max_points, seed=seed)
    if task == "convex_hull":
        return convex_hull_task(num_examples, min_points, max_points, seed=seed)
    raise ValueError(f"`task` must be one of {TASKS}, got {task!r}.")


# ------------------------------------------------------------------------------------------------------- metrics


def _rows(sequences: torch.Tensor) -> list[list[int]]:
    """Each row's positions up to its first negative entry (−1 after the end, −100 in labels)."""
    out = []
    for row in sequences.tolist():
        end = next((i for i, v in enumerate(row) if v < 0), len(row))
        out.append(row[:end])
    return out


def sequence_accuracy(sequences: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Per example: 1.0 when the decoded sequence equals the label sequence exactly (same length), else 0.0."""
    return [float(p == t) for p, t in zip(_rows(sequences), _rows(labels))]


def position_accuracy(sequences: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Per example: the share of label steps i where the decoded position equals the label's."""
    out = []
    for p, t in zip(_rows(sequences), _rows(labels)):
        out.append(sum(1.0 for i, v in enumerate(t) if i < len(p) and p[i] == v) / len(t))
    return out


def repeats_a_position(sequences: torch.Tensor, closed: bool = False) -> list[float]:
    """Per example: 1.0 when a position appears twice (under `closed`, the final return to the first is allowed)."""
    out = []
    for row in _rows(sequences):
        if closed and len(row) > 1 and row[-1] == row[0]:
            row = row[:-1]
        out.append(float(len(set(row)) != len(row)))
    return out


def polygon_area(xy: np.ndarray) -> float:
    """Shoelace formula: |Σ_k (x_k y_{k+1} − x_{k+1} y_k)| / 2 of the polygon with vertices `xy` (not closed)."""
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))) / 2.0


def _segments_cross(p1, p2, q1, q2) -> bool:
    """Whether the closed segments p1p2 and q1q2 intersect (orientation test, collinear overlaps included)."""

    def orient(a, b, c):
        value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return 0 if abs(value) < 1e-12 else (1 if value > 0 else -1)

    def on_segment(a, b, c):
        return min(a[0], b[0]) - 1e-12 <= c[0] <= max(a[0], b[0]) + 1e-12 and (
            min(a[1], b[1]) - 1e-12 <= c[1] <= max(a[1], b[1]) + 1e-12
        )

    o1, o2, o3, o4 = orient(p1, p2, q1), orient(p1, p2, q2), orient(q1, q2, p1), orient(q1, q2, p2)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and on_segment(p1, p2, q1))
        or (o2 == 0 and on_segment(p1, p2, q2))
        or (o3 == 0 and on_segment(q1, q2, p1))
        or (o4 == 0 and on_segment(q1, q2, p2))
    )


def is_simple_polygon(xy: np.ndarray) -> bool:
    """Whether the closed polygon with vertices `xy` (k ≥ 3, not repeated at the end) has no self-intersection."""
    k = len(xy)
    if k < 3:
        return False
    edges = [(xy[i], xy[(i + 1) % k]) for i in range(k)]
    for i in range(k):
        for j in range(i + 1, k):
            if j == i + 1 or (i == 0 and j == k - 1):
                continue  # neighbouring edges share a vertex
            if _segments_cross(*edges[i], *edges[j]):
                return False
    return True


def hull_area_coverage(points: torch.Tensor, attention_mask: torch.Tensor, sequences: torch.Tensor) -> list[float]:
    """Per example: area(decoded polygon) / area(true convex hull), 0.0 for an invalid polygon.

    A decoded sequence is a valid polygon when it is closed (ends at its first position), visits at least 3 distinct
    points and does not intersect itself. Its vertices are input points, so a valid polygon lies inside the hull and
    the coverage is in [0, 1]; it is 1 for the true hull.
    """
    from scipy.spatial import ConvexHull

    out = []
    for i, row in enumerate(_rows(sequences)):
        n = int(attention_mask[i].sum())
        xy = points[i, :n].detach().cpu().double().numpy()
        hull_area = ConvexHull(xy).volume  # the "volume" of a 2-D hull is its area
        closed = len(row) >= 4 and row[-1] == row[0] and len(set(row[:-1])) == len(row) - 1
        if not closed or not is_simple_polygon(xy[row[:-1]]):
            out.append(0.0)
            continue
        out.append(polygon_area(xy[row[:-1]]) / hull_area)
    return out


def same_cycle(sequence: list[int], target: list[int]) -> bool:
    """Whether two closed polygons `[a, …, a]` are the same cycle of vertices in the same direction, any start."""
    if len(sequence) != len(target) or len(sequence) < 2 or sequence[0] != sequence[-1]:
        return False
    cycle, goal = sequence[:-1], target[:-1]
    if goal[0] not in cycle:
        return False
    shift = cycle.index(goal[0])
    return cycle[shift:] + cycle[:shift] == goal


def hull_accuracy(sequences: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Per example: 1.0 when the decoded polygon is the true hull (same vertices in the same cyclic order)."""
    return [float(same_cycle(p, t)) for p, t in zip(_rows(sequences), _rows(labels))]


__all__ = [
    "IGNORE_INDEX",
    "TASKS",
    "convex_hull_order",
    "convex_hull_task",
    "hull_accuracy",
    "hull_area_coverage",
    "is_simple_polygon",
    "make_task",
    "polygon_area",
    "position_accuracy",
    "repeats_a_position",
    "same_cycle",
    "sequence_accuracy",
    "sorting_task",
]
