"""The catalogue record of `binary_continual` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="binary_continual",
    paper_id="P42",
    title="Statistical mechanics of continual learning: variational principle and mean-field potential",
    arxiv="2212.02846",
    official_code="Chan-Li/VCL",
    kind="training",
    tags=("continual-learning", "binary-networks", "variational-inference", "mean-field"),
    entry_points=(
        "hf_methods.training.binary_continual:VariationalBinaryMLPConfig",
        "hf_methods.training.binary_continual:VariationalBinaryMLP",
        "hf_methods.training.binary_continual:BinaryMeanFieldLinear",
        "hf_methods.training.binary_continual:BernoulliFieldKL",
        "hf_methods.training.binary_continual:ContinualVCLTrainer",
    ),
    auto_classes={
        "AutoConfig": "hf_methods.training.binary_continual.configuration_binary_continual:VariationalBinaryMLPConfig",
        "AutoModel": "hf_methods.training.binary_continual.modeling_binary_continual:VariationalBinaryMLP",
        "AutoModelForImageClassification": (
            "hf_methods.training.binary_continual.modeling_binary_continual:VariationalBinaryMLP"
        ),
    },
    recipe="recipes/binary_continual.py",
    claim=(
        "Variational continual learning for binary-weight networks, derived from mean-field theory, beats "
        "metaplasticity on permuted MNIST; on five permuted-digits tasks the check asks the KL term to add ≥10 "
        "points of average accuracy over the same model without it (streaming prior of the official code, and the "
        "paper's previous-task prior), mean-field and sampled-binary evaluations to agree within 5 points, and the "
        "KL gradient β²σ²(θ − θp) to match autograd."
    ),
    venue="Commun. Theor. Phys. 2023",
    usage=(
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import ContinualVCLTrainer, VariationalBinaryMLP, VariationalBinaryMLPConfig\n"
        "from hf_methods.training.binary_continual import permuted_digits_tasks\n"
        "\n"
        "tasks = permuted_digits_tasks(3, seed=0)  # 8×8 digits under 3 fixed pixel permutations\n"
        'ds = [Dataset.from_dict({"pixel_values": t.x, "labels": t.y}).with_format("torch") for t in tasks]\n'
        "model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[64, 256, 10], beta_schedule='tanh'))\n"
        "args = TrainingArguments(\n"
        '    "binary-continual-out", num_train_epochs=2, per_device_train_batch_size=64, learning_rate=0.01,\n'
        '    adam_beta2=0.99, lr_scheduler_type="constant", report_to=[], save_strategy="no", use_cpu=True,\n'
        ")\n"
        "trainer = ContinualVCLTrainer(\n"
        '    model=model, args=args, tasks=ds, prior="streaming", eval_tasks=[(t.x_test, t.y_test) for t in tasks]\n'
        ")\n"
        "trainer.train()\n"
        "print(trainer.accuracy_matrix)  # mean-field accuracy on every task after each task"
    ),
    notes=(
        "Deep-network part only: the binary-perceptron Franz–Parisi theory is not implemented. Two priors: "
        "`previous_task` (the paper: the fields at the end of the previous task; no KL on the first task) and "
        "`streaming` (the released code: the fields before the last optimiser step, whose KL gradient is the "
        "official `β²σ²Δθ`); `none` is the baseline. The KL is the closed form between the two field distributions "
        "at the current β; default weights next to the mean cross-entropy: 1/batch size for `streaming` (the "
        "official code adds the KL gradient to the batch-summed cross-entropy gradient) and 1/N_train for "
        "`previous_task` (the per-example ELBO). β = 10·tanh(0.1 + 2·progress) is set per epoch over all tasks, as in "
        "the official code. `ContinualVCLTrainer` starts a fresh optimiser per task; the plain loop `train_continual` "
        "and the recipe keep one Adam for the whole run as the official code. The check uses 8×8 digits, a "
        "64-256-10 network and the no-KL model as baseline instead of MNIST, 784-512-512-10 and metaplasticity."
    ),
)
