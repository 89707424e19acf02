"""The analysis-matrix case of P30 `filter_db`: the 3×3 filter metrics of a tiny ResNet after a few steps on digits."""

import torch

from hf_methods.analysis.filter_db import load_image_data, measure_conv_quality, tiny_resnet_config
from tests.cases import AnalysisCase


def briefly_trained_resnet_quality(seed: int):
    """A width-4 `ResNetForImageClassification` (four 3×3 convs) after 3 Adam steps on 64 digits (16×16), measured."""
    from transformers import ResNetForImageClassification

    data = load_image_data("digits", seed=seed, num_train=64, num_test=16, image_size=16)
    torch.manual_seed(seed)
    model = ResNetForImageClassification(tiny_resnet_config(width=4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        loss = model(pixel_values=data.x_train, labels=data.y_train).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return measure_conv_quality(model)


def plot_quality(result, path):
    result.save_plot(path)


ANALYSIS_CASES = [AnalysisCase(name="filter_db", run=briefly_trained_resnet_quality, plot=plot_quality)]
