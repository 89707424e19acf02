"""The catalogue record of `self_distillation` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="self_distillation",
    paper_id="P24",
    title=(
        "Even your Teacher Needs Guidance: Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation"
    ),
    arxiv="2102.13088",
    official_code="Kennethborup/self_distillation",
    kind="training",
    tags=("self-distillation", "kernel-regression", "regularization"),
    entry_points=(
        "hf_methods.training.self_distillation:SelfDistillationTrainer",
        "hf_methods.training.self_distillation:SelfDistillationLoss",
        "hf_methods.training.self_distillation:self_distillation_loss",
        "hf_methods.training.self_distillation:krr_self_distillation",
        "hf_methods.training.self_distillation:krr_distillation_limit",
        "hf_methods.training.self_distillation:krr_distillation_spectrum",
        "hf_methods.training.self_distillation:krr_distillation_affine_terms",
        "hf_methods.training.self_distillation:optimal_alpha",
    ),
    recipe="recipes/self_distillation.py",
    claim=(
        "Self-distillation with ground-truth weight α converges to kernel ridge regression with λ/α instead of "
        "collapsing, every step is a closed-form function of the initial fit and α has a closed-form optimum; the "
        "kernel check asserts the limit to 1e-6, the collapse at α=0, the spectral form and that the clipped α* is "
        "never beaten by a grid of α values, and on digits (MLP, MSE on softmax, 3 distillation steps, 10 seeds) "
        "that the α=0.5 student stays within 0.5 points of its teacher and keeps a better training fit and at least "
        "the test accuracy of the α=0 student."
    ),
    venue="NeurIPS 2021",
    usage=(
        "import tempfile\n"
        "\n"
        "import numpy as np\n"
        "import torch\n"
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import (\n"
        "    SelfDistillationTrainer, krr_distillation_affine_terms, krr_distillation_limit, krr_self_distillation,\n"
        "    optimal_alpha,\n"
        ")\n"
        "from hf_methods.common.mlp import MLPConfig, MLPForImageClassification\n"
        "\n"
        "# kernel ridge regression: 200 self-distillation steps reach the fit with regularisation λ/α\n"
        "x = np.linspace(0, 1, 11)\n"
        "y = np.sin(2 * np.pi * x) + 0.3 * np.random.default_rng(0).standard_normal(11)\n"
        "K = np.exp(-8.0 * (x[:, None] - x[None, :]) ** 2)\n"
        "f_T = krr_self_distillation(K, y, alpha=0.3, steps=200, lam=0.1)\n"
        "f_inf = krr_distillation_limit(K, y, alpha=0.3, lam=0.1)\n"
        "g, h = krr_distillation_affine_terms(K, y, previous=f_T, lam=0.1)  # next step = g + α h\n"
        "best_alpha = optimal_alpha(g, h, target=np.sin(2 * np.pi * x))\n"
        "\n"
        "# a network distilled into itself: a fit on the labels, then 2 steps at α = 0.5 (each student the next teacher)\n"
        "xs, ys = torch.rand(64, 16), torch.randint(0, 10, (64,))\n"
        'train_set = Dataset.from_dict({"pixel_values": xs.tolist(), "labels": ys.tolist()})\n'
        "model = MLPForImageClassification(MLPConfig(input_size=16, hidden_sizes=[32], num_labels=10))\n"
        'args = TrainingArguments(tempfile.mkdtemp(), max_steps=4, report_to=[], save_strategy="no")\n'
        "trainer = SelfDistillationTrainer(model=model, alpha=0.5, steps=3, args=args, train_dataset=train_set)\n"
        "trainer.train()\n"
        "print(trainer.distillation_history)"
    ),
    notes=(
        "The kernel functions solve the ridge systems with a Cholesky factorisation instead of the explicit inverse "
        "of the official notebook; step 1 of a chain is the plain fit (ŷ⁽⁰⁾ = y), as there. The network loss is the "
        'official MSE between softmax outputs and one-hot labels / teacher softmax (`objective="kl"` gives '
        "cross-entropy plus temperature-scaled KL instead); the official regulariser reg·Σ‖θ‖ uses unsquared norms "
        "and is offered as `parameter_norm_coef` (the recipe's default 1e-4 as there). The paper's estimate of α for "
        "networks is not implemented as a training mode: `optimal_alpha` gives the closed form, which applies to two "
        "fits at α = 0 and α = 1 (g = f₀, h = f₁ − f₀) evaluated on held-out data. With `model_init`, "
        "`SelfDistillationTrainer` restarts every step from the same seeded initial weights (the official script "
        "draws new ones); without it the student keeps training its own weights. The claim's network check is a "
        "CPU-scale digits MLP, not the paper's CIFAR-10 ResNets."
    ),
)
