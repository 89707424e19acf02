"""The analysis-matrix case of P25 `inductive_bias`: the RBF-GP hypothesis space on a small digits task."""

import numpy as np

from hf_methods.analysis.inductive_bias import inductive_bias_kernel
from hf_methods.common.data import load_digits
from tests.cases import AnalysisCase


def small_kernel_estimate(seed: int):
    train, test = load_digits(seed=seed)
    x, y, xt, yt = train.x[:60], train.y[:60], test.x[:30], test.y[:30]
    probe = inductive_bias_kernel(x, y, xt, yt, target_error=1.0, n_samples=300, sigma=3.0, seed=seed)
    eps = float(np.quantile(probe.errors, 0.05))
    return inductive_bias_kernel(x, y, xt, yt, target_error=eps, n_samples=300, sigma=3.0, seed=seed)


def plot_estimate(result, path):
    result.save_plot(path)


ANALYSIS_CASES = [AnalysisCase(name="inductive_bias", run=small_kernel_estimate, plot=plot_estimate)]
