"""The catalogue record of `projection_head` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="projection_head",
    paper_id="P22",
    title="Investigating the Benefits of Projection Head for Representation Learning",
    arxiv="2403.11391",
    official_code=None,
    kind="analysis",
    tags=("representation-learning", "contrastive", "projection-head"),
    entry_points=(
        "hf_methods.analysis.projection_head:layerwise_feature_gains",
        "hf_methods.analysis.projection_head:LayerwiseFeatureGains",
        "hf_methods.analysis.projection_head:FixedReweightProjectionHead",
        "hf_methods.analysis.projection_head:ProjectionHeadModel",
        "hf_methods.analysis.projection_head:spectral_contrastive_loss",
        "hf_methods.analysis.projection_head:linear_probe_accuracy",
        "hf_methods.analysis.projection_head:run_feature_weighting",
    ),
    recipe="recipes/projection_head.py",
    claim=(
        "Contrastive training by gradient descent weights features more unequally in deeper layers (two balanced "
        "linear layers square the first layer's gains), so the representation before the projection head keeps "
        "features that are weak or disrupted by augmentation in pretraining; the check asserts the end-to-end "
        "log gain ratio is at least 1.8 times layer 1's and a logistic probe on pre-projection features beats "
        "post-projection by 0.05 on a label set by the weakest feature, and records the κ-head's worst-group "
        "effect on digits with a spurious pixel (soft, under no rule)."
    ),
    venue="ICLR 2024",
    usage=(
        "import torch\n"
        "from torch import nn\n"
        "from hf_methods.analysis.projection_head import (\n"
        "    FixedReweightProjectionHead, ProjectionHeadModel, layerwise_feature_gains)\n"
        "encoder = nn.Sequential(nn.Linear(10, 10, bias=False), nn.Linear(10, 10, bias=False))\n"
        "E = torch.eye(10)                                           # one feature direction per row\n"
        "gains = layerwise_feature_gains(encoder, feature_dirs=E)    # gains.g1, gains.g2, log_ratios, exponents\n"
        "head = FixedReweightProjectionHead(dim=64, kappa=2.0)       # z = h * kappa**-i, fixed\n"
        "model = ProjectionHeadModel(nn.Linear(64, 64), head)        # train on model(x, 'post'), use model(x, 'pre')"
    ),
    notes=(
        "The official repository was not identified with certainty; the κ-head follows a public SpuCo-based file "
        "(weights κ^{-i}, not trainable). The linear experiment starts from N(0, 0.05²) weights, not the paper's "
        "1e-3 scale: the spectral contrastive loss is quartic in two layers' weights and does not leave the origin in "
        "2000 steps from 1e-3. Probes are scikit-learn logistic regressions on RMS-normalised features."
    ),
)
