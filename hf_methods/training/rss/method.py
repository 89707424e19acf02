"""The catalogue record of `rss` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="rss",
    paper_id="P20",
    title="Out-Of-Domain Unlabeled Data Improves Generalization",
    arxiv="2310.00027",
    official_code="deepmancer/rss-training-iclr2024",
    kind="training",
    tags=("semi-supervised", "distributional-robustness", "self-training"),
    entry_points=(
        "hf_methods.training.rss:RobustSelfSupervisedTrainer",
        "hf_methods.training.rss:RobustRampLoss",
        "hf_methods.training.rss:linear_robust_ramp_loss",
        "hf_methods.training.rss:robust_self_training_loss",
        "hf_methods.training.rss:fit_linear_rss",
        "hf_methods.training.rss:make_two_gaussian_task",
    ),
    recipe="recipes/rss.py",
    claim=(
        "Robust self-training on out-of-domain unlabelled data provably improves on labelled-only ERM for a "
        "two-Gaussian mixture under a cluster assumption; the CPU check reruns the official linear simulation "
        "(d=200, 10 labels, unlabelled means shifted by 0.5‖μ‖, 10 seeds) with every hyper-parameter chosen on a "
        "labelled validation split and asserts RSS with 2000 unlabelled samples ≥ ERM + 0.10 test accuracy, "
        "accuracy not falling by more than 0.01 as the unlabelled set grows 100 → 500 → 2000, and that the closed-form "
        "ramp and the shared WRM inner maximisation compute the robust loss they stand for."
    ),
    venue="ICLR 2024",
    usage=(
        "import tempfile\n"
        "\n"
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import RobustSelfSupervisedTrainer, fit_linear_rss, linear_robust_ramp_loss, make_two_gaussian_task\n"
        "from hf_methods.common.mlp import MLPConfig, MLPForImageClassification\n"
        "\n"
        "task = make_two_gaussian_task(dim=20, num_labeled=10, num_unlabeled=200, seed=0)  # labels ±1, shifted unlabelled data\n"
        "# the official linear simulation: closed-form robust ramp losses, full-batch Adam, random restarts\n"
        "fit = fit_linear_rss(task.x_train, task.y_train, task.x_unlabeled, gamma=2.0, gamma_unlabeled=0.5, lam=1.0)\n"
        "loss = linear_robust_ramp_loss(task.x_train @ fit.weight, task.y_train, gamma=2.0)  # clip(1 − γ·yθᵀx, 0, 1)\n"
        "# any classifier: the penalised (WRM) inner maximisation on labelled and pseudo-labelled unlabelled batches\n"
        'labeled = Dataset.from_dict({"pixel_values": task.x_train.tolist(), "labels": ((task.y_train + 1) // 2).long().tolist()})\n'
        'unlabeled = Dataset.from_dict({"pixel_values": task.x_unlabeled.tolist()})\n'
        "model = MLPForImageClassification(MLPConfig(input_size=20, hidden_sizes=[16], num_labels=2))\n"
        "args = TrainingArguments(tempfile.mkdtemp(), max_steps=4, per_device_train_batch_size=10, report_to=[])\n"
        "trainer = RobustSelfSupervisedTrainer(\n"
        "    model=model, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled,\n"
        "    gamma=1.0, gamma_unlabeled=0.5, lam=1.0, unlabeled_batch_size=64,\n"
        ")\n"
        "trainer.train()"
    ),
    notes=(
        "The linear check follows the official notebook's fit (ramp losses clip(1 − γ·yθᵀx, 0, 1) and "
        "clip(1 − γ'·|θᵀx|, 0, 1), bias-free linear score, Adam lr 0.07 with coupled weight decay, 20 full-batch "
        "epochs with ReduceLROnPlateau, 20 restarts kept by lowest objective) but chooses hyper-parameters on a "
        "labelled validation split from fixed grids, where the notebook picks them by test accuracy from thousands of "
        "random draws. The ramp is the exact robust 0-1 loss when moving an input by ‖z − x‖ costs γ‖θ‖‖z − x‖ (the "
        "paper's theory uses the squared cost, also given in closed form by `linear_robust_zero_one_loss`). For other "
        "models the Trainer approximates the sup by gradient ascent with the −γ‖z − x‖² penalty (WRM, the shared "
        "`penalized_inner_max`); the paper's histopathology experiments are not reproduced. Unlabelled points of the "
        "simulation are drawn i.i.d. from the shifted mixture (the notebook draws exact halves per component)."
    ),
)
