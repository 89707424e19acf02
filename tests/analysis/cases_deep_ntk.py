"""The analysis-matrix cases of P29 `deep_ntk`: the depth-limit agreement of NTK classifiers on seeded clusters on
the sphere, and the empirical NTK of narrow ReLU networks against the closed form."""

import numpy as np

from hf_methods.analysis.deep_ntk import (
    depth_limit_agreement,
    empirical_ntk_convergence,
    plot_depth_limits,
    plot_width_convergence,
)
from tests.cases import AnalysisCase


def _sphere_clusters(seed: int, n: int = 48, d: int = 6, classes: int = 3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    y = rng.integers(0, classes, size=n)
    x = centres[y] + 0.7 * rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


def relu_depth_limits(seed: int):
    """ReLU NTK classifiers of depths 1–200 on 32 training / 16 test points: agreement with the three limits."""
    x, y = _sphere_clusters(seed)
    return depth_limit_agreement(
        x[:32], y[:32], x[32:], y[32:], depths=[1, 10, 200], activation="relu", alphas=[1.0, 2.0, 5.0, 10.0]
    )


def relu_width_convergence(seed: int):
    """Empirical NTK of one-hidden-layer ReLU networks of widths 16 and 256 against the closed form (6 points)."""
    x, _ = _sphere_clusters(seed, n=6)
    return empirical_ntk_convergence(x, widths=[16, 256], depth=1, activation="relu", seeds=[seed])


ANALYSIS_CASES = [
    AnalysisCase(name="deep_ntk", run=relu_depth_limits, plot=plot_depth_limits),
    AnalysisCase(name="deep_ntk-width", run=relu_width_convergence, plot=plot_width_convergence),
]
