"""The catalogue record of `data_diet` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="data_diet",
    paper_id="P33",
    title="Deep Learning on a Data Diet: Finding Important Examples Early in Training",
    arxiv="2107.07075",
    official_code="mansheej/data_diet",
    kind="training",
    tags=("data-pruning", "data-selection", "label-noise"),
    entry_points=(
        "hf_methods.training.data_diet:EL2NScorer",
        "hf_methods.training.data_diet:GraNdScorer",
        "hf_methods.training.data_diet:ScoreRecorderCallback",
        "hf_methods.training.data_diet:prune_dataset",
        "hf_methods.training.data_diet:add_score_column",
        "hf_methods.training.data_diet:select_by_score",
        "hf_methods.training.data_diet:compute_el2n",
        "hf_methods.training.data_diet:compute_grand",
        "hf_methods.training.data_diet:el2n_scores",
        "hf_methods.training.data_diet:EL2NScore",
    ),
    recipe="recipes/data_diet.py",
    claim=(
        "EL2N scores computed a few epochs into training find important and mislabelled examples, so half of "
        "CIFAR-10 can be pruned without losing accuracy; on digits with 10% flipped labels (EL2N after 3 epochs, "
        "averaged over 5 runs, 5 seeds) the check asserts that the top-10% EL2N set holds ≥50% of the flips, that "
        "keeping the hardest 60% after skipping the top 5% loses at most 0.5 points against a random 60% subset and "
        "beats the easiest 60% by ≥2 points, and that GraNd through vmap matches a per-example loop within 1e-5."
    ),
    venue="NeurIPS 2021",
    usage=(
        "import torch\n"
        "from datasets import Dataset\n"
        "\n"
        "from hf_methods import EL2NScorer, GraNdScorer, prune_dataset\n"
        "from hf_methods.common.mlp import MLPConfig, MLPForImageClassification\n"
        "\n"
        "x, y = torch.rand(64, 16), torch.randint(0, 4, (64,))\n"
        'train_ds = Dataset.from_dict({"pixel_values": x.tolist(), "labels": y.tolist()})\n'
        "\n"
        "\n"
        "def make_model():\n"
        "    return MLPForImageClassification(MLPConfig(input_size=16, hidden_sizes=[32], num_labels=4))\n"
        "\n"
        "\n"
        "# each run: a fresh model trained `score_epoch` epochs with transformers.Trainer, then scored; mean over runs\n"
        "el2n = EL2NScorer(model_init=make_model, n_runs=2, score_epoch=1).score(train_ds)\n"
        "grand = GraNdScorer(model_init=make_model, n_runs=2).score(train_ds)  # at initialisation, vmap(grad)\n"
        "# writes an 'el2n' column, then selects the hardest 50% after skipping the top 5% (likely mislabelled)\n"
        "subset = prune_dataset(train_ds, el2n, keep_frac=0.5, offset_frac=0.05)\n"
        "# ...then train a fresh model on `subset`, e.g. with transformers.Trainer"
    ),
    notes=(
        "Scores are computed with the model in evaluation mode and averaged over `n_runs` independent runs "
        "(10 in the paper), each run a `transformers.Trainer` training of `score_epoch` epochs with the official "
        "optimiser by default (SGD, Nesterov momentum 0.9, lr 0.1, weight decay 5e-4, batch 128, constant rate); "
        "GraNd uses `torch.func.vmap(grad)` over all trainable parameters. `prune_dataset` counts its offset from "
        "the hardest end (`offset_frac`, a fraction): the official code counts `offset` from the easiest end, so the "
        "official offset is N − |S| − round(offset_frac·N). The claim check replaces CIFAR-10 and ResNets by "
        "label-noisy digits and a ReLU MLP, takes EL2N after 3 epochs instead of 20 of 200, averages 5 runs instead "
        "of 10, and trains the pruned subsets for a fixed 1000 steps without augmentation."
    ),
)
