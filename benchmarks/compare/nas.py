"""Side by side: the zoo's neural-architecture-search methods, each in its own space, against random search there.

The two searches do not share a search space — TangleNAS searches a weight-entangled conv net's kernel sizes and
widths, ENAS a feed-forward cell's edges and activations — so each is compared with the baselines of its own space,
and the spaces share everything else:

- task: scikit-learn digits, one split per seed for every row (`tanglenas.training.digits_split`: 1150 fitting /
  287 validation / 360 test images; the cell space reads the same images flattened to 64 values);
- search budget: every supernet takes the same 360 weight updates (batch 64: 20 epochs of the fitting part) with its
  method's own optimizer; the architecture side of each search uses validation data only. In the cell space every
  weight-sharing search scores the same 350 architectures on validation data (ENAS: 300 controller rewards on 256
  validation images + 50 final candidates; random search: 350 uniform candidates). In the conv space SPOS scores all
  243 architectures (its room's default), TangleNAS takes 360 β steps on validation batches of 64;
- retraining: every found architecture is trained from scratch by one shared loop (the loop of
  `tanglenas.training.train_architecture`: AdamW lr 3e-3, weight decay 1e-4, batch 64, 20 epochs, initial weights
  and batch order from the seed, so two rows that find the same architecture score the same) and scored on the test
  part;
- search time: CPU seconds of the search (supernet training + architecture selection, one thread; equal to wall time
  on an idle core, and unlike wall time not inflated by other jobs on a shared machine), divided by that of random
  search with weight sharing in the same space and seed (random architectures: no search, ratio 0).

Rows (each with its room's defaults, none tuned here):

- conv space (`tanglenas`: 2 convolutions of kernel {1, 3, 5} × width {4, 8, 16}, hidden {16, 32, 64}, 243
  architectures): random architectures (mean of 3 uniform draws per seed); SPOS (`spos_search`: uniform single-path
  supernet training, every architecture scored with inherited weights — random search with weight sharing in this
  space, the time reference); TangleNAS (`gradient_search`, DARTS rule over superimposed weights, argmax derived);
- cell space (`enas_memory`: 4 nodes, activations {tanh, relu, identity}, width 64, 486 cells): random cells (mean
  of 3 uniform draws per seed); random search with weight sharing (`build_search("random")`, the time reference);
  ENAS and ENAS with the memory buffer (`build_search("enas" / "enas_memory")`, LSTM controller, REINFORCE).

Accuracy compares rows within a space; across spaces it compares the spaces more than the searches. This is a
comparison, not a claim: no pass/fail rule (each method's own claim tests its paper). Every (row, seed) is cached in
`benchmarks/results/compare-nas/`, so a restart continues. Run: `OMP_NUM_THREADS=1 python benchmarks/compare/nas.py`
(about 2 minutes of CPU on one idle thread — 17 minutes on a busy machine; `--smoke` for a short run that
writes nothing under `benchmarks/results`).
Writes `benchmarks/results/compare-nas.json` and `.png`.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.compare import report_comparison, summarize
from hf_methods.training.enas_memory.controller import uniform_architectures
from hf_methods.training.enas_memory.modeling import ENASCellConfig, ENASCellForImageClassification
from hf_methods.training.enas_memory.training import build_search
from hf_methods.training.tanglenas.loss import TangleNASSearchLoss
from hf_methods.training.tanglenas.modeling import TangleNASConvNet
from hf_methods.training.tanglenas.training import default_config, digits_split, gradient_search, spos_search

SETTINGS = {
    "seeds": [0, 1, 2],
    "split": {"test_size": 0.2, "validation_size": 0.2},
    "supernet_weight_steps": 360,
    "batch_size": 64,
    "conv_space": {
        "kernel_size_choices": [[1, 3, 5], [1, 3, 5]],
        "channel_choices": [[4, 8, 16], [4, 8, 16]],
        "hidden_choices": [16, 32, 64],
    },
    "tanglenas": {"search_epochs": 20, "mode": "darts", "lr": 3e-3, "weight_decay": 1e-4, "arch_lr": 3e-3},
    "spos": {"search_epochs": 20, "lr": 3e-3, "weight_decay": 1e-4, "selection": "all 243 architectures"},
    "cell_space": {"num_nodes": 4, "ops": ["tanh", "relu", "identity"], "cell_width": 64},
    "enas": {
        "epochs": 10,
        "child_steps_per_epoch": 36,
        "controller_steps_per_epoch": 30,
        "num_candidates": 50,
        "memory_buffer_size": 256,
        "other": "build_search / ENASSearch.fit defaults (SGD 0.05, momentum 0.9, LSTM 100, reward on 256 images)",
    },
    "random_search_candidates": 350,
    "num_random_architectures": 3,
    "retrain": {"epochs": 20, "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 64},
}
ROWS = {
    "conv-random": "conv space: random architecture (mean of 3)",
    "spos": "conv space: SPOS (random search, weight sharing)",
    "tanglenas": "conv space: TangleNAS (DARTS rule)",
    "cell-random": "cell space: random cell (mean of 3)",
    "rsws": "cell space: random search, weight sharing",
    "enas": "cell space: ENAS",
    "enas_memory": "cell space: ENAS + memory",
}
REFERENCE = {"conv-random": "spos", "spos": "spos", "tanglenas": "spos"}  # the rest: "rsws"


# ------------------------------------------------------------------------------------------------- shared pieces


def retrain(model: torch.nn.Module, x, y, x_test, y_test, *, seed: int, r: dict) -> float:
    """The shared retraining loop (tanglenas's `train_architecture` loop, for any classifier): AdamW, the seed's
    batch order, `r["epochs"]` passes over `(x, y)`; returns the test accuracy."""
    loss_fn = TangleNASSearchLoss()  # plain cross-entropy
    optimizer = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=r["weight_decay"])
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(r["epochs"]):
        for idx in torch.randperm(len(y), generator=order).split(r["batch_size"]):
            loss = loss_fn(model(pixel_values=x[idx]).logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return accuracy(model, x_test, y_test)


def conv_model(architecture: dict, s: dict, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # as train_architecture: the supernet's init, then the slices
    return TangleNASConvNet(default_config(**s["conv_space"])).extract_subnet(architecture)


def cell_model(architecture: list[int], s: dict, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return ENASCellForImageClassification(ENASCellConfig(**s["cell_space"], architecture=list(architecture)))


def evaluate(space: str, architecture, data, s: dict, seed: int) -> dict:
    """Retrains `architecture` of `space` from scratch with the shared loop; test accuracy and parameter count."""
    if space == "conv":
        model, x, xt = conv_model(architecture, s, seed), data.x, data.x_test
    else:
        model, x, xt = cell_model(architecture, s, seed), data.x.flatten(1), data.x_test.flatten(1)
    test = retrain(model, x, data.y, xt, data.y_test, seed=seed, r=s["retrain"])
    return {"test_accuracy": test, "num_parameters": sum(p.numel() for p in model.parameters())}


def timed(fn, *args, **kwargs):
    cpu, wall = time.process_time(), time.time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - cpu, time.time() - wall


# ------------------------------------------------------------------------------------------------- the rows


def run_row(row: str, seed: int, s: dict) -> dict:
    """One row and seed: the search (timed), then the retraining of what it found."""
    torch.set_num_threads(1)
    data = digits_split(seed, **s["split"])
    common = {"batch_size": s["batch_size"]}
    if row in ("conv-random", "cell-random"):
        space = row.split("-")[0]
        if space == "conv":
            rng = random.Random(1000 + seed)
            supernet = TangleNASConvNet(default_config(**s["conv_space"]))
            archs = [supernet.sample_architecture(rng) for _ in range(s["num_random_architectures"])]
        else:
            sizes = build_search("random", seed=seed, **s["cell_space"]).controller.decision_sizes
            gen = torch.Generator().manual_seed(1000 + seed)
            archs = uniform_architectures(s["num_random_architectures"], sizes, gen).tolist()
        runs = [evaluate(space, a, data, s, seed) for a in archs]
        return {
            "architectures": archs,
            "test_accuracies": [r["test_accuracy"] for r in runs],
            "test_accuracy": float(np.mean([r["test_accuracy"] for r in runs])),
            "num_parameters": float(np.mean([r["num_parameters"] for r in runs])),
            "search_cpu_s": 0.0,
            "search_wall_s": 0.0,
        }
    if row == "tanglenas":
        t = s["tanglenas"]
        (_, log), cpu, wall = timed(
            gradient_search,
            data,
            seed=seed,
            epochs=t["search_epochs"],
            mode=t["mode"],
            lr=t["lr"],
            weight_decay=t["weight_decay"],
            arch_lr=t["arch_lr"],
            config=default_config(**s["conv_space"]),
            **common,
        )
        space, architecture = "conv", log["architecture"]
    elif row == "spos":
        p = s["spos"]
        (_, log), cpu, wall = timed(
            spos_search,
            data,
            seed=seed,
            epochs=p["search_epochs"],
            lr=p["lr"],
            weight_decay=p["weight_decay"],
            config=default_config(**s["conv_space"]),
            **common,
        )
        space, architecture = "conv", log["architecture"]
    else:
        e = s["enas"]
        variant = {"rsws": "random", "enas": "enas", "enas_memory": "enas_memory"}[row]
        candidates = s["random_search_candidates"] if variant == "random" else e["num_candidates"]
        train, validation = (data.x.flatten(1), data.y), (data.x_val.flatten(1), data.y_val)

        def search():
            searcher = build_search(variant, seed=seed, memory_buffer_size=e["memory_buffer_size"], **s["cell_space"])
            searcher.fit(
                train,
                validation,
                epochs=e["epochs"],
                child_steps=e["child_steps_per_epoch"],
                controller_steps=e["controller_steps_per_epoch"],
                **common,
            )
            return searcher.derive(validation, candidates)

        (architecture, _), cpu, wall = timed(search)
        space, architecture = "cell", architecture.tolist()
    return {
        "architecture": architecture,
        **evaluate(space, architecture, data, s, seed),
        "search_cpu_s": cpu,
        "search_wall_s": wall,
    }


def cached(cache: Path, row: str, seed: int, s: dict) -> dict:
    """`run_row`, stored as `<cache>/<row>-seed<seed>.json` together with a hash of the settings."""
    key = hashlib.sha1(json.dumps(s, sort_keys=True).encode()).hexdigest()[:12]
    path = cache / f"{row}-seed{seed}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("settings") == key:
            return stored["result"]
    result = run_row(row, seed, s)
    path.write_text(json.dumps({"settings": key, "result": result}, indent=1) + "\n")
    return result


# ------------------------------------------------------------------------------------------------- report


def table(summary: dict) -> str:
    lines = [
        "| space: method | retrained test accuracy | search time ÷ random search (same space) | parameters |",
        "|---|---|---|---|",
    ]
    for name, v in summary.items():
        acc = f"{v['test accuracy']['mean']:.3f} ± {v['test accuracy']['std']:.3f}"
        ratio = v["search time / random search"]
        ratio = "— (no search)" if ratio["mean"] == 0 else f"{ratio['mean']:.2f} ± {ratio['std']:.2f}"
        params = v["parameters"]
        params = f"{params['mean']:,.0f}" + (f" ± {params['std']:,.0f}" if params["std"] > 0 else "")
        lines.append(f"| {name} | {acc} | {ratio} | {params} |")
    return "\n".join(lines)


def plot(summary: dict, path: Path, seeds: int, steps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    colours = ["tab:blue" if n.startswith("conv") else "tab:orange" for n in names]
    labels = [n.split(": ", 1)[1] for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, metric, ylabel in zip(
        axes,
        ("test accuracy", "search time / random search", "parameters"),
        ("retrained test accuracy", "search CPU time ÷ random search w/ sharing", "parameters of the architecture"),
    ):
        means = [summary[n][metric]["mean"] for n in names]
        stds = [summary[n][metric]["std"] for n in names]
        ax.barh(np.arange(len(names)), means, xerr=stds, color=colours, capsize=2)
        ax.set_yticks(np.arange(len(names)))
        ax.set_yticklabels(labels if ax is axes[0] else [], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel, fontsize=8)
        if metric == "test accuracy":
            low = min(m - s for m, s in zip(means, stds))
            ax.set_xlim(max(0.0, low - 0.02), 1.0)
        if metric == "search time / random search":
            ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    axes[0].set_title("blue: conv space (TangleNAS), orange: cell space (ENAS)", fontsize=8)
    fig.suptitle(
        f"NAS on digits, each method in its own space: {steps} supernet weight steps, mean ± std over {seeds} seeds",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    s = json.loads(json.dumps(SETTINGS))
    smoke = "--smoke" in sys.argv
    from hf_methods.zoo import repo_root

    out_dir = repo_root() / "benchmarks" / "results"
    if smoke:
        s.update(seeds=[0], supernet_weight_steps=36, num_random_architectures=1, random_search_candidates=7)
        s["tanglenas"]["search_epochs"] = s["spos"]["search_epochs"] = 2
        s["enas"].update(epochs=2, child_steps_per_epoch=18, controller_steps_per_epoch=3, num_candidates=4)
        s["retrain"]["epochs"] = 2
        out_dir = Path(tempfile.mkdtemp(prefix="compare-nas-smoke-"))
    data = digits_split(0, **s["split"])
    per_epoch = -(-len(data.y) // s["batch_size"])
    assert s["tanglenas"]["search_epochs"] * per_epoch == s["supernet_weight_steps"], "conv budget"
    assert s["spos"]["search_epochs"] * per_epoch == s["supernet_weight_steps"], "SPOS budget"
    assert s["enas"]["epochs"] * s["enas"]["child_steps_per_epoch"] == s["supernet_weight_steps"], "cell budget"
    if not smoke:  # equal architecture evaluations in the cell space
        e = s["enas"]
        assert e["epochs"] * e["controller_steps_per_epoch"] + e["num_candidates"] == s["random_search_candidates"]
    cache = out_dir / "compare-nas"
    cache.mkdir(parents=True, exist_ok=True)

    start = time.time()
    per_seed: dict[str, list[dict[str, float]]] = {name: [] for name in ROWS.values()}
    details: dict[str, dict] = {}
    for seed in s["seeds"]:
        results = {}
        for row in ROWS:
            results[row] = cached(cache, row, seed, s)
            print(
                f"seed {seed} {row}: test {results[row]['test_accuracy']:.3f}, "
                f"search {results[row]['search_cpu_s']:.1f} CPU s",
                flush=True,
            )
        for row, name in ROWS.items():
            reference = results[REFERENCE.get(row, "rsws")]["search_cpu_s"]
            per_seed[name].append(
                {
                    "test accuracy": results[row]["test_accuracy"],
                    "search time / random search": results[row]["search_cpu_s"] / reference,
                    "parameters": results[row]["num_parameters"],
                }
            )
        details[f"seed{seed}"] = results
    path = report_comparison(
        "nas",
        description=__doc__,
        settings=s,
        per_seed=per_seed,
        started=start,
        title="NAS on digits",
        ylabel="",
        smoke=smoke,
        results_dir=out_dir,
    )
    record = json.loads(path.read_text())
    summary = summarize(per_seed)
    record["table"] = table(summary)
    record["details"] = details  # architectures found, raw CPU and wall seconds per row and seed
    path.write_text(json.dumps(record, indent=2) + "\n")
    plot(
        summary, path.with_suffix(".png"), len(s["seeds"]), s["supernet_weight_steps"]
    )  # replaces the generic bar chart (three scales)
    print()
    print(record["table"])


if __name__ == "__main__":
    main()
