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
        "hf_methods.training.p2c:P2CConfig",
        "hf_methods.training.p2c:P2CForSequenceClassification",
        "hf_methods.training.p2c:P2CLoss",
        "hf_methods.training.p2c:P2CTrainer",
        "hf_methods.training.p2c:P2CPairCollator",
        "hf_methods.training.p2c:preference_from_votes",
    ),
    auto_classes={
        "AutoConfig": "hf_methods.training.p2c.configuration_p2c:P2CConfig",
        "AutoModelForSequenceClassification": "hf_methods.training.p2c.modeling_p2c:P2CForSequenceClassification",
    },
    recipe="recipes/p2c.py",
    claim=(
        "Learning pairwise preferences between same-label examples with auxiliary heads (P2C) improves text "
        "classifiers over plain and soft-label fine-tuning; on a synthetic task with 5 simulated annotators (200 "
        "labels, 2000 extractive preference pairs) the check asserts, over 5 seeds, P2C test accuracy ≥ CE + 0.01, "
        "P2C ≥ soft-label CE, and a preference-head pair accuracy above 0.7."
    ),
    venue="ICML 2023",
    usage=(
        "import tempfile\n"
        "\n"
        "import torch\n"
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import P2CConfig, P2CForSequenceClassification, P2CPairCollator, P2CTrainer\n"
        "from hf_methods import preference_from_votes\n"
        "from hf_methods.common.tiny import byte_tokenizer, tiny_bert_config\n"
        "\n"
        "tokenizer = byte_tokenizer()\n"
        "config = P2CConfig(encoder_config=tiny_bert_config(), num_labels=2, num_preference_heads=3)\n"
        "model = P2CForSequenceClassification(config)  # or .from_backbone(AutoModel.from_pretrained(...))\n"
        "# same-label pairs, their label, and each member's annotator votes per class\n"
        'pairs = [("a great film", "a fine film"), ("an awful plot", "a dull plot")] * 8\n'
        "labels = torch.tensor([1, 0] * 8)\n"
        "votes, pair_votes = torch.tensor([[0, 5], [1, 4]] * 8), torch.tensor([[2, 3], [3, 2]] * 8)\n"
        "preference = preference_from_votes(votes, pair_votes, labels)  # 1: x1 > x2, 0: x2 > x1, 2: tie\n"
        "train_set = Dataset.from_dict({\n"
        '    "input_ids": [tokenizer(a).input_ids for a, _ in pairs],\n'
        '    "pair_input_ids": [tokenizer(b).input_ids for _, b in pairs],\n'
        '    "labels": labels.tolist(),\n'
        '    "preference": preference.tolist(),\n'
        "})\n"
        "args = TrainingArguments(tempfile.mkdtemp(), max_steps=4, per_device_train_batch_size=8, report_to=[])\n"
        "trainer = P2CTrainer(\n"
        "    model=model, args=args, train_dataset=train_set, data_collator=P2CPairCollator(tokenizer),\n"
        "    lambda_cons=1.0, lambda_div=0.1,\n"
        ")\n"
        "trainer.train()\n"
        'rewards = model(**tokenizer(["a great film"], return_tensors="pt"), reward_labels=torch.tensor([1])).rewards'
    ),
    notes=(
        "No annotated text data set is available offline: the claim check simulates annotators (votes ~ σ(latent "
        "score)) on make_classification features and trains a small MLP encoder from scratch instead of fine-tuning "
        "RoBERTa; the text path (any AutoModel encoder, e.g. BERT) is checked for shapes, training steps and "
        "save/load with a tiny config. Two consistency terms are provided: the preference hinge on p(y|x1) − p(y|x2) "
        "of the paper and the per-class soft-label hinge of the official extractive runs (`--pair_loss`, the "
        "claim's P2C). Preference heads follow the official architecture (2 × Linear–ReLU, Linear–tanh on "
        "[CLS; y·1], 3 heads, Bradley–Terry, diversity term subtracted); the official hard-pair ('disagreement') "
        "sampling and the LLM (GPT-3) preference collection are not implemented: partners are drawn at random. "
        "In the claim run every objective overfits the 200 noisy labels after epoch 2 and the last epoch is scored: "
        "P2C's margin is largely slower overfitting (at epoch 2 soft-label CE is level with P2C, 0.904 vs 0.902)."
    ),
)
