"""Forming bags, releasing their aggregate responses (optionally with label differential privacy), and batching them.

Javanmard et al. (ICLR 2024) study a data owner who splits the training set into bags of `k` instances and releases
the features of every instance but only the mean response `ȳ_a = (1/k) Σ_{i∈B_a} y_i` of every bag:

- [`assign_bags`]: random bags (a seeded permutation cut into chunks of `k`) or curated bags (instances sorted by a
  score, by default their projection on the first principal direction of the features, then chunked, so that a bag
  holds similar instances);
- [`aggregate_responses`]: the bag mean of every instance's bag;
- [`privatize_bag_responses`]: the Laplace mechanism on bag means (ε-label differential privacy);
- [`BagDataset`]: the released data set, one item per bag, made once (fixed bags, as in the paper);
- [`BagCollator`]: a data collator for `transformers.Trainer` / `torch.utils.data.DataLoader` that flattens whole-bag
  items into a batch of instances with `bag_ids` and `bag_targets`, or forms bags inside each batch from
  instance-level labels (a simulation convenience: the pipeline then sees individual labels, and bags change from
  batch to batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hf_methods.common.checks import check_number

from .loss import bag_means, check_bag_inputs

BAGGINGS = ("random", "curated")


# ----------------------------------------------------------------------------------------------------------- checks


def _check_bag_size(bag_size) -> int:
    if not isinstance(bag_size, (int, np.integer)) or isinstance(bag_size, bool):
        raise TypeError(f"bag_size must be an int, got {type(bag_size).__name__}")
    if bag_size < 1:
        raise ValueError(f"bag_size must be >= 1, got {bag_size}")
    return int(bag_size)


def _check_bagging(bagging) -> str:
    if bagging not in BAGGINGS:
        raise ValueError(f"bagging must be one of {BAGGINGS}, got {bagging!r}")
    return bagging


# ----------------------------------------------------------------------------------------------------------- bags


def first_principal_scores(features: torch.Tensor) -> torch.Tensor:
    """The projection of every (flattened, centred) feature vector on the first principal direction (float64)."""
    x = features.reshape(features.shape[0], -1).to(torch.float64)
    x = x - x.mean(dim=0, keepdim=True)
    if x.shape[0] < 2 or not torch.any(x != 0):
        return torch.zeros(x.shape[0], dtype=torch.float64)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return x @ vh[0]


def assign_bags(
    num_samples: int,
    bag_size: int,
    bagging: str = "random",
    *,
    features: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The bag of each of `num_samples` instances: bags of `bag_size` (the last one smaller if it does not divide).

    Args:
        num_samples (`int`): the number of instances `n`.
        bag_size (`int`): `k ≥ 1`.
        bagging (`str`, defaults to `"random"`): `"random"` (a seeded permutation cut into consecutive chunks) or
            `"curated"` (instances sorted by `scores`, by default the first principal component of `features`, then
            cut into consecutive chunks, so that each bag holds instances with similar features).
        features (`torch.Tensor` of shape `(n, ...)`, *optional*): needed by `"curated"` when `scores` is not given.
        scores (`torch.Tensor` of shape `(n,)`, *optional*): the 1-D key of `"curated"` bagging.
        generator (`torch.Generator`, *optional*): the random source of `"random"` bagging.

    Returns:
        `torch.LongTensor` of shape `(n,)` with values in `[0, ceil(n / k))`.
    """
    if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
    bag_size = _check_bag_size(bag_size)
    bagging = _check_bagging(bagging)
    if bagging == "random":
        order = torch.randperm(num_samples, generator=generator)
    else:
        if scores is None:
            if features is None:
                raise ValueError("bagging='curated' needs features (or scores) to group similar instances")
            if not isinstance(features, torch.Tensor) or features.shape[0] != num_samples:
                raise ValueError(f"features must be a tensor with {num_samples} rows for curated bagging")
            scores = first_principal_scores(features)
        if not isinstance(scores, torch.Tensor) or scores.shape != (num_samples,):
            raise ValueError(f"scores must be a tensor of shape ({num_samples},) for curated bagging")
        order = torch.argsort(scores.detach().cpu(), stable=True)
    bag_ids = torch.empty(num_samples, dtype=torch.long)
    bag_ids[order] = torch.arange(num_samples) // bag_size
    return bag_ids


def aggregate_responses(responses: torch.Tensor, bag_ids: torch.Tensor) -> torch.Tensor:
    """`ȳ_{a(i)} = (1/k_a) Σ_{j∈B_a} y_j` for every instance i (the response each instance carries after release)."""
    if not isinstance(responses, torch.Tensor) or not responses.is_floating_point():
        raise TypeError("responses must be a floating-point torch.Tensor")
    if responses.dim() != 1 or not isinstance(bag_ids, torch.Tensor) or bag_ids.shape != responses.shape:
        raise ValueError("responses and bag_ids must be 1-D tensors of the same length")
    return bag_means(responses.detach(), bag_ids)


