"""Train a tanh MLP on noisy-label digits with LDR-KL / ALDR-KL (P35 `ldr`, Zhu, Ying & Yang, ICML 2023).

scikit-learn's 8×8 digits (1437 train / 360 test images), a fraction `--noise_rate` of the *training* labels
corrupted (`--noise_kind uniform`: replaced by another class drawn uniformly; `flip`: c → c+1), a tanh MLP
64-256-256-10 (`MLPForImageClassification`), SGD with momentum 0.9 and the learning rate divided by 10 at 50% and 75%
of the run, as in the official experiments (`Optimization-AI/ICML2023_LDR`, `experiment.py`: lr 1e-3, weight decay
5e-3, batch 64, 100 epochs for the tabular MLPs, λ = 10, c = 0.1, α = 2). Each batch carries the examples'
`sample_idx`, which ALDR-KL uses to index its per-example temperature buffer; that buffer is checkpointed with the
model, so a killed and resumed run ends with the same weights as an uninterrupted one. At the end the recipe reports
the accuracy on the clean test set, on the noisy training labels and on the true training labels. The default run
takes about 15 s on 2 CPU cores and reaches about 0.87 clean test accuracy (cross-entropy: about 0.82; see
`benchmarks/claims/ldr.py` for the seeded comparison).

Usage:

```bash
accelerate launch recipes/ldr.py --loss aldr_kl --noise_rate 0.6          # the default run (~100 epochs)
accelerate launch recipes/ldr.py --loss ce --output_dir outputs/ldr-ce    # the cross-entropy baseline
accelerate launch recipes/ldr.py --loss ldr_kl --lambda_ 10 --margin 0.1
accelerate launch recipes/ldr.py --resume_from_checkpoint latest          # continue a killed run
ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/ldr.py --max_steps 5 --output_dir /tmp/ldr
python recipes/ldr.py --help                                             # every knob
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.data import add_label_noise, load_digits
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
from hf_methods.harness.recipe import RecipeArguments, RecipeRunner, parse_recipe_args
from hf_methods.training.ldr.loss import LOSSES, build_loss, needs_index

SLUG = "ldr"
NUM_CLASSES = 10


@dataclass
class LDRArguments(RecipeArguments):
    max_steps: int = field(default=2300, metadata={"help": "Optimisation steps (2300 ≈ 100 epochs of 23 batches)."})
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    loss: str = field(default="aldr_kl", metadata={"help": f"The training loss: one of {sorted(LOSSES)}."})
    noise_rate: float = field(default=0.6, metadata={"help": "Fraction of training labels corrupted."})
    noise_kind: str = field(default="uniform", metadata={"help": "'uniform' (another class at random) or 'flip'."})
    learning_rate: float = field(
        default=1e-3, metadata={"help": "SGD learning rate (divided by 10 at 1/2 and 3/4 of the run)."}
    )
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-3, metadata={"help": "SGD weight decay (L2 penalty)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    lambda_: float = field(default=10.0, metadata={"help": "λ of LDR-KL, λ0 of ALDR-KL."})
    margin: float = field(default=0.1, metadata={"help": "Margin c of LDR-KL / ALDR-KL."})
    alpha: float = field(default=2.0, metadata={"help": "α > 1 of ALDR-KL (λ_i ∈ [λ0(1 − 1/α), λ0])."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two tanh hidden layers."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the clean test set."})
    cpu_threads: int = field(
        default=1,
        metadata={
            "help": "torch threads per process on CPU (0: torch's default); the MLP is too small "
            "to gain from more, and extra threads slow it down on a busy machine."
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if not 0.0 <= self.noise_rate <= 1.0:
            raise ValueError(f"--noise_rate must be in [0, 1], got {self.noise_rate}")
        if self.noise_kind not in ("uniform", "flip"):
            raise ValueError(f"--noise_kind must be 'uniform' or 'flip', got {self.noise_kind!r}")
        for name in ("learning_rate", "batch_size", "hidden_size", "lambda_"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0 or self.momentum < 0 or self.margin < 0:
            raise ValueError("--weight_decay, --momentum and --margin must be >= 0")
        if self.alpha <= 1:
            raise ValueError(f"--alpha must be > 1, got {self.alpha}")
        if self.cpu_threads < 0:
            raise ValueError(f"--cpu_threads must be >= 0, got {self.cpu_threads}")


class IndexedDigits(torch.utils.data.Dataset):
    """Digits as `{"pixel_values", "labels", "sample_idx"}` items; `sample_idx` is the position in this set."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i], "sample_idx": torch.tensor(i)}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A whole batch at once (the DataLoader's batched fetch), already collated."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {"pixel_values": self.x[idx], "labels": self.y[idx], "sample_idx": idx}


