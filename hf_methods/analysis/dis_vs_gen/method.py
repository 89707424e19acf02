"""The catalogue record of `dis_vs_gen` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="dis_vs_gen",
    paper_id="P51",
    title="Revisiting Discriminative vs. Generative Classifiers: Theory and Implications",
    arxiv="2302.02334",
    official_code="ML-GSAI/Revisiting-Dis-vs-Gen-Classifiers",
    kind="analysis",
    tags=("naive-bayes", "linear-probe", "sample-complexity"),
    entry_points=(
        "hf_methods.analysis.dis_vs_gen:GaussianNBHead",
        "hf_methods.analysis.dis_vs_gen:linear_eval",
        "hf_methods.analysis.dis_vs_gen:sample_complexity_curve",
        "hf_methods.analysis.dis_vs_gen:samples_to_reach",
        "hf_methods.analysis.dis_vs_gen:extract_features",
        "hf_methods.analysis.dis_vs_gen:gaussian_mixture",
    ),
    recipe="recipes/dis_vs_gen.py",
    claim=(
        "Naive Bayes needs O(log n) samples versus O(n) for logistic regression to approach its asymptotic error, "
        "so a Gaussian NB linear-eval head converges faster; on the paper's easy Gaussian mixture (n = 100, K = 3) "
        "the check asserts NB error ≤0.02 by m=36 while logistic regression is still ≥0.2 at m=144, and across "
        "n = 25…200 a log-log slope of the samples needed ≥0.7 for logistic regression and ≤0.4 for NB."
    ),
    venue="ICML 2023",
    usage=(
        "from hf_methods import GaussianNBHead, gaussian_mixture, sample_complexity_curve\n"
        "\n"
        "feats, labels = gaussian_mixture(100, 3, 200, seed=0)  # or extract_features(model, inputs) of any model\n"
        "test_feats, test_labels = gaussian_mixture(100, 3, 300, seed=1)\n"
        "head = GaussianNBHead(num_features=100, num_labels=3).fit(feats, labels)  # one pass, no SGD\n"
        "logits = head(test_feats)\n"
        "classifier = head.to_linear()  # the same decision rule as an nn.Linear head\n"
        "curve = sample_complexity_curve(feats, labels, test_feats, test_labels, [9, 36, 144, 576], repeats=2)\n"
        "print(curve.mean_error)  # {'naive_bayes': [...], 'logistic_regression': [...]}"
    ),
    notes=(
        "Naive Bayes follows the official `models/gaussnb.py`: per-class population variances plus 1e-9, pooled by "
        "the class priors (a linear classifier); the statistics are kept as counts, sums and sums of squares in "
        "float64 so shard fits merge exactly. Logistic regression is scikit-learn's L-BFGS with C = 1 as in the "
        "official code. The simulation draws balanced classes as the official generator does. Claim outcome: 3 of 5 "
        "rules held — NB error 0.002 at m = 36; NB needs fewer samples than LR at every n; NB's samples-to-0.05 "
        "does not grow with n (48, 12, 12, 12 for n = 25, 50, 100, 200) — and 2 did not: LR error at m = 144 was "
        "0.188 (bar 0.2; a prototype had 0.232), and LR's samples-to-0.05 grew as n^0.40 (192, 192, 384, 384), "
        "below the 0.7 bar. The fixed 0.05 target is the likely culprit: in this mixture the asymptotic error "
        "itself falls with n (0.02 at n = 25, 0 at n ≥ 100), so the smallest n reaches the target late for both "
        "heads. A fair test measures m* against each n's own asymptotic error (or uses a mixture whose Bayes error "
        "does not depend on n) over a wider range of n."
    ),
)
