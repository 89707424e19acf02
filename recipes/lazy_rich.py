"""Grokking as the lazy → rich transition on the paper's polynomial task (P26 `lazy_rich`, Kumar et al., ICLR 2024).

x ~ N(0, I/D), y = (βᵀx)²/2; the network f(x) = (1/N) Σ_i φ(w_iᵀx), φ(z) = z + (ε/2) z², without a readout, trained
as f_α = α (f − f₀) by full-batch gradient descent with η = N/α² on the centred squared loss. Every `--log_every`
steps the recipe records the train and test losses (relative to their start) and the relative weight change, every
`--ntk_every` steps the centred NTK–target alignment and kernel distance on probe test points; at the end it adds
the linearised model's losses (closed form from the initial NTK) and the K₀ kernel-regression level, reads off the
steps to fit the training set and the test set, and writes `<output_dir>/analysis.json` and `grokking.png` next to
the network (`FixedReadoutNetwork.from_pretrained`), `metrics.json` and the card. The curves are saved in each
checkpoint, so a resumed run ends with the same analysis as an uninterrupted one. The default run (α = 1, 10 000
steps: the test loss falls well after the training loss) takes about half a minute on one idle core.

Usage:

```bash
accelerate launch recipes/lazy_rich.py                                  # α = 1: rich, groks
accelerate launch recipes/lazy_rich.py --alpha 20 --max_steps 30000 --output_dir outputs/lazy_rich-lazy
accelerate launch recipes/lazy_rich.py --resume_from_checkpoint latest  # continue a killed run
python recipes/lazy_rich.py --help                                      # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

import torch

from hf_methods.analysis.lazy_rich.analysis import kernel_regression_mse, linearized_gd_losses
from hf_methods.analysis.lazy_rich.training import (
    GrokkingResult,
    LazyRichArguments,
    finish_result,
    grokking_setup,
)
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "lazy_rich"

__all__ = ["LazyRichArguments", "main"]

CURVES = ("steps", "train_loss", "test_loss", "relative_weight_change", "ntk_steps", "alignment", "kernel_distance")


class CurveHistory:
    """The measured curves, saved with each checkpoint (`state_dict` of float64 tensors)."""

    def __init__(self):
        self.curves = {name: [] for name in CURVES}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: torch.tensor(values, dtype=torch.float64) for name, values in self.curves.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.curves = {name: state[name].tolist() for name in CURVES}


def main(argv: list[str] | None = None):
    args = parse_recipe_args(LazyRichArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    config = args.grokking_config()
    setup = grokking_setup(config, args.seed)
    history = CurveHistory()
    # full-batch gradient descent: one "batch" per step, the training set itself lives in `setup`
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(step=torch.zeros(1)), batch_size=1, collate_fn=collate_batch
    )
    network = setup.model.model
    optimizer = torch.optim.SGD(network.parameters(), lr=config.learning_rate)
    network, optimizer, loader = runner.prepare(network, optimizer, loader)
    runner.register_for_checkpointing(history)
    runner.print(
        f"[{SLUG}] D = {config.input_dim}, P = {config.num_train}, N = {config.width}, ε = {config.epsilon:g}, "
        f"α = {config.alpha:g}, η = {config.learning_rate:g}"
    )

    def measure(step: int) -> None:
        curves = history.curves
        if step % config.eval_every == 0 or step == args.max_steps:
            losses = setup.measure_losses()
            curves["steps"].append(step)
            for key in ("train_loss", "test_loss", "relative_weight_change"):
                curves[key].append(losses[key])
            runner.log({f"eval/{k}": v for k, v in losses.items()}, step, force=True)
        if step % config.ntk_every == 0 or step == args.max_steps:
            kernel = setup.measure_kernel()
            curves["ntk_steps"].append(step)
            curves["alignment"].append(kernel["alignment"])
            curves["kernel_distance"].append(kernel["kernel_distance"])

    start = runner.resume()
    for step, _ in runner.steps(loader, start):
        measure(step)
        runner.accelerator.unwrap_model(network).weight.grad = setup.train_gradient()
        optimizer.step()
        optimizer.zero_grad()
        runner.maybe_checkpoint(step)
    if not history.curves["steps"] or history.curves["steps"][-1] != args.max_steps:
        measure(args.max_steps)

    task = setup.task
    result = GrokkingResult(alpha=config.alpha, epsilon=config.epsilon)
    for name in CURVES:
        values = history.curves[name]
        setattr(result, name, [int(v) for v in values] if name.endswith("steps") else list(values))
    linear_train, linear_test = linearized_gd_losses(
        setup.kernel_train,
        setup.kernel_test_train,
        task.y_train,
        task.y_test,
        learning_rate=config.learning_rate,
        steps=result.steps,
    )
    result.linearized_train_loss = [v / setup.initial_train_loss for v in linear_train]
    result.linearized_test_loss = [v / setup.initial_test_loss for v in linear_test]
    mse = kernel_regression_mse(setup.kernel_train, setup.kernel_test_train, task.y_train, task.y_test)
    result.kernel_regression_mse = mse / setup.initial_test_loss
    finish_result(result, config)

    metrics = {
        "eval/train_loss": result.train_loss[-1],
        "eval/test_loss": result.test_loss[-1],
        "eval/linearized_test_loss": result.linearized_test_loss[-1],
        "eval/kernel_regression_mse": result.kernel_regression_mse,
        "eval/alignment_change": result.alignment_change,
        "eval/relative_weight_change": result.relative_weight_change[-1],
    }
    for key in ("steps_to_train_fit", "steps_to_test_fit", "grokking_delay"):
        if getattr(result, key) is not None:
            metrics[f"eval/{key}"] = getattr(result, key)
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        (runner.output_dir / "analysis.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
        result.save_plot(runner.output_dir / "grokking.png", title=f"Polynomial task, α = {config.alpha:g}")
    runner.finish(network, metrics=metrics, card_kwargs={"pipeline_tag": "tabular-regression"})
    return metrics


if __name__ == "__main__":
    main()
