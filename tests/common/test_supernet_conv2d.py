"""`SuperConv2d` and `centre_crop` (hf_methods/common/supernet.py): channel slices and centre-cropped kernels against
a numpy loop, extraction to a plain `nn.Conv2d`, and one error per bad input."""

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.common.supernet import SuperConv2d, centre_crop, to_super


def _fill(layer: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def numpy_conv2d(x, weight, bias, padding):
    """Cross-correlation at stride 1, one output pixel at a time (zero padding `padding` on each side)."""
    batch, _, height, width = x.shape
    out_channels, in_channels, kh, kw = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h, out_w = height + 2 * padding - kh + 1, width + 2 * padding - kw + 1
    out = np.zeros((batch, out_channels, out_h, out_w))
    for b in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    out[b, o, i, j] = (padded[b, :in_channels, i : i + kh, j : j + kw] * weight[o]).sum() + bias[o]
    return out


def test_centre_crop_takes_the_central_taps():
    weight = torch.arange(2 * 25, dtype=torch.float64).view(2, 1, 5, 5)
    crop = centre_crop(weight, 3)
    np.testing.assert_array_equal(crop.numpy(), weight.numpy()[:, :, 1:4, 1:4])
    np.testing.assert_array_equal(centre_crop(weight, 1).numpy(), weight.numpy()[:, :, 2:3, 2:3])
    assert centre_crop(weight, 5) is weight


def test_super_conv2d_slice_and_crop_match_numpy_loop_and_extract():
    layer = SuperConv2d(4, 6, 5, padding=2).double()
    _fill(layer)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    layer.set_active(in_channels=3, out_channels=4, kernel_size=3)
    assert layer.active_padding() == (1, 1)
    out = layer(x)
    w = layer.weight.detach().numpy()[:4, :3, 1:4, 1:4]
    reference = numpy_conv2d(x.numpy(), w, layer.bias.detach().numpy()[:4], padding=1)
    np.testing.assert_allclose(out.detach().numpy(), reference, atol=1e-12)
    assert out.shape == (2, 4, 6, 6)  # the crop keeps the spatial size of the 5×5 kernel
    plain = layer.extract()
    assert type(plain) is nn.Conv2d and plain.kernel_size == (3, 3) and plain.padding == (1, 1)
    torch.testing.assert_close(plain(x), out, rtol=0, atol=1e-12)


def test_cropped_kernel_equals_full_kernel_with_zeroed_border():
    layer = SuperConv2d(2, 3, 5, padding=2).double()
    _fill(layer, seed=2)
    x = torch.randn(1, 2, 7, 7, dtype=torch.float64)
    layer.set_active(kernel_size=1)
    cropped = layer(x)
    zeroed = layer.weight.detach().clone()
    mask = torch.zeros(5, 5, dtype=torch.float64)
    mask[2, 2] = 1
    full = torch.nn.functional.conv2d(x, zeroed * mask, layer.bias.detach(), padding=2)
    torch.testing.assert_close(cropped, full, rtol=0, atol=1e-12)


def test_super_conv2d_full_size_and_reset():
    layer = SuperConv2d(3, 5, 3, padding=1)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(2, 3, 4, 4)
    layer.set_active(in_channels=3, out_channels=2, kernel_size=1)
    layer.reset_active()
    assert torch.equal(layer(x), conv(x))
    shared = SuperConv2d.from_conv2d(conv)
    assert shared.weight is conv.weight and torch.equal(shared(x), conv(x))


def test_to_super_leaves_conv2d_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 2))
    to_super(model)
    assert type(model[0]) is nn.Conv2d


def test_error_kernel_size_without_centre():
    layer = SuperConv2d(1, 1, 5, padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        layer.set_active(kernel_size=2)


def test_error_kernel_size_too_large():
    layer = SuperConv2d(1, 1, 3, padding=1)
    with pytest.raises(ValueError, match="kernel_size"):
        layer.set_active(kernel_size=5)


def test_error_padding_too_small_for_the_crop():
    layer = SuperConv2d(1, 1, 5, padding=0)
    with pytest.raises(ValueError, match="negative padding"):
        layer.set_active(kernel_size=3)


def test_error_out_channels_out_of_range():
    layer = SuperConv2d(2, 4, 3, padding=1)
    with pytest.raises(ValueError, match="out_channels"):
        layer.set_active(out_channels=5)


def test_error_input_channels_mismatch():
    layer = SuperConv2d(2, 4, 3, padding=1)
    layer.set_active(in_channels=1)
    with pytest.raises(ValueError, match="input channels"):
        layer(torch.randn(1, 2, 4, 4))


def test_error_padding_mode_and_from_conv2d_type():
    with pytest.raises(ValueError, match="padding_mode"):
        SuperConv2d(1, 1, 3, padding=1, padding_mode="reflect")
    with pytest.raises(TypeError, match="conv"):
        SuperConv2d.from_conv2d(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="kernel_size"):
        centre_crop(torch.zeros(1, 1, 3, 3), 1.5)
