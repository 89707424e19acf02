"""Accuracies on the corrupted and clean training pairs, the pruning curve, and the IPR trace of a training run
(Doshi et al., 2023, Figs. 2-4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .data import CorruptedModularSplit
from .ipr import FourierIPR, fourier_ipr, resolve_layer
from .prune import prune_low_ipr_neurons

SUBSETS = ("train", "corrupted", "clean", "test")


@dataclass
class SplitAccuracy:
    """Top-1 accuracies of a model on a [`CorruptedModularSplit`].

    Attributes:
        train (`float`): on every training pair, against the labels it was trained on.
        corrupted (`float`): on the corrupted training pairs, against their corrupted labels (memorisation).
        clean (`float`): on the uncorrupted training pairs.
        test (`float`): on the held-out pairs (generalisation).
    """

    train: float
    corrupted: float
    clean: float
    test: float


def _check_split(split) -> CorruptedModularSplit:
    if not isinstance(split, CorruptedModularSplit):
        raise TypeError(f"split must be a CorruptedModularSplit (see corrupt_labels), got {type(split).__name__}")
    return split


@torch.no_grad()
def split_accuracies(model: nn.Module, split: CorruptedModularSplit) -> SplitAccuracy:
    """Accuracies of `model(input_ids=...).logits` on the four subsets of `split`, one batch each, in eval mode
    (the training mode is restored). An empty subset (ξ = 0 has no corrupted pair) scores NaN.

    Args:
        model (`nn.Module`): a modular-arithmetic classifier taking `input_ids` of shape `(n, 2)`.
        split ([`CorruptedModularSplit`]): the data.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    split = _check_split(split)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    scores = {}
    for name, (x, y) in split.subsets().items():
        if len(y) == 0:
            scores[name] = float("nan")
            continue
        logits = model(input_ids=x.to(device)).logits
        scores[name] = (logits.argmax(dim=-1).cpu() == y).double().mean().item()
    model.train(was_training)
    return SplitAccuracy(**scores)


