"""Claim check of P41 `fedau`: FedAU reaches the true optimum under unknown, heterogeneous participation.

Paper (Wang & Ji, ICLR 2024): with heterogeneous participation, FedAvg with non-optimal aggregation weights converges
to the optimum of the wrong objective; FedAU's online estimates of the inverse participation probabilities fix this
without knowing the statistics and without per-client update memory.

Check: 40 least-squares clients f_n(w) = (1/2m)‖A_n w − b_n‖² (d = 5, m = 20) whose optima differ, so the optimum
w* of (1/N) Σ f_n is known in closed form. Client n participates in each round independently (Bernoulli) with an
unknown probability p_n, log-spaced in [0.02, 0.5] and correlated with its optimum (w_n* = μ + 2 s_n u + 0.5 ε_n,
s_n the standardised log p_n), so FedAvg's mean over participants, which optimises Σ p_n f_n, is visibly biased.
3000 rounds from w = 0, 5 local gradient steps at lr 0.1, halved every 200 rounds after round 1000 (at most 10
times, the official schedule); every rule of a seed sees the same problem and the same participation. All rules run
through `simulate_federated` with the aggregator classes of `hf_methods.training.fedau`.

Rules (fixed before the first run), on the final distance ‖w_T − w*‖ per seed (8 seeds):
- FedAU ≤ 0.3 × FedAvg (mean over seeds of the per-seed ratio);
- FedAU ≤ 1.5 × the oracle with known probabilities (ω_n = 1/p_n; mean per-seed ratio);
- FedAU closer to w* than FedAvg, paired over seeds (whole 95% bootstrap interval of the difference below 0);
- with the same p = 0.15 for every client, FedAU ≈ FedAvg: ‖w_FedAU − w_FedAvg‖ / ‖w*‖ < 0.05 (mean over seeds).
Average-over-all-clients, MIFA, FedVARP and FedAU with cutoff K = 50 are recorded for information (no rule).
"""

from __future__ import annotations

import statistics

import torch

from hf_methods.common.federated import FedAvgAggregator, bernoulli_participation, parameter_distance
from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.fedau.aggregation import (
    AverageAllAggregator,
    FedAUAggregator,
    FedVARPAggregator,
    KnownParticipationAggregator,
    MIFAAggregator,
)
from hf_methods.training.fedau.training import least_squares_federation, run_least_squares

CLAIM = Claim(
    slug="fedau",
    seeds=[0, 1, 2, 3, 4, 5, 6, 7],
    settings={
        "num_clients": 40,
        "dim": 5,
        "samples_per_client": 20,
        "spread": 2.0,
        "client_noise": 0.5,
        "label_noise": 0.1,
        "min_probability": 0.02,
        "max_probability": 0.5,
        "identical_probability": 0.15,
        "rounds": 3000,
        "local_steps": 5,
        "lr": 0.1,
        "lr_decay_start": 1000,
        "lr_decay_every": 200,
        "cutoff_variant": 50,
        "eval_every": 50,
    },
    smoke={"rounds": 300, "lr_decay_start": 100, "lr_decay_every": 20, "eval_every": 20},
    rules=[
        Threshold(
            "FedAU ≤ 0.3× FedAvg's distance", metric="distance_ratio_to_fedavg", method="FedAU", op="<=", value=0.3
        ),
        Threshold(
            "FedAU ≤ 1.5× known-probability distance",
            metric="distance_ratio_to_known_prob",
            method="FedAU",
            op="<=",
            value=1.5,
        ),
        Compare(
            "FedAU closer to w* than FedAvg",
            metric="distance_to_optimum",
            method="FedAU",
            baseline="FedAvg",
            margin=0.0,
            higher_is_better=False,
            decide_by="interval",
        ),
        Threshold(
            "identical p: FedAU ≈ FedAvg",
            metric="relative_gap_to_fedavg",
            method="FedAU (identical p)",
            op="<",
            value=0.05,
        ),
    ],
    task={
        "type": "federated-optimization",
        "dataset_name": "synthetic least squares (40 clients)",
        "dataset_type": "synthetic",
        "split": "train",
    },
)

HETEROGENEOUS = ("FedAU", "FedAvg", "known-prob", "average-all", "MIFA", "FedVARP", "FedAU (K=50)")
IDENTICAL = ("FedAU (identical p)", "FedAvg (identical p)")


def _problem(settings, seed, identical: bool):
    return least_squares_federation(
        settings["num_clients"],
        settings["dim"],
        settings["samples_per_client"],
        spread=settings["spread"],
        client_noise=settings["client_noise"],
        label_noise=settings["label_noise"],
        min_probability=settings["min_probability"],
        max_probability=settings["max_probability"],
        identical_probability=settings["identical_probability"] if identical else None,
        seed=seed,
    )


