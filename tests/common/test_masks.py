"""`hf_methods.common.masks`: exact counts, magnitude order against a sort, parametrized forward against a plain
masked matmul, bake to vanilla weights, the straight-through gradient, serialisation and errors."""

import pytest
import torch
from torch import nn

from hf_methods.common.masks import (
    apply_masks,
    apply_score_masks,
    bake,
    load_masks,
    magnitude_masks,
    masks_of,
    save_masks,
    sparsity_stats,
    topk_mask,
)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_global_magnitude_masks_keep_the_largest_weights_exactly():
    model = _model()
    masks = magnitude_masks(model, keep=0.25, scope="global")
    weights = torch.cat([model[0].weight.flatten(), model[2].weight.flatten()]).abs()
    n_keep = round(0.25 * weights.numel())
    threshold = weights.sort(descending=True).values[n_keep - 1]
    assert sum(int(m.sum()) for m in masks.values()) == n_keep
    for name, module in (("0.weight", model[0]), ("2.weight", model[2])):
        assert torch.equal(masks[name], module.weight.abs() >= threshold)
    layer = magnitude_masks(model, keep=0.5, scope="layer")
    assert [int(m.sum()) for m in layer.values()] == [24, 12]
    assert sparsity_stats(layer)["global"] == pytest.approx(1 - 36 / 72)


def test_applied_mask_equals_a_plain_masked_forward_and_bakes_to_vanilla():
    model = _model()
    masks = magnitude_masks(model, keep=0.3)
    x = torch.randn(5, 6)
    w0, w2 = model[0].weight.detach() * masks["0.weight"], model[2].weight.detach() * masks["2.weight"]
    expected = torch.relu(x @ w0.T + model[0].bias) @ w2.T + model[2].bias
    apply_masks(model, masks)
    torch.testing.assert_close(model(x), expected)
    assert all(torch.equal(masks[k], v) for k, v in masks_of(model).items())
    bake(model)
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    torch.testing.assert_close(model(x), expected)
    assert sparsity_stats(model)["global"] == pytest.approx(0.7, abs=0.01)


def test_score_mask_has_exact_density_and_a_straight_through_gradient():
    model = _model()
    scores = {"0.weight": torch.randn(8, 6), "2.weight": torch.randn(3, 8)}
    apply_score_masks(model, scores, keep=0.5)
    for name, mask in masks_of(model).items():
        assert int(mask.sum()) == mask.numel() // 2 and torch.equal(mask, topk_mask(scores[name], 0.5))
    x = torch.randn(4, 6)
    model(x).sum().backward()
    score = model[2].parametrizations.weight[0].scores
    # d(sum)/d(scores) under the identity straight-through = d(sum)/d(effective weight) * original weight
    h = torch.relu(model[0](x)).detach()
    expected = torch.ones(4, 3).T @ h * model[2].parametrizations.weight.original.detach()
    torch.testing.assert_close(score.grad, expected)
    assert model[2].parametrizations.weight.original.requires_grad  # freezing the weights is the method's choice


def test_save_and_load(tmp_path):
    masks = magnitude_masks(_model(), keep=0.1)
    loaded = load_masks(save_masks(masks, tmp_path))
    assert loaded.keys() == masks.keys() and all(torch.equal(loaded[k], masks[k]) for k in masks)
    assert load_masks(tmp_path).keys() == masks.keys()


def test_errors(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match="keep must be a fraction"):
        magnitude_masks(model, keep=0.0)
    with pytest.raises(ValueError, match="scope must be"):
        magnitude_masks(model, keep=0.5, scope="row")
    with pytest.raises(ValueError, match="no module of the types"):
        magnitude_masks(nn.ReLU(), keep=0.5)
    with pytest.raises(ValueError, match="has shape"):
        apply_masks(model, {"0.weight": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="no module '5'"):
        apply_masks(model, {"5.weight": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="must end with '.weight'"):
        apply_masks(model, {"0.bias": torch.ones(8, dtype=torch.bool)})
    with pytest.raises(FileNotFoundError, match="no mask file"):
        load_masks(tmp_path)


def test_bake_of_a_deepcopy_leaves_the_original_working():
    import copy

    from hf_methods.common.masks import apply_masks, bake

    model = torch.nn.Sequential(torch.nn.Linear(3, 3))
    mask = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1]], dtype=torch.bool)
    apply_masks(model, {"0.weight": mask})
    baked = bake(copy.deepcopy(model))
    x = torch.rand(2, 3)
    assert type(baked[0]) is torch.nn.Linear
    torch.testing.assert_close(model(x), baked(x))  # the original still computes with its mask
    assert torch.equal(model[0].weight == 0, ~mask)
