"""The dis_vs_gen recipe's pieces: its arguments and the feature sets it evaluates linear heads on."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments

__all__ = ["FEATURE_SETS", "DisVsGenArguments", "feature_set"]

#: Feature sets the recipe offers (the owner of this list): digits pixels, frozen MiniLM sentence embeddings of
#: paragraphs of the three offline corpora (label: which corpus), the paper's Gaussian mixture.
FEATURE_SETS = ("digits", "minilm-corpora", "gaussian")


def feature_set(name: str, *, seed: int = 0, paragraphs_per_corpus: int = 300, gaussian_features: int = 100):
    """`(train_x, train_y, test_x, test_y)` of the feature set `name` (one of `FEATURE_SETS`)."""
    if name == "digits":
        from hf_methods.common.data import load_digits

        train, test = load_digits(test_size=0.3, seed=seed)
        return (
            torch.from_numpy(train.x),
            torch.from_numpy(train.y),
            torch.from_numpy(test.x),
            torch.from_numpy(test.y),
        )
    if name == "gaussian":
        from hf_methods.analysis.dis_vs_gen.analysis import gaussian_mixture

        train_x, train_y = gaussian_mixture(gaussian_features, 3, 400, seed=seed)
        test_x, test_y = gaussian_mixture(gaussian_features, 3, 1000, seed=seed + 1)
        return train_x, train_y, test_x, test_y
    if name == "minilm-corpora":
        from hf_methods.analysis.dis_vs_gen.analysis import extract_features
        from hf_methods.common.data import CORPORA, load_corpus, load_minilm

        model, tokenizer = load_minilm()
        texts, labels = [], []
        for label, corpus in enumerate(CORPORA):
            paragraphs = load_corpus(corpus, max_paragraphs=paragraphs_per_corpus)
            texts += paragraphs
            labels += [label] * len(paragraphs)
        batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        feats = extract_features(model, dict(batch), batch_size=64)
        y = torch.tensor(labels)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        cut = int(0.7 * len(y))
        train, test = order[:cut], order[cut:]
        return feats[train], y[train], feats[test], y[test]
    raise ValueError(f"features must be one of {FEATURE_SETS}, got {name!r}")


@dataclass
class DisVsGenArguments(RecipeArguments):
    """Knobs of `recipes/dis_vs_gen.py` (every field is a command-line flag)."""

    features: str = field(default="digits", metadata={"help": f"Feature set: one of {', '.join(FEATURE_SETS)}."})
    sizes: str = field(
        default="20,40,80,160,320,640", metadata={"help": "Comma-separated training-set sizes m of the curve."}
    )
    repeats: int = field(default=3, metadata={"help": "Balanced draws per size."})
    logistic_C: float = field(default=1.0, metadata={"help": "Inverse L2 strength of the logistic-regression head."})
    paragraphs_per_corpus: int = field(default=300, metadata={"help": "minilm-corpora: paragraphs per corpus."})
    gaussian_features: int = field(default=100, metadata={"help": "gaussian: feature dimension n."})

    def size_list(self) -> list[int]:
        try:
            sizes = [int(part) for part in self.sizes.split(",") if part.strip()]
        except ValueError as error:
            raise ValueError(f"--sizes must be comma-separated integers, got {self.sizes!r}") from error
        if not sizes or min(sizes) < 1:
            raise ValueError(f"--sizes must hold positive integers, got {self.sizes!r}")
        return sorted(set(sizes))

    def validate(self) -> None:
        super().validate()
        if self.features not in FEATURE_SETS:
            raise ValueError(f"--features must be one of {FEATURE_SETS}, got {self.features!r}")
        self.size_list()
        check_positive_int("repeats", self.repeats)
        check_number("logistic_C", self.logistic_C, low=0.0, low_open=True)
        check_positive_int("paragraphs_per_corpus", self.paragraphs_per_corpus)
        check_positive_int("gaussian_features", self.gaussian_features)