@dataclass
class PruningCurve:
    """Accuracies after removing the `counts[i]` lowest-IPR neurons (or highest, `highest=True`), one list per subset
    of [`SplitAccuracy`], and the corruption level ξ for the 100(1 − ξ)% line of the plot."""

    counts: list[int]
    num_neurons: int
    noise: float
    highest: bool
    train: list[float] = field(default_factory=list)
    corrupted: list[float] = field(default_factory=list)
    clean: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)

    def save_plot(self, path, *, title: str | None = None) -> None:
        """Writes a PNG: accuracy on each subset against the fraction of neurons pruned (the paper's Fig. 4)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        fractions = [c / self.num_neurons for c in self.counts]
        styles = {"train": ("C0", "-"), "test": ("C1", "-"), "corrupted": ("C3", "--"), "clean": ("C2", "--")}
        for name in SUBSETS:
            color, style = styles[name]
            ax.plot(fractions, [100 * a for a in getattr(self, name)], color=color, linestyle=style, label=name)
        ax.axhline(100 * (1 - self.noise), color="grey", linestyle="dotted", label="100(1 − ξ)%")
        order = "highest" if self.highest else "lowest"
        ax.set_xlabel(f"fraction of neurons pruned ({order} IPR first)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(title or f"Pruning by Fourier IPR (ξ = {self.noise:g})", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def pruning_curve(
    model: nn.Module,
    split: CorruptedModularSplit,
    counts=None,
    *,
    ipr: FourierIPR | None = None,
    input_layer="fc_in",
    output_layer="fc_out",
    input_blocks: int = 2,
    highest: bool = False,
) -> PruningCurve:
    """Accuracies of copies of `model` with its `n` lowest-IPR (or highest-IPR) neurons removed, for each `n` in
    `counts` (default: 0, N/20, …, N). `model` is left untouched.

    Args:
        model (`nn.Module`): the trained model.
        split ([`CorruptedModularSplit`]): the data.
        counts (`Sequence[int]`, *optional*): numbers of neurons to prune, each in `[0, N]`.
        ipr ([`FourierIPR`], *optional*): precomputed IPRs of `model`.
        input_layer, output_layer, input_blocks: as in [`fourier_ipr`].
        highest (`bool`): prune the most periodic neurons first (the paper's control).
    """
    split = _check_split(split)
    num_neurons = resolve_layer(model, input_layer, "input_layer").weight.shape[0]
    if counts is None:
        step = max(1, num_neurons // 20)
        counts = sorted(set(range(0, num_neurons + 1, step)) | {num_neurons})
    if isinstance(counts, (str, bytes)) or not hasattr(counts, "__iter__"):
        raise TypeError(f"counts must be a sequence of neuron counts, got {type(counts).__name__}")
    counts = list(counts)
    if not counts:
        raise ValueError("counts must name at least one number of neurons to prune")
    if ipr is None:
        ipr = fourier_ipr(model, input_layer, output_layer, input_blocks=input_blocks)
    curve = PruningCurve(counts=[], num_neurons=num_neurons, noise=split.noise, highest=bool(highest))
    for n in counts:
        pruned = prune_low_ipr_neurons(
            model, n, ipr=ipr, input_layer=input_layer, output_layer=output_layer, highest=highest
        )
        scores = split_accuracies(pruned, split)
        curve.counts.append(int(n))
        for name in SUBSETS:
            getattr(curve, name).append(getattr(scores, name))
    return curve


@dataclass
class IPRTrace:
    """IPR statistics (and, with a split, accuracies) measured along training, by [`IPRCallback`] or the full-batch
    loop of `training.py`.

    Attributes:
        steps (`list[int]`): the optimisation steps measured (0 is the initial model).
        mean_ipr, median_ipr, fraction_periodic (`list[float]`): the statistics of [`FourierIPR`] at each step.
        histograms (`list[list[int]]`): neuron counts in `bins` equal IPR bins over [0, 1] at each step.
        accuracy (`dict[str, list[float]]`): `{"train", "corrupted", "clean", "test"}` at each step (empty without a
            split).
        noise (`float`, *optional*): ξ of the split.
    """

    steps: list[int] = field(default_factory=list)
    mean_ipr: list[float] = field(default_factory=list)
    median_ipr: list[float] = field(default_factory=list)
    fraction_periodic: list[float] = field(default_factory=list)
    histograms: list[list[int]] = field(default_factory=list)
    accuracy: dict[str, list[float]] = field(default_factory=dict)
    noise: float | None = None
    bins: int = 20

    def measure(
        self,
        model: nn.Module,
        step: int,
        split: CorruptedModularSplit | None = None,
        **ipr_kwargs,
    ) -> dict[str, float]:
        """Appends the IPR statistics of `model` (and its accuracies on `split`) at `step`; returns them flat."""
        ipr = fourier_ipr(model, **ipr_kwargs)
        self.steps.append(int(step))
        self.mean_ipr.append(ipr.mean)
        self.median_ipr.append(ipr.median)
        self.fraction_periodic.append(ipr.fraction_periodic)
        self.histograms.append(torch.histc(torch.tensor(ipr.ipr), bins=self.bins, min=0.0, max=1.0).long().tolist())
        logs = {"ipr/mean": ipr.mean, "ipr/median": ipr.median, "ipr/fraction_periodic": ipr.fraction_periodic}
        if split is not None:
            self.noise = split.noise
            scores = split_accuracies(model, split)
            for name in SUBSETS:
                self.accuracy.setdefault(name, []).append(getattr(scores, name))
                logs[f"accuracy/{name}"] = getattr(scores, name)
        return logs

    def save_plot(self, path, *, title: str | None = None) -> None:
        """Writes a PNG: the accuracies (left axis) and the mean neuron IPR (right axis) against the step (the
        paper's Figs. 2 and 5)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        styles = {"train": ("C0", "-"), "test": ("C1", "-"), "corrupted": ("C3", "--"), "clean": ("C2", "--")}
        for name, values in self.accuracy.items():
            color, style = styles.get(name, ("black", "-"))
            ax.plot(self.steps, [100 * v for v in values], color=color, linestyle=style, label=f"{name} accuracy")
        if self.noise is not None:
            ax.axhline(100 * (1 - self.noise), color="grey", linestyle="dotted", label="100(1 − ξ)%")
        ax.set_xlabel("step")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(self.steps, self.mean_ipr, color="C4", label="mean IPR")
        twin.set_ylabel("mean neuron IPR")
        twin.set_ylim(0.0, 1.02)
        lines = ax.get_legend_handles_labels()
        twin_lines = twin.get_legend_handles_labels()
        ax.legend(lines[0] + twin_lines[0], lines[1] + twin_lines[1], fontsize=7, loc="center right")
        ax.set_title(title or "Accuracies and Fourier IPR during training", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


__all__ = ["SUBSETS", "IPRTrace", "PruningCurve", "SplitAccuracy", "pruning_curve", "split_accuracies"]
