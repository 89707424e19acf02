"""The catalogue record of `arphmm` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="arphmm",
    paper_id="P05",
    title=(
        "Autoregressive Hidden Markov Models with partial knowledge on latent space applied to aero-engines "
        "prognostics"
    ),
    arxiv="2105.00211",
    official_code="emmanuelramasso/ARPHMM_RULpred",
    kind="models",
    tags=("hmm", "prognostics", "time-series", "em"),
    entry_points=(
        "hf_methods.models.arphmm:ARPHMMConfig",
        "hf_methods.models.arphmm:ARPHMMModel",
        "hf_methods.models.arphmm:make_run_to_failure",
        "hf_methods.models.arphmm:soft_plausibilities",
    ),
    recipe="recipes/arphmm.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.arphmm.configuration_arphmm:ARPHMMConfig",
        "AutoModel": "hf_methods.models.arphmm.modeling_arphmm:ARPHMMModel",
    },
    claim=(
        "Adding partial knowledge of the states (plausibilities) to an autoregressive HMM improves health-state "
        "estimation and RUL prediction over a plain ARHMM; on synthetic run-to-failure data the check asserts an "
        "exact reduction to the ARHMM when pl≡1, monotone EM, +0.10 state-decoding accuracy and a lower RUL RMSE."
    ),
    venue="PHME 2016",
    usage=(
        "from hf_methods import ARPHMMConfig, ARPHMMModel, make_run_to_failure, soft_plausibilities\n"
        "\n"
        "units = make_run_to_failure(num_sequences=8, seed=0)  # synthetic run-to-failure units (signal, states, rul)\n"
        "seqs = [u.signal for u in units]\n"
        "pls = [soft_plausibilities(u.states, 4, seed=i) for i, u in enumerate(units)]  # (T, 4) priors in [0, 1]\n"
        "m = ARPHMMModel(ARPHMMConfig(n_states=4, ar_order=2)).fit(seqs, plausibilities=pls)  # EM; returns the model\n"
        "m.fit_rul(seqs, [u.rul for u in units], plausibilities=pls)  # per-state RUL regressions\n"
        "gamma = m.posterior_states(seqs[0])  # (T - 2, 4) smoothed state posteriors\n"
        "rul = m.predict_rul(seqs[0])  # online RUL estimates, (T - 2,)"
    ),
    notes=(
        "The official code is MATLAB; CMAPSS is not available offline, so the check uses a synthetic run-to-failure "
        "generator (four left-to-right AR(2) states plus a drift). Deviations: a per-state intercept (switch off "
        "with include_bias=False); EM starts from responsibilities pl · (equal left-to-right segments) instead of a "
        "partially-hidden Gaussian HMM with restarts; the RUL head regresses the RUL on the AR window per state and "
        "mixes with the filtered posterior; the pseudo-count only touches allowed transitions of a left-to-right chain."
    ),
)