def _collated(batch):
    return batch


def lr_at(step: int, args: LDRArguments) -> float:
    """The official schedule: the learning rate divided by 10 at 50% and 75% of the run."""
    decays = sum(step >= int(f * args.max_steps) for f in (0.5, 0.75))
    return args.learning_rate * 0.1**decays


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    was_training = model.training
    model.eval()
    correct = sum(
        (model(pixel_values=x[i : i + batch_size]).logits.argmax(-1) == y[i : i + batch_size]).sum().item()
        for i in range(0, len(y), batch_size)
    )
    model.train(was_training)
    return correct / len(y)


def main(argv: list[str] | None = None):
    args = parse_recipe_args(LDRArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    if device.type == "cpu" and args.cpu_threads > 0:
        torch.set_num_threads(args.cpu_threads)

    # the split and the label noise depend on the seed only, so every process builds the same data
    train, test = load_digits(test_size=args.test_size, seed=args.seed)
    noisy = add_label_noise(train.y, args.noise_rate, NUM_CLASSES, kind=args.noise_kind, seed=args.seed)
    x_train, y_clean = train.tensors()
    y_noisy = torch.from_numpy(noisy)
    x_test, y_test = test.tensors()
    dataset = IndexedDigits(x_train, y_noisy)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=_collated)
    runner.print(
        f"[{SLUG}] {len(dataset)} train / {len(y_test)} test images, "
        f"{(y_noisy != y_clean).float().mean().item():.1%} of the training labels corrupted ({args.noise_kind})"
    )

    config = MLPConfig(input_size=64, hidden_sizes=[args.hidden_size] * 2, hidden_act="tanh", num_labels=NUM_CLASSES)
    model = MLPForImageClassification(config)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay
    )
    kwargs = {"ce": {}, "ldr_kl": {"lambda_": args.lambda_, "margin": args.margin}}.get(
        args.loss, {"lambda0": args.lambda_, "alpha": args.alpha, "margin": args.margin}
    )
    loss_fn = build_loss(args.loss, num_samples=len(dataset), **kwargs).to(device)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    if needs_index(loss_fn):
        runner.register_for_checkpointing(loss_fn)  # the λ buffer is part of the training state

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        logits = model(pixel_values=batch["pixel_values"]).logits
        if needs_index(loss_fn):
            loss = loss_fn(logits, batch["labels"], batch["sample_idx"])
            if runner.accelerator.num_processes > 1:
                loss_fn.sync(batch["sample_idx"], runner.accelerator.gather)
        else:
            loss = loss_fn(logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        logs = {"train/loss": loss, "train/lr": lr_at(step, args)}
        if needs_index(loss_fn):
            logs["train/mean_lambda"] = loss_fn.lambdas.mean()
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) data set: evaluate the unwrapped model locally
    unwrapped = runner.accelerator.unwrap_model(model)
    x_train, y_clean, y_noisy, x_test, y_test = (t.to(device) for t in (x_train, y_clean, y_noisy, x_test, y_test))
    metrics = {
        "eval/clean_accuracy": accuracy(unwrapped, x_test, y_test),
        "eval/noisy_train_accuracy": accuracy(unwrapped, x_train, y_noisy),
        "eval/clean_train_accuracy": accuracy(unwrapped, x_train, y_clean),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
