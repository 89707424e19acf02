"""Claim of P48 (Doshi, Das, He & Gromov, 2023, "To grok or not to grok"): a network trained on modular
arithmetic with corrupted labels can memorise them and still generalise; the memorising neurons are the ones whose
weights are not periodic (low Fourier IPR), and pruning them removes the memorisation; weight decay makes the network
ignore the corrupted labels (training accuracy falls towards 100(1 − ξ)%) while it generalises.

Setting (the paper's, from the official code `d-doshi/Grokking`): every pair (a, b) mod p = 97 with its sum, 50% of
the pairs for training, ξ = 0.35 of the training labels replaced by uniform random residues; the bias-free quadratic
MLP f(a, b) = W₂ (W₁ [e_a; e_b])² with N = 500, init N(0, 0.25 / (2N)^{2/3}), squared error to the one-hot label,
full-batch AdamW (lr 1e-2, β = (0.9, 0.98)) for 500 steps, weight decay 0 or 5. A neuron's IPR is the mean of
IPR₂(|rfft(v)|) over its incoming weights from a (U_k), from b (V_k) and its outgoing weights (W_k); pruning zeroes
the 300 lowest-IPR neurons' in- and outgoing weights. "Corrupted" accuracy is scored against the corrupted labels
(about 1/97 of them equal the true sum by chance), "clean" on the uncorrupted training pairs.

Rules (5 seeds, unit = seed; each seed draws its own split, corruption and initialisation), fixed before the first
run; the margins of (ii) and (iii) were set from an earlier exploratory run of this setting (500 steps, seed 0:
before pruning test 0.972, corrupted 0.962; after pruning corrupted 0.027, test 0.993; with weight decay 5: test
1.000, corrupted 0.375):

1. (i) coexistence, weight decay 0: mean corrupted-train accuracy ≥ 0.9 and mean test accuracy ≥ 0.9;
2. (ii) pruning the 300 lowest-IPR neurons lowers the corrupted-train accuracy by more than 0.5 (mean paired
   difference ≤ −0.5) and does not lower the test accuracy (mean paired difference ≥ 0);
3. (iii) weight decay 5: mean test accuracy > 0.99 and mean corrupted-train accuracy < 0.6.

Recorded under no rule: clean-train accuracies, accuracies after pruning with weight decay 5, the mean neuron IPR and
fraction of neurons with IPR ≥ 0.5 (the paper's (iv): weight decay makes the neurons periodic), the training curves
and the pruning curves (plots).

Run: `python benchmarks/claims/grok_corrupted.py [--smoke]` (about 8 minutes on one idle thread; each run is cached).
"""

from __future__ import annotations

import dataclasses

from hf_methods.analysis.grok_corrupted.training import run_grok_corrupted
from hf_methods.harness.claims import Claim, Compare, Threshold

NO_WD, NO_WD_PRUNED = "wd=0", "wd=0, 300 lowest-IPR pruned"
WD, WD_PRUNED = "wd=5", "wd=5, 300 lowest-IPR pruned"

CLAIM = Claim(
    slug="grok_corrupted",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "modulus": 97,
        "train_fraction": 0.5,
        "noise": 0.35,
        "hidden_size": 500,
        "max_steps": 500,
        "learning_rate": 1e-2,
        "weight_decays": [0.0, 5.0],
        "prune": 300,
        "eval_every": 10,
        "curve_points": 20,
    },
    smoke={"max_steps": 20, "hidden_size": 100, "prune": 60, "seeds": [0]},
    rules=[
        Threshold("(i) coexistence: corrupted labels memorised (wd=0)", "corrupted_accuracy", NO_WD, ">=", 0.9),
        Threshold("(i) coexistence: test generalises (wd=0)", "test_accuracy", NO_WD, ">=", 0.9),
        Compare(
            "(ii) pruning low-IPR neurons removes memorisation",
            "corrupted_accuracy",
            NO_WD_PRUNED,
            NO_WD,
            margin=0.5,
            higher_is_better=False,
        ),
        Compare("(ii) pruning low-IPR neurons keeps test accuracy", "test_accuracy", NO_WD_PRUNED, NO_WD, margin=0.0),
        Threshold("(iii) weight decay: test accuracy", "test_accuracy", WD, ">", 0.99),
        Threshold("(iii) weight decay: corrupted labels unlearned", "corrupted_accuracy", WD, "<", 0.6),
    ],
    task={
        "type": "text-classification",
        "dataset_name": "modular addition mod 97, 50% train, 35% of train labels corrupted (synthetic)",
        "dataset_type": "synthetic",
        "split": "test",
    },
)

