"""Quantize a digits MLP with jointly learnable codebooks and mappings (P55 `jlcm`, Yvinec, Dapogny & Bailly, ICLR 2024).

Trains a ReLU MLP (default 64-256-256-10) on scikit-learn's digits with Adam (`--max_steps`, checkpointed and
resumable), then quantizes every Linear post-training to `--bits`-bit grouped codebooks (`--n_groups` per layer,
neurons re-ordered into contiguous groups) and learns codebooks and mappings jointly for `--calib_steps` steps on
`--calib_size` training images with the proximal mapping gradient (`--mapping_update ste` for the plain one).

The output folder holds the compressed layers in `<output_dir>/jlcm/` (`jlcm_quantized.safetensors`: packed indices
and float16 codebooks; `eval/bits_per_weight` is measured from it; load with `load_codebook_model`) and, at its top,
the baked model (Ŵ = C[I] as plain weights): a vanilla checkpoint for `MLPForImageClassification.from_pretrained`.

The pieces live in `hf_methods.adapters.jlcm` (`quantizer.py`, `codebook.py`, `reorder.py`, `training.py`); this
file is the `accelerate launch` entry point around them.

Usage:

```bash
accelerate launch recipes/jlcm.py                                  # 2 bits, 4 groups, 200 search steps
accelerate launch recipes/jlcm.py --bits 3 --n_groups 8 --output_dir outputs/jlcm-3bit
accelerate launch recipes/jlcm.py --resume_from_checkpoint latest   # continue a killed training run
python recipes/jlcm.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.jlcm.training import JLCMArguments
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "jlcm"
__all__ = ["JLCMArguments", "main"]


def main(argv: list[str] | None = None):
    from hf_methods.adapters.jlcm import JLCMQuantizer, dequantize_codebooks, save_codebook_model
    from hf_methods.adapters.jlcm.training import digits_data, digits_mlp, test_accuracy
    from hf_methods.common.batches import TensorDictDataset, collate_batch

    args = parse_recipe_args(JLCMArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    x, y, xt, yt = digits_data(seed=0)
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=x, labels=y), batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch
    )
    model = digits_mlp((args.hidden_size, args.hidden_size), seed=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    model = runner.accelerator.unwrap_model(model).cpu().eval()
    metrics = {"eval/fp_accuracy": test_accuracy(model, xt, yt)}
    g = torch.Generator().manual_seed(args.seed)
    calib = {"pixel_values": x[torch.randperm(len(x), generator=g)[: args.calib_size]]}
    quantizer = JLCMQuantizer(
        bits=args.bits,
        n_groups=args.n_groups,
        steps=args.calib_steps,
        batch_size=args.calib_batch_size,
        codebook_lr=args.codebook_lr,
        mapping_lr=args.mapping_lr,
        mapping_update=args.mapping_update,
        reorder=args.reorder,
        seed=args.seed,
    )
    quantized = quantizer.quantize(model, calib)
    for step, value in enumerate(quantizer.history, start=1):
        if step % max(args.log_every, 1) == 0:
            runner.log({"calib/loss": value}, args.max_steps + step)
    metrics["eval/accuracy"] = test_accuracy(quantized, xt, yt)
    metrics["eval/calibration_error_initial"] = quantizer.reconstruction_error["initial"]
    metrics["eval/calibration_error_final"] = quantizer.reconstruction_error["final"]
    if runner.is_main_process:
        saved = save_codebook_model(quantized, runner.output_dir / "jlcm", save_config=False)
        metrics["eval/bits_per_weight"] = saved["bits_per_weight"]
        runner.print(f"[{SLUG}] {saved['bits_per_weight']:.3f} bits per weight ({saved['quantized_file']})")
    dequantize_codebooks(quantized)  # the top-level checkpoint is plain
    runner.finish(quantized, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
