"""The aggregate-response losses (P21) in the loss matrix (tests/test_loss_matrix.py).

The loss is defined over bags, so the cases are `batch_invariant=False`: the matrix checks that permuting the batch
(instances, their bag ids and bag targets together) permutes the per-instance losses.
"""

import torch

from tests.cases import LossCase, with_input


def _bag_inputs(batch_size: int) -> dict[str, torch.Tensor]:
    """Seeded predictions, two interleaved bags (ids 3 and 8; sizes differ for odd batches) and their bag means."""
    g = torch.Generator().manual_seed(0)
    bag_ids = torch.where(torch.arange(batch_size) % 2 == 0, 3, 8)
    responses = torch.randn(batch_size, generator=g) * 2.0
    targets = torch.zeros(batch_size)
    for bag in bag_ids.unique():
        targets[bag_ids == bag] = responses[bag_ids == bag].mean()
    return {"predictions": torch.randn(batch_size, generator=g), "bag_ids": bag_ids, "bag_targets": targets}


def _loss(mode: str, rho: float = 0.3):
    def make(reduction):
        from hf_methods.training.aggregate import AggregateResponseLoss

        return AggregateResponseLoss(mode=mode, rho=rho, reduction=reduction)

    return make


def _not_constant_in_bag(inputs):
    targets = inputs["bag_targets"].clone()
    targets[0] += 1.0
    return targets


_ERRORS = [
    ("2-D predictions", with_input("predictions", lambda x: x["predictions"].repeat(3, 1).T), ValueError, r"shape"),
    ("integer predictions", with_input("predictions", lambda x: x["predictions"].long()), TypeError, r"floating"),
    ("float bag ids", with_input("bag_ids", lambda x: x["bag_ids"].float()), TypeError, r"bag_ids must be an integer"),
    ("bag ids of another length", with_input("bag_ids", lambda x: x["bag_ids"][:-1]), ValueError, r"bag_ids must"),
    ("targets of another length", with_input("bag_targets", lambda x: x["bag_targets"][:-1]), ValueError, r"shape"),
    ("targets differ in a bag", with_input("bag_targets", _not_constant_in_bag), ValueError, r"equal within each bag"),
    ("integer targets", with_input("bag_targets", lambda x: x["bag_targets"].long()), TypeError, r"bag_targets"),
]

LOSS_CASES = [
    LossCase(
        name=f"aggregate-{mode}",
        make_loss=_loss(mode),
        make_inputs=_bag_inputs,
        bad_inputs=_ERRORS,
        input_key="predictions",
        batch_invariant=False,
    )
    for mode in ("bag", "instance", "interpolate")
]
