"""Train two digits MLPs from different seeds, match them by weight matching and save their merge (P37
`weight_matching`, Ito, Yamada & Kumagai, ICLR 2025; weight matching from Ainsworth et al., "Git Re-Basin").

Trains MLP A (`--seed`) and MLP B (`--partner_seed`, its own init and its own data order) side by side with Adam on
scikit-learn's digits for `--max_steps` steps (checkpointed and resumable: both models and optimizers), then finds
the permutation of B's hidden units closest to A (`weight_matching`, at most `--max_iter` sweeps of
`scipy.optimize.linear_sum_assignment`), and reports on the 20 % test split: the loss barrier along the linear path
before and after matching (`--num_points` values of t), the distance ratio R = ‖θ_A − π(θ_B)‖ / ‖θ_A − θ_B‖, and the
singular-vector overlaps of the hidden layers (top/bottom `--top_k`). The output folder holds the merged model
(1 − t) θ_A + t π(θ_B) with t = `--merge_t`: a plain `save_pretrained` checkpoint.

The pieces live in `hf_methods.adapters.weight_matching`; this file is the `accelerate launch` entry point.

Usage:

```bash
accelerate launch recipes/weight_matching.py                          # 512x3 MLPs, 230 steps each
accelerate launch recipes/weight_matching.py --partner_seed 7 --merge_t 0.3
accelerate launch recipes/weight_matching.py --resume_from_checkpoint latest
python recipes/weight_matching.py --help                              # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.weight_matching.training import WeightMatchingArguments
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "weight_matching"
__all__ = ["WeightMatchingArguments", "main"]


def main(argv: list[str] | None = None):
    from hf_methods.adapters.weight_matching import interpolate_models
    from hf_methods.adapters.weight_matching.merging import evaluate_loss
    from hf_methods.adapters.weight_matching.training import (
        accuracy_metric,
        analyse_pair,
        digits_batches,
        digits_mlp,
        parse_hidden_sizes,
    )
    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.common.data import load_digits

    args = parse_recipe_args(WeightMatchingArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    train, test = load_digits(seed=0)
    x, y = torch.tensor(train.x), torch.tensor(train.y)
    # model B reads the training set through a fixed shuffle of its own: same batches index, other examples
    order_b = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.partner_seed))
    dataset = TensorDictDataset(pixel_values=x, labels=y, pixel_values_b=x[order_b], labels_b=y[order_b])
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    sizes = parse_hidden_sizes(args.hidden_sizes)
    model_a = digits_mlp(sizes, args.hidden_act, seed=args.seed)
    model_b = digits_mlp(sizes, args.hidden_act, seed=args.partner_seed)
    opt_a = torch.optim.Adam(model_a.parameters(), lr=args.learning_rate)
    opt_b = torch.optim.Adam(model_b.parameters(), lr=args.learning_rate)
    model_a, model_b, opt_a, opt_b, loader = runner.prepare(model_a, model_b, opt_a, opt_b, loader)
    start = runner.resume()
    model_a.train()
    model_b.train()
    for step, batch in runner.steps(loader, start):
        losses = {}
        for key, model, optimizer, suffix in (("a", model_a, opt_a, ""), ("b", model_b, opt_b, "_b")):
            logits = model(pixel_values=batch[f"pixel_values{suffix}"]).logits
            loss = torch.nn.functional.cross_entropy(logits, batch[f"labels{suffix}"])
            optimizer.zero_grad()
            runner.accelerator.backward(loss)
            optimizer.step()
            losses[f"train/loss_{key}"] = loss
        runner.log(losses, step)
        runner.maybe_checkpoint(step)

    model_a = runner.accelerator.unwrap_model(model_a).cpu().eval()
    model_b = runner.accelerator.unwrap_model(model_b).cpu().eval()
    batches = digits_batches(torch.tensor(test.x), torch.tensor(test.y))
    result = analyse_pair(
        model_a,
        model_b,
        batches,
        num_points=args.num_points,
        max_iter=args.max_iter,
        matching_seed=args.matching_seed,
        top_k=args.top_k,
    )
    from hf_methods.adapters.weight_matching import apply_permutation

    permuted = apply_permutation(model_b, {k: torch.tensor(v) for k, v in result["perm"].items()})
    merged = interpolate_models(model_a, permuted, args.merge_t)
    naive = interpolate_models(model_a, model_b, args.merge_t)
    merged_loss, merged_metrics = evaluate_loss(merged, batches, metric_fn=accuracy_metric)
    naive_loss, naive_metrics = evaluate_loss(naive, batches, metric_fn=accuracy_metric)
    before, after = result["barrier_before"], result["barrier_after"]
    metrics = {
        "eval/loss_a": before["losses"][0],
        "eval/loss_b": before["losses"][-1],
        "eval/barrier_before": before["barrier"],
        "eval/barrier_after": after["barrier"],
        "eval/distance_ratio": result["distance_ratio"],
        "eval/top_u_overlap_before": result["alignment_before"]["top_u"],
        "eval/top_u_overlap_after": result["alignment_after"]["top_u"],
        "eval/bottom_u_overlap_after": result["alignment_after"]["bottom_u"],
        "eval/max_singular_value_change": result["max_singular_value_change"],
        "eval/function_max_abs_diff": result["function_max_abs_diff"],
        "eval/matching_sweeps": result["iterations"],
        "eval/merged_loss": merged_loss,
        "eval/merged_accuracy": merged_metrics["accuracy"],
        "eval/naive_merged_loss": naive_loss,
        "eval/naive_merged_accuracy": naive_metrics["accuracy"],
    }
    runner.print(
        f"[{SLUG}] barrier {before['barrier']:.4f} -> {after['barrier']:.4f} after weight matching "
        f"({result['iterations']} sweeps); R = {result['distance_ratio']:.3f}; merged accuracy "
        f"{naive_metrics['accuracy']:.3f} (naive) -> {merged_metrics['accuracy']:.3f} (matched)"
    )
    runner.finish(merged, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
