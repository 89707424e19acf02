"""Sliceable supernet layers (hf_methods.common.supernet): slices against numpy references, extraction, conversion."""

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.common.supernet import (
    FeedForward,
    MultiheadSelfAttention,
    SuperConv1d,
    SuperFeedForward,
    SuperLayerNorm,
    SuperLinear,
    SuperMultiheadSelfAttention,
    extract_leading_slices,
    leading_slice,
    reset_active,
    super_layers,
    to_super,
)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_super_linear_slice_matches_numpy_and_extracted_layer():
    torch.manual_seed(0)
    layer = SuperLinear(8, 6)
    layer.set_active(in_features=5, out_features=3)
    x = _randn(4, 5)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    expected = x.numpy() @ w[:3, :5].T + b[:3]
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-6, atol=1e-6)
    plain = layer.extract()
    assert type(plain) is nn.Linear and (plain.in_features, plain.out_features) == (5, 3)
    assert torch.equal(plain(x), layer(x))  # the same kernel on the same contiguous numbers


def test_super_linear_full_size_is_nn_linear_and_reset():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    layer = SuperLinear.from_linear(linear)
    assert layer.weight is linear.weight and layer.bias is linear.bias
    assert list(layer.state_dict()) == list(linear.state_dict())
    x = _randn(3, 6)
    assert torch.equal(layer(x), linear(x))
    layer.set_active(2, 2)
    layer.reset_active()
    assert (layer.active_in_features, layer.active_out_features) == (6, 4)


def test_super_linear_gradient_reaches_only_the_slice():
    torch.manual_seed(0)
    layer = SuperLinear(6, 5)
    layer.set_active(4, 2)
    layer(_randn(3, 4)).sum().backward()
    grad = layer.weight.grad
    assert grad[:2, :4].abs().sum() > 0
    assert grad[2:].abs().sum() == 0 and grad[:, 4:].abs().sum() == 0
    assert layer.bias.grad[2:].abs().sum() == 0


def test_super_layer_norm_matches_formula():
    torch.manual_seed(0)
    norm = SuperLayerNorm(8, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(_randn(8, seed=1))
        norm.bias.copy_(_randn(8, seed=2))
    norm.set_active(5)
    x = _randn(3, 5).double().numpy()
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * norm.weight.detach().numpy()[:5] + norm.bias.detach().numpy()[:5]
    out = norm(torch.from_numpy(x).float()).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    plain = norm.extract()
    assert type(plain) is nn.LayerNorm and plain.normalized_shape == (5,)


def test_super_conv1d_grouped_slice_matches_loop_reference():
    torch.manual_seed(0)
    conv = SuperConv1d(8, 8, 3, padding=1, groups=2)
    conv.set_active(4, 6)
    x = _randn(1, 4, 7)
    out = conv(x).detach().numpy()
    w, b, xs = conv.weight.detach().numpy(), conv.bias.detach().numpy(), np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1)))
    # groups of 2 input / 3 output channels; output channel o reads W[o, :2, :] against its group's inputs
    expected = np.zeros((1, 6, 7))
    for o in range(6):
        group = o // 3
        for t in range(7):
            expected[0, o, t] = b[o] + (w[o, :2, :] * xs[0, 2 * group : 2 * group + 2, t : t + 3]).sum()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(conv.extract()(x), conv(x))


def test_super_attention_matches_numpy_with_leading_heads_and_extracts():
    torch.manual_seed(0)
    attention = SuperMultiheadSelfAttention(16, 4, 4).eval()
    attention.set_active(embed_dim=12, num_heads=2)
    x = _randn(2, 5, 12)
    out = attention(x).detach().double().numpy()

    def proj(layer, rows, cols, inp):
        return (
            inp @ layer.weight.detach().double().numpy()[:rows, :cols].T + layer.bias.detach().double().numpy()[:rows]
        )

    xn = x.double().numpy()
    q, k, v = (proj(getattr(attention, n), 8, 12, xn) for n in ("q_proj", "k_proj", "v_proj"))
    heads = []
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        scores = q[..., cols] @ k[..., cols].transpose(0, 2, 1) / 2.0
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        heads.append(probs @ v[..., cols])
    expected = proj(attention.out_proj, 12, 8, np.concatenate(heads, -1))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    plain = attention.extract()
    assert type(plain) is MultiheadSelfAttention and plain.q_proj.out_features == 8
    assert torch.equal(plain(x), attention(x))


def test_super_feed_forward_extracts_to_plain_block():
    torch.manual_seed(0)
    block = SuperFeedForward(8, 32)
    block.set_active(embed_dim=6, hidden_dim=12)
    x = _randn(3, 6)
    plain = block.extract()
    assert type(plain) is FeedForward and plain.fc1.out_features == 12
    assert torch.equal(plain(x), block(x))
    reset_active(block)
    assert block.fc1.active_out_features == 32 and block.fc2.active_out_features == 8


def test_to_super_shares_parameters_and_keeps_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))
    before = {name: p for name, p in model.named_parameters()}
    x = _randn(3, 4)
    expected = model(x)
    to_super(model)
    assert [type(m) for m in model] == [SuperLinear, SuperLayerNorm, nn.ReLU, SuperLinear]
    assert all(p is before[name] for name, p in model.named_parameters())
    assert torch.equal(model(x), expected)
    assert len(list(super_layers(model))) == 3


def test_to_super_include_filter():
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    to_super(model, include=lambda name, module: name == "1")
    assert type(model[0]) is nn.Linear and type(model[1]) is SuperLinear


def test_extract_leading_slices_copies_the_leading_block():
    big = nn.Linear(6, 5)
    small = nn.Linear(4, 3)
    extract_leading_slices(big.state_dict(), small)
    assert torch.equal(small.weight, big.weight[:3, :4]) and torch.equal(small.bias, big.bias[:3])
    assert small.weight.data_ptr() != big.weight.data_ptr()
    with pytest.raises(KeyError, match="fc"):
        extract_leading_slices(big.state_dict(), small, name_map=lambda n: "fc." + n)


# ------------------------------------------------------------------------------------------------ errors
def test_error_active_size_out_of_range():
    layer = SuperLinear(4, 4)
    with pytest.raises(ValueError, match="in_features"):
        layer.set_active(in_features=5)
    with pytest.raises(ValueError, match="out_features"):
        layer.set_active(out_features=0)


def test_error_active_size_not_int():
    with pytest.raises(TypeError, match="features"):
        SuperLayerNorm(4).set_active(2.0)


def test_error_input_width_mismatch():
    layer = SuperLinear(4, 4)
    layer.set_active(in_features=3)
    with pytest.raises(ValueError, match="3 input features"):
        layer(torch.zeros(2, 4))


def test_error_conv_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match="divisible by groups"):
        SuperConv1d(8, 8, 3, groups=4).set_active(6, 8)


def test_error_attention_heads_out_of_range():
    with pytest.raises(ValueError, match="num_heads"):
        SuperMultiheadSelfAttention(8, 2, 4).set_active(num_heads=3)


def test_error_to_super_needs_a_module():
    with pytest.raises(TypeError, match="module"):
        to_super("not a module")


def test_error_leading_slice_too_large():
    with pytest.raises(ValueError, match="leading slice"):
        leading_slice(torch.zeros(2, 3), (3, 3))
