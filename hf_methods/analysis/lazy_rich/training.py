"""The paper's polynomial-regression experiment (Kumar et al., ICLR 2024, Fig. 1), shared by the recipe, the claim and
the tests.

Data: x ~ N(0, I_D / D), target y = (βᵀx)² / 2 with β ~ N(0, I_D); P training and T test points. Model: the
[`FixedReadoutNetwork`] f(x) = (1/N) Σ_i φ(w_iᵀx), φ(z) = z + (ε/2) z², W ~ N(0, 1), wrapped as
f_α = α (f(θ) − f(θ₀)) ([`OutputScaledModel`]), trained by full-batch gradient descent with η = η₀ / α² (η₀ = N by
default, as in the paper's code) on the centred loss L = mean_μ (f_α(x_μ) − y_μ)².

[`run_polynomial_grokking`] records the train and test losses, the same losses for the linearised model trained the
same way (in closed form from the initial NTK K₀, [`linearized_gd_losses`]), the K₀ kernel-regression test MSE, the
centred NTK–target alignment and kernel distance on probe test points, and the relative weight change; and reads off
the grokking measurement: the first step at which the train loss falls below `train_fit` × its initial value, the
first step at which the test loss falls below `test_fit` × its initial value, and the delay between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.analysis.lazy_rich.analysis import (
    kernel_alignment,
    kernel_distance,
    kernel_regression_mse,
    linearized_gd_losses,
    parameter_snapshot,
    relative_weight_change,
)
from hf_methods.analysis.lazy_rich.modeling import FixedReadoutNetwork, OutputScaledModel
from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.common.ntk import empirical_ntk
from hf_methods.harness.recipe import RecipeArguments

__all__ = [
    "GrokkingConfig",
    "GrokkingResult",
    "GrokkingSetup",
    "LazyRichArguments",
    "PolynomialTask",
    "grokking_setup",
    "make_polynomial_task",
    "run_polynomial_grokking",
]

#: Seed offset of the network's initial weights (the data use the seed itself).
WEIGHT_SEED_OFFSET = 1_000_003


@dataclass
class PolynomialTask:
    """x ~ N(0, I/D), y = (βᵀx)²/2: training and test splits and β."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    beta: torch.Tensor


def make_polynomial_task(input_dim: int, num_train: int, num_test: int, seed: int) -> PolynomialTask:
    """Draws the paper's quadratic single-index task with one seeded generator (training inputs, test inputs, β)."""
    input_dim = check_positive_int("input_dim", input_dim)
    num_train, num_test = check_positive_int("num_train", num_train), check_positive_int("num_test", num_test)
    generator = torch.Generator().manual_seed(int(seed))
    x_train = torch.randn(num_train, input_dim, generator=generator) / input_dim**0.5
    x_test = torch.randn(num_test, input_dim, generator=generator) / input_dim**0.5
    beta = torch.randn(input_dim, generator=generator)
    return PolynomialTask(x_train, (x_train @ beta).square() / 2, x_test, (x_test @ beta).square() / 2, beta)


@dataclass
class GrokkingConfig:
    """Settings of the polynomial experiment (defaults: the paper's Fig. 1 shrunk by 2.5 at the same P/D = 5.5).

    Args:
        input_dim (`int`): D.
        num_train (`int`): P, training points (full batch).
        num_test (`int`): T, test points.
        width (`int`): N, hidden units.
        epsilon (`float`): ε of φ(z) = z + (ε/2) z².
        alpha (`float`): the output scale α (large → lazy).
        steps (`int`): gradient-descent steps.
        base_learning_rate (`float`, *optional*): η₀; the step size is η₀/α² (default η₀ = N, the paper's η = N/α²).
        eval_every (`int`): record the losses every this many steps.
        ntk_every (`int`): record the probe NTK (alignment, kernel distance) every this many steps.
        num_probe (`int`): test points the probe NTK is taken on (the first ones).
        train_fit (`float`): the train loss "fits" below this fraction of its initial value.
        test_fit (`float`): the test loss "fits" below this fraction of its initial value.
    """

    input_dim: int = 40
    num_train: int = 220
    num_test: int = 1000
    width: int = 200
    epsilon: float = 0.02
    alpha: float = 1.0
    steps: int = 30_000
    base_learning_rate: float | None = None
    eval_every: int = 100
    ntk_every: int = 1000
    num_probe: int = 300
    train_fit: float = 0.1
    test_fit: float = 0.2

    def validate(self) -> GrokkingConfig:
        for name in ("input_dim", "num_train", "num_test", "width", "steps", "eval_every", "ntk_every", "num_probe"):
            check_positive_int(name, getattr(self, name))
        if self.num_probe > self.num_test:
            raise ValueError(f"num_probe must be <= num_test ({self.num_test}), got {self.num_probe}")
        check_number("epsilon", self.epsilon, low=0.0)
        check_number("alpha", self.alpha, low=0.0, low_open=True)
        if self.base_learning_rate is not None:
            check_number("base_learning_rate", self.base_learning_rate, low=0.0, low_open=True)
        check_number("train_fit", self.train_fit, low=0.0, high=1.0, low_open=True, high_open=True)
        check_number("test_fit", self.test_fit, low=0.0, high=1.0, low_open=True, high_open=True)
        return self

    @property
    def learning_rate(self) -> float:
        """η = η₀ / α² (η₀ = N unless `base_learning_rate` is set)."""
        base = self.width if self.base_learning_rate is None else self.base_learning_rate
        return base / self.alpha**2


