"""The analysis-matrix case of P22 `projection_head`: layer-wise feature gains of a briefly trained linear network."""

import torch

from hf_methods.analysis.projection_head import FeatureWeightingConfig, layerwise_feature_gains, plot_feature_gains
from hf_methods.analysis.projection_head.training import feature_weighting_loss, feature_weighting_setup
from tests.cases import AnalysisCase


def trained_linear_gains(seed: int):
    """Gains of both layers after 30 gradient-descent steps on the spectral contrastive loss (d = 10)."""
    config = FeatureWeightingConfig(num_samples=128, steps=30, learning_rate=0.05, init_scale=0.1)
    generator = torch.Generator().manual_seed(seed)
    setup = feature_weighting_setup(config, generator)
    optimizer = torch.optim.SGD(setup.net.parameters(), lr=config.learning_rate)
    for _ in range(config.steps):
        loss = feature_weighting_loss(setup, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return layerwise_feature_gains(setup.net.layers, setup.directions)


ANALYSIS_CASES = [AnalysisCase(name="projection_head", run=trained_linear_gains, plot=plot_feature_gains)]
