"""Pruning hidden neurons by their Fourier IPR (Doshi et al., 2023, Sec. 3, Fig. 4): the memorising neurons have the
lowest IPR, and zeroing them removes the memorisation of corrupted labels while the periodic neurons keep
generalising. Every function here returns a new model; the model given is left untouched."""

from __future__ import annotations

import copy
import numbers

import torch
from torch import nn

from .ipr import FourierIPR, _check_count, fourier_ipr, resolve_layer


def prune_neurons(model: nn.Module, neurons, input_layer="fc_in", output_layer="fc_out") -> nn.Module:
    """A copy of `model` with the given hidden neurons removed: their incoming weights (rows of the input layer, and
    their bias entries when it has one) and their outgoing weights (columns of the output layer) are zeroed.

    With an output layer the neurons contribute nothing whatever the activation; without one (`output_layer=None`)
    their pre-activation is 0, which removes them only when the activation maps 0 to 0 (z², ReLU, GELU).

    Args:
        model (`nn.Module`): the model (not modified).
        neurons (`Sequence[int]`): indices of hidden neurons, in `[0, N)`.
        input_layer, output_layer: as in [`fourier_ipr`] (names or modules of `model`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(neurons, (str, bytes)) or not hasattr(neurons, "__iter__"):
        raise TypeError(f"neurons must be a sequence of neuron indices, got {type(neurons).__name__}")
    neurons = list(neurons)
    num_neurons = resolve_layer(model, input_layer, "input_layer").weight.shape[0]
    for index in neurons:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"neurons must hold integer indices, got {index!r}")
        if not 0 <= index < num_neurons:
            raise ValueError(f"neurons must lie in [0, {num_neurons}) (the hidden neurons), got {index}")
    # resolve module arguments to names, so the copy's own layers are the ones edited
    names = {id(module): name for name, module in model.named_modules()}
    layer_names = []
    for arg, layer in (("input_layer", input_layer), ("output_layer", output_layer)):
        if isinstance(layer, nn.Module):
            if id(layer) not in names:
                raise ValueError(f"{arg} is not a submodule of the model")
            layer = names[id(layer)]
        layer_names.append(layer)
    pruned = copy.deepcopy(model)
    index = torch.tensor(neurons, dtype=torch.long)
    with torch.no_grad():
        layer_in = resolve_layer(pruned, layer_names[0], "input_layer")
        layer_in.weight[index] = 0
        if getattr(layer_in, "bias", None) is not None:
            layer_in.bias[index] = 0
        if layer_names[1] is not None:
            layer_out = resolve_layer(pruned, layer_names[1], "output_layer")
            if layer_out.weight.shape[1] != num_neurons:
                raise ValueError(
                    f"output_layer reads {layer_out.weight.shape[1]} features but input_layer has {num_neurons} neurons"
                )
            layer_out.weight[:, index] = 0
    return pruned


def prune_low_ipr_neurons(
    model: nn.Module,
    n: int,
    *,
    ipr: FourierIPR | None = None,
    input_layer="fc_in",
    output_layer="fc_out",
    input_blocks: int = 2,
    r: float = 2.0,
    highest: bool = False,
) -> nn.Module:
    """A copy of `model` without its `n` lowest-IPR hidden neurons (the paper's pruning of memorising neurons); with
    `highest=True`, without its `n` highest-IPR neurons instead (the paper's control, which destroys generalisation).

    Neurons are ranked by the mean Fourier IPR of [`fourier_ipr`] (ties by index) and removed with
    [`prune_neurons`], as the official notebook does (`net.fc1.weight[sorted[:n]] = 0; net.fc2.weight[:, sorted[:n]]
    = 0`).

    Args:
        model (`nn.Module`): the trained model (not modified).
        n (`int`): the number of neurons to remove, in `[0, N]`.
        ipr ([`FourierIPR`], *optional*): precomputed IPRs of `model` (computed when omitted).
        input_layer, output_layer, input_blocks, r: as in [`fourier_ipr`].
        highest (`bool`, *optional*, defaults to `False`): remove the most periodic neurons instead.
    """
    if ipr is None:
        ipr = fourier_ipr(model, input_layer, output_layer, input_blocks=input_blocks, r=r)
    elif not isinstance(ipr, FourierIPR):
        raise TypeError(f"ipr must be a FourierIPR (from fourier_ipr), got {type(ipr).__name__}")
    num_neurons = resolve_layer(model, input_layer, "input_layer").weight.shape[0]
    if ipr.num_neurons != num_neurons:
        raise ValueError(f"ipr has {ipr.num_neurons} neurons but the model's input_layer has {num_neurons}")
    n = _check_count("n", n, num_neurons)
    order = ipr.highest(n) if highest else ipr.lowest(n)
    return prune_neurons(model, order, input_layer, output_layer)


__all__ = ["prune_low_ipr_neurons", "prune_neurons"]
