"""Claim of P61 (Vinyals, Fortunato, Jaitly, NeurIPS 2015): Pointer Networks learn to output input positions.

Paper: a Ptr-Net, whose output at each step is softmax attention over the input positions, learns sorting-like and
geometric problems (planar convex hull: 72.6% exact accuracy and 99.9% area coverage at n = 50 after 1M examples)
and generalises beyond the lengths it was trained on, which a fixed-vocabulary sequence-to-sequence model cannot
even express (it has no output symbol for a position it never saw). No official code was released.

Check at CPU scale (settings and bars fixed before the first run; the bars are this project's, not the paper's):

- sorting: n ~ U{5 … 10} numbers in U(0, 1), hidden 64, 3000 Adam steps of 128 examples drawn from a fixed
  100 000-example training set; decoded by beam search (width 3) under the permutation constraint:
  (1) exact-sequence accuracy at n = 10 ≥ 0.8; (2) per-position accuracy at n = 12 (never seen) ≥ 0.7;
- planar convex hull: n ~ U{5 … 10} points in [0, 1]², labels from `scipy.spatial.ConvexHull` (counter-clockwise
  from the lowest-index vertex, closed), hidden 128, 2000 Adam steps of 128 from a 50 000-example set; decoded by
  beam search (width 3) under the cycle constraint: (3) area coverage (decoded polygon area / hull area, 0 for an
  invalid polygon) ≥ 0.9; (4) hull accuracy (the decoded polygon is the hull, any start) ≥ 0.4;
- decoding: (5) no decoded sequence repeats a position (greedy and beam, both tasks); (6) beam search of width 1
  returns the greedy sequences (share of identical sequences == 1).

Means over seeds 0, 1, 2 (per-seed values and bootstrap intervals in the results). Adam (learning rate 1e-3) replaces
the paper's SGD with learning rate 1.0 to fit the CPU budget; gradient clipping 2.0 and U(−0.08, 0.08) initialisation
follow the paper.

Run: `python benchmarks/claims/pointer_net.py [--smoke]` (about 8 minutes on one idle core); writes
`benchmarks/results/pointer_net.json` and `benchmarks/results/pointer_net-{training,length}.png`.
"""

from __future__ import annotations

import statistics

import torch

from hf_methods.harness.claims import Claim, Threshold

CLAIM = Claim(
    slug="pointer_net",
    seeds=[0, 1, 2],
    settings={
        "optimizer": "Adam",
        "learning_rate": 1e-3,
        "max_grad_norm": 2.0,
        "init_range": 0.08,
        "batch_size": 128,
        "num_beams": 3,
        "sorting": {
            "hidden_size": 64,
            "steps": 3000,
            "train_examples": 100000,
            "train_points": [5, 10],
            "eval_examples": 1000,
            "eval_points": 10,
            "generalisation_points": 12,
            "length_curve_points": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            "length_curve_examples": 300,
        },
        "convex_hull": {
            "hidden_size": 128,
            "steps": 2000,
            "train_examples": 50000,
            "train_points": [5, 10],
            "eval_examples": 1000,
            "eval_points": [5, 10],
        },
        "data_seeds": "training set: seed; evaluation sets: 10_000 + 100·seed + k (disjoint streams)",
    },
    smoke={
        "seeds": [0],
        "sorting": {
            "hidden_size": 16,
            "steps": 20,
            "train_examples": 500,
            "train_points": [5, 10],
            "eval_examples": 50,
            "eval_points": 10,
            "generalisation_points": 12,
            "length_curve_points": [5, 12],
            "length_curve_examples": 20,
        },
        "convex_hull": {
            "hidden_size": 16,
            "steps": 20,
            "train_examples": 500,
            "train_points": [5, 10],
            "eval_examples": 50,
            "eval_points": [5, 10],
        },
    },
    rules=[
        Threshold(
            "(1) sorting: exact-sequence accuracy at n=10 ≥ 0.8",
            "sequence_accuracy@n=10",
            "Ptr-Net sorting",
            ">=",
            0.8,
        ),
        Threshold(
            "(2) sorting: per-position accuracy at unseen n=12 ≥ 0.7",
            "position_accuracy@n=12",
            "Ptr-Net sorting",
            ">=",
            0.7,
        ),
        Threshold("(3) convex hull: area coverage ≥ 0.9", "area_coverage", "Ptr-Net convex hull", ">=", 0.9),
        Threshold("(4) convex hull: hull accuracy ≥ 0.4", "hull_accuracy", "Ptr-Net convex hull", ">=", 0.4),
        Threshold("(5) no decoded sequence repeats a position", "repeat_rate", "constrained decoding", "==", 0.0),
        Threshold(
            "(6) beam search of width 1 equals greedy", "beam1_equals_greedy", "constrained decoding", "==", 1.0
        ),
    ],
    task={
        "type": "structured-prediction",
        "dataset_name": "sorting and planar convex hull (uniform points, generated in code)",
        "dataset_type": "synthetic",
        "split": "test",
    },
)


