"""`hf_methods.common.augment`: each transformation against its definition written per image, seeding, errors."""

import pytest
import torch

from hf_methods.common.augment import (
    as_images,
    random_brightness_contrast,
    random_cutout,
    random_flip,
    random_noise,
    random_translate,
    strong_augment,
    two_views,
    weak_augment,
)


def _batch(b=6, c=1, h=8, w=8, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_translate_is_a_zero_padded_shift_of_each_image():
    x = _batch()
    out = random_translate(x, 2, generator=torch.Generator().manual_seed(3))
    for i in range(len(x)):
        # some shift (dy, dx) in [-2, 2]^2 reproduces image i exactly
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros_like(x[i])
                src = x[i][:, max(0, dy) : 8 + min(0, dy), max(0, dx) : 8 + min(0, dx)]
                shifted[:, max(0, -dy) : 8 + min(0, -dy), max(0, -dx) : 8 + min(0, -dx)] = src
                found |= torch.equal(shifted, out[i])
        assert found, i
    assert torch.equal(random_translate(x, 0), x)


def test_flip_cutout_noise_and_contrast_follow_their_definitions():
    x = _batch()
    flipped = random_flip(x, 1.0)
    assert torch.equal(flipped, x.flip(-1)) and torch.equal(random_flip(x, 0.0), x)
    holes = random_cutout(x, 3, generator=torch.Generator().manual_seed(1))
    for i in range(len(x)):
        zeroed = (holes[i] == 0) & (x[i] != 0)
        assert 1 <= int(zeroed.sum()) <= 9  # one square of at most 3×3 (fewer at the border)
        assert torch.equal(holes[i][~zeroed], x[i][~zeroed])
    noisy = random_noise(x, 0.0)
    assert torch.equal(noisy, x)
    same = random_brightness_contrast(x, 0.0, 0.0)
    torch.testing.assert_close(same, x)
    jittered = random_brightness_contrast(x, 0.3, 0.5, generator=torch.Generator().manual_seed(0))
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.equal(jittered, x)


def test_presets_are_seeded_and_keep_shape_and_range():
    x = _batch(b=4, c=1, h=28, w=28)
    a = strong_augment(x, generator=torch.Generator().manual_seed(5))
    b = strong_augment(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    w = weak_augment(x, generator=torch.Generator().manual_seed(5))
    assert w.shape == x.shape
    v1, v2 = two_views(x, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(v1, v2)
    assert as_images(torch.zeros(3, 64), (1, 8, 8)).shape == (3, 1, 8, 8)


def test_bad_inputs_raise_clear_errors():
    x = _batch()
    with pytest.raises(TypeError, match="B, C, H, W"):
        random_translate(x[0], 1)
    with pytest.raises(ValueError, match="max_shift"):
        random_translate(x, -1)
    with pytest.raises(ValueError, match="p must"):
        random_flip(x, 1.5)
    with pytest.raises(ValueError, match="contrast"):
        random_brightness_contrast(x, 0.1, 2.0)
    with pytest.raises(ValueError, match="size"):
        random_cutout(x, -2)
    with pytest.raises(ValueError, match="std"):
        random_noise(x, -1.0)
    with pytest.raises(ValueError, match="image shape"):
        as_images(torch.zeros(3, 60), (1, 8, 8))
