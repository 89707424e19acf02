"""Recipe for P45 `stable`: refine an attacked graph without labels, then train STABLE's advanced GCN on it.

Li, Liu, Ao, Chi, Feng, Yang, He, "Reliable Representations Make A Stronger Defender: Unsupervised Structure
Refinement for Robust GNN" (KDD 2022). The embedded offline task: the 1,797 scikit-learn digits as nodes of their
10-NN graph (pixels), 10 % labelled / 10 % validation / 80 % test nodes, attacked with DICE at `--ptb_rate` of the
edges (or `--attack random` flips, or `none`). Steps:

1. `stable_refine_graph`: Jaccard pre-pruning (`--jaccard_t`), DGI representations with edge-recovery views
   (`--embedding_dim`, `--dgi_epochs`, `--beta`), cosine pruning of the attacked graph (`--cos_t`) and `--k` reliable
   neighbours per node; the refinement is seeded, so a resumed run recomputes the same graph;
2. `--max_steps` full-batch epochs of `STABLEForNodeClassification` (α = `--alpha`) on the representations and the
   refined graph, keeping the weights of the best validation epoch (kept in checkpoints, so resuming is exact).

Usage:

```bash
accelerate launch recipes/stable.py                                  # DICE 20 %, Cora-20 % hyper-parameters
accelerate launch recipes/stable.py --attack random --ptb_rate 0.1 --alpha 0.3 --k 5
accelerate launch recipes/stable.py --resume_from_checkpoint latest
```

The output folder holds the classifier (`AutoModel.from_pretrained(folder, trust_remote_code=True)`) and
`graph.safetensors` with its inputs: the representations `x`, the refined graph's `edge_index`, the node `labels` and
the split masks.
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.stable.training import StableArguments, attack_graph, digits_graph

SLUG = "stable"

__all__ = ["StableArguments", "main"]


class BestWeights:
    """The weights of the best validation epoch so far (lowest loss or highest accuracy), saved with checkpoints."""

    def __init__(self):
        self.loss, self.accuracy, self.weights = float("inf"), -1.0, None

    def update(self, model, loss: float, accuracy: float) -> None:
        better_loss, better_accuracy = loss < self.loss, accuracy > self.accuracy
        if better_loss:
            self.loss = loss
        if better_accuracy:
            self.accuracy = accuracy
        if better_loss or better_accuracy:
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def state_dict(self):
        return {"loss": self.loss, "accuracy": self.accuracy, "weights": self.weights}

    def load_state_dict(self, state):
        self.loss, self.accuracy, self.weights = state["loss"], state["accuracy"], state["weights"]


def main(argv=None):
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from hf_methods.common.graph import adjacency_to_edge_index, inter_class_edge_fraction
    from hf_methods.models.stable import STABLEForNodeClassification, stable_refine_graph

    args = parse_recipe_args(StableArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    graph = digits_graph(args.knn, seed=args.seed)
    attacked = attack_graph(graph.adj, graph.labels, args.attack, args.ptb_rate, seed=args.seed)
    refined, embeddings, info = stable_refine_graph(
        graph.x,
        attacked,
        jaccard_t=args.jaccard_t,
        cos_t=args.cos_t,
        k=args.k,
        beta=args.beta,
        embedding_dim=args.embedding_dim,
        learning_rate=args.dgi_learning_rate,
        max_epochs=args.dgi_epochs,
        patience=args.dgi_patience,
        seed=args.seed,
        return_info=True,
    )
    runner.print(
        f"[{SLUG}] refined: {info.edges_attacked} attacked edges, {info.edges_after_cosine_pruning} after pruning, "
        f"{info.directed_edges_refined} directed edges with {args.k} neighbours added; DGI stopped after "
        f"{info.dgi['epochs']} epochs"
    )

    model = STABLEForNodeClassification(args.stable_config(num_labels=10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(1)), batch_size=1)
    best = BestWeights()
    runner.register_for_checkpointing(best)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    unwrapped = runner.accelerator.unwrap_model(model)
    device = unwrapped.device
    x, adj, labels = embeddings.to(device), refined.to(device), graph.labels.to(device)
    train_labels = torch.where(graph.train_mask.to(device), labels, torch.full_like(labels, -100))
    val = graph.val_mask.to(device)
    for step, _ in runner.steps(loader, start):  # one full-batch epoch per step
        model.train()
        loss = model(x, adjacency=adj, labels=train_labels).loss
        runner.accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            logits = model(x, adjacency=adj).logits
        val_loss = F.cross_entropy(logits[val], labels[val]).item()
        val_accuracy = (logits[val].argmax(-1) == labels[val]).float().mean().item()
        best.update(unwrapped, val_loss, val_accuracy)
        runner.log({"train/loss": loss, "eval/val_loss": val_loss, "eval/val_accuracy": val_accuracy}, step)
        runner.maybe_checkpoint(step)

    if best.weights is not None:
        unwrapped.load_state_dict(best.weights)
    unwrapped.eval()
    with torch.no_grad():
        predictions = unwrapped(x, adjacency=adj).logits.argmax(-1)
    accuracy = {
        name: (predictions[mask] == labels[mask]).float().mean().item()
        for name, mask in (("val", graph.val_mask), ("test", graph.test_mask))
    }
    metrics = {
        "eval/val_accuracy": accuracy["val"],
        "eval/test_accuracy": accuracy["test"],
        "graph/inter_class_attacked": inter_class_edge_fraction(attacked, graph.labels),
        "graph/inter_class_refined": inter_class_edge_fraction(refined, graph.labels),
    }
    runner.log(metrics, runner.step, force=True)
    runner.finish(model, metrics=metrics, datasets=None, base_model=None)
    if runner.is_main_process:
        edge_index, edge_weight = adjacency_to_edge_index(refined)
        inputs = {
            "x": embeddings.contiguous(),
            "edge_index": edge_index,
            "edge_weight": edge_weight.contiguous(),
            "labels": graph.labels,
            "train_mask": graph.train_mask,
            "val_mask": graph.val_mask,
            "test_mask": graph.test_mask,
        }
        save_file(inputs, str(runner.output_dir / "graph.safetensors"))
    return metrics


if __name__ == "__main__":
    main()