RUN_KEYS = ("modulus", "train_fraction", "noise", "hidden_size", "max_steps", "learning_rate", "prune", "eval_every")


def one_run(seed: int, weight_decay: float, settings: dict) -> dict:
    kwargs = {k: settings[k] for k in RUN_KEYS}
    result = run_grok_corrupted(seed, weight_decay=weight_decay, curve_points=settings["curve_points"], **kwargs)
    return dataclasses.asdict(result)


def plot_histograms(path, histograms: dict[str, list[list[int]]], steps: int) -> None:
    """The neurons' IPR histograms at the end of training, averaged over seeds, one bar series per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (name, per_seed) in enumerate(histograms.items()):
        bins = len(per_seed[0])
        mean = [sum(h[b] for h in per_seed) / len(per_seed) for b in range(bins)]
        centres = [(b + 0.5) / bins for b in range(bins)]
        ax.bar(
            [c + (i - 0.5) * 0.4 / bins for c in centres], mean, width=0.4 / bins, label=name, color=f"C{3 - 3 * i}"
        )
    ax.set_xlabel("neuron IPR (mean over U_k, V_k, W_k; r = 2)")
    ax.set_ylabel("# of neurons (mean over seeds)")
    ax.set_title(f"Fourier IPR of the hidden neurons after {steps} steps", fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(claim):
    s = claim.settings
    names = {0.0: (NO_WD, NO_WD_PRUNED), 5.0: (WD, WD_PRUNED)}
    training = {f"{name}: {subset}": {} for name, _ in names.values() for subset in ("corrupted", "test")}
    pruning = {subset: {} for subset in ("corrupted", "clean", "test")}
    histograms = {}
    for wd in s["weight_decays"]:
        name, pruned_name = names[wd]
        for seed in claim.seeds:
            out = claim.cached(f"wd{wd:g}-seed{seed}", one_run, seed, wd, s)
            for label, accuracy in ((name, out["before"]), (pruned_name, out["after"])):
                for subset in ("train", "corrupted", "clean", "test"):
                    claim.record(label, f"{subset}_accuracy", accuracy[subset], unit=seed)
            claim.record(name, "mean_ipr", out["mean_ipr"], unit=seed)
            claim.record(name, "fraction_periodic", out["fraction_periodic"], unit=seed)
            claim.record(name, "mean_ipr_kept", out["mean_ipr_kept"], unit=seed)
            trace = out["trace"]
            histograms.setdefault(name, []).append(trace["histograms"][-1])
            for subset in ("corrupted", "test"):
                training[f"{name}: {subset}"][seed] = list(zip(trace["steps"], trace["accuracy"][subset]))
            if wd == 0.0:
                curve = out["curve"]
                fractions = [c / s["hidden_size"] for c in curve["counts"]]
                for subset in pruning:
                    pruning[subset][seed] = list(zip(fractions, curve[subset]))
    claim.plot_curves(
        "training",
        training,
        xlabel="full-batch step",
        ylabel="accuracy",
        title=f"p = {s['modulus']}, ξ = {s['noise']}: corrupted-train and test accuracy (mean ± std over seeds)",
    )
    claim.plot_curves(
        "pruning",
        pruning,
        xlabel="fraction of neurons pruned (lowest IPR first)",
        ylabel="accuracy",
        title="wd = 0: accuracy after pruning the lowest-IPR neurons (mean ± std over seeds)",
    )
    plot_histograms(claim.plot_path("ipr-histograms"), histograms, s["max_steps"])
    claim.plot_points(
        "accuracies",
        ["corrupted_accuracy", "test_accuracy"],
        methods=[NO_WD, NO_WD_PRUNED, WD, WD_PRUNED],
        title="per-seed accuracies: before / after pruning, without / with weight decay",
    )


if __name__ == "__main__":
    CLAIM.main(run)
