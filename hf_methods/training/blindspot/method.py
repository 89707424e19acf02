"""The catalogue record of `blindspot` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="blindspot",
    paper_id="P12",
    title="Deep Regression Unlearning",
    arxiv="2210.08196",
    official_code="ayushkumartarun/deep-regression-unlearning",
    kind="training",
    tags=("machine-unlearning", "regression", "privacy"),
    entry_points=(
        "hf_methods.training.blindspot:BlindspotUnlearningTrainer",
        "hf_methods.training.blindspot:gaussian_amnesiac_relabel",
    ),
    recipe="recipes/blindspot.py",
    claim=(
        "Blindspot unlearning brings a regression model's forget-set error close to retraining from scratch "
        "(AgeDB forget MAE 21.63 vs gold 24.31) while keeping the retain error; on make_friedman1 the check "
        "asserts Blindspot halves fine-tuning's gap to gold on forget MAE, keeps retain MAE within 1.15x and "
        "brings the regression MIA closer to gold."
    ),
    venue="ICML 2023",
    usage=(
        "trainer = BlindspotUnlearningTrainer(model=copy_of_original, original_model=original, args=args,\n"
        "                                     train_dataset=mixed_ds, proxy_epochs=2, at_beta=50)\n"
        "trainer.train()"
    ),
)
