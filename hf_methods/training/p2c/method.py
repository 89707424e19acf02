"""The catalogue record of `p2c` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="p2c",
    paper_id="P60",
    title="Prefer to Classify: Improving Text Classifiers via Auxiliary Preference Learning",
    arxiv="2306.04925",
    official_code="minnesotanlp/p2c",
    kind="training",
    tags=("text-classification", "preference-learning", "multi-task"),
    entry_points=(
        "hf_methods.training.p2c:P2CForSequenceClassification",
        "hf_methods.training.p2c:P2CTrainer",
        "hf_methods.training.p2c:preference_from_votes",
    ),
    recipe="recipes/p2c.py",
    claim=(
        "Auxiliary preference heads trained on pairwise preferences (P2C) improve text classifiers over CE and "
        "soft-label training; on a synthetic annotator task the check asserts P2C ≥ CE + 0.01 accuracy over five "
        "seeds and a preference-head pair accuracy above 0.7."
    ),
    venue="ICML 2023",
    usage=(
        "model = P2CForSequenceClassification.from_pretrained_backbone(encoder, num_labels=2, n_pref_heads=3)\n"
        "trainer = P2CTrainer(model=model, train_dataset=pair_ds, lambda_cons=1.0, lambda_div=0.1)"
    ),
    notes=(
        "No annotated text task is available offline: the check uses simulated annotators; the GPT-3 preference "
        "path is documented only."
    ),
)
