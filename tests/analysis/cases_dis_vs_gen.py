"""The analysis-matrix case of P51 `dis_vs_gen`: a small naive-Bayes vs logistic-regression sample-complexity curve."""

from hf_methods.analysis.dis_vs_gen import gaussian_mixture, sample_complexity_curve
from tests.cases import AnalysisCase


def small_curve(seed: int):
    pool_x, pool_y = gaussian_mixture(20, 3, 40, seed=seed)
    test_x, test_y = gaussian_mixture(20, 3, 100, seed=seed + 1)
    return sample_complexity_curve(pool_x, pool_y, test_x, test_y, [6, 24, 96], repeats=2, seed=seed)


def plot_curve(result, path):
    result.save_plot(path)


ANALYSIS_CASES = [AnalysisCase(name="dis_vs_gen", run=small_curve, plot=plot_curve)]
