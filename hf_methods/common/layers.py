"""Layer selections written as text, e.g. `--layers 22-29`, shared by the recipes that act on some layers only."""

from __future__ import annotations

__all__ = ["parse_layers"]


def parse_layers(spec: str | None, num_layers: int | None = None, *, name: str = "--layers") -> list[int] | None:
    """Parses `"all"`, `"22-29"`, `"0,5,7"`, `"2-4,9"` or `"last4"` into sorted, unique layer indices.

    Args:
        spec: the selection; `None`, `""` or `"all"` mean every layer and return `None`.
        num_layers: the model's number of layers; needed by `"lastN"` and used to reject indices out of range.
        name: the argument's name in error messages.

    Raises:
        `ValueError`: naming `name`, for text that is not a selection or indices outside `[0, num_layers)`.

    Example:
        >>> parse_layers("22-24,29", 30)
        [22, 23, 24, 29]
        >>> parse_layers("last2", 30)
        [28, 29]
    """
    if spec is None or spec.strip().lower() in ("", "all"):
        return None
    text = spec.strip().lower()
    layers: list[int] = []
    if text.startswith("last"):
        count = text[len("last") :]
        if not count.isdigit() or int(count) < 1 or num_layers is None:
            raise ValueError(f"{name} {spec!r}: 'lastN' needs a positive N and a known number of layers")
        layers = list(range(max(0, num_layers - int(count)), num_layers))
    else:
        for part in text.split(","):
            lo, dash, hi = part.strip().partition("-")
            if not lo.isdigit() or (dash and not hi.isdigit()):
                raise ValueError(f"{name} must look like 'all', '22-29', '0,5,7' or 'last4', got {spec!r}")
            if dash and int(hi) < int(lo):
                raise ValueError(f"{name} {spec!r}: the range {part.strip()!r} is empty")
            layers += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    if num_layers is not None:
        bad = [layer for layer in layers if not 0 <= layer < num_layers]
        if bad:
            raise ValueError(f"{name} {spec!r}: layers must be in [0, {num_layers}), got {sorted(set(bad))}")
    return sorted(set(layers))
