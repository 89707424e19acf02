"""Training pieces shared by `recipes/p2c.py`, the claim check and the tests: a synthetic annotated task and its pairs.

No annotated text data set (one with every annotator's vote) ships offline, so the task is simulated:

- [`synthetic_annotated_task`]: feature vectors from scikit-learn's `make_classification`, a latent score
  `s = a · wᵀx` (standardised), and `num_annotators` simulated annotators voting `1` with probability `σ(s)`
  ([`simulate_votes`]); the task label is the majority vote, the soft label the vote fractions. The test items also
  carry the *consensus* label `1[s > 0]` (the majority of infinitely many annotators);
- [`sample_pairs`]: each training example paired with partners of the same label; [`PairDataset`] yields the P2C
  rows (`pixel_values`, `pair_pixel_values`, `labels`, `preference` from [`preference_from_votes`], soft labels);
- [`p2c_mlp`]: [`P2CForSequenceClassification`] on the hf-methods MLP encoder;
- [`evaluate`] (accuracies and the preference heads' pair accuracy) and [`train_on_annotated_task`] (the plain-torch
  loop of the claim check; the recipe runs the same step through `RecipeRunner`);
- [`P2CArguments`]: the recipe's arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .loss import P2CLoss, preference_from_votes, soft_label_cross_entropy
from .trainer import pair_loss_terms

OBJECTIVES = ("p2c", "ce", "soft_label")


# ------------------------------------------------------------------------------------------------------------- data


def simulate_votes(scores: torch.Tensor, num_annotators: int, generator: torch.Generator) -> torch.Tensor:
    """Votes of `num_annotators` independent annotators who each say `1` with probability `σ(s)`.

    Args:
        scores (`torch.Tensor` of shape `(n,)`): latent scores `s`.
        num_annotators (`int`): annotators per item (odd, so the majority is defined).
        generator (`torch.Generator`): the random source.

    Returns:
        `torch.LongTensor` of shape `(n, 2)`: the counts of votes for class 0 and class 1.
    """
    if not isinstance(num_annotators, int) or num_annotators < 1 or num_annotators % 2 == 0:
        raise ValueError(f"num_annotators must be an odd integer >= 1, got {num_annotators!r}")
    if scores.dim() != 1:
        raise ValueError(f"scores must be 1-D, got shape {tuple(scores.shape)}")
    p = torch.sigmoid(scores.double())
    ones = (torch.rand(len(scores), num_annotators, generator=generator, dtype=torch.float64) < p[:, None]).sum(1)
    return torch.stack([num_annotators - ones, ones], dim=1)


@dataclass
class AnnotatedTask:
    """One seed's data: training features, votes, majority labels, soft labels and latent scores; test the same."""

    x: torch.Tensor
    votes: torch.Tensor
    labels: torch.Tensor
    soft_labels: torch.Tensor
    scores: torch.Tensor
    x_test: torch.Tensor
    test_labels: torch.Tensor  # majority of the test items' own simulated annotators
    test_consensus: torch.Tensor  # 1[s > 0]
    test_scores: torch.Tensor

    @property
    def majority_error(self) -> float:
        """Fraction of training labels (majority votes) that disagree with the consensus `1[s > 0]`."""
        return ((self.scores > 0).long() != self.labels).float().mean().item()


