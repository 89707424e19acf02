"""Claim of P47 (Adam & Lorraine, 2019): ENAS is no better than random search with weight sharing, and its controller's
hidden states only track architecture similarity once it is trained with a memory buffer.

The paper's setting is ENAS's recurrent-cell search on Penn Treebank and it reports no numbers in its abstract; this
check tests the mechanism on a feed-forward ENAS cell and scikit-learn's digits. The margins (2 points, +0.1 in ρ) are
this project's, fixed before the first run. The memory-buffer objective is a reconstruction (the paper does not give
it): replayed REINFORCE on buffered (architecture, reward) pairs plus a loss that decodes every decision of a buffered
architecture from the controller's final state.

Setting (per seed): digits split 1150 train / 287 validation / 360 test (20% test, then 20% of the rest); a
cell of 4 nodes, activations {tanh, relu, identity} (486 cells), width 64; three searches from the same initial
weights — vanilla ENAS, ENAS with a memory buffer of 256, random search with weight sharing — each 10 epochs of 50
child SGD steps (batch 64, lr 0.05, momentum 0.9, gradient norm clipped at 5) and, for the two ENAS variants, 30
controller steps (300 in all; one architecture per step, reward = its accuracy on 256 validation digits, baseline
decay 0.95, entropy weight 1e-4, Adam lr 1e-3, LSTM width 100). Each search then samples 50 cells (random search:
uniformly), keeps the best by shared-weight validation accuracy, and that cell is retrained alone from scratch (600
steps, same data order for every cell of a seed) and scored on the test digits.

Rules (unit = seed, 5 seeds):

1. (a) the paper's negative result: ENAS and random search find cells of equal quality, |mean paired difference of
   retrained test accuracy| ≤ 0.02 (two one-sided rules, ENAS − random ≥ −0.02 and ≤ +0.02);
2. (b) the memory buffer raises Spearman ρ between controller hidden-state distance and graph edit distance by
   ≥ 0.1 over vanilla ENAS (mean paired difference), with the paper's probe (200 architectures sampled from each final
   controller) and (b') with 200 architectures drawn uniformly (independent of how peaked each policy has become);
3. replay property: teacher-forced replay of sampled architectures gives their recorded log-probabilities
   (max |difference| < 1e-5).

Every (variant, seed) search is cached. Run: `python benchmarks/claims/enas_memory.py [--smoke]`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.training.enas_memory.analysis import HiddenStateGraphCorrelation, plot_hidden_state_graph_correlation
from hf_methods.training.enas_memory.training import run_search

NAMES = {"enas": "ENAS", "enas_memory": "ENAS + memory", "random": "random search"}

CLAIM = Claim(
    slug="enas_memory",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "test_size": 0.2,
        "validation_size": 0.2,
        "num_nodes": 4,
        "ops": ["tanh", "relu", "identity"],
        "cell_width": 64,
        "controller_hidden_size": 100,
        "memory_buffer_size": 256,
        "replay_batch_size": 32,
        "replay_weight": 1.0,
        "reconstruction_weight": 1.0,
        "controller_learning_rate": 1e-3,
        "entropy_weight": 1e-4,
        "baseline_decay": 0.95,
        "epochs": 10,
        "child_steps_per_epoch": 50,
        "controller_steps_per_epoch": 30,
        "batch_size": 64,
        "reward_batch_size": 256,
        "child_learning_rate": 0.05,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "max_grad_norm": 5.0,
        "num_candidates": 50,
        "retrain_steps": 600,
        "probe_architectures": 200,
        "search_quality_metric": "test accuracy of the derived cell retrained alone from scratch",
    },
    smoke={
        "epochs": 2,
        "child_steps_per_epoch": 5,
        "controller_steps_per_epoch": 3,
        "num_candidates": 5,
        "retrain_steps": 20,
        "probe_architectures": 20,
        "seeds": [0],
    },
    rules=[
        Compare(
            "(a) ENAS no worse than random search by 2 points",
            "retrained_test_accuracy",
            "ENAS",
            "random search",
            -0.02,
        ),
        Compare(
            "(a) ENAS no better than random search by 2 points",
            "retrained_test_accuracy",
            "ENAS",
            "random search",
            -0.02,
            higher_is_better=False,
        ),
        Compare(
            "(b) memory buffer raises ρ (controller samples)", "rho_controller_samples", "ENAS + memory", "ENAS", 0.1
        ),
        Compare(
            "(b') memory buffer raises ρ (uniform architectures)",
            "rho_uniform_architectures",
            "ENAS + memory",
            "ENAS",
            0.1,
        ),
        Threshold("replay gives the recorded log-probabilities", "replay_log_prob_gap", "ENAS + memory", "<", 1e-5),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "sklearn digits (architecture search)",
        "dataset_type": "digits",
        "split": "test",
    },
)

METRICS = (
    "retrained_test_accuracy",
    "retrained_validation_accuracy",
    "shared_validation_accuracy",
    "rho_controller_samples",
    "rho_uniform_architectures",
    "distinct_controller_samples",
    "replay_log_prob_gap",
)


def run(claim) -> None:
    torch.set_num_threads(1)
    rewards, architectures, probes = {NAMES["enas"]: {}, NAMES["enas_memory"]: {}}, {}, {}
    for seed in claim.seeds:
        for variant, name in NAMES.items():
            result = claim.cached(f"{variant}-seed{seed}", run_search, variant, seed, claim.settings)
            for metric in METRICS:
                claim.record(name, metric, result[metric], unit=seed)
            architectures.setdefault(name, {})[f"seed{seed}"] = result["architecture"]
            if name in rewards:
                rewards[name][f"seed{seed}"] = [(r["epoch"], r["reward"]) for r in result["history"]]
            if seed == claim.seeds[0]:
                probes[name] = HiddenStateGraphCorrelation(**result["probe_uniform"])
    claim.details["derived_architectures"] = architectures
    claim.plot_points(
        "summary",
        ["retrained_test_accuracy", "rho_controller_samples", "rho_uniform_architectures"],
        methods=list(NAMES.values()),
        title="per-seed values, mean and 95% bootstrap interval (random search's ρ: its untrained controller)",
    )
    claim.plot_curves(
        "rewards",
        rewards,
        xlabel="search epoch",
        ylabel="mean controller reward (validation accuracy)",
        title=f"controller reward per epoch (mean ± std over {len(claim.seeds)} seeds)",
    )
    plot_hidden_state_graph_correlation(probes, claim.plot_path("hidden-states"))
    claim.note(
        "Random search has no controller training; its ρ values are those of its untrained controller (a reference). "
        "Search quality is measured by retraining the derived cell from scratch, not by the shared-weight accuracy "
        "(recorded as shared_validation_accuracy), since each search trains its shared weights on its own samples. "
        "The memory-buffer objective is a reconstruction from the paper's text. The digits cell tests the mechanism "
        "only; the paper's setting is ENAS's recurrent cell on Penn Treebank. The hidden-state plot is seed "
        f"{claim.seeds[0]}'s uniform-architecture probe (distances relative to each controller's mean)."
    )
    rho = {name: claim.records[name]["rho_uniform_architectures"] for name in NAMES.values()}
    distinct = claim.records[NAMES["enas_memory"]]["distinct_controller_samples"]
    claim.note(
        f"Observed: vanilla ENAS's ρ (uniform probe) averages {sum(rho['ENAS'].values()) / len(rho['ENAS']):.2f} and "
        f"the untrained controller's {sum(rho['random search'].values()) / len(rho['random search']):.2f}, not the "
        "≈ 0 the paper reports for ENAS: an LSTM fed the embeddings of its decisions already carries some of them in "
        "its state. The memory-buffer rise is partly by construction here, since the reconstruction loss trains the "
        "final state to encode every decision. The memory variant's policy also became peaked (on average "
        f"{sum(distinct.values()) / len(distinct):.1f} distinct cells among the 200 sampled for its probe)."
    )


if __name__ == "__main__":
    CLAIM.main(run)
