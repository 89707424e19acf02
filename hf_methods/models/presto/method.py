"""The catalogue record of `presto` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="presto",
    paper_id="P40",
    title="Predicting Rare Events by Shrinking Towards Proportional Odds",
    arxiv="2305.18700",
    official_code="gregfaletto/presto",
    kind="models",
    tags=("ordinal-regression", "rare-events", "sparsity"),
    entry_points=(
        "hf_methods.models.presto:PrestoConfig",
        "hf_methods.models.presto:PrestoForOrdinalClassification",
        "hf_methods.models.presto:PrestoFISTA",
        "hf_methods.models.presto:ProximalL1Callback",
        "hf_methods.models.presto:presto_cv",
    ),
    recipe="recipes/presto.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.presto.configuration_presto:PrestoConfig",
        "AutoModel": "hf_methods.models.presto.modeling_presto:PrestoForOrdinalClassification",
    },
    claim=(
        "Shrinking cumulative-logit slopes towards proportional odds with an L1 penalty on adjacent differences "
        "estimates rare-class probabilities better than logistic regression and proportional odds; on the paper's "
        "sparse-difference simulation the check asserts PRESTO's rare-class MSE ≤0.9x the better baseline and a "
        "win in ≥60% of repetitions."
    ),
    venue="ICML 2023",
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import PrestoConfig, PrestoFISTA, PrestoForOrdinalClassification\n"
        "\n"
        "X = torch.randn(500, 10)\n"
        "y = (torch.rand(500, 1) > torch.sigmoid(torch.tensor([0.0, 2.0, 4.0]) + X[:, :1])).sum(1)  # 4 ordered classes\n"
        "m = PrestoForOrdinalClassification(PrestoConfig(n_features=10, num_classes=4, l1_lambda=0.01))\n"
        "PrestoFISTA(m, lam=0.01).fit(X, y)  # or m.fit(X, y): FISTA on NLL + λ‖ψ‖₁, returns the model\n"
        "probs = m(X).probs  # (500, 4); probs[:, -1] is the rare last class"
    ),
    notes=(
        "The official code is R (ordinalNet); this is a torch FISTA port with backtracking (points whose boundaries "
        "cross at a training sample are rejected by the line search). ψ_1 = β_1 is penalised by default, as in the "
        "official ordinalNet reparameterisation (`penalize_first_slope=False` leaves it free). λ is chosen by "
        "k-fold CV of the multi-class Brier score over a log-spaced path from λ_max (computed at the intercept-only "
        "fit) with warm starts. Crossed boundaries are reported (`crossed` output) and `predict_proba` raises; "
        "probabilities are never clipped. The simulation follows the official generator (x ~ U[-1, 1]^p, sparse "
        "first slope, random-sign deviations at every boundary, crossed draws rejected). The model takes raw features "
        "only (no encoder)."
    ),
)
