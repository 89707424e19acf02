"""The analysis-matrix case of P36 `unsup_pretraining`: a small excess-risk curve on the factor model."""

from hf_methods.analysis.unsup_pretraining import excess_risk_curve, factor_model
from tests.cases import AnalysisCase


def small_curve(seed: int):
    return excess_risk_curve(factor_model(30, 3, seed=seed), [10, 40], m=300, repeats=2, n_test=200, seed=seed)


def plot_curve(result, path):
    result.save_plot(path)


ANALYSIS_CASES = [AnalysisCase(name="unsup_pretraining", run=small_curve, plot=plot_curve)]
