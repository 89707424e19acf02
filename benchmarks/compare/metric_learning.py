"""Side by side: the deep-metric-learning regularisers of the zoo against their common base loss.

One shared task and one shared training loop, so the only thing that differs between rows is the objective:

- task: zero-shot retrieval on scikit-learn's digits (`hf_methods.training.ecaml.training.zero_shot_digits`): train
  on the training split of classes 0-4, retrieve among all images of classes 5-9 (never trained on);
- model: the embedding MLP 64-128-64 → 32 (ReLU, `MLPForMetricLearning`), the same initial weights and batch order for
  every objective of a seed;
- training: Adam (lr 1e-3, weight decay 1e-4), batches of 64, 600 steps;
- evaluation: leave-one-out cosine Recall@1 / @2 / @4 and k-means NMI on the unseen classes, and Recall@1 on the
  seen classes' test images.

Rows (each with its recipe's default hyper-parameters, none tuned here), all on the shared contrastive loss
(cosine similarity, margin 0.5):

- Contrastive: the base loss alone;
- ECAML: plus the energy-confusion term λ·log E on the detached features (λ = 0.13, 10 partners; `ecaml`);
- Metrix: plus the embedding-level mixing term (λ ~ Beta(2, 2), positive-negative 0.4 / anchor-negative 0.3;
  `metrix`).

This is a comparison, not a claim: it has no pass/fail rule (each method's own claim tests its paper). Run:
`OMP_NUM_THREADS=1 python benchmarks/compare/metric_learning.py` (about 2 minutes on one thread; `--smoke` for a
short run). Writes `benchmarks/results/compare-metric_learning.json` and `.png`.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from hf_methods.common.metric_learning import contrastive_loss
from hf_methods.harness.compare import report_comparison
from hf_methods.training.ecaml import EnergyConfusionLoss
from hf_methods.training.ecaml.training import embedding_mlp, evaluate_embeddings, zero_shot_digits
from hf_methods.training.metrix import MetrixLoss
from hf_methods.training.metrix.trainer import metrix_step_loss

SETTINGS = {
    "seeds": [0, 1, 2],
    "steps": 600,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 1e-4,
    "margin": 0.5,
    "ecaml": {"ec_weight": 0.13, "num_partners": 10},
    "metrix": {"alpha": 2.0, "weight": 0.4, "anchor_negative_weight": 0.3},
}
METHODS = ("Contrastive", "ECAML", "Metrix")
METRICS = ("unseen recall@1", "unseen recall@2", "unseen recall@4", "unseen nmi", "seen recall@1")


def train(method: str, data, seed: int, s: dict) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = embedding_mlp((128, 64), 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=s["learning_rate"], weight_decay=s["weight_decay"])
    energy_confusion = EnergyConfusionLoss(s["ecaml"]["num_partners"], s["ecaml"]["ec_weight"])
    metrix = MetrixLoss(base="contrastive", level="embedding", margin=s["margin"], seed=seed, **s["metrix"])
    order = torch.Generator().manual_seed(seed)
    batches = iter(())
    model.train()
    for _ in range(s["steps"]):
        idx = next(batches, None)
        if idx is None or len(idx) < 2:
            batches = iter(torch.randperm(len(data.train), generator=order).split(s["batch_size"]))
            idx = next(batches)
        x, y = data.train.x[idx], data.train.y[idx]
        if method == "Metrix":
            loss, _ = metrix_step_loss(model, {"pixel_values": x}, y, metrix, embeddings_of=lambda out: out.embeddings)
        else:
            out = model(pixel_values=x)
            loss = contrastive_loss(out.embeddings, y, margin=s["margin"])
            if method == "ECAML":
                loss = loss + energy_confusion(model.get_embedding_head()(out.features.detach()), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def evaluate(model, data, seed: int) -> dict[str, float]:
    unseen = evaluate_embeddings(model, data.unseen, seed=seed)
    seen = evaluate_embeddings(model, data.seen_test, seed=seed)
    return {
        "unseen recall@1": unseen["recall@1"],
        "unseen recall@2": unseen["recall@2"],
        "unseen recall@4": unseen["recall@4"],
        "unseen nmi": unseen["nmi"],
        "seen recall@1": seen["recall@1"],
    }


def main() -> None:
    s = json.loads(json.dumps(SETTINGS))
    smoke = "--smoke" in sys.argv
    if smoke:
        s.update(seeds=[0], steps=20)
    per_seed: dict[str, list[dict]] = {m: [] for m in METHODS}
    start = time.time()
    for seed in s["seeds"]:
        data = zero_shot_digits(seed)
        for method in METHODS:
            result = evaluate(train(method, data, seed, s), data, seed)
            per_seed[method].append(result)
            print(f"seed {seed} {method:12s} " + " ".join(f"{k}={v:.3f}" for k, v in result.items()), flush=True)
    report_comparison(
        "metric_learning",
        description="metric-learning regularisers vs the contrastive base loss, zero-shot digits retrieval",
        settings=s,
        per_seed=per_seed,
        started=start,
        title="Metric-learning regularisers on zero-shot digits retrieval (classes 5-9 unseen)",
        ylabel=f"mean ± std, {len(s['seeds'])} seeds",
        smoke=smoke,
    )


if __name__ == "__main__":
    main()