def mean(values) -> float:
    return statistics.fmean(values)


def run_task(task: str, seed: int, s: dict) -> dict:
    """Trains one Ptr-Net on `task` and evaluates it; a JSON-serialisable dict (cached by the harness)."""
    from hf_methods.models.pointer_net import PointerNetConfig, PointerNetForSequenceOrdering
    from hf_methods.models.pointer_net.tasks import make_task
    from hf_methods.models.pointer_net.training import TASK_CONSTRAINT, evaluate_pointer_net, train_pointer_net

    torch.set_num_threads(1)
    t = s[task]
    input_dim = 1 if task == "sorting" else 2
    torch.manual_seed(seed)
    config = PointerNetConfig(input_dim=input_dim, hidden_size=t["hidden_size"], init_range=s["init_range"])
    model = PointerNetForSequenceOrdering(config)
    train = make_task(task, t["train_examples"], *t["train_points"], seed=seed)
    losses = train_pointer_net(
        model,
        train,
        steps=t["steps"],
        batch_size=s["batch_size"],
        learning_rate=s["learning_rate"],
        max_grad_norm=s["max_grad_norm"],
        seed=seed,
        log_every=500,
    )
    eval_seed = 10_000 + 100 * seed
    out: dict = {
        "losses": losses[:: max(1, len(losses) // 200)],
        "loss_steps": list(range(0, len(losses), max(1, len(losses) // 200))),
    }
    if task == "sorting":
        sets = {
            f"n={t['eval_points']}": make_task(
                task, t["eval_examples"], t["eval_points"], t["eval_points"], seed=eval_seed
            ),
            f"n={t['generalisation_points']}": make_task(
                task, t["eval_examples"], t["generalisation_points"], t["generalisation_points"], seed=eval_seed + 1
            ),
        }
    else:
        sets = {"n=5-10": make_task(task, t["eval_examples"], *t["eval_points"], seed=eval_seed)}
    for name, data in sets.items():
        beam = evaluate_pointer_net(model, task, data, num_beams=s["num_beams"])
        greedy = evaluate_pointer_net(model, task, data, num_beams=1)
        out[name] = {"beam": {k: mean(v) for k, v in beam.items()}, "greedy": {k: mean(v) for k, v in greedy.items()}}
        # beam search of width 1 against greedy decoding, sequence by sequence
        constraint = TASK_CONSTRAINT[task]
        with torch.no_grad():
            g = model.generate(data["points"], data["attention_mask"], num_beams=1, constraint=constraint).sequences
            b = model.beam_search(data["points"], data["attention_mask"], num_beams=1, constraint=constraint).sequences
        out[name]["beam1_equals_greedy"] = float((g == b).all(-1).double().mean()) if g.shape == b.shape else 0.0
    if task == "sorting":
        curve = {}
        for k, n in enumerate(t["length_curve_points"]):
            data = make_task(task, t["length_curve_examples"], n, n, seed=eval_seed + 50 + k)
            beam = evaluate_pointer_net(model, task, data, num_beams=s["num_beams"])
            curve[str(n)] = {k2: mean(v) for k2, v in beam.items()}
        out["length_curve"] = curve
    return out


def run(claim) -> None:
    torch.set_num_threads(1)
    s = claim.settings
    results = {
        task: {seed: claim.cached(f"{task}-seed{seed}", run_task, task, seed, s) for seed in claim.seeds}
        for task in ("sorting", "convex_hull")
    }
    srt, hull = s["sorting"], s["convex_hull"]
    n_eval, n_gen = f"n={srt['eval_points']}", f"n={srt['generalisation_points']}"
    for seed in claim.seeds:
        r = results["sorting"][seed]
        claim.record(
            "Ptr-Net sorting", f"sequence_accuracy@{n_eval}", r[n_eval]["beam"]["sequence_accuracy"], unit=seed
        )
        claim.record(
            "Ptr-Net sorting", f"position_accuracy@{n_eval}", r[n_eval]["beam"]["position_accuracy"], unit=seed
        )
        claim.record("Ptr-Net sorting", f"sequence_accuracy@{n_gen}", r[n_gen]["beam"]["sequence_accuracy"], unit=seed)
        claim.record("Ptr-Net sorting", f"position_accuracy@{n_gen}", r[n_gen]["beam"]["position_accuracy"], unit=seed)
        claim.record(
            "Ptr-Net sorting (greedy)",
            f"sequence_accuracy@{n_eval}",
            r[n_eval]["greedy"]["sequence_accuracy"],
            unit=seed,
        )
        claim.record(
            "Ptr-Net sorting (greedy)",
            f"position_accuracy@{n_gen}",
            r[n_gen]["greedy"]["position_accuracy"],
            unit=seed,
        )
        h = results["convex_hull"][seed]["n=5-10"]
        for decoding, name in (("beam", "Ptr-Net convex hull"), ("greedy", "Ptr-Net convex hull (greedy)")):
            for metric in ("area_coverage", "hull_accuracy", "valid"):
                claim.record(name, metric, h[decoding][metric], unit=seed)
        repeats = [results["sorting"][seed][n][d]["repeats"] for n in (n_eval, n_gen) for d in ("beam", "greedy")] + [
            h[d]["repeats"] for d in ("beam", "greedy")
        ]
        claim.record("constrained decoding", "repeat_rate", max(repeats), unit=seed)
        equal = [results["sorting"][seed][n]["beam1_equals_greedy"] for n in (n_eval, n_gen)] + [
            h["beam1_equals_greedy"]
        ]
        claim.record("constrained decoding", "beam1_equals_greedy", min(equal), unit=seed)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {
        f"{task} (hidden {s[task]['hidden_size']})": {
            f"seed{seed}": list(zip(results[task][seed]["loss_steps"], results[task][seed]["losses"]))
            for seed in claim.seeds
        }
        for task in ("sorting", "convex_hull")
    }
    claim.plot_curves(
        "training", curves, xlabel="step", ylabel="teacher-forced cross-entropy", title="Ptr-Net training loss"
    )

    lengths = [int(n) for n in results["sorting"][claim.seeds[0]]["length_curve"]]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for metric, style in (("sequence_accuracy", "o-"), ("position_accuracy", "s--")):
        values = [[results["sorting"][seed]["length_curve"][str(n)][metric] for seed in claim.seeds] for n in lengths]
        means = [mean(v) for v in values]
        spread = [statistics.pstdev(v) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(lengths, means, yerr=spread, fmt=style, capsize=3, label=metric.replace("_", " "))
    low, high = srt["train_points"]
    ax.axvspan(low - 0.5, high + 0.5, color="grey", alpha=0.15, label=f"training lengths {low}–{high}")
    ax.set_xlabel("number of inputs n")
    ax.set_ylabel(f"accuracy (beam {s['num_beams']}, mean ± std over seeds)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Ptr-Net sorting: length generalisation")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(claim.plot_path("length"), dpi=120)
    plt.close(fig)

    claim.details["sorting_length_curve"] = {
        n: {
            m: round(mean([results["sorting"][seed]["length_curve"][str(n)][m] for seed in claim.seeds]), 4)
            for m in ("sequence_accuracy", "position_accuracy")
        }
        for n in lengths
    }
    claim.note(
        "Thresholds are this project's CPU-scale bars (the paper reports convex hull at n = 50 after 1M examples). "
        "Hull accuracy counts a decoded polygon as correct when it has the hull's vertices in the same cyclic "
        "(counter-clockwise) order, any start; area coverage counts an invalid polygon (not closed, fewer than 3 "
        f"vertices, self-intersecting) as 0. Training set sizes: sorting {srt['train_examples']}, hull "
        f"{hull['train_examples']} (the paper: 1M). Adam replaces the paper's SGD (lr 1.0)."
    )


if __name__ == "__main__":
    CLAIM.main(run)
