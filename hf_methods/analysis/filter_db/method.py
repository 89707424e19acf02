"""The catalogue record of `filter_db` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="filter_db",
    paper_id="P30",
    title="CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters",
    arxiv="2203.15331",
    official_code="paulgavrikov/CNN-Filter-DB",
    kind="analysis",
    tags=("cnn", "filters", "distribution-shift", "model-quality"),
    entry_points=(
        "hf_methods.analysis.filter_db:measure_conv_quality",
        "hf_methods.analysis.filter_db:ConvQuality",
        "hf_methods.analysis.filter_db:LayerQuality",
        "hf_methods.analysis.filter_db:filter_distribution_shift",
        "hf_methods.analysis.filter_db:FilterShift",
        "hf_methods.analysis.filter_db:fit_filter_basis",
        "hf_methods.analysis.filter_db:FilterQualityCallback",
    ),
    recipe="recipes/filter_db.py",
    claim=(
        "Trained 3×3 filter distributions shift little across datasets but vary with depth, and over-parameterised "
        "models carry degenerate filters (low variance entropy, high sparsity); the check asserts the metrics on "
        "constructed layers (Kaiming-random, copies of one filter, 40% zero filters), that tiny ResNets trained on "
        "Fashion-MNIST and digits lose ≥ 0.05 normalised variance entropy against their random initialisation, that "
        "a 4× wider model's deepest conv is ≥ 0.05 more degenerate, and that seed-to-seed and dataset-to-dataset "
        "PCA-KL shifts of the first layer are smaller than its shift to the last layer."
    ),
    venue="CVPR 2022",
    usage=(
        "import torch\n"
        "from transformers import ResNetConfig, ResNetForImageClassification\n"
        "from hf_methods.analysis.filter_db import (\n"
        "    FilterQualityCallback, filter_distribution_shift, measure_conv_quality)\n"
        "config = ResNetConfig(num_channels=1, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],\n"
        "                      layer_type='basic', num_labels=10)\n"
        "torch.manual_seed(0)\n"
        "model = ResNetForImageClassification(config)\n"
        "quality = measure_conv_quality(model)      # one LayerQuality per 3x3 conv (7x7 stem, 1x1 shortcut skipped)\n"
        "print(quality.values('variance_entropy_norm'))  # ~1.0 at random initialisation\n"
        "quality.save_plot('filter_quality.png')\n"
        "first = model.resnet.encoder.stages[0].layers[0].layer[0].convolution.weight\n"
        "# D = sum_i rho_i * symmetric KL of PCA-coefficient histograms, both sets cut to 64 filters\n"
        "shift = filter_distribution_shift(first, model, sample_size=64)\n"
        "callback = FilterQualityCallback(every_n_steps=50)  # Trainer(..., callbacks=[callback]); callback.save_plot(...)"
    ),
    notes=(
        "The metrics follow the authors' torchconvquality library (1% relative sparsity threshold, base-10 variance "
        "entropy normalised by their random-initialisation fit) except orthogonality, which averages |cos| over "
        "distinct output-filter pairs only (the library also counts each all-zero output filter's diagonal as 1). "
        "The shift follows the CNN-Filter-DB notebook (peak scaling, 9-component PCA, 70-bin density histograms with "
        "a float32-epsilon floor, symmetric KL weighted by explained-variance ratio); `sample_size` cuts every set "
        "to the same size, since the histogram KL estimate is biased by about (bins − 1)/N per set and the paper's "
        "groups hold millions of filters. The 1.4-billion-filter database itself (an HDF5 download) is not used: "
        "the tools measure the models you give them."
    ),
)