# ----------------------------------------------------------------------------------------------------------- privacy


def laplace_scale(eps: float, bag_size, response_bound: float = 1.0):
    """`b = 2B / (k ε)`: the Laplace scale making a bag mean of `k` responses in `[−B, B]` ε-differentially private.

    Changing one response inside `[−B, B]` moves its bag's mean by at most `2B / k` (the sensitivity), and every
    instance belongs to one bag only, so independent `Laplace(0, 2B/(kε))` noise on every bag mean is ε-label-DP
    for the whole release (parallel composition). The noise variance `2b² = 8B²/(k²ε²)` falls as `1/k²`.
    """
    eps = check_number("eps", eps, low=0, low_open=True)
    response_bound = check_number("response_bound", response_bound, low=0, low_open=True)
    return 2.0 * response_bound / (bag_size * eps)


def privatize_bag_responses(
    y_bar,
    eps: float,
    bag_size,
    *,
    response_bound: float = 1.0,
    generator: torch.Generator | np.random.Generator | None = None,
):
    """Releases bag means under ε-label differential privacy: `ỹ_a = ȳ_a + Laplace(0, 2B / (k_a ε))`.

    Args:
        y_bar (`torch.Tensor` or `np.ndarray` of shape `(num_bags,)`): one aggregate response per bag, each the mean
            of `k_a` responses clipped to `[−B, B]` (so `|ȳ_a| ≤ B`; values outside are refused). Pass one value per
            bag, not per instance: a bag's members must share one noise draw.
        eps (`float`): the privacy budget `ε > 0`.
        bag_size (`int`, or a tensor / array of shape `(num_bags,)`): `k_a`, the number of responses averaged.
        response_bound (`float`, defaults to 1.0): `B`, the bound on individual responses.
        generator (`torch.Generator` for a tensor, `np.random.Generator` for an array, *optional*): the noise source.

    Returns:
        The noisy bag means, of the type (and, for a tensor, the dtype and device) of `y_bar`.
    """
    eps = check_number("eps", eps, low=0, low_open=True)
    bound = check_number("response_bound", response_bound, low=0, low_open=True)
    is_tensor = isinstance(y_bar, torch.Tensor)
    values = y_bar.detach().cpu().to(torch.float64).numpy() if is_tensor else np.asarray(y_bar, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"y_bar must be 1-D (one aggregate response per bag), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("y_bar must be finite")
    if values.size and np.abs(values).max() > bound * (1 + 1e-12):
        raise ValueError(
            f"y_bar must lie in [-response_bound, response_bound] = [-{bound:g}, {bound:g}] (bag means of clipped "
            f"responses), got a value of {np.abs(values).max():.4g}; clip the responses first or raise response_bound"
        )
    if isinstance(bag_size, (torch.Tensor, np.ndarray, list, tuple)):
        sizes = np.asarray(bag_size.cpu() if isinstance(bag_size, torch.Tensor) else bag_size, dtype=np.float64)
        if sizes.shape != values.shape:
            raise ValueError(f"bag_size must be an int or have shape {values.shape} (one size per bag)")
        if sizes.size and (sizes.min() < 1 or np.any(sizes != np.round(sizes))):
            raise ValueError("bag_size must hold integers >= 1")
    else:
        sizes = np.full(values.shape, float(_check_bag_size(bag_size)))
    scale = 2.0 * bound / (sizes * eps)
    if is_tensor:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError("generator must be a torch.Generator when y_bar is a tensor")
        # Laplace(0, b) = b·(E₁ − E₂) with E₁, E₂ ~ Exp(1) independent
        e = torch.empty((2, values.size), dtype=torch.float64).exponential_(generator=generator)
        noisy = torch.from_numpy(values) + torch.from_numpy(scale) * (e[0] - e[1])
        return noisy.to(dtype=y_bar.dtype if y_bar.is_floating_point() else torch.float32, device=y_bar.device)
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError("generator must be a numpy.random.Generator when y_bar is an array")
    rng = generator if generator is not None else np.random.default_rng()
    return values + rng.laplace(0.0, scale)


# ----------------------------------------------------------------------------------------------------------- data


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


class BagDataset(torch.utils.data.Dataset):
    """The released data set: one item per bag, `{input_key: (k_a, ...) features, "bag_targets": ȳ_a}`.

    Bags are fixed once (as in the paper); batch it with :class:`BagCollator`, which flattens a list of bags into a
    batch of instances with `bag_ids` and `bag_targets`. Build it from instance-level responses with
    :meth:`from_responses` (the data owner's side), or from already aggregated `bag_targets`.

    Args:
        inputs (`torch.Tensor` of shape `(n, ...)`): the features of every instance.
        bag_ids (`torch.LongTensor` of shape `(n,)`): the bag of every instance.
        bag_targets (`torch.Tensor` of shape `(n,)`): the (possibly noisy) aggregate response of each instance's bag.
        input_key (`str`, defaults to `"pixel_values"`): the name of the model input in the items.
    """

    def __init__(
        self, inputs: torch.Tensor, bag_ids: torch.Tensor, bag_targets: torch.Tensor, input_key="pixel_values"
    ):
        if not isinstance(inputs, torch.Tensor) or inputs.dim() < 1:
            raise TypeError("inputs must be a torch.Tensor with one row per instance")
        check_bag_inputs(torch.zeros(inputs.shape[0], dtype=torch.float64), bag_ids, bag_targets)
        unique, inverse = torch.unique(bag_ids, return_inverse=True)
        order = torch.argsort(inverse, stable=True)
        sizes = torch.bincount(inverse, minlength=len(unique))
        self.members = list(torch.split(order, sizes.tolist()))
        self.inputs, self.input_key = inputs, input_key
        self.targets = torch.stack([bag_targets[m[0]] for m in self.members]).to(torch.float32)
        self.sizes = sizes

    @classmethod
    def from_responses(
        cls,
        inputs: torch.Tensor,
        responses: torch.Tensor,
        bag_size: int,
        bagging: str = "random",
        *,
        seed: int = 0,
        privacy_eps: float | None = None,
        response_bound: float | None = None,
        input_key: str = "pixel_values",
    ) -> BagDataset:
        """Bags `inputs` (random or curated), averages `responses` per bag and, with `privacy_eps`, releases the
        means through the Laplace mechanism (responses clipped to `[−response_bound, response_bound]` first)."""
        n = inputs.shape[0]
        responses = _as_tensor(responses).to(torch.float64)
        if responses.shape != (n,):
            raise ValueError(f"responses must have shape ({n},), got {tuple(responses.shape)}")
        generator = torch.Generator().manual_seed(seed)
        bag_ids = assign_bags(n, bag_size, bagging, features=inputs, generator=generator)
        targets = _release(responses, bag_ids, privacy_eps, response_bound, generator)
        return cls(inputs, bag_ids, targets, input_key=input_key)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {self.input_key: self.inputs[self.members[index]], "bag_targets": self.targets[index]}


def _release(
    responses: torch.Tensor,
    bag_ids: torch.Tensor,
    privacy_eps: float | None,
    response_bound: float | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Per instance, its bag's mean response; with `privacy_eps`, clipped and privatised (one draw per bag)."""
    if privacy_eps is None:
        return aggregate_responses(responses, bag_ids)
    if response_bound is None:
        raise ValueError("privacy_eps needs response_bound (the bound B on individual responses)")
    bound = check_number("response_bound", response_bound, low=0, low_open=True)
    clipped = responses.clamp(-bound, bound)
    _, inverse, sizes = torch.unique(bag_ids, return_inverse=True, return_counts=True)
    means = torch.zeros(len(sizes), dtype=clipped.dtype).index_add(0, inverse, clipped) / sizes
    noisy = privatize_bag_responses(means, privacy_eps, sizes, response_bound=bound, generator=generator)
    return noisy[inverse]


class BagCollator:
    """Data collator producing batches of whole bags: `{input_key, "bag_ids", "bag_targets", ...}`.

    Usable as `transformers.Trainer(data_collator=...)` or `DataLoader(collate_fn=...)`. It accepts three kinds of
    items (all items of a batch of one kind):

    1. whole bags from :class:`BagDataset`, `{input_key: (k_a, ...), "bag_targets": ȳ_a}`: flattened into instances,
       bag `j` of the batch getting `bag_ids == j` (the fixed-bag setting of the paper);
    2. instances already carrying `"bag_ids"` and `"bag_targets"`: stacked as they are (the sampler must keep bags
       whole);
    3. instances with an individual response under `label_key`: the batch is cut into bags of `bag_size` (random or
       curated, the last bag smaller if `bag_size` does not divide the batch), responses are averaged per bag
       (clipped and privatised with `privacy_eps`) and the individual responses are dropped from the batch (unless
       `keep_labels=True`). Bags are re-drawn for every batch, which is a simulation convenience, not a release.

    Args:
        bag_size (`int`): `k`, for items of kind 3.
        bagging (`str`, defaults to `"random"`): `"random"` or `"curated"` (kind 3; see :func:`assign_bags`).
        input_key (`str`, defaults to `"pixel_values"`): the model input holding the features.
        label_key (`str`, defaults to `"labels"`): the individual response of kind-3 items.
        seed (`int`, defaults to 0): seeds the random bags and the privacy noise.
        curate_by (`Callable[[torch.Tensor], torch.Tensor]`, *optional*): maps the batch's features to one score per
            instance for curated bagging (default: the first principal component of the batch).
        privacy_eps (`float`, *optional*): release each bag mean through the Laplace mechanism with budget `ε`.
        response_bound (`float`, *optional*): `B`, needed with `privacy_eps`; responses are clipped to `[−B, B]`.
        keep_labels (`bool`, defaults to `False`): keep the individual responses in the batch (for evaluation).
    """

    def __init__(
        self,
        bag_size: int,
        bagging: str = "random",
        *,
        input_key: str = "pixel_values",
        label_key: str = "labels",
        seed: int = 0,
        curate_by: Callable[[torch.Tensor], torch.Tensor] | None = None,
        privacy_eps: float | None = None,
        response_bound: float | None = None,
        keep_labels: bool = False,
    ):
        self.bag_size = _check_bag_size(bag_size)
        self.bagging = _check_bagging(bagging)
        if curate_by is not None and not callable(curate_by):
            raise TypeError(f"curate_by must be callable, got {type(curate_by).__name__}")
        if privacy_eps is not None:
            check_number("privacy_eps", privacy_eps, low=0, low_open=True)
            if response_bound is None:
                raise ValueError("privacy_eps needs response_bound (the bound B on individual responses)")
        if response_bound is not None:
            check_number("response_bound", response_bound, low=0, low_open=True)
        self.input_key, self.label_key = input_key, label_key
        self.curate_by, self.privacy_eps, self.response_bound = curate_by, privacy_eps, response_bound
        self.keep_labels = bool(keep_labels)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("BagCollator got an empty list of features")
        first = features[0]
        if self.input_key not in first:
            raise ValueError(f"BagCollator: the items have no {self.input_key!r} (input_key); keys: {sorted(first)}")
        if "bag_targets" in first and "bag_ids" not in first:
            return self._flatten_bags(features)
        if "bag_ids" in first and "bag_targets" in first:
            return self._stack(features)
        if self.label_key not in first:
            raise ValueError(
                f"BagCollator needs items with {self.label_key!r} (label_key) to form bags, or items carrying "
                f"'bag_targets' (whole bags or pre-aggregated instances); keys: {sorted(first)}"
            )
        return self._bag_instances(features)

    # ------------------------------------------------------------------------------------------------ kinds
    def _flatten_bags(self, features) -> dict[str, torch.Tensor]:
        inputs = [_as_tensor(f[self.input_key]) for f in features]
        sizes = torch.tensor([x.shape[0] for x in inputs])
        targets = torch.stack([_as_tensor(f["bag_targets"]).reshape(()) for f in features]).float()
        bag_ids = torch.repeat_interleave(torch.arange(len(features)), sizes)
        return {self.input_key: torch.cat(inputs), "bag_ids": bag_ids, "bag_targets": targets[bag_ids]}

    def _stack(self, features) -> dict[str, torch.Tensor]:
        from transformers import default_data_collator

        batch = default_data_collator([dict(f) for f in features], return_tensors="pt")
        batch["bag_ids"] = batch["bag_ids"].long()
        batch["bag_targets"] = batch["bag_targets"].float()
        return batch

    def _bag_instances(self, features) -> dict[str, torch.Tensor]:
        from transformers import default_data_collator

        responses = torch.stack([_as_tensor(f[self.label_key]).reshape(()) for f in features]).to(torch.float64)
        rest = [{k: v for k, v in f.items() if k != self.label_key} for f in features]
        batch = default_data_collator(rest, return_tensors="pt")
        n = len(features)
        scores = None
        if self.bagging == "curated" and self.curate_by is not None:
            scores = _as_tensor(self.curate_by(batch[self.input_key])).reshape(-1)
        bag_ids = assign_bags(
            n, self.bag_size, self.bagging, features=batch[self.input_key], scores=scores, generator=self.generator
        )
        targets = _release(responses, bag_ids, self.privacy_eps, self.response_bound, self.generator)
        batch["bag_ids"], batch["bag_targets"] = bag_ids, targets.float()
        if self.keep_labels:
            batch[self.label_key] = responses.float()
        return batch

    def __repr__(self) -> str:
        return (
            f"BagCollator(bag_size={self.bag_size}, bagging={self.bagging!r}, input_key={self.input_key!r}, "
            f"privacy_eps={self.privacy_eps}, response_bound={self.response_bound})"
        )


__all__ = [
    "BAGGINGS",
    "BagCollator",
    "BagDataset",
    "aggregate_responses",
    "assign_bags",
    "first_principal_scores",
    "laplace_scale",
    "privatize_bag_responses",
]
