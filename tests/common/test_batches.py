"""Tensor-backed datasets with batched fetches (`hf_methods.common.batches`)."""

import pytest
import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch


def test_batched_fetch_equals_stacked_items():
    x, y = torch.randn(10, 3), torch.arange(10)
    dataset = TensorDictDataset(pixel_values=x, labels=y, index_column="sample_idx")
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=collate_batch)
    seen = []
    for batch in loader:
        assert sorted(batch) == ["labels", "pixel_values", "sample_idx"]
        assert torch.equal(batch["pixel_values"], x[batch["sample_idx"]])
        assert torch.equal(batch["labels"], y[batch["sample_idx"]])
        seen += batch["sample_idx"].tolist()
    assert sorted(seen) == list(range(10))
    items = [dataset[i] for i in (3, 1)]
    stacked = collate_batch(items)  # the one-item-at-a-time path
    assert torch.equal(stacked["pixel_values"], x[[3, 1]]) and stacked["sample_idx"].tolist() == [3, 1]


def test_bad_columns_are_named():
    with pytest.raises(ValueError, match="at least one column"):
        TensorDictDataset()
    with pytest.raises(TypeError, match="column 'labels' must be a torch.Tensor"):
        TensorDictDataset(labels=[0, 1])
    with pytest.raises(ValueError, match="same length"):
        TensorDictDataset(pixel_values=torch.zeros(3, 2), labels=torch.zeros(2))
    with pytest.raises(ValueError, match="also a data column"):
        TensorDictDataset(labels=torch.zeros(2), index_column="labels")


def test_a_batch_taken_apart_by_a_column_filter_is_explained():
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        collate_batch(["pixel_values", "labels"])