def _aggregator(name, problem, settings):
    n = problem.num_clients
    base = name.replace(" (identical p)", "")
    return {
        "FedAU": lambda: FedAUAggregator(n),
        "FedAvg": lambda: FedAvgAggregator(weighting="uniform"),
        "known-prob": lambda: KnownParticipationAggregator(problem.probabilities.tolist()),
        "average-all": lambda: AverageAllAggregator(n),
        "MIFA": lambda: MIFAAggregator(n),
        "FedVARP": lambda: FedVARPAggregator(n),
        "FedAU (K=50)": lambda: FedAUAggregator(n, cutoff=settings["cutoff_variant"]),
    }[base]()


def one_run(name: str, seed: int, settings: dict) -> dict:
    problem = _problem(settings, seed, identical=name in IDENTICAL)
    participation = bernoulli_participation(problem.probabilities, settings["rounds"], seed=seed)
    aggregator = _aggregator(name, problem, settings)
    result = run_least_squares(
        problem,
        aggregator,
        participation,
        local_steps=settings["local_steps"],
        lr=settings["lr"],
        decay_start=settings["lr_decay_start"],
        decay_every=settings["lr_decay_every"],
        eval_every=settings["eval_every"],
    )
    result["optimum_norm"] = float(problem.optimum.norm())
    if name == "FedAvg":  # where the theory says FedAvg goes: argmin Σ p_n f_n
        biased = problem.weighted_optimum(problem.probabilities)
        result["distance_to_p_weighted_optimum"] = parameter_distance([torch.tensor(result["parameters"])], [biased])
    if isinstance(aggregator, FedAUAggregator):
        weights = torch.tensor([aggregator.weight(n) for n in range(problem.num_clients)])
        result["weight_relative_error"] = float((weights * problem.probabilities - 1).abs().mean())
    return result


def run(claim):
    s = claim.settings
    curves: dict[str, dict[str, list]] = {}
    for seed in claim.seeds:
        results = {
            name: claim.cached(f"{name}-seed{seed}".replace(" ", "_"), one_run, name, seed, s)
            for name in HETEROGENEOUS + IDENTICAL
        }
        unit = f"seed{seed}"
        for name, result in results.items():
            claim.record(name, "distance_to_optimum", result["distance"], unit=unit)
            claim.record(name, "objective_gap", result["objective_gap"], unit=unit)
            if "weight_relative_error" in result:
                claim.record(name, "weight_relative_error", result["weight_relative_error"], unit=unit)
            curves.setdefault(name, {})[unit] = result["curve"]
        fedau, fedavg = results["FedAU"]["distance"], results["FedAvg"]["distance"]
        claim.record("FedAU", "distance_ratio_to_fedavg", fedau / fedavg, unit=unit)
        claim.record("FedAU", "distance_ratio_to_known_prob", fedau / results["known-prob"]["distance"], unit=unit)
        claim.record(
            "FedAvg", "distance_to_p_weighted_optimum", results["FedAvg"]["distance_to_p_weighted_optimum"], unit=unit
        )
        gap = parameter_distance(
            [torch.tensor(results["FedAU (identical p)"]["parameters"])],
            [torch.tensor(results["FedAvg (identical p)"]["parameters"])],
        )
        claim.record(
            "FedAU (identical p)",
            "relative_gap_to_fedavg",
            gap / results["FedAU (identical p)"]["optimum_norm"],
            unit=unit,
        )
    _plot(claim, curves)
    claim.plot_points("distances", ["distance_to_optimum"], methods=list(HETEROGENEOUS + IDENTICAL))
    mean_participants = statistics.fmean(
        claim.cached(f"FedAU-seed{seed}", one_run, "FedAU", seed, s)["mean_participants"] for seed in claim.seeds
    )
    claim.note(
        f"{s['num_clients']} least-squares clients, about {mean_participants:.1f} participants per round; FedAvg ends "
        "near argmin Σ p_n f_n (see distance_to_p_weighted_optimum), FedAU near the true optimum w*. FedAU's final "
        "weights ω_n against 1/p_n: weight_relative_error = mean |ω_n p_n − 1|."
    )


def _plot(claim, curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for i, (name, by_seed) in enumerate(curves.items()):
        rounds = [t for t, _ in next(iter(by_seed.values()))]
        mean = [statistics.fmean(c[k][1] for c in by_seed.values()) for k in range(len(rounds))]
        ax.plot(rounds, mean, label=name, color=f"C{i}", linestyle="--" if "identical" in name else "-")
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("‖w − w*‖ (mean over seeds)")
    ax.set_title("fedau: distance to the optimum of (1/N) Σ f_n, heterogeneous p_n (dashed: identical p)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(claim.plot_path("distance"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    CLAIM.main(run)
