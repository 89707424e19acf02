"""Quantization-aware training of a tiny ViT with OFQ (P39 `ofq`, Liu, Liu & Cheng, ICML 2023).

scikit-learn's 8×8 digits (1437 train / 360 test images) and a transformers `ViTForImageClassification` (patch 2 →
16 tokens, hidden 32, 2 layers, 2 heads). The recipe first trains the model in floating point for `--fp_epochs`
epochs (deterministic from the seed, so a resumed run rebuilds the same starting point), then quantizes it with
`quantize_vit` (StatsQ weights at `--w_bits`, LSQ activations at `--a_bits`, query–key reparameterisation) and runs
QAT with AdamW for `--max_steps` steps, the last `--cga_steps` of them with confidence-guided annealing (BR
`--boundary_range`). Every step logs the integer flips and the oscillation rate of the quantized weights, and the
fraction of weights CGA froze. At the end the output folder holds:

- `model.safetensors` / `config.json`: the QAT model's state (quantizer steps and biases included; load it by
  building `quantize_vit(ViTForImageClassification(config), ...)` with the same flags and `load_state_dict`), or,
  for weight-only quantization without QKR (`--a_bits 0 --qk_reparam False`), the merged plain ViT that
  `ViTForImageClassification.from_pretrained` loads as is;
- `quantized_weights.safetensors`: the packed integer codes and row scales (`load_quantized_weights` decodes them);
  `eval/bits_per_weight` is its size over the number of quantized weights.

There is no teacher distillation (the paper distils from the FP model). The default run takes about a minute on one
CPU core.

Usage:

```bash
accelerate launch recipes/ofq.py                                        # W2A4, StatsQ + QKR + CGA
accelerate launch recipes/ofq.py --weight_quantizer lsq --qk_reparam False --cga_steps 0 --output_dir outputs/ofq-lsq
accelerate launch recipes/ofq.py --a_bits 0 --qk_reparam False         # weight-only: saves a plain, merged ViT
accelerate launch recipes/ofq.py --resume_from_checkpoint latest
python recipes/ofq.py --help                                            # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.ofq.callbacks import ConfidenceGuidedAnnealing, OscillationTracker
from hf_methods.adapters.ofq.modeling import merge_and_unload, quantize_vit, quantized_weights, save_quantized_weights
from hf_methods.adapters.ofq.training import OFQArguments, digits_tensors, evaluate, tiny_digits_vit, train_fp
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "ofq"

__all__ = ["OFQArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(OFQArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    x, y, x_test, y_test = digits_tensors()
    vit = {"hidden_size": args.hidden_size, "num_layers": args.num_layers, "num_heads": args.num_heads}
    if args.fp_epochs > 0:
        model, fp_accuracy = train_fp(
            args.seed, epochs=args.fp_epochs, learning_rate=args.fp_learning_rate, batch_size=args.batch_size, **vit
        )
        runner.print(f"[{SLUG}] floating-point model: test accuracy {fp_accuracy:.4f}")
    else:
        model, fp_accuracy = tiny_digits_vit(args.seed, **vit), float("nan")
    a_bits = args.a_bits or None
    quantize_vit(
        model, w_bits=args.w_bits, a_bits=a_bits, weight_quantizer=args.weight_quantizer, qk_reparam=args.qk_reparam
    )
    with torch.no_grad():  # LSQ activation steps are initialised from one batch before the optimizer sees them
        model(pixel_values=x[: args.batch_size])
    dataset = TensorDictDataset(pixel_values=x, labels=y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    unwrapped = runner.accelerator.unwrap_model(model)
    tracker = OscillationTracker()
    annealing = ConfidenceGuidedAnnealing(args.boundary_range)
    cga_start = args.max_steps - args.cga_steps

    start = runner.resume()
    tracker.update(unwrapped)
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        anneal = step >= cga_start
        if anneal:
            annealing.before_step(unwrapped)
        optimizer.step()
        if anneal:
            annealing.after_step(unwrapped)
        record = tracker.update(unwrapped)
        metrics = {
            "train/loss": loss,
            "train/flips": record["flips"],
            "train/oscillation_rate": record["oscillation_rate"],
        }
        if anneal:
            metrics["train/cga_frozen_fraction"] = annealing.frozen_fraction
        runner.log(metrics, step)
        runner.maybe_checkpoint(step)

    metrics = {"eval/accuracy": evaluate(unwrapped, x_test.to(device), y_test.to(device))}
    if args.fp_epochs > 0:
        metrics["eval/fp_accuracy"] = fp_accuracy
    if runner.is_main_process:
        path = save_quantized_weights(unwrapped, args.output_dir)
        n_weights = sum(
            (m.qk_weight() if hasattr(m, "qk_weight") else m.weight).numel()
            for m in quantized_weights(unwrapped).values()
        )
        metrics["eval/bits_per_weight"] = 8.0 * path.stat().st_size / n_weights
    final = unwrapped
    if a_bits is None and not args.qk_reparam:
        final = merge_and_unload(unwrapped)  # a plain ViT: from_pretrained loads it without hf_methods
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(final, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
