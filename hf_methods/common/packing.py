"""Bit packing of low-bit integer codes, so a quantised tensor's file size is its real size in bits per weight.

[`pack_bits`] writes each code of `bits` bits (1 ≤ bits ≤ 8) into one continuous bit stream, least significant bit
first, and returns it as ⌈n·bits / 8⌉ uint8 bytes; [`unpack_bits`] reads it back to a uint8 tensor of a given shape.
Codes must be unsigned (0 ≤ code < 2^bits): shift signed codes by their lowest level first.

Example:

```python
>>> packed = pack_bits(codes, bits=3)          # codes: uint8 tensor, values < 8
>>> torch.equal(unpack_bits(packed, 3, codes.shape), codes)
True
```
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def check_bits(bits) -> int:
    """`bits` as an int in 1..8, or a `ValueError` naming it."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
    return bits


def packed_size(numel: int, bits: int) -> int:
    """Bytes [`pack_bits`] writes for `numel` codes: ⌈numel·bits / 8⌉."""
    return math.ceil(numel * check_bits(bits) / 8)


def pack_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """The codes (any shape, integer values in [0, 2^bits)) as a flat uint8 tensor of ⌈n·bits / 8⌉ bytes.

    Bit j of code i is bit (i·bits + j) of the stream, and bit k of the stream is bit (k mod 8) of byte ⌊k/8⌋.
    """
    check_bits(bits)
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.is_complex():
        raise TypeError(f"codes must be an integer tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    flat = codes.detach().cpu().flatten().to(torch.int64)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 1 << bits):
        raise ValueError(
            f"codes must lie in [0, {1 << bits}) for bits={bits}, got [{int(flat.min())}, {int(flat.max())}]"
        )
    stream = ((flat[:, None] >> torch.arange(bits)) & 1).flatten()
    stream = torch.cat([stream, stream.new_zeros((-stream.numel()) % 8)]).reshape(-1, 8)
    return (stream << torch.arange(8)).sum(dim=1).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, bits: int, shape: Iterable[int]) -> torch.Tensor:
    """The inverse of [`pack_bits`]: a uint8 tensor of `shape`."""
    check_bits(bits)
    shape = tuple(int(s) for s in shape)
    numel = math.prod(shape)
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.ndim != 1:
        raise TypeError("packed must be a 1-D uint8 tensor (the output of pack_bits)")
    if packed.numel() != packed_size(numel, bits):
        raise ValueError(
            f"packed holds {packed.numel()} bytes, {packed_size(numel, bits)} expected for shape {shape} at {bits} bits"
        )
    stream = ((packed.cpu().to(torch.int64)[:, None] >> torch.arange(8)) & 1).flatten()[: numel * bits]
    return (stream.reshape(numel, bits) << torch.arange(bits)).sum(dim=1).to(torch.uint8).reshape(shape)
