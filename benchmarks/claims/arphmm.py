"""Claim of P05 (Juesas, Ramasso, Drujont, Placet, PHME 2016): partial knowledge of the latent states helps an ARHMM.

Paper: on CMAPSS turbofan data, an autoregressive HMM whose EM integrates per-step plausibilities of the degradation
states (the autoregressive partially-hidden Markov model, ARPHMM) estimates the health state and the remaining useful
life (RUL) better than the plain ARHMM. CMAPSS cannot be obtained offline, so this check uses synthetic run-to-failure
units (`hf_methods.models.arphmm.data.make_run_to_failure`): four left-to-right states with their own AR(2) dynamics
and close levels, plus a slow drift. The thresholds are this project's CPU check, not figures from the paper.

Per seed (0..4): 20 training units of life 150..250, 10 held-out units (seed + 1000); soft plausibilities on the
training units: 1 for the true state, U(0.1, 0.5) for the others, 30% of the steps fully unknown (pl ≡ 1). Both
models: 4 states, AR order 2, left-to-right, intercept per state, EM from the same deterministic start, at most 100
iterations, relative tolerance 1e-4, pseudo-count 1e-5. The held-out units are decoded without any prior.

Rules (fixed before the first run):
1. pl ≡ 1 reduces to the plain ARHMM: fitting with all-ones plausibilities and without plausibilities gives
   parameters and log-likelihood equal to 1e-8 (max over seeds);
2. EM is monotone: the smallest log-likelihood increase between EM iterations, over seeds and both models, ≥ −1e-6;
3. state-decoding accuracy on held-out units (argmax γ): ARPHMM ≥ ARHMM + 0.10 (mean paired difference over seeds);
4. online RUL RMSE on held-out units: ARPHMM < ARHMM (mean paired difference ≤ 0).

Run: `python benchmarks/claims/arphmm.py [--smoke]` (well under a minute); writes `benchmarks/results/arphmm.json`
and `benchmarks/results/arphmm-em.png`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.models.arphmm.configuration_arphmm import ARPHMMConfig
from hf_methods.models.arphmm.modeling_arphmm import ARPHMMModel
from hf_methods.models.arphmm.training import fit_and_evaluate, make_units

CLAIM = Claim(
    slug="arphmm",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "num_train": 20,
        "num_test": 10,
        "min_length": 150,
        "max_length": 250,
        "test_seed_offset": 1000,
        "unknown_fraction": 0.3,
        "other_state_plausibility": [0.1, 0.5],
        "n_states": 4,
        "ar_order": 2,
        "left_to_right": True,
        "include_bias": True,
        "prior_count": 1e-5,
        "max_iter": 100,
        "tol": 1e-4,
        "decoding": "argmax of smoothed γ on held-out units, no prior",
        "rul": "online: filtered posterior mixture of per-state RUL regressions on the AR window",
    },
    smoke={"num_train": 4, "num_test": 2, "max_iter": 5},
    rules=[
        Threshold(
            "pl ≡ 1 equals the ARHMM: max parameter difference", "max_parameter_difference", "pl≡1 vs none", "<", 1e-8
        ),
        Threshold(
            "pl ≡ 1 equals the ARHMM: log-likelihood difference",
            "log_likelihood_difference",
            "pl≡1 vs none",
            "<",
            1e-8,
        ),
        Threshold("EM log-likelihood is monotone", "min_log_likelihood_increase", "EM (both models)", ">=", -1e-6),
        Compare("state decoding: ARPHMM ≥ ARHMM + 0.10", "state_accuracy", "ARPHMM", "ARHMM", margin=0.10),
        Compare("RUL RMSE: ARPHMM < ARHMM", "rul_rmse", "ARPHMM", "ARHMM", margin=0.0, higher_is_better=False),
    ],
)


def _config(s) -> ARPHMMConfig:
    return ARPHMMConfig(
        n_states=s["n_states"],
        ar_order=s["ar_order"],
        left_to_right=s["left_to_right"],
        include_bias=s["include_bias"],
        prior_count=s["prior_count"],
    )


def one_seed(seed: int, s: dict) -> dict:
    train, pls = make_units(s["num_train"], s["min_length"], s["max_length"], s["unknown_fraction"], seed=seed)
    test, _ = make_units(s["num_test"], s["min_length"], s["max_length"], 0.0, seed=seed + s["test_seed_offset"])
    config = _config(s)
    plain, plain_model = fit_and_evaluate(config, train, None, test, max_iter=s["max_iter"], tol=s["tol"])
    partial, _ = fit_and_evaluate(config, train, pls, test, max_iter=s["max_iter"], tol=s["tol"])
    ones = [torch.ones(len(u.signal), s["n_states"], dtype=torch.float64) for u in train]
    ones_model = ARPHMMModel(config).fit([u.signal for u in train], ones, max_iter=s["max_iter"], tol=s["tol"])
    diffs = []
    for key, a in plain_model.state_dict().items():
        if key == "rul_coefficients":  # the RUL head is fitted after EM, on the plain model only
            continue
        b = ones_model.state_dict()[key]
        same_inf = torch.isinf(a) & torch.isinf(b) & (a.sign() == b.sign())
        diffs.append(torch.where(same_inf, torch.zeros_like(a), (a - b).abs()).max().item())
    return {
        "ARHMM": plain,
        "ARPHMM": partial,
        "max_parameter_difference": max(diffs),
        "log_likelihood_difference": abs(plain_model.fit_history[-1] - ones_model.fit_history[-1]),
    }


def run(claim):
    s = claim.settings
    curves = {"ARHMM": {}, "ARPHMM": {}}
    worst_param = worst_ll = 0.0
    worst_increase = float("inf")
    for seed in claim.seeds:
        result = claim.cached(f"seed{seed}", one_seed, seed, s)
        worst_param = max(worst_param, result["max_parameter_difference"])
        worst_ll = max(worst_ll, result["log_likelihood_difference"])
        for name in ("ARHMM", "ARPHMM"):
            r = result[name]
            claim.record(name, "state_accuracy", r["state_accuracy"], unit=f"seed{seed}")
            claim.record(name, "rul_rmse", r["rul_rmse"], unit=f"seed{seed}")
            claim.record(name, "em_iterations", r["em_iterations"], unit=f"seed{seed}")
            worst_increase = min(worst_increase, r["min_log_likelihood_increase"])
            curves[name][f"seed{seed}"] = list(enumerate(r["log_likelihood_history"]))
    claim.record("pl≡1 vs none", "max_parameter_difference", worst_param)
    claim.record("pl≡1 vs none", "log_likelihood_difference", worst_ll)
    claim.record("EM (both models)", "min_log_likelihood_increase", worst_increase)
    claim.plot_curves(
        "em",
        curves,
        xlabel="EM iteration",
        ylabel="training log-likelihood (partially-hidden for ARPHMM)",
        title="ARHMM vs ARPHMM: EM on synthetic run-to-failure units",
    )
    claim.note(
        "Synthetic data (CMAPSS is not available offline). The ARPHMM's curve is its partially-hidden objective "
        "log Σ_s Π pl p(s, y), not comparable in level to the ARHMM's likelihood."
    )


if __name__ == "__main__":
    CLAIM.main(run)
