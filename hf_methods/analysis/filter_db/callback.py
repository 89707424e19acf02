"""[`FilterQualityCallback`]: the 3×3 filter metrics of Gavrikov & Keuper (CVPR 2022) tracked during training."""

from __future__ import annotations

from transformers import TrainerCallback

from hf_methods.common.checks import check_positive_int

from .quality import METRICS, ConvQuality, measure_conv_quality

LOGGED = ("sparsity", "variance_entropy_norm", "orthogonality")


class FilterQualityCallback(TrainerCallback):
    """Measures [`measure_conv_quality`] on the trained model at the start of training and every `every_n_steps`
    optimiser steps (and at the last step), keeps the results and adds them to the `Trainer`'s log history.

    Each measurement appends one entry to `state.log_history` (so it lands in `trainer_state.json` and in every
    checkpoint) with the step and, per layer, `filter_db/<layer>/<metric>` for the sparsity, the normalised variance
    entropy and the orthogonality, plus their means over layers (`filter_db/mean/<metric>`).

    Args:
        every_n_steps (`int`): measurement interval in optimiser steps.
        eps (`float`): the sparsity threshold relative to each layer's peak (default 1%).

    Attributes:
        history (`list[tuple[int, ConvQuality]]`): `(global step, measurement)` pairs; step 0 is the initialisation.

    Example:

    ```python
    callback = FilterQualityCallback(every_n_steps=50)
    trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[callback])
    trainer.train()
    callback.save_plot("filter_quality.png")
    ```
    """

    def __init__(self, every_n_steps: int = 100, *, eps: float = 0.01):
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        self.eps = eps
        self.history: list[tuple[int, ConvQuality]] = []

    def _measure(self, model, state) -> None:
        if model is None:
            raise ValueError("FilterQualityCallback needs the model: use it inside a transformers.Trainer")
        if self.history and self.history[-1][0] == state.global_step:
            return
        quality = measure_conv_quality(model, eps=self.eps)
        self.history.append((state.global_step, quality))
        entry = {"step": state.global_step}
        for metric in LOGGED:
            for layer in quality.layers:
                entry[f"filter_db/{layer.name}/{metric}"] = getattr(layer, metric)
            entry[f"filter_db/mean/{metric}"] = quality.mean(metric)
        state.log_history.append(entry)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self._measure(model, state)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_n_steps == 0 or state.global_step >= state.max_steps:
            self._measure(model, state)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._measure(model, state)

    def series(self, metric: str) -> dict[str, list[float]]:
        """`{layer name: [metric at each measured step]}`."""
        if not self.history:
            raise ValueError("nothing measured yet: train first")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        names = self.history[0][1].names
        return {name: [getattr(quality[name], metric) for _, quality in self.history] for name in names}

    def save_plot(self, path, *, metric: str = "variance_entropy_norm", title: str | None = None) -> None:
        """`metric` of each 3×3 conv layer against the training step; writes a PNG at `path`."""
        plot_quality_history(self.history, path, metric=metric, title=title)


def plot_quality_history(
    history: list[tuple[int, ConvQuality]], path, *, metric: str = "variance_entropy_norm", title: str | None = None
) -> None:
    """One line per layer: `metric` against the step of each `(step, ConvQuality)` in `history`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("history is empty: nothing to plot")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    steps = [step for step, _ in history]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for depth, name in enumerate(history[0][1].names):
        ax.plot(steps, [getattr(quality.layers[depth], metric) for _, quality in history], marker=".", label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} of the 3×3 conv layers during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
