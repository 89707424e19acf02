"""The analysis-matrix cases of P48 `grok_corrupted`: the whole experiment at a tiny size (train with corrupted labels,
IPR, prune, pruning curve) and the Fourier IPR of the trained network on its own."""

from hf_methods.analysis.grok_corrupted import fourier_ipr, train_corrupted
from hf_methods.analysis.grok_corrupted.data import corrupted_modular_arithmetic
from hf_methods.analysis.grok_corrupted.training import run_grok_corrupted
from hf_methods.training.grokking_tickets.training import grokking_mlp
from tests.cases import AnalysisCase


def tiny_experiment(seed: int):
    """p = 11, N = 32, ξ = 0.35: 30 full-batch steps, then the 12 lowest-IPR neurons pruned."""
    return run_grok_corrupted(seed, modulus=11, hidden_size=32, max_steps=30, prune=12, eval_every=10, curve_points=4)


def plot_experiment(result, path) -> None:
    result.curve.save_plot(path)


def trained_ipr(seed: int):
    """Per-neuron Fourier IPRs of the quadratic MLP (p = 13, N = 16) after 20 full-batch steps."""
    model = grokking_mlp(seed, modulus=13, hidden_size=16)
    train_corrupted(model, corrupted_modular_arithmetic(13, 0.5, 0.3, seed=seed), max_steps=20, eval_every=20)
    return fourier_ipr(model)


def plot_ipr(result, path) -> None:
    result.save_plot(path)


ANALYSIS_CASES = [
    AnalysisCase(name="grok_corrupted", run=tiny_experiment, plot=plot_experiment),
    AnalysisCase(name="grok_corrupted-ipr", run=trained_ipr, plot=plot_ipr),
]
