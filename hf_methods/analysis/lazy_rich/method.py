"""The catalogue record of `lazy_rich` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="lazy_rich",
    paper_id="P26",
    title="Grokking as the Transition from Lazy to Rich Training Dynamics",
    arxiv="2310.06110",
    official_code=None,
    kind="analysis",
    tags=("grokking", "ntk", "feature-learning"),
    entry_points=(
        "hf_methods.analysis.lazy_rich:LazyRichTrackerCallback",
        "hf_methods.analysis.lazy_rich:LazyRichTrace",
        "hf_methods.analysis.lazy_rich:kernel_alignment",
        "hf_methods.analysis.lazy_rich:kernel_distance",
        "hf_methods.analysis.lazy_rich:relative_weight_change",
        "hf_methods.analysis.lazy_rich:linearized_gd_losses",
        "hf_methods.analysis.lazy_rich:OutputScaledModel",
        "hf_methods.analysis.lazy_rich:run_polynomial_grokking",
    ),
    recipe="recipes/lazy_rich.py",
    claim=(
        "Grokking arises when training moves from lazy (kernel) to rich (feature-learning) dynamics, with the "
        "delay set by the output scale α; on the paper's polynomial task shrunk to D = 40, P = 220 (η = N/α², "
        "30 000 GD steps, 3 seeds) the check asserts a grokking gap at α = 1 (test loss still ≥ 30 % of its start "
        "when the train loss reaches 10 %) and a late test fit (< 20 %), a train-to-test delay growing from "
        "α = 0.5 to 1 to 2, a lazy α = 20 run that does not beat K₀ kernel regression, and a centred NTK–target "
        "alignment that rises ≥ 10 % at α = 1 and moves ≤ 5 % at α = 20."
    ),
    venue="ICLR 2024",
    usage=(
        "import torch\n"
        "from torch import nn\n"
        "from hf_methods.analysis.lazy_rich import (\n"
        "    LazyRichTrackerCallback, OutputScaledModel, kernel_alignment, run_polynomial_grokking)\n"
        "from hf_methods.analysis.lazy_rich.training import GrokkingConfig\n"
        "from hf_methods.common.ntk import empirical_ntk\n"
        "x, y = torch.randn(32, 4), torch.randn(32)\n"
        "net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))\n"
        "model = OutputScaledModel(net, alpha=10.0)          # α (f(θ) − f(θ₀)): large α trains lazily\n"
        "print(kernel_alignment(empirical_ntk(model, x), y))  # centred NTK–target alignment\n"
        "cb = LazyRichTrackerCallback(probe_inputs=x, probe_targets=y, every=100)  # Trainer(..., callbacks=[cb])\n"
        "cb.measure(model, step=0)                            # or by hand; cb.trace.save_plot('lazy_rich.png')\n"
        "result = run_polynomial_grokking(GrokkingConfig(alpha=0.5, steps=4000), seed=0)  # paper task\n"
        "print(result.steps_to_train_fit, result.steps_to_test_fit, result.kernel_regression_mse)"
    ),
    notes=(
        "No public repository (supplementary material only; a copy of the notebook circulates): the JAX / "
        "neural-tangents code is ported to torch.func, with the empirical NTK and the linearised model from "
        "hf_methods.common.ntk. The alignment is centred as in that code (targets centred, each kernel column "
        "centred, normalised by ‖K̄‖_F ‖ȳ‖²). The linearised model's learning curves are computed in closed form from "
        "the initial NTK (exact for gradient descent on the linear model) instead of training it alongside, and the "
        "network's full-batch gradient is written in closed form (checked against autograd). The claim shrinks Fig. 1 "
        "(D = 100, P = 550, N = 500, 10⁵ steps) to D = 40, P = 220, N = 200, 3·10⁴ steps; the DMFT theory, MNIST, "
        "Transformer and student–teacher experiments are not reproduced. The tracker callback measures the "
        "linearisation at the current weights (f(θ₀) + J₀(θ − θ₀)) rather than a separately trained linear model, "
        "and takes θ₀ at the start of each `train()` call (a resumed run starts a new trace)."
    ),
)
