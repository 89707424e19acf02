"""Extract a robust weight signature on digits (P28 `rws`, Cai, Zhang & Wang, ICML 2023).

A small CNN (conv 3×3 1→16, conv 3×3 16→32, linear) is pretrained on clean scikit-learn digits (θ_pre, Adam) and
fine-tuned from θ_pre on clean digits (θ_std, SGD); both are cheap and rebuilt deterministically from `--seed`. The
robust fine-tune from θ_pre on corrupted digits (`--corruption`, `--severity`, a fresh draw every batch) is the
checkpointed training loop. The signature of the first `--n_shallow_layers` layers (the clean fine-tuning direction
projected out, quantized to `--bits` bits) is the output: an adapter-only folder (`rws_config.json` +
`rws_signature.safetensors` + card) that `RobustWeightSignature.from_pretrained` loads. The metrics compare the clean,
robust and patched models on the clean and the corrupted test split. The default run takes well under a minute.

Usage:

```bash
accelerate launch recipes/rws.py                                  # Gaussian noise σ = 0.5, 8-bit signature
accelerate launch recipes/rws.py --corruption gaussian_blur --severity 1.0 --output_dir outputs/rws-blur
accelerate launch recipes/rws.py --resume_from_checkpoint latest
python recipes/rws.py --help                                       # every knob
```
"""

from __future__ import annotations

import copy

import torch

from hf_methods.adapters.rws.signature import RobustWeightSignature
from hf_methods.adapters.rws.training import DigitsCNN, RWSArguments, accuracy, corrupt_digits, train_classifier
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.data import load_digits
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "rws"

__all__ = ["RWSArguments", "main"]


class _SignatureFolder(torch.nn.Module):
    """What `RecipeRunner.finish` saves: the signature alone (`finish` unwraps a module and calls `save_pretrained`)."""

    def __init__(self, signature: RobustWeightSignature):
        super().__init__()
        self.signature = signature

    def save_pretrained(self, save_directory, **kwargs):
        self.signature.save_pretrained(save_directory, **kwargs)


def main(argv: list[str] | None = None):
    args = parse_recipe_args(RWSArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    train, test = load_digits(test_size=0.2, seed=0)
    x, y = torch.as_tensor(train.x), torch.as_tensor(train.y).long()
    x_test, y_test = torch.as_tensor(test.x), torch.as_tensor(test.y).long()
    x_test_c = corrupt_digits(
        x_test, args.corruption, args.severity, generator=torch.Generator().manual_seed(10_000 + args.seed)
    )
    runner.print(f"[{SLUG}] {len(y)} train / {len(y_test)} test images, {args.corruption} at {args.severity}")

    # θ_pre and θ_std: rebuilt from the seed on every start (seconds), so a resumed run sees the same ones
    torch.manual_seed(args.seed)
    pretrained = train_classifier(
        DigitsCNN(args.channel_sizes()), x, y, epochs=args.pretrain_epochs,
        learning_rate=args.pretrain_learning_rate, optimizer="adam", batch_size=args.batch_size, seed=args.seed,
    )  # fmt: skip
    clean = train_classifier(
        copy.deepcopy(pretrained), x, y, epochs=args.clean_epochs, learning_rate=args.learning_rate,
        momentum=args.momentum, batch_size=args.batch_size, seed=args.seed + 1,
    )  # fmt: skip

    # θ_c: the robust fine-tune, checkpointed
    robust = copy.deepcopy(pretrained).train()
    optimizer = torch.optim.SGD(robust.parameters(), lr=args.learning_rate, momentum=args.momentum)
    dataset = TensorDictDataset(pixel_values=x, labels=y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    robust, optimizer, loader = runner.prepare(robust, optimizer, loader)
    start = runner.resume()
    for step, batch in runner.steps(loader, start):
        # the corruption of step s depends on (seed, s) only, so a resumed run draws what an uninterrupted one does
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        images = corrupt_digits(batch["pixel_values"].cpu(), args.corruption, args.severity, generator=g)
        loss = torch.nn.functional.cross_entropy(robust(images.to(device)), batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    robust = runner.accelerator.unwrap_model(robust).cpu().eval()
    signature = RobustWeightSignature.extract(
        clean, robust, pretrained, args.n_shallow_layers, project=args.project, corruption=args.corruption,
        default_scale=args.scale,
    )  # fmt: skip
    if args.bits:
        signature = signature.quantize(args.bits)
    patched = signature.apply(copy.deepcopy(clean), scale=args.scale)
    metrics = {}
    for name, model in (("clean", clean), ("robust", robust), ("patched", patched)):
        metrics[f"eval/{name}_clean_accuracy"] = accuracy(model, x_test, y_test)
        metrics[f"eval/{name}_corrupted_accuracy"] = accuracy(model, x_test_c, y_test)
    metrics["signature/values"] = signature.num_values
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(_SignatureFolder(signature), metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