def synthetic_annotated_task(
    seed: int,
    *,
    num_train: int = 200,
    num_test: int = 2000,
    num_features: int = 20,
    num_annotators: int = 5,
    latent_scale: float = 2.0,
) -> AnnotatedTask:
    """The simulated annotated task (all randomness from `seed`).

    `x` comes from `make_classification(n_features=num_features, n_informative=num_features // 2,
    n_redundant=num_features // 4)`, standardised with the training statistics; `w ~ N(0, I)`, and the latent score
    is `s = latent_scale · (wᵀx − mean) / std` (statistics over all items); annotators vote with `P(1) = σ(s)`.
    """
    from sklearn.datasets import make_classification

    for name, value in (("num_train", num_train), ("num_test", num_test), ("num_features", num_features)):
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    if not latent_scale > 0:
        raise ValueError(f"latent_scale must be > 0, got {latent_scale}")
    n = num_train + num_test
    x, _ = make_classification(
        n_samples=n,
        n_features=num_features,
        n_informative=max(num_features // 2, 1),
        n_redundant=num_features // 4,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    x = (x - x[:num_train].mean(0)) / (x[:num_train].std(0) + 1e-8)
    raw = x @ rng.normal(size=num_features)
    scores = torch.from_numpy(latent_scale * (raw - raw.mean()) / raw.std())
    votes = simulate_votes(scores, num_annotators, torch.Generator().manual_seed(seed))
    labels = votes.argmax(1)
    soft = votes.double() / num_annotators
    x = torch.from_numpy(x).float()
    tr, te = slice(0, num_train), slice(num_train, n)
    return AnnotatedTask(
        x=x[tr],
        votes=votes[tr],
        labels=labels[tr],
        soft_labels=soft[tr].float(),
        scores=scores[tr].float(),
        x_test=x[te],
        test_labels=labels[te],
        test_consensus=(scores[te] > 0).long(),
        test_scores=scores[te].float(),
    )


def sample_pairs(labels: torch.Tensor, pairs_per_example: int, generator: torch.Generator) -> torch.Tensor:
    """`(num_pairs, 2)` indices: every example paired with `pairs_per_example` distinct partners of its label.

    Partners are drawn uniformly without replacement among the other examples of the same label (all of them when
    the class has fewer). A class with a single example has no pair.
    """
    if not isinstance(pairs_per_example, int) or pairs_per_example < 1:
        raise ValueError(f"pairs_per_example must be an integer >= 1, got {pairs_per_example!r}")
    if labels.dim() != 1 or labels.is_floating_point():
        raise ValueError("labels must be a 1-D integer tensor")
    pairs = []
    for i, y in enumerate(labels.tolist()):
        others = torch.nonzero(labels == y)[:, 0]
        others = others[others != i]
        chosen = others[torch.randperm(len(others), generator=generator)[:pairs_per_example]]
        pairs.extend((i, j) for j in chosen.tolist())
    if not pairs:
        raise ValueError("no pairs: every class has a single example")
    return torch.tensor(pairs, dtype=torch.long)


class PairDataset(torch.utils.data.Dataset):
    """P2C rows of feature pairs: `pixel_values`, `pair_pixel_values`, `labels`, `preference`, `soft_labels`,
    `pair_soft_labels` (the format [`P2CTrainer`] and [`pair_loss_terms`] read)."""

    def __init__(self, x: torch.Tensor, votes: torch.Tensor, labels: torch.Tensor, pairs: torch.Tensor):
        first, second = pairs[:, 0], pairs[:, 1]
        if not torch.equal(labels[first], labels[second]):
            raise ValueError("every pair must share its task label")
        soft = votes.float() / votes.sum(1, keepdim=True).float()
        self.columns = {
            "pixel_values": x[first],
            "pair_pixel_values": x[second],
            "labels": labels[first],
            "preference": preference_from_votes(votes[first], votes[second], labels[first]),
            "soft_labels": soft[first],
            "pair_soft_labels": soft[second],
        }

    def __len__(self) -> int:
        return len(self.columns["labels"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.columns.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A whole batch at once (the DataLoader's batched fetch), already collated."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {k: v[idx] for k, v in self.columns.items()}

    def to_dict(self) -> dict[str, list]:
        """The columns as lists (for `datasets.Dataset.from_dict`)."""
        return {k: v.tolist() for k, v in self.columns.items()}


def collate_batch(batch):
    """`PairDataset.__getitems__` already returns a collated batch."""
    return batch


# ------------------------------------------------------------------------------------------------------------ model


def p2c_mlp(
    num_features: int = 20,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_preference_heads: int = 3,
    classifier_dropout: float = 0.1,
):
    """[`P2CForSequenceClassification`] on a ReLU MLP encoder (`hfm-mlp`) for binary feature classification."""
    from hf_methods.common.mlp import MLPConfig

    from .configuration_p2c import P2CConfig
    from .modeling_p2c import P2CForSequenceClassification

    encoder = MLPConfig(input_size=num_features, hidden_sizes=[hidden_size] * num_layers, hidden_act="relu")
    config = P2CConfig(
        encoder_config=encoder,
        num_labels=2,
        num_preference_heads=num_preference_heads,
        classifier_dropout=classifier_dropout,
    )
    return P2CForSequenceClassification(config)


def objective_loss(objective: str, loss_fn: P2CLoss, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The training loss of one pair batch: P2C (`loss_fn`), or the CE / soft-label baselines on the same pairs.

    The baselines use both members of each pair, `½ ℓ(x₁) + ½ ℓ(x₂)`, as P2C's classification term does, so the
    three objectives see the same examples in the same batches.
    """
    if objective == "p2c":
        terms, _, _ = pair_loss_terms(model, batch, loss_fn)
        return terms["loss"].mean(), {k: v.detach().mean() for k, v in terms.items()}
    logits_1 = model(pixel_values=batch["pixel_values"]).logits
    logits_2 = model(pixel_values=batch["pair_pixel_values"]).logits
    if objective == "ce":
        ce = nn.functional.cross_entropy
        loss = 0.5 * ce(logits_1, batch["labels"]) + 0.5 * ce(logits_2, batch["labels"])
    elif objective == "soft_label":
        loss = 0.5 * soft_label_cross_entropy(logits_1, batch["soft_labels"]) + 0.5 * soft_label_cross_entropy(
            logits_2, batch["pair_soft_labels"]
        )
    else:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    return loss, {"loss": loss.detach()}


# ------------------------------------------------------------------------------------------------------- evaluation


def evaluation_pairs_for(task: AnnotatedTask, num_pairs: int, seed: int) -> torch.Tensor:
    """`(num_pairs, 2)` random test pairs sharing their consensus label (for the preference heads' accuracy)."""
    gen = torch.Generator().manual_seed(50_000 + seed)
    first = torch.randint(0, len(task.test_consensus), (4 * num_pairs,), generator=gen)
    second = torch.randint(0, len(task.test_consensus), (4 * num_pairs,), generator=gen)
    keep = (task.test_consensus[first] == task.test_consensus[second]) & (first != second)
    return torch.stack([first[keep], second[keep]], dim=1)[:num_pairs]


@torch.no_grad()
def evaluate(model: nn.Module, task: AnnotatedTask, pairs: torch.Tensor | None = None) -> dict[str, float]:
    """Test accuracy against the consensus `1[s > 0]` and against the test majority votes; with `pairs`, the
    preference heads' pair accuracy: the ensemble's `P(x₁ ≻ x₂) > ½` against the truth "`x₁` is more `y`-like",
    i.e. `s(x₁) > s(x₂)` for `y = 1` and `s(x₁) < s(x₂)` for `y = 0`."""
    was_training = model.training
    model.eval()
    pred = model(pixel_values=task.x_test).logits.argmax(-1)
    result = {
        "test_accuracy": (pred == task.test_consensus).float().mean().item(),
        "test_majority_accuracy": (pred == task.test_labels).float().mean().item(),
    }
    if pairs is not None:
        y = task.test_consensus[pairs[:, 0]]
        r1 = model(pixel_values=task.x_test[pairs[:, 0]], reward_labels=y).rewards
        r2 = model(pixel_values=task.x_test[pairs[:, 1]], reward_labels=y).rewards
        prefer_first = torch.sigmoid(r1 - r2).mean(-1) > 0.5
        s1, s2 = task.test_scores[pairs[:, 0]], task.test_scores[pairs[:, 1]]
        truth = torch.where(y == 1, s1 > s2, s1 < s2)
        result["pair_accuracy"] = (prefer_first == truth).float().mean().item()
    model.train(was_training)
    return result


def train_on_annotated_task(
    task: AnnotatedTask,
    objective: str,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    pairs_per_example: int = 10,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_preference_heads: int = 3,
    classifier_dropout: float = 0.1,
    lambda_cls: float = 1.0,
    lambda_pref: float = 1.0,
    lambda_cons: float = 1.0,
    lambda_div: float = 0.1,
    consistency: str = "soft_label",
    num_test_pairs: int = 2000,
) -> dict:
    """Trains one objective with Adam (no weight decay, constant rate, as the official code) in plain torch.

    The initial weights, the pairs and the batch order depend on `seed` only, so every objective of a seed starts
    from the same network and sees the same batches. Returns the final test metrics and a per-epoch accuracy curve.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    pairs = sample_pairs(task.labels, pairs_per_example, torch.Generator().manual_seed(20_000 + seed))
    data = PairDataset(task.x, task.votes, task.labels, pairs)
    torch.manual_seed(seed)
    model = p2c_mlp(task.x.shape[1], hidden_size, num_layers, num_preference_heads, classifier_dropout)
    loss_fn = P2CLoss(lambda_cls, lambda_pref, lambda_cons, lambda_div, consistency)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    order = torch.Generator().manual_seed(seed)
    evaluation_pairs = evaluation_pairs_for(task, num_test_pairs, seed)
    curve = []
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(data), generator=order).split(batch_size):
            loss, _ = objective_loss(objective, loss_fn, model, data.__getitems__(idx.tolist()))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        curve.append(evaluate(model, task)["test_accuracy"])
    result = evaluate(model, task, evaluation_pairs)
    result["curve"] = curve
    result["num_pairs"] = len(data)
    result["tie_fraction"] = (data.columns["preference"] == 2).float().mean().item()
    return result


# ------------------------------------------------------------------------------------------------------- arguments


@dataclass
class P2CArguments(RecipeArguments):
    max_steps: int = field(default=630, metadata={"help": "Optimisation steps (630 ≈ 10 epochs of 2000 pairs)."})
    checkpoint_every: int = field(default=210, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    objective: str = field(
        default="p2c", metadata={"help": f"Training objective: one of {OBJECTIVES} (the last two are baselines)."}
    )
    consistency: str = field(
        default="soft_label",
        metadata={"help": "P2C consistency term: 'soft_label' (official extractive), 'preference' or 'none'."},
    )
    lambda_cls: float = field(default=1.0, metadata={"help": "Weight of the classification loss."})
    lambda_pref: float = field(default=1.0, metadata={"help": "Weight of the preference loss."})
    lambda_cons: float = field(default=1.0, metadata={"help": "Weight of the consistency term (official 1.0 / 0.1)."})
    lambda_div: float = field(default=0.1, metadata={"help": "Weight of the subtracted diversity term (0.1 / 1.0)."})
    num_preference_heads: int = field(default=3, metadata={"help": "Preference heads in the ensemble."})
    hidden_size: int = field(default=64, metadata={"help": "Width of the MLP encoder's ReLU layers."})
    num_layers: int = field(default=2, metadata={"help": "Number of hidden layers of the MLP encoder."})
    classifier_dropout: float = field(default=0.1, metadata={"help": "Dropout before the classification head."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (constant, no weight decay)."})
    batch_size: int = field(default=32, metadata={"help": "Pairs per batch per process."})
    num_train: int = field(default=200, metadata={"help": "Labelled training examples of the synthetic task."})
    num_test: int = field(default=2000, metadata={"help": "Test examples of the synthetic task."})
    num_features: int = field(default=20, metadata={"help": "Input features of the synthetic task."})
    num_annotators: int = field(default=5, metadata={"help": "Simulated annotators per example (odd)."})
    latent_scale: float = field(default=2.0, metadata={"help": "Std of the latent score s; votes ~ Bernoulli(σ(s))."})
    pairs_per_example: int = field(default=10, metadata={"help": "Same-label partners per training example."})

    def validate(self) -> None:
        super().validate()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.consistency not in ("soft_label", "preference", "none"):
            raise ValueError(f"--consistency must be 'soft_label', 'preference' or 'none', got {self.consistency!r}")
        for name in ("lambda_cls", "lambda_pref", "lambda_cons", "lambda_div"):
            if getattr(self, name) < 0 or not math.isfinite(getattr(self, name)):
                raise ValueError(f"--{name} must be a finite number >= 0, got {getattr(self, name)}")
        for name in ("num_preference_heads", "hidden_size", "num_layers", "batch_size", "pairs_per_example"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_train", "num_test", "num_features"):
            if getattr(self, name) < 2:
                raise ValueError(f"--{name} must be >= 2, got {getattr(self, name)}")
        if self.num_annotators < 1 or self.num_annotators % 2 == 0:
            raise ValueError(f"--num_annotators must be odd and >= 1, got {self.num_annotators}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if not self.latent_scale > 0:
            raise ValueError(f"--latent_scale must be > 0, got {self.latent_scale}")
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"--classifier_dropout must be in [0, 1), got {self.classifier_dropout}")

    def build_loss(self) -> P2CLoss:
        return P2CLoss(self.lambda_cls, self.lambda_pref, self.lambda_cons, self.lambda_div, self.consistency)

    def build_task(self) -> AnnotatedTask:
        return synthetic_annotated_task(
            self.seed,
            num_train=self.num_train,
            num_test=self.num_test,
            num_features=self.num_features,
            num_annotators=self.num_annotators,
            latent_scale=self.latent_scale,
        )


__all__ = [
    "OBJECTIVES",
    "AnnotatedTask",
    "P2CArguments",
    "PairDataset",
    "collate_batch",
    "evaluate",
    "objective_loss",
    "p2c_mlp",
    "sample_pairs",
    "simulate_votes",
    "synthetic_annotated_task",
    "evaluation_pairs_for",
    "train_on_annotated_task",
]
