"""`hf_methods.common.packing`: the bit stream against a plain Python loop, round trips and errors."""

import pytest
import torch

from hf_methods.common.packing import pack_bits, packed_size, unpack_bits


def _reference(codes, bits):
    """Bit j of code i goes to stream bit i·bits + j; stream bit k is bit k % 8 of byte k // 8."""
    out = [0] * packed_size(len(codes), bits)
    for i, code in enumerate(codes):
        for j in range(bits):
            k = i * bits + j
            out[k // 8] |= ((code >> j) & 1) << (k % 8)
    return out


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_matches_the_loop_and_round_trips(bits):
    codes = torch.randint(0, 2**bits, (3, 7), generator=torch.Generator().manual_seed(bits), dtype=torch.uint8)
    packed = pack_bits(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-21 * bits // 8)
    assert packed.tolist() == _reference(codes.flatten().tolist(), bits)
    assert torch.equal(unpack_bits(packed, bits, (3, 7)), codes)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="bits"):
        pack_bits(torch.zeros(3, dtype=torch.uint8), 9)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        pack_bits(torch.tensor([4]), 2)
    with pytest.raises(TypeError, match="integer tensor"):
        pack_bits(torch.zeros(3), 2)
    with pytest.raises(ValueError, match="bytes"):
        unpack_bits(torch.zeros(3, dtype=torch.uint8), 2, (4, 4))
    with pytest.raises(TypeError, match="uint8"):
        unpack_bits(torch.zeros(4, dtype=torch.int32), 2, (4, 4))
