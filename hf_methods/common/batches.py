"""Datasets over in-memory tensors whose batches come out already collated, for `DataLoader`s and `transformers.Trainer`.

A `DataLoader` over a dataset with `__getitems__` fetches a whole batch with one call; [`TensorDictDataset`] answers
it by indexing each column once, so a batch costs one gather per column instead of one item per example, and the
collate function ([`collate_batch`]) has nothing left to do.

Example:

```python
>>> dataset = TensorDictDataset(pixel_values=x, labels=y, index_column="sample_idx")
>>> batch = next(iter(DataLoader(dataset, batch_size=64, collate_fn=collate_batch)))
>>> sorted(batch)
['labels', 'pixel_values', 'sample_idx']
```
"""

from __future__ import annotations

import torch


class TensorDictDataset(torch.utils.data.Dataset):
    """`{column: tensor[i]}` items over equal-length tensors (e.g. `pixel_values=x, labels=y`).

    Args:
        index_column (`str`, *optional*): when given, every item also carries its position in this dataset under
            this name (per-example state such as a loss's running weights reads it).

    With `transformers.Trainer`, pass `data_collator=collate_batch` and `TrainingArguments(remove_unused_columns=False)`:
    the Trainer's column filter handles items one at a time, not a batch that is already collated.
        **columns (`torch.Tensor`): the columns, all with the same first dimension.
    """

    def __init__(self, index_column: str | None = None, **columns: torch.Tensor):
        if not columns:
            raise ValueError("TensorDictDataset needs at least one column, e.g. TensorDictDataset(labels=y)")
        lengths = {}
        for name, column in columns.items():
            if not isinstance(column, torch.Tensor):
                raise TypeError(f"column {name!r} must be a torch.Tensor, got {type(column).__name__}")
            lengths[name] = len(column)
        if len(set(lengths.values())) != 1:
            raise ValueError(f"all columns must have the same length, got {lengths}")
        if index_column is not None and index_column in columns:
            raise ValueError(f"index_column {index_column!r} is also a data column")
        self.columns = columns
        self.index_column = index_column
        self._length = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {name: column[i] for name, column in self.columns.items()}
        if self.index_column is not None:
            item[self.index_column] = torch.tensor(i)
        return item

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A whole batch at once (the `DataLoader`'s batched fetch), already collated."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        batch = {name: column[idx] for name, column in self.columns.items()}
        if self.index_column is not None:
            batch[self.index_column] = idx
        return batch


def collate_batch(batch):
    """The collate function for [`TensorDictDataset`]: a batch from `__getitems__` is already collated; a list of
    items (a sampler that fetches one index at a time) is stacked with torch's `default_collate`."""
    if isinstance(batch, dict):
        return batch
    if batch and all(isinstance(item, str) for item in batch):
        # transformers' RemoveColumnsCollator iterated a collated batch as if it were a list of items
        raise ValueError(
            "collate_batch received column names instead of items: a TensorDictDataset batch is already collated, so "
            "with transformers.Trainer pass TrainingArguments(remove_unused_columns=False)"
        )
    return torch.utils.data.default_collate(batch)
