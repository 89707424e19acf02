"""Train a tiny transformers ResNet on offline images and track its 3×3 filter quality (P30 `filter_db`, Gavrikov &
Keuper, CVPR 2022, "CNN Filter DB").

The model is a `ResNetForImageClassification` of "basic" blocks (`--width` channels in the first stage, doubled per
stage, `--depths` blocks per stage), trained with AdamW (linear decay) on scikit-learn digits resized to
`--image_size` (default) or Fashion-MNIST. At step 0, every `--track_every` steps and at the end, the recipe measures
each 3×3 convolution's sparsity, normalised variance entropy and orthogonality (`measure_conv_quality`); the
measurements go to the JSON logs (`filter_db/<metric>` means over layers), to `<output_dir>/analysis.json` (per layer,
per measured step; kept in the checkpoints, so a resumed run reports the whole history) and to a plot
`filter_quality.png` (final layers against initialisation) and `filter_entropy_history.png`, next to the trained
model, `metrics.json` and the card. The default run (digits, width 16, 200 steps) takes well under a minute on one core.

Usage:

```bash
accelerate launch recipes/filter_db.py
accelerate launch recipes/filter_db.py --dataset fashion_mnist --num_train 8000 --width 32 --max_steps 500
accelerate launch recipes/filter_db.py --resume_from_checkpoint latest   # continue a killed run
python recipes/filter_db.py --help                                       # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

import torch

from hf_methods.analysis.filter_db.callback import plot_quality_history
from hf_methods.analysis.filter_db.quality import ConvQuality, LayerQuality, measure_conv_quality, plot_conv_quality
from hf_methods.analysis.filter_db.training import FilterDBArguments, load_image_data, tiny_resnet_config
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "filter_db"

__all__ = ["FilterDBArguments", "main"]


class QualityHistory:
    """The measurements so far, saved with each checkpoint (`state_dict` / `load_state_dict`)."""

    def __init__(self):
        self.entries: list[dict] = []

    def add(self, step: int, quality: ConvQuality) -> None:
        self.entries.append({"step": step, "layers": [dataclasses.asdict(layer) for layer in quality.layers]})

    def quality(self, index: int) -> ConvQuality:
        return ConvQuality(layers=[LayerQuality(**layer) for layer in self.entries[index]["layers"]])

    def state_dict(self) -> dict:
        return {"entries": json.dumps(self.entries)}

    def load_state_dict(self, state: dict) -> None:
        self.entries = json.loads(state["entries"])


def main(argv: list[str] | None = None):
    from transformers import ResNetForImageClassification, get_scheduler

    args = parse_recipe_args(FilterDBArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    data = load_image_data(
        args.dataset,
        seed=args.seed,
        num_train=args.num_train or None,
        num_test=args.num_test or None,
        image_size=args.image_size,
    )
    torch.manual_seed(args.seed)
    model = ResNetForImageClassification(tiny_resnet_config(args.width, args.depth_list(), num_labels=10))
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=data.x_train, labels=data.y_train),
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=collate_batch,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=args.max_steps)
    model, optimizer, loader, scheduler = runner.prepare(model, optimizer, loader, scheduler)
    history = QualityHistory()
    runner.register_for_checkpointing(history)
    runner.print(f"[{SLUG}] {args.dataset}: {len(data.y_train)} training images, width {args.width}")

    def measure(step: int) -> None:
        quality = measure_conv_quality(runner.accelerator.unwrap_model(model), eps=args.sparsity_eps)
        history.add(step, quality)
        values = {f"filter_db/{m}": quality.mean(m) for m in ("sparsity", "variance_entropy_norm", "orthogonality")}
        runner.log(values, step, force=True)

    start = runner.resume()
    if start == 0:
        measure(0)
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = model(**batch).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": loss}, step)
        if (step + 1) % args.track_every == 0 or step + 1 == args.max_steps:
            measure(step + 1)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    final = measure_conv_quality(unwrapped, eps=args.sparsity_eps)
    metrics = {
        "eval/accuracy": accuracy(unwrapped, data.x_test, data.y_test),
        "eval/mean_sparsity": final.mean("sparsity"),
        "eval/mean_variance_entropy_norm": final.mean("variance_entropy_norm"),
        "eval/mean_orthogonality": final.mean("orthogonality"),
        "eval/deepest_variance_entropy_norm": final.layers[-1].variance_entropy_norm,
    }
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        report = {"final": final.to_dict(), "skipped": final.skipped, "history": history.entries}
        (runner.output_dir / "analysis.json").write_text(json.dumps(report, indent=2) + "\n")
        plot_conv_quality(
            {"trained": final, "init": history.quality(0)},
            runner.output_dir / "filter_quality.png",
            title=f"3×3 filter quality, {args.dataset}, width {args.width}",
        )
        measured = [(entry["step"], history.quality(i)) for i, entry in enumerate(history.entries)]
        plot_quality_history(measured, runner.output_dir / "filter_entropy_history.png")
    runner.finish(unwrapped, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
