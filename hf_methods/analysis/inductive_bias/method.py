"""The catalogue record of `inductive_bias` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="inductive_bias",
    paper_id="P25",
    title="Towards Exact Computation of Inductive Bias",
    arxiv="2406.15941",
    official_code="FieteLab/Exact-Inductive-Bias",
    kind="analysis",
    tags=("inductive-bias", "generalization", "information-theory"),
    entry_points=(
        "hf_methods.analysis.inductive_bias:inductive_bias_kernel",
        "hf_methods.analysis.inductive_bias:inductive_bias_models",
        "hf_methods.analysis.inductive_bias:inductive_bias_from_errors",
        "hf_methods.analysis.inductive_bias:fit_error_distribution",
        "hf_methods.analysis.inductive_bias:gp_posterior_errors",
        "hf_methods.analysis.inductive_bias:model_errors",
    ),
    recipe="recipes/inductive_bias.py",
    claim=(
        "Inductive bias can be estimated directly as −log P(error ≤ ε) from a non-central χ² fitted to sampled "
        "hypotheses, more data needs less of it, higher-dimensional tasks need more and CNNs encode more than MLPs; "
        "the check recovers a known χ²'s value within 5% and asserts these orderings on digits and iris."
    ),
    venue="IJCAI 2024",
    usage=(
        "from hf_methods import inductive_bias_kernel\n"
        "from hf_methods.common.data import load_digits\n"
        "\n"
        "train, test = load_digits()\n"
        "ib = inductive_bias_kernel(train.x[:200], train.y[:200], test.x[:100], test.y[:100], target_error=0.035,\n"
        "                           n_samples=2000, sigma=3.0)\n"
        "print(f'{ib.bits:.1f} bits ({ib.method})')  # −log2 P(err ≤ ε) under the RBF-GP hypothesis space"
    ),
    notes=(
        "Re-implemented from the paper and the official code, which does not run as published (a syntax error, a "
        "stray breakpoint). The GP posterior uses exact Cholesky solves and a symmetric square root instead of the "
        "official Adam solves; the deep-tail fallback keeps the official Sankaran normal approximation but returns "
        "−log Φ(z) (scipy's log_ndtr) rather than its leading term z²/2. Any `nn.Module` factory defines a model "
        "space (`inductive_bias_models`). Claim outcome: 3 of 6 rules held — the fitted value is within 1.4% of the "
        "truth at the 1% quantile; I(ε) falls with ε; digits with 400 training points need 1.4–2.1 nats against "
        "118–147 with 100. Not held: the Sankaran fallback is 16% low at the 1e-12 quantile (23.2 vs 27.6 nats; a "
        "property of the approximation); iris on 2 principal components needed more inductive bias than 64-d "
        "digits at 0.8x each task's median error (15–32 vs 5.3–5.7 nats: with 100 points in 2-d the GP posterior "
        "is nearly deterministic, so errors concentrate and the relative target lies far in the tail — a fair test "
        "varies the input dimension of one task family at a fixed absolute error, as the paper does); and the "
        "6k-parameter CNN needed more than the same-size MLP (0.64–1.15 vs 0.48–0.77 nats at the MLP's median "
        "error) because 3 epochs of Adam leave the CNN slightly behind (test MSE 0.036 vs 0.034) — the paper trains "
        "to convergence."
    ),
)
