"""`hf_methods.common.mlp`: the config round trip keeps the number of labels."""

import torch

from hf_methods.common.mlp import MLPConfig, MLPForImageClassification


def test_num_labels_survives_save_and_reload(tmp_path):
    from transformers import AutoModelForImageClassification

    model = MLPForImageClassification(MLPConfig(input_size=4, hidden_sizes=[8], num_labels=5))
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path)
    assert loaded.config.num_labels == 5 and loaded.classifier.out_features == 5
    x = torch.rand(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=x).logits, model(pixel_values=x).logits)
    assert MLPConfig().num_labels == 10
