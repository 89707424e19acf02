"""The Fourier inverse participation ratio (IPR) of hidden neurons (Doshi et al., 2023, Sec. 3), on any pair of layers.

A hidden neuron `k` between an input layer (weight `(N, d_in)`) and an output layer (weight `(d_out, N)`) is read
through its incoming weights (row `k` of the input layer, optionally cut into `input_blocks` equal blocks, e.g. the
weights U_k from the one-hot code of `a` and V_k from that of `b`) and its outgoing weights (column `k` of the output
layer, W_k). Each vector v is Fourier transformed, v̂ = |rfft(v)|, and its IPR is

    IPR_r(v) = Σ_k (v̂_k / ‖v̂‖₂)^{2r},   r = 2 by default,

which is 1 for a single frequency and about 1/len(v̂)^{r-1} for a flat spectrum. The neuron's IPR is the mean over its
vectors ((IPR(U_k) + IPR(V_k) + IPR(W_k)) / 3 in the paper). On modular arithmetic, generalising neurons are periodic
(high IPR) and memorising neurons are not (low IPR).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from hf_methods.common.checks import check_number, check_positive_int


def inverse_participation_ratio(vectors: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    r"""The Fourier IPR of each row of `vectors`: IPR_r(v) = Σ_k (v̂_k / ‖v̂‖₂)^{2r} with v̂ = |rfft(v)|.

    This is `calculate_ipr(np.abs(np.fft.rfft(v)), r)` of the official code (`d-doshi/Grokking`,
    `utils/data_processing.py`), batched. A zero row (a pruned neuron) has no spectrum; its IPR is defined as 0.

    Args:
        vectors (`torch.Tensor` of shape `(n, length)`): real vectors, one per row (`length` ≥ 2).
        r (`float`, *optional*, defaults to 2): the IPR exponent, `r` > 1/2 (r = 1 gives 1 for every vector).

    Returns:
        `torch.Tensor` of shape `(n,)` (float64).
    """
    if not isinstance(vectors, torch.Tensor):
        raise TypeError(f"vectors must be a torch.Tensor, got {type(vectors).__name__}")
    if vectors.dim() != 2 or vectors.shape[1] < 2:
        raise ValueError(f"vectors must be 2-D (n, length) with length >= 2, got shape {tuple(vectors.shape)}")
    if not vectors.is_floating_point():
        raise TypeError(f"vectors must be a real floating-point tensor, got dtype {vectors.dtype}")
    r = check_number("r", r, low=0.5, low_open=True)
    spectrum = torch.fft.rfft(vectors.detach().double(), dim=1).abs()
    norm = spectrum.square().sum(dim=1, keepdim=True).sqrt()
    ipr = (spectrum / norm.clamp_min(torch.finfo(torch.float64).tiny)).pow(2 * r).sum(dim=1)
    return torch.where(norm.squeeze(1) > 0, ipr, torch.zeros_like(ipr))


@dataclass
class FourierIPR:
    """Per-neuron Fourier IPRs of one hidden layer (returned by [`fourier_ipr`]).

    Attributes:
        ipr (`list[float]`): the neuron's IPR, the mean over its incoming blocks and its outgoing vector.
        ipr_in (`list[list[float]]`): `ipr_in[b][k]`, the IPR of block `b` of neuron k's incoming weights.
        ipr_out (`list[float]`, *optional*): the IPR of neuron k's outgoing weights (None without an output layer).
        dominant_frequency (`list[int]`): the frequency carrying most of neuron k's incoming power, summed over blocks
            (frequency 0 is the mean of the weights).
        r (`float`): the IPR exponent.
        periodic_threshold (`float`): the IPR above which a neuron counts as periodic in `fraction_periodic`.
        mean, median (`float`): of `ipr` (the median is the lower of the two middle values for an even count).
        fraction_periodic (`float`): the fraction of neurons with IPR ≥ `periodic_threshold`.
    """

    ipr: list[float]
    ipr_in: list[list[float]]
    ipr_out: list[float] | None
    dominant_frequency: list[int]
    r: float
    periodic_threshold: float
    mean: float
    median: float
    fraction_periodic: float

    @property
    def num_neurons(self) -> int:
        return len(self.ipr)

    def lowest(self, n: int) -> list[int]:
        """The indices of the `n` neurons of lowest IPR (the memorising ones), lowest first (ties by index)."""
        n = _check_count("n", n, self.num_neurons)
        return torch.tensor(self.ipr, dtype=torch.float64).argsort(stable=True)[:n].tolist()

    def highest(self, n: int) -> list[int]:
        """The indices of the `n` neurons of highest IPR (the most periodic ones), highest first."""
        n = _check_count("n", n, self.num_neurons)
        return torch.tensor(self.ipr, dtype=torch.float64).argsort(descending=True, stable=True)[:n].tolist()

    def save_plot(self, path, *, bins: int = 20, title: str | None = None) -> None:
        """Writes a PNG: the histogram of neuron IPRs and the IPRs sorted (the pruning order)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (hist, ranked) = plt.subplots(1, 2, figsize=(9.0, 3.6))
        hist.hist(self.ipr, bins=bins, range=(0.0, 1.0), color="C3")
        hist.axvline(self.periodic_threshold, color="grey", linestyle="dotted", label="periodic threshold")
        hist.set_xlabel(f"neuron IPR (r = {self.r:g})")
        hist.set_ylabel("# of neurons")
        hist.legend(fontsize=8)
        ranked.plot(sorted(self.ipr), color="C0")
        ranked.set_xlabel("neurons, lowest IPR first (pruning order)")
        ranked.set_ylabel("IPR")
        ranked.set_ylim(0.0, 1.02)
        ranked.grid(alpha=0.3)
        fig.suptitle(
            title
            or f"Fourier IPR of {self.num_neurons} neurons: mean {self.mean:.3f}, "
            f"{self.fraction_periodic:.0%} ≥ {self.periodic_threshold:g}",
            fontsize=9,
        )
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _check_count(name: str, n, total: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an int (a number of neurons), got {type(n).__name__}")
    if not 0 <= n <= total:
        raise ValueError(f"{name} must be in [0, {total}] (the number of hidden neurons), got {n}")
    return int(n)


def resolve_layer(model: nn.Module, layer, name: str) -> nn.Module:
    """`layer` as a module of `model`: a submodule name (`"fc_in"`, `"mlp.fc1"`) or a module; it must hold a 2-D
    `weight` (an `nn.Linear` or anything shaped like one)."""
    if isinstance(layer, str):
        try:
            module = model.get_submodule(layer)
        except AttributeError as error:
            raise ValueError(f"{name} {layer!r} is not a submodule of {type(model).__name__}") from error
    elif isinstance(layer, nn.Module):
        module = layer
    else:
        raise TypeError(f"{name} must be a submodule name or an nn.Module, got {type(layer).__name__}")
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(f"{name} must have a 2-D weight (out_features, in_features), like nn.Linear")
    return module


def hidden_layer_weights(
    model: nn.Module, input_layer="fc_in", output_layer="fc_out", *, input_blocks: int = 2
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """The vectors the IPR is computed on: the input layer's rows cut into `input_blocks` blocks (each `(N, d_in /
    blocks)`), and the output layer's columns as rows (`(N, d_out)`, None without an output layer)."""
    blocks = check_positive_int("input_blocks", input_blocks)
    weight_in = resolve_layer(model, input_layer, "input_layer").weight.detach()
    num_neurons, fan_in = weight_in.shape
    if fan_in % blocks or fan_in // blocks < 2:
        raise ValueError(
            f"input_blocks={blocks} must split the input layer's {fan_in} input features into equal blocks of >= 2"
        )
    rows_in = list(weight_in.split(fan_in // blocks, dim=1))
    rows_out = None
    if output_layer is not None:
        weight_out = resolve_layer(model, output_layer, "output_layer").weight.detach()
        if weight_out.shape[1] != num_neurons:
            raise ValueError(
                f"output_layer reads {weight_out.shape[1]} features but input_layer has {num_neurons} neurons: they "
                "must be the two sides of one hidden layer"
            )
        if weight_out.shape[0] < 2:
            raise ValueError("output_layer must have >= 2 outputs to be Fourier transformed")
        rows_out = weight_out.T
    return rows_in, rows_out


def fourier_ipr(
    model: nn.Module,
    input_layer="fc_in",
    output_layer="fc_out",
    *,
    input_blocks: int = 2,
    r: float = 2.0,
    periodic_threshold: float = 0.5,
) -> FourierIPR:
    r"""Per-neuron Fourier IPR of the hidden layer between `input_layer` and `output_layer`.

    For neuron k with incoming blocks U_k, V_k, … (row k of the input weight, cut into `input_blocks` equal parts) and
    outgoing weights W_k (column k of the output weight),

        IPR(k) = mean(IPR_r(U_k), IPR_r(V_k), …, IPR_r(W_k)),   IPR_r(v) = Σ_j (|rfft(v)|_j / ‖rfft(v)‖₂)^{2r}.

    With the defaults this is the paper's average of the three IPRs of the quadratic network `W₂ (W₁ [e_a; e_b])²`.
    For another model, name the two layers around the hidden units (e.g. `"mlp.fc1"`, `"mlp.fc2"`) and set
    `input_blocks=1` when the inputs are not a concatenation of one-hot codes.

    Args:
        model (`nn.Module`): the model.
        input_layer (`str` or `nn.Module`, *optional*, defaults to `"fc_in"`): the layer into the hidden units
            (weight `(N, d_in)`).
        output_layer (`str`, `nn.Module` or `None`, *optional*, defaults to `"fc_out"`): the layer out of them
            (weight `(d_out, N)`); None uses the incoming weights only.
        input_blocks (`int`, *optional*, defaults to 2): the number of equal blocks of the input features, each
            transformed on its own (2 for the concatenated codes of a and b).
        r (`float`, *optional*, defaults to 2): the IPR exponent.
        periodic_threshold (`float`, *optional*, defaults to 0.5): the IPR at which a neuron counts as periodic in
            `fraction_periodic` (a summary of this library; the paper reads the histograms).

    Returns:
        [`FourierIPR`].
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    periodic_threshold = check_number("periodic_threshold", periodic_threshold, low=0.0, high=1.0)
    rows_in, rows_out = hidden_layer_weights(model, input_layer, output_layer, input_blocks=input_blocks)
    ipr_in = torch.stack([inverse_participation_ratio(rows, r) for rows in rows_in])
    parts = [ipr_in] if rows_out is None else [ipr_in, inverse_participation_ratio(rows_out, r)[None]]
    ipr = torch.cat(parts).mean(dim=0)
    power = sum(torch.fft.rfft(rows.double(), dim=1).abs().square() for rows in rows_in)
    return FourierIPR(
        ipr=ipr.tolist(),
        ipr_in=ipr_in.tolist(),
        ipr_out=None if rows_out is None else parts[1][0].tolist(),
        dominant_frequency=power.argmax(dim=1).tolist(),
        r=float(r),
        periodic_threshold=periodic_threshold,
        mean=float(ipr.mean()),
        median=float(ipr.median()),
        fraction_periodic=float((ipr >= periodic_threshold).double().mean()),
    )


__all__ = ["FourierIPR", "fourier_ipr", "hidden_layer_weights", "inverse_participation_ratio", "resolve_layer"]