@dataclass
class GrokkingSetup:
    """The task, the α-scaled model at θ₀, its initial kernels and the numbers every measurement needs."""

    config: GrokkingConfig
    task: PolynomialTask
    model: OutputScaledModel
    initial_parameters: dict[str, torch.Tensor]
    kernel_train: torch.Tensor
    kernel_test_train: torch.Tensor
    kernel_probe: torch.Tensor
    initial_train_loss: float
    initial_test_loss: float
    _initial_train_output: torch.Tensor | None = field(default=None, init=False, repr=False)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The centred loss mean_μ (α(f(x_μ) − f₀(x_μ)) − y_μ)²."""
        return (self.model(x) - y).square().mean()

    @torch.no_grad()
    def train_gradient(self) -> torch.Tensor:
        """∇_W L on the training set in closed form (what autograd gives, without its overhead):

        ∇_{w_i} L = (2α / (P N)) Σ_μ r_μ φ'(w_iᵀx_μ) x_μ,   r_μ = α (f(x_μ) − f₀(x_μ)) − y_μ,  φ'(z) = 1 + ε z.
        """
        network, x = self.model.model, self.task.x_train
        if self._initial_train_output is None:
            self._initial_train_output = self.model.initial_model(x)
        alpha, (num_train, width) = self.model.alpha, (x.shape[0], network.width)
        preactivation = x @ network.weight.T
        residual = (
            alpha * (network.activation(preactivation).mean(dim=1) - self._initial_train_output) - self.task.y_train
        )
        slope = 1 + network.epsilon * preactivation
        return (2 * alpha / (num_train * width)) * (residual[:, None] * slope).T @ x

    def probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.config.num_probe
        return self.task.x_test[:n], self.task.y_test[:n]

    @torch.no_grad()
    def measure_losses(self) -> dict[str, float]:
        """Train and test losses, relative to their initial values, and the relative weight change."""
        train = float(self.loss(self.task.x_train, self.task.y_train))
        test = float(self.loss(self.task.x_test, self.task.y_test))
        return {
            "train_loss": train / self.initial_train_loss,
            "test_loss": test / self.initial_test_loss,
            "relative_weight_change": relative_weight_change(self.model, self.initial_parameters),
        }

    def measure_kernel(self) -> dict[str, float]:
        """Centred NTK–target alignment on the probe points and the kernel distance from K₀ there."""
        x, y = self.probe()
        kernel = empirical_ntk(self.model, x)
        return {
            "alignment": kernel_alignment(kernel, y),
            "kernel_distance": kernel_distance(kernel, self.kernel_probe),
        }


def grokking_setup(config: GrokkingConfig, seed: int) -> GrokkingSetup:
    """Draws the task (seed `seed`) and the network (seed `seed + WEIGHT_SEED_OFFSET`) and computes the kernels at θ₀."""
    config.validate()
    task = make_polynomial_task(config.input_dim, config.num_train, config.num_test, seed)
    network = FixedReadoutNetwork(config.input_dim, config.width, config.epsilon, seed=seed + WEIGHT_SEED_OFFSET)
    model = OutputScaledModel(network, config.alpha)
    kernel_train = empirical_ntk(model, task.x_train)
    kernel_test_train = empirical_ntk(model, task.x_test, task.x_train)
    kernel_probe = empirical_ntk(model, task.x_test[: config.num_probe])
    return GrokkingSetup(
        config=config,
        task=task,
        model=model,
        initial_parameters=parameter_snapshot(model),
        kernel_train=kernel_train,
        kernel_test_train=kernel_test_train,
        kernel_probe=kernel_probe,
        initial_train_loss=float(task.y_train.square().mean()),  # the centred model outputs 0 at θ₀
        initial_test_loss=float(task.y_test.square().mean()),
    )


@dataclass
class GrokkingResult:
    """Curves and the grokking measurement of one polynomial run (losses relative to their initial values).

    Attributes:
        alpha, epsilon (`float`): the run's output scale and ε.
        steps (`list[int]`): the steps of the loss curves.
        train_loss, test_loss (`list[float]`): the network's losses / their initial values.
        linearized_train_loss, linearized_test_loss (`list[float]`): the linearised model trained the same way.
        relative_weight_change (`list[float]`): ‖W − W₀‖/‖W₀‖ at `steps`.
        ntk_steps (`list[int]`), alignment (`list[float]`), kernel_distance (`list[float]`): probe-NTK measurements.
        kernel_regression_mse (`float`): the K₀ kernel-regression test MSE / the initial test loss.
        steps_to_train_fit, steps_to_test_fit (`int` or `None`): first recorded step below `train_fit` / `test_fit`
            (None: not within the run).
        grokking_delay (`int` or `None`): steps_to_test_fit − steps_to_train_fit (None unless both happened).
        test_loss_at_train_fit (`float` or `None`): the relative test loss at steps_to_train_fit.
    """

    alpha: float
    epsilon: float
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    linearized_train_loss: list[float] = field(default_factory=list)
    linearized_test_loss: list[float] = field(default_factory=list)
    relative_weight_change: list[float] = field(default_factory=list)
    ntk_steps: list[int] = field(default_factory=list)
    alignment: list[float] = field(default_factory=list)
    kernel_distance: list[float] = field(default_factory=list)
    kernel_regression_mse: float = 0.0
    steps_to_train_fit: int | None = None
    steps_to_test_fit: int | None = None
    grokking_delay: int | None = None
    test_loss_at_train_fit: float | None = None

    @property
    def final_test_loss(self) -> float:
        return self.test_loss[-1]

    @property
    def alignment_change(self) -> float:
        """(A_end − A₀) / A₀, the relative change of the centred NTK–target alignment over the run."""
        return (self.alignment[-1] - self.alignment[0]) / abs(self.alignment[0])

    def save_plot(self, path, *, title: str | None = None) -> None:
        """Fig. 1 of the paper: losses (network vs linearised, K₀ regression level) and the NTK alignment; a PNG."""
        plot_grokking([self], path, title=title)


def finish_result(result: GrokkingResult, config: GrokkingConfig) -> GrokkingResult:
    """Fills the grokking measurement from the curves."""
    result.steps_to_train_fit = next(
        (s for s, v in zip(result.steps, result.train_loss) if v < config.train_fit), None
    )
    result.steps_to_test_fit = next((s for s, v in zip(result.steps, result.test_loss) if v < config.test_fit), None)
    if result.steps_to_train_fit is not None:
        result.test_loss_at_train_fit = result.test_loss[result.steps.index(result.steps_to_train_fit)]
        if result.steps_to_test_fit is not None:
            result.grokking_delay = result.steps_to_test_fit - result.steps_to_train_fit
    return result


def run_polynomial_grokking(config: GrokkingConfig, seed: int = 0) -> GrokkingResult:
    """Trains the α-scaled network on the polynomial task by full-batch GD (W ← W − η ∇_W L, the gradient in closed
    form: [`GrokkingSetup.train_gradient`]) and returns its [`GrokkingResult`]."""
    setup = grokking_setup(config, seed)
    task, model = setup.task, setup.model
    result = GrokkingResult(alpha=config.alpha, epsilon=config.epsilon)
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            measured = setup.measure_losses()
            result.steps.append(step)
            for key in ("train_loss", "test_loss", "relative_weight_change"):
                getattr(result, key).append(measured[key])
        if step % config.ntk_every == 0 or step == config.steps:
            measured = setup.measure_kernel()
            result.ntk_steps.append(step)
            result.alignment.append(measured["alignment"])
            result.kernel_distance.append(measured["kernel_distance"])
        if step == config.steps:
            break
        with torch.no_grad():
            weight = model.model.weight
            weight -= config.learning_rate * setup.train_gradient()
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
    return finish_result(result, config)


def plot_grokking(results: list[GrokkingResult], path, *, title: str | None = None) -> None:
    """Losses of one or more runs (one colour per run, log-scaled steps) with their linearisations, K₀ regression
    level and NTK alignment; writes a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.get_cmap("tab10")
    for index, result in enumerate(results):
        colour = colours(index % 10)
        steps = [s + 1 for s in result.steps]
        left.plot(steps, result.train_loss, ls="--", color=colour, label=f"α={result.alpha:g} train")
        left.plot(steps, result.test_loss, color=colour, label=f"α={result.alpha:g} test")
        left.plot(
            steps, result.linearized_test_loss, ls=":", color=colour, alpha=0.7, label=f"α={result.alpha:g} lin. test"
        )
        left.axhline(result.kernel_regression_mse, color=colour, lw=0.8, alpha=0.5)
        ntk_steps = [s + 1 for s in result.ntk_steps]
        right.plot(
            ntk_steps,
            [a / result.alignment[0] for a in result.alignment],
            color=colour,
            label=f"α={result.alpha:g} A/A₀",
        )
        right.plot(
            steps, result.relative_weight_change, ls="--", color=colour, label=f"α={result.alpha:g} ‖W−W₀‖/‖W₀‖"
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("step + 1")
    left.set_ylabel("loss / initial loss (thin line: K₀ regression)")
    left.legend(fontsize=7)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("step + 1")
    right.set_ylabel("alignment / initial, relative weight change")
    right.legend(fontsize=7)
    fig.suptitle(title or "Polynomial regression: lazy → rich")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclass
class LazyRichArguments(RecipeArguments):
    """Flags of `recipes/lazy_rich.py`: the polynomial experiment (defaults: the claim's task at α = 1)."""

    max_steps: int = field(default=10_000, metadata={"help": "Full-batch gradient-descent steps."})
    checkpoint_every: int = field(default=2000, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=100, metadata={"help": "Record train/test losses every N steps."})
    input_dim: int = field(default=40, metadata={"help": "Input dimension D."})
    num_train: int = field(default=220, metadata={"help": "Training points P (full batch)."})
    num_test: int = field(default=1000, metadata={"help": "Test points."})
    width: int = field(default=200, metadata={"help": "Hidden units N."})
    epsilon: float = field(default=0.02, metadata={"help": "ε of the activation φ(z) = z + (ε/2) z²."})
    alpha: float = field(default=1.0, metadata={"help": "Output scale α of f_α = α (f − f₀): large → lazy."})
    base_learning_rate: float | None = field(
        default=None, metadata={"help": "η₀ of the step size η₀/α² (default: the width N, the paper's η = N/α²)."}
    )
    ntk_every: int = field(default=1000, metadata={"help": "Measure the probe NTK every N steps."})
    num_probe: int = field(default=300, metadata={"help": "Test points the probe NTK is taken on."})
    train_fit: float = field(default=0.1, metadata={"help": "Train loss fits below this fraction of its start."})
    test_fit: float = field(default=0.2, metadata={"help": "Test loss fits below this fraction of its start."})

    def grokking_config(self) -> GrokkingConfig:
        return GrokkingConfig(
            input_dim=self.input_dim,
            num_train=self.num_train,
            num_test=self.num_test,
            width=self.width,
            epsilon=self.epsilon,
            alpha=self.alpha,
            steps=max(self.max_steps, 1),
            base_learning_rate=self.base_learning_rate,
            eval_every=max(self.log_every, 1),
            ntk_every=self.ntk_every,
            num_probe=self.num_probe,
            train_fit=self.train_fit,
            test_fit=self.test_fit,
        )

    def validate(self) -> None:
        super().validate()
        if self.log_every < 1:
            raise ValueError(
                f"--log_every must be >= 1 (the loss curves are recorded every N steps), got {self.log_every}"
            )
        try:
            self.grokking_config().validate()
        except (TypeError, ValueError) as error:
            raise ValueError(f"--{error}") from None
