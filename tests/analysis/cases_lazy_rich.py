"""The analysis-matrix case of P26 `lazy_rich`: a short polynomial-regression run (curves and grokking measurement)."""

from hf_methods.analysis.lazy_rich import GrokkingConfig, run_polynomial_grokking
from tests.cases import AnalysisCase

TINY = GrokkingConfig(
    input_dim=8, num_train=30, num_test=40, width=16, epsilon=0.5, steps=60, eval_every=10, ntk_every=30, num_probe=20
)


def tiny_polynomial_run(seed: int):
    return run_polynomial_grokking(TINY, seed)


def plot(result, path):
    result.save_plot(path)


ANALYSIS_CASES = [AnalysisCase(name="lazy_rich", run=tiny_polynomial_run, plot=plot)]
