"""Claim check for P37 `weight_matching`: why permutation-based weight matching gives linear mode connectivity.

Paper (Ito, Yamada & Kumagai, ICLR 2025): weight matching (WM, Ainsworth et al.) finds permutations under which two
independently trained models are linearly mode connected, yet it barely reduces their L2 distance; permutations
cannot change singular values, only singular vectors, and WM aligns the singular vectors with large singular values
(which determine the function) across models; WM also merges three or more models well.

CPU-scale setting (declared below before any run): MLPs 64-512-512-512-10 (ReLU) trained 10 epochs with Adam
(lr 1e-3, batch 64) on scikit-learn digits (80/20 split, split seed 0). Each seed s is one unit and trains three
models with seeds 3s, 3s+1, 3s+2 (init and data order): A, B, C. WM matches B (and C) to A (100 sweeps at most,
matching seed 0); losses are the test cross-entropy on the 360 test images; barriers use 11 points t. Rules:

- (a) the loss barrier between A and π(B) is at most half the barrier between A and B (mean over seeds of the ratio),
  and lower paired per seed;
- (b) the distance ratio R = ‖θ_A − π(θ_B)‖ / ‖θ_A − θ_B‖ ≥ 0.8 (WM does not shrink the distance much; the
  threshold is not calibrated by the paper's numbers: the measured R is what to read);
- (c) the singular values of every permuted weight matrix are unchanged by π: max relative change < 1e-5;
- (d) for the hidden layers' weights (whose output axis π permutes), the mean |⟨u_k^A, u_k^{πB}⟩| over the top-5
  singular indices exceeds the bottom-5 by ≥ 0.2, and exceeds the top-5 overlap without permutation by ≥ 0.2;
- (e) merging three models (uniform average) after matching B and C to A gives a lower merge barrier
  L(merge) − mean_i L(θ_i) than naive averaging (paired over seeds);
- π(B) computes B's function (max |Δlogit| < 1e-4, float32 summation order), and the merged model (1/2)(θ_A + π(θ_B))
  saved with `save_pretrained` reloads with `from_pretrained` to identical outputs; its size in bits per weight,
  read from the saved safetensors, is recorded (a merge is one model: 32-bit weights, nothing compressed).

Run: `python benchmarks/claims/weight_matching.py [--smoke]`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="weight_matching",
    settings={
        "model": {"hidden_sizes": [512, 512, 512], "hidden_act": "relu"},
        "training": {"epochs": 10, "batch_size": 64, "learning_rate": 1e-3},
        "data": {"test_size": 0.2, "split_seed": 0},
        "matching": {"max_iter": 100, "matching_seed": 0},
        "analysis": {"num_points": 11, "top_k": 5, "num_merged": 3},
    },
    seeds=[0, 1, 2, 3, 4],
    rules=[
        Threshold("(a) barrier after WM <= 0.5 x before", metric="barrier_ratio", method="WM", op="<=", value=0.5),
        Compare(
            "(a) barrier: WM vs no permutation",
            metric="barrier",
            method="WM",
            baseline="identity",
            higher_is_better=False,
        ),
        Threshold("(b) distance ratio R >= 0.8", metric="distance_ratio", method="WM", op=">=", value=0.8),
        Threshold(
            "(c) singular values unchanged by the permutation",
            metric="max_singular_value_change",
            method="WM",
            op="<",
            value=1e-5,
        ),
        Threshold(
            "(d) top-5 minus bottom-5 u-overlap >= 0.2", metric="top_minus_bottom_u", method="WM", op=">=", value=0.2
        ),
        Compare(
            "(d) top-5 u-overlap: WM vs no permutation", metric="top_u", method="WM", baseline="identity", margin=0.2
        ),
        Compare(
            "(e) 3-model merge barrier: WM vs naive averaging",
            metric="merge3_barrier",
            method="WM",
            baseline="identity",
            higher_is_better=False,
        ),
        Threshold(
            "permutation leaves the function unchanged",
            metric="function_max_abs_diff",
            method="WM",
            op="<",
            value=1e-4,
        ),
        Threshold(
            "merged model reloads to identical outputs", metric="reload_max_abs_diff", method="WM", op="==", value=0.0
        ),
    ],
    smoke={
        "model": {"hidden_sizes": [32, 32], "hidden_act": "relu"},
        "training": {"epochs": 1, "batch_size": 64, "learning_rate": 1e-3},
        "seeds": [0],
    },
    task={
        "type": "image-classification",
        "dataset_name": "scikit-learn digits",
        "dataset_type": "sklearn-digits",
        "split": "test (20%)",
    },
)


def run_seed(settings: dict, seed: int) -> dict:
    from hf_methods.adapters.weight_matching import (
        apply_permutation,
        average_models,
        interpolate_models,
        weight_matching,
    )
    from hf_methods.adapters.weight_matching.merging import evaluate_loss
    from hf_methods.adapters.weight_matching.training import analyse_pair, digits_batches, digits_mlp, train_mlp
    from hf_methods.common.data import load_digits

    m, tr, d, mt, an = (settings[k] for k in ("model", "training", "data", "matching", "analysis"))
    train, test = load_digits(test_size=d["test_size"], seed=d["split_seed"])
    x, y = torch.tensor(train.x), torch.tensor(train.y)
    batches = digits_batches(torch.tensor(test.x), torch.tensor(test.y))
    models = []
    for i in range(an["num_merged"]):
        model_seed = an["num_merged"] * seed + i
        model = digits_mlp(m["hidden_sizes"], m["hidden_act"], seed=model_seed)
        train_mlp(
            model, x, y, epochs=tr["epochs"], batch_size=tr["batch_size"], lr=tr["learning_rate"], seed=model_seed
        )
        models.append(model)
    a, b = models[0], models[1]
    out = analyse_pair(
        a,
        b,
        batches,
        num_points=an["num_points"],
        max_iter=mt["max_iter"],
        matching_seed=mt["matching_seed"],
        top_k=an["top_k"],
    )
    out["test_losses"] = [evaluate_loss(model, batches)[0] for model in models]

    # (e) several models: match every model to the first, then average uniformly
    matched = [a] + [
        apply_permutation(model, weight_matching(a, model, max_iter=mt["max_iter"], seed=mt["matching_seed"]))
        for model in models[1:]
    ]
    mean_endpoint = sum(out["test_losses"]) / len(models)
    out["merge3_loss"] = {
        "WM": evaluate_loss(average_models(matched), batches)[0],
        "identity": evaluate_loss(average_models(models), batches)[0],
    }
    out["merge3_barrier"] = {k: v - mean_endpoint for k, v in out["merge3_loss"].items()}

    # the merged pair as a plain checkpoint: save, reload, compare; bits per weight from the saved file
    merged = interpolate_models(a, apply_permutation(b, {k: torch.tensor(v) for k, v in out["perm"].items()}), 0.5)
    with torch.no_grad():
        before = torch.cat([merged(**batch).logits for batch in batches])
    with tempfile.TemporaryDirectory() as folder:
        merged.save_pretrained(folder)
        reloaded = type(merged).from_pretrained(folder).eval()
        with torch.no_grad():
            after = torch.cat([reloaded(**batch).logits for batch in batches])
        size = sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))
    out["reload_max_abs_diff"] = (after - before).abs().max().item()
    out["saved_bits_per_weight"] = 8 * size / sum(p.numel() for p in merged.parameters())
    del out["perm"]  # large; the cached result keeps the measurements only
    return out


def run(claim):
    s = claim.settings
    curves = {"no permutation": {}, "weight matching": {}}
    overlaps = {"no permutation": {}, "weight matching": {}}
    for seed in claim.seeds:
        r = claim.cached(f"seed{seed}", run_seed, s, seed)
        unit = f"seed{seed}"
        before, after = r["barrier_before"], r["barrier_after"]
        claim.record("identity", "barrier", before["barrier"], unit=unit)
        claim.record("WM", "barrier", after["barrier"], unit=unit)
        claim.record("WM", "barrier_ratio", after["barrier"] / before["barrier"], unit=unit)
        claim.record("identity", "midpoint_accuracy", before["metrics"]["accuracy"][len(before["ts"]) // 2], unit=unit)
        claim.record("WM", "midpoint_accuracy", after["metrics"]["accuracy"][len(after["ts"]) // 2], unit=unit)
        claim.record("WM", "distance_ratio", r["distance_ratio"], unit=unit)
        claim.record("WM", "max_singular_value_change", r["max_singular_value_change"], unit=unit)
        for name, key in (("identity", "alignment_before"), ("WM", "alignment_after")):
            al = r[key]
            claim.record(name, "top_u", al["top_u"], unit=unit)
            claim.record(name, "bottom_u", al["bottom_u"], unit=unit)
            claim.record(name, "top_minus_bottom_u", al["top_u"] - al["bottom_u"], unit=unit)
            claim.record(name, "top_v", al["top_v"], unit=unit)
            claim.record(name, "bottom_v", al["bottom_v"], unit=unit)
        for name in ("WM", "identity"):
            claim.record(name, "merge3_barrier", r["merge3_barrier"][name], unit=unit)
            claim.record(name, "merge3_loss", r["merge3_loss"][name], unit=unit)
        claim.record("WM", "function_max_abs_diff", r["function_max_abs_diff"], unit=unit)
        claim.record("WM", "reload_max_abs_diff", r["reload_max_abs_diff"], unit=unit)
        claim.record("WM", "saved_bits_per_weight", r["saved_bits_per_weight"], unit=unit)
        claim.record("WM", "matching_sweeps", r["iterations"], unit=unit)
        curves["no permutation"][unit] = list(zip(before["ts"], before["losses"]))
        curves["weight matching"][unit] = list(zip(after["ts"], after["losses"]))
        layer = sorted(r["alignment_after"]["layers"])[1]  # the first hidden-to-hidden weight (both axes permuted)
        for label, key in (("no permutation", "alignment_before"), ("weight matching", "alignment_after")):
            u = r[key]["layers"][layer]["u_overlap"]
            overlaps[label][unit] = [(i + 1, v) for i, v in enumerate(u)]
        claim.note(
            f"seed {seed}: barrier {before['barrier']:.4f} -> {after['barrier']:.4f}, R {r['distance_ratio']:.3f}, "
            f"{r['iterations']} sweeps, test losses {[round(v, 4) for v in r['test_losses']]}"
        )
    claim.plot_curves(
        "barrier",
        curves,
        xlabel="t  (θ(t) = (1 − t) θ_A + t θ_B)",
        ylabel="test cross-entropy",
        title="Digits MLP 512x3: loss along the linear path, before and after weight matching (mean ± std)",
    )
    claim.plot_curves(
        "singular-vectors",
        overlaps,
        xlabel="singular index k (descending σ)",
        ylabel="|<u_k^A, u_k^B>|",
        title=f"Left singular-vector overlap of {layer} (mean ± std over seeds)",
    )


if __name__ == "__main__":
    CLAIM.main(run)
