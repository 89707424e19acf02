"""A zoo of pretrained weights for D2NWG: flat parameter vectors, the dataset each was trained on, and a pool of
samples per dataset to draw support sets from.

D2NWG learns p(w | dataset) from many (weights, dataset) pairs. [`WeightZoo`] keeps them in the form the pipeline
trains on: `vectors` `(N, P)` flattened by `parameter_spec` (the spec a generated vector needs to become a state dict
again), `task_ids` `(N,)` naming each vector's dataset, and `support_pools[i]` `(C, M, F)`: M samples of each of the C
classes of dataset i (classes in label order), from which support sets of K samples per class are drawn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .modeling_d2nwg import flatten_parameters, unflatten_parameters

__all__ = ["WeightZoo"]


@dataclass
class WeightZoo:
    """Weights of models pretrained on many datasets, with those datasets' sample pools.

    Args:
        parameter_spec: `[name, shape]` pairs, the flattening order of the target model's state dict.
        vectors: flat weights `(N, P)`.
        task_ids: the dataset index of each vector `(N,)`, into `support_pools`.
        support_pools: one float tensor `(C, M_i, F)` per dataset (M_i ≥ the support size drawn from it).
        task_names: a readable name per dataset (e.g. `"3-vs-8"`).
        metadata: anything else worth keeping (how the zoo was built, accuracies, ...), JSON-serialisable.
    """

    parameter_spec: list
    vectors: torch.Tensor
    task_ids: torch.Tensor
    support_pools: list[torch.Tensor]
    task_names: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.parameter_spec, (list, tuple)) or not self.parameter_spec:
            raise ValueError("`parameter_spec` must be a non-empty list of [name, shape] pairs.")
        self.parameter_spec = [[name, list(shape)] for name, shape in self.parameter_spec]
        size = sum(math.prod(shape) for _, shape in self.parameter_spec)
        if not isinstance(self.vectors, torch.Tensor) or self.vectors.dim() != 2 or self.vectors.shape[1] != size:
            got = tuple(self.vectors.shape) if isinstance(self.vectors, torch.Tensor) else type(self.vectors).__name__
            raise ValueError(f"`vectors` must have shape (N, {size}) (the spec's total), got {got}.")
        if not isinstance(self.task_ids, torch.Tensor) or self.task_ids.shape != (self.vectors.shape[0],):
            raise ValueError(f"`task_ids` must be a tensor of shape ({self.vectors.shape[0]},), one per vector.")
        self.task_ids = self.task_ids.long()
        if not self.support_pools:
            raise ValueError("`support_pools` must hold at least one dataset's samples.")
        first = self.support_pools[0]
        for i, pool in enumerate(self.support_pools):
            if not isinstance(pool, torch.Tensor) or pool.dim() != 3 or not pool.is_floating_point():
                raise ValueError(f"`support_pools[{i}]` must be a float tensor (classes, samples, features).")
            if pool.shape[0] != first.shape[0] or pool.shape[2] != first.shape[2]:
                raise ValueError(
                    f"`support_pools[{i}]` has shape {tuple(pool.shape)}: every pool needs {first.shape[0]} classes "
                    f"and {first.shape[2]} features."
                )
        if len(self.task_ids) and (self.task_ids.min() < 0 or self.task_ids.max() >= len(self.support_pools)):
            raise ValueError(f"`task_ids` must index `support_pools` (0 to {len(self.support_pools) - 1}).")
        if self.task_names and len(self.task_names) != len(self.support_pools):
            raise ValueError("`task_names` must name every dataset of `support_pools`.")

    @classmethod
    def from_state_dicts(
        cls,
        state_dicts: list[dict],
        task_ids,
        support_pools: list[torch.Tensor],
        parameter_spec: list | None = None,
        **kwargs,
    ) -> WeightZoo:
        """A zoo from target-model state dicts (the spec defaults to the first state dict's names and shapes)."""
        if not state_dicts:
            raise ValueError("`state_dicts` must hold at least one state dict.")
        if parameter_spec is None:
            parameter_spec = [[name, list(t.shape)] for name, t in state_dicts[0].items()]
        vectors = torch.stack([flatten_parameters(dict(sd), parameter_spec) for sd in state_dicts])
        return cls(parameter_spec, vectors, torch.as_tensor(task_ids), list(support_pools), **kwargs)

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def num_tasks(self) -> int:
        return len(self.support_pools)

    @property
    def num_classes(self) -> int:
        return self.support_pools[0].shape[0]

    @property
    def feature_dim(self) -> int:
        return self.support_pools[0].shape[2]

    def state_dict_of(self, index: int) -> dict:
        """The state dict of the zoo's `index`-th model."""
        return unflatten_parameters(self.vectors[index], self.parameter_spec)

    def sample_support_sets(
        self, task_ids, samples_per_class: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draws one support set per task id, `(B, C, K, F)`: K samples of each class without replacement."""
        task_ids = torch.as_tensor(task_ids).long().reshape(-1)
        if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, int) or samples_per_class < 1:
            raise ValueError(f"`samples_per_class` must be a positive integer, got {samples_per_class!r}.")
        if len(task_ids) and (task_ids.min() < 0 or task_ids.max() >= self.num_tasks):
            raise ValueError(f"task ids must lie in 0..{self.num_tasks - 1} for a zoo of {self.num_tasks} datasets.")
        stacked = self._stacked_pools()
        if stacked is not None and stacked.shape[2] >= samples_per_class:
            # all pools have the same size: one gather for the whole batch
            pools = stacked[task_ids]  # (B, C, M, F)
            order = torch.rand(pools.shape[:3], generator=generator).argsort(dim=2)[..., :samples_per_class]
            return torch.gather(pools, 2, order[..., None].expand(-1, -1, -1, pools.shape[3]))
        sets = []
        for task in task_ids.tolist():
            if not 0 <= task < self.num_tasks:
                raise ValueError(f"task id {task} is out of range for a zoo of {self.num_tasks} datasets.")
            pool = self.support_pools[task]
            if pool.shape[1] < samples_per_class:
                raise ValueError(
                    f"dataset {task} has {pool.shape[1]} samples per class, fewer than samples_per_class="
                    f"{samples_per_class}."
                )
            order = torch.rand(pool.shape[:2], generator=generator).argsort(dim=1)[:, :samples_per_class]
            sets.append(torch.gather(pool, 1, order[..., None].expand(-1, -1, pool.shape[2])))
        return torch.stack(sets)

    def _stacked_pools(self) -> torch.Tensor | None:
        sizes = {pool.shape[1] for pool in self.support_pools}
        if len(sizes) != 1:
            return None
        if getattr(self, "_stacked", None) is None or self._stacked.shape[0] != self.num_tasks:
            self._stacked = torch.stack(self.support_pools)
        return self._stacked

    def subset(self, task_ids) -> WeightZoo:
        """The zoo restricted to the vectors of the given datasets (the pools are kept, ids unchanged)."""
        keep = torch.isin(self.task_ids, torch.as_tensor(list(task_ids)).long())
        return WeightZoo(
            self.parameter_spec,
            self.vectors[keep],
            self.task_ids[keep],
            self.support_pools,
            list(self.task_names),
            dict(self.metadata),
        )

    def save(self, folder) -> Path:
        """Writes `zoo.safetensors` (vectors, task ids, pools) and `zoo.json` (spec, names, metadata) to `folder`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"vectors": self.vectors.contiguous(), "task_ids": self.task_ids.contiguous()}
        tensors.update({f"pool_{i}": pool.contiguous() for i, pool in enumerate(self.support_pools)})
        save_file(tensors, str(folder / "zoo.safetensors"))
        info = {
            "parameter_spec": self.parameter_spec,
            "num_tasks": self.num_tasks,
            "task_names": self.task_names,
            "metadata": self.metadata,
        }
        (folder / "zoo.json").write_text(json.dumps(info, indent=1))
        return folder

    @classmethod
    def load(cls, folder) -> WeightZoo:
        """Reads a zoo written by [`WeightZoo.save`]."""
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "zoo.json").is_file() or not (folder / "zoo.safetensors").is_file():
            raise FileNotFoundError(f"{folder} holds no zoo (zoo.json and zoo.safetensors); build one first.")
        info = json.loads((folder / "zoo.json").read_text())
        tensors = load_file(str(folder / "zoo.safetensors"))
        pools = [tensors[f"pool_{i}"] for i in range(info["num_tasks"])]
        return cls(
            info["parameter_spec"],
            tensors["vectors"],
            tensors["task_ids"],
            pools,
            info["task_names"],
            info["metadata"],
        )
