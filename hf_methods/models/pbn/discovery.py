"""Clustering the latent space of a PBN (Troisemaine et al.): k-means, NCD k-means with frozen known-class
centroids, and the silhouette estimate of the number of novel classes. Uses scikit-learn's `KMeans` and
`silhouette_score`."""

from __future__ import annotations

import numpy as np
import torch

CLUSTERING_METHODS = ("kmeans", "ncd_kmeans")


def _as_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"`{name}` must be a torch.Tensor or numpy array, got {type(x).__name__}.")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"`{name}` must be a non-empty 2-D array (samples, features), got shape {x.shape}.")
    return x.astype(np.float64)


def _check_count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    return int(value)


def ncd_kmeans(
    latents,
    known_centroids,
    n_clusters: int,
    *,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-10,
    seed: int = 0,
) -> np.ndarray:
    r"""
    NCD k-means: k-means on the unlabelled latents with the known-class centroids as frozen extra centroids.

    Seeding is k-means++ continued from the known centroids: each new centroid is drawn among the unlabelled points
    with probability ∝ D(x)², D the distance to the nearest centroid chosen so far (known ones included). Lloyd
    iterations then assign every unlabelled point to its nearest centroid among the known and the new ones and move
    only the new centroids (the known centroids stay frozen), until the new centroids move less than `tol` (sum of
    squared shifts). Of `n_init` runs the one with the lowest inertia is kept. Each point is finally labelled with
    its nearest *new* centroid (the official `predict_unknown_data`).

    Args:
        latents (`(n, d)` tensor or array): projected unlabelled samples.
        known_centroids (`(c, d)` tensor or array): known-class means in the same space.
        n_clusters (`int`): number of new centroids (novel classes).
        n_init, max_iter, tol, seed: restarts, Lloyd iterations, convergence threshold, random seed.

    Returns:
        `np.ndarray` of shape `(n,)`: novel cluster ids in `[0, n_clusters)`.
    """
    x = _as_numpy(latents, "latents")
    known = _as_numpy(known_centroids, "known_centroids")
    if known.shape[1] != x.shape[1]:
        raise ValueError(f"`known_centroids` must have {x.shape[1]} columns like `latents`, got {known.shape[1]}.")
    k = _check_count("n_clusters", n_clusters)
    if k > x.shape[0]:
        raise ValueError(f"`n_clusters` ({k}) must not exceed the number of samples ({x.shape[0]}).")
    n_init = _check_count("n_init", n_init)
    max_iter = _check_count("max_iter", max_iter)
    rng = np.random.default_rng(seed)
    c = known.shape[0]
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centroids = known.copy()
        for _ in range(k):  # k-means++ continued from the known centroids
            d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(-1).min(1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
            centroids = np.vstack([centroids, x[rng.choice(len(x), p=p)]])
        for _ in range(max_iter):
            d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
            assign = d2.argmin(1)
            new = centroids.copy()
            for j in range(c, c + k):  # only the new centroids move; an empty one stays where it is
                members = x[assign == j]
                if len(members):
                    new[j] = members.mean(0)
            shift = ((new - centroids) ** 2).sum()
            centroids = new
            if shift <= tol:
                break
        d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
        inertia = d2.min(1).sum()
        if inertia < best_inertia:
            best, best_inertia = centroids[c:], inertia
    return ((x[:, None, :] - best[None]) ** 2).sum(-1).argmin(1)


def known_class_centroids(latents, labels) -> np.ndarray:
    """The mean latent of each known class, in the order of `np.unique(labels)`."""
    z = _as_numpy(latents, "latents")
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).ravel()
    if y.shape[0] != z.shape[0]:
        raise ValueError(f"`labels` must have one entry per latent ({z.shape[0]}), got {y.shape[0]}.")
    return np.stack([z[y == c].mean(0) for c in np.unique(y)])


@torch.no_grad()
def discover_novel_classes(
    model,
    x_unlabelled: torch.Tensor,
    n_clusters: int,
    *,
    method: str = "kmeans",
    x_known: torch.Tensor | None = None,
    y_known: torch.Tensor | None = None,
    n_init: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Clusters the PBN projection of the unlabelled samples into `n_clusters` novel classes.

    Args:
        model ([`PBNForNovelClassDiscovery`]): a trained PBN.
        x_unlabelled (`(n, input_dim)` tensor): the unlabelled samples.
        n_clusters (`int`): the number of novel classes (see [`estimate_num_novel_classes`]).
        method (`str`): `"kmeans"` (k-means++, `n_init` restarts) or `"ncd_kmeans"` (needs `x_known`, `y_known`).
        seed (`int`): random seed of the clustering.

    Returns:
        `np.ndarray` of shape `(n,)`: cluster ids.
    """
    from sklearn.cluster import KMeans

    if method not in CLUSTERING_METHODS:
        raise ValueError(f"`method` must be one of {CLUSTERING_METHODS}, got {method!r}.")
    k = _check_count("n_clusters", n_clusters)
    was_training = model.training
    model.eval()
    try:
        z = model.encode(x_unlabelled).cpu().numpy()
        if method == "kmeans":
            return KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=seed).fit_predict(z)
        if x_known is None or y_known is None:
            raise ValueError("`method='ncd_kmeans'` needs `x_known` and `y_known` (the known-class centroids).")
        centroids = known_class_centroids(model.encode(x_known), y_known)
        return ncd_kmeans(z, centroids, k, n_init=n_init, seed=seed)
    finally:
        model.train(was_training)


def estimate_num_novel_classes(latents, k_range=range(2, 11), *, seed: int = 0, n_init: int = 10) -> int:
    """The number of novel classes k in `k_range` whose k-means partition of `latents` has the highest silhouette.

    Args:
        latents (`(n, d)` tensor or array): projected unlabelled samples (e.g. `model.encode(x_unlabelled)`).
        k_range (iterable of `int`): candidate k, each >= 2 and < n.
        seed (`int`): random seed of k-means.

    Returns:
        `int`: the selected k.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    z = _as_numpy(latents, "latents")
    ks = list(k_range)
    if not ks:
        raise ValueError("`k_range` must hold at least one candidate k.")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k < len(z):
            raise ValueError(f"`k_range` must hold integers in [2, n_samples - 1 = {len(z) - 1}], got {k!r}.")
    scores = {}
    for k in ks:
        labels = KMeans(n_clusters=int(k), init="k-means++", n_init=n_init, random_state=seed).fit_predict(z)
        scores[int(k)] = silhouette_score(z, labels)
    return max(scores, key=scores.get)


__all__ = [
    "CLUSTERING_METHODS",
    "discover_novel_classes",
    "estimate_num_novel_classes",
    "known_class_centroids",
    "ncd_kmeans",
]
