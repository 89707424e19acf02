"""`hf_methods.common.splits`: class counts of the imbalanced subsets, seen/unseen splits, errors."""

import numpy as np
import pytest
import torch

from hf_methods.common.splits import class_sizes, class_split, long_tail_imbalance, step_imbalance

LABELS = np.repeat(np.arange(10), 30)


def test_step_imbalance_keeps_the_majority_and_minority_count():
    keep = step_imbalance(LABELS, minority_classes=range(5, 10), minority_count=4, seed=0)
    assert class_sizes(LABELS[keep], 10).tolist() == [30] * 5 + [4] * 5
    assert np.array_equal(keep, np.sort(keep)) and len(set(keep.tolist())) == len(keep)
    assert np.array_equal(keep, step_imbalance(torch.from_numpy(LABELS), range(5, 10), 4, seed=0))
    assert not np.array_equal(keep, step_imbalance(LABELS, range(5, 10), 4, seed=1))


def test_long_tail_follows_the_exponential_profile():
    keep = long_tail_imbalance(LABELS, imbalance_ratio=10.0)
    expected = [max(1, int(30 * 10.0 ** (-c / 9))) for c in range(10)]
    assert class_sizes(LABELS[keep], 10).tolist() == expected
    assert expected[0] / expected[-1] == 10


def test_class_split():
    seen, unseen = class_split(LABELS, seen_classes=[0, 1, 2, 3, 4])
    assert set(LABELS[seen].tolist()) == {0, 1, 2, 3, 4} and set(LABELS[unseen].tolist()) == {5, 6, 7, 8, 9}
    assert len(seen) + len(unseen) == len(LABELS)


def test_errors():
    with pytest.raises(ValueError, match="minority_classes \\[11\\] do not occur"):
        step_imbalance(LABELS, [11], 3)
    with pytest.raises(ValueError, match="fewer than minority_count"):
        step_imbalance(LABELS, [1], 31)
    with pytest.raises(ValueError, match="minority_count must be"):
        step_imbalance(LABELS, [1], 0)
    with pytest.raises(ValueError, match="imbalance_ratio must be >= 1"):
        long_tail_imbalance(LABELS, 0.5)
    with pytest.raises(ValueError, match="covers every class"):
        class_split(LABELS, range(10))
    with pytest.raises(TypeError, match="1-D integer"):
        class_split(LABELS.astype(float), [0])


def test_client_splits_partition_the_examples():
    from hf_methods.common.splits import dirichlet_split, shards_per_client_split

    labels = np.repeat(np.arange(10), 30)
    shards = shards_per_client_split(labels, num_clients=10, classes_per_client=2, seed=0)
    assert len(shards) == 10
    assert np.array_equal(np.sort(np.concatenate(shards)), np.arange(labels.size))
    # 30 examples per class and 20 shards of 15: every shard is label-pure, so a client has at most 2 classes.
    assert all(len(np.unique(labels[s])) <= 2 for s in shards)
    parts = dirichlet_split(labels, num_clients=5, alpha=0.1, seed=0)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(labels.size))
    iid = dirichlet_split(labels, num_clients=5, alpha=1000.0, seed=0)
    assert all(abs(len(p) - 60) < 15 for p in iid)

    def dominant_share(split):
        return np.mean([np.bincount(labels[p], minlength=10).max() / len(p) for p in split if len(p)])

    # Small alpha: clients are dominated by a few classes; large alpha: about 1/10 of each class.
    assert dominant_share(iid) < 0.15 < 0.3 < dominant_share(parts)
    with pytest.raises(ValueError, match="num_clients"):
        shards_per_client_split(labels, num_clients=0, classes_per_client=2)
    with pytest.raises(ValueError, match="shards"):
        shards_per_client_split(labels[:5], num_clients=3, classes_per_client=2)
    with pytest.raises(ValueError, match="alpha"):
        dirichlet_split(labels, num_clients=3, alpha=0)
