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
        "hf_methods.training.data_diet:prune_dataset",
        "hf_methods.training.data_diet:ScoreRecorderCallback",
    ),
    recipe="recipes/data_diet.py",
    claim=(
        "EL2N scores computed a few epochs into training find important and mislabelled examples, so half of "
        "CIFAR-10 can be pruned without losing accuracy; on digits with 10% flipped labels the check asserts the "
        "top-10% EL2N set holds ≥50% of the flips and that keep-60% pruning matches random pruning and beats "
        "keep-easiest by 2 points."
    ),
    venue="NeurIPS 2021",
    usage=(
        "scores = EL2NScorer(model_init=make_model, n_runs=5, score_epoch=3).score(train_ds)\n"
        "subset = prune_dataset(train_ds, scores, keep_frac=0.5, mode='keep_max', offset=0)"
    ),
)
