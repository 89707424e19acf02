"""Training pieces shared by `recipes/wad.py`, the claim check and the tests: WAD on digits with unknown classes.

- [`mismatch_digits`]: scikit-learn's digits split into a few labels per known class, an unlabelled pool of which a
  fraction `mismatch` comes from unknown classes, and a known-class test set;
- [`ContrastiveMLP`] and [`train_simclr_teacher`]: the teacher, an MLP encoder with a projection head trained with
  SimCLR's NT-Xent on two shift + noise views of every (labelled and unlabelled) training image;
- [`WADPools`]: the labelled groups and the unlabelled pool of a run, the teacher's knowledge against the current
  groups, the seeded batches of a step, the promotion after a round, and a `state_dict` for checkpoints;
- [`train_wad_student`]: the plain-torch loop of the claim (WAD, naive pseudo-labelling `w ≡ 1`, labelled only);
- [`weight_auroc`]: how well the weights separate known from unknown unlabelled examples (scikit-learn's AUROC);
- [`WADArguments`]: the arguments of `recipes/wad.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.augment import as_images, random_noise, random_translate
from hf_methods.common.contrastive import nt_xent_loss
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .knowledge import MODES, class_similarity_scores, promotion_fraction, pseudo_labels_and_weights, select_reliable
from .loss import wad_objective

IMAGE_SHAPE = (1, 8, 8)
METHODS = ("wad", "naive", "labelled_only")
TEACHERS = ("pca", "simclr")


# ----------------------------------------------------------------------------------------------------------- data


@dataclass
class MismatchDigits:
    """One seed's split. Labels of the known classes are remapped to `0..K-1`; `u_class` keeps the true digit of each
    unlabelled image (`-1` never occurs) and `u_known` whether it belongs to a known class."""

    x_labelled: torch.Tensor
    y_labelled: torch.Tensor
    x_unlabelled: torch.Tensor
    u_class: torch.Tensor
    u_known: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    known_classes: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return len(self.known_classes)

    @property
    def u_label(self) -> torch.Tensor:
        """The true known-class label of each unlabelled image (`-1` for an unknown class)."""
        remap = {c: i for i, c in enumerate(self.known_classes)}
        return torch.tensor([remap.get(int(c), -1) for c in self.u_class])


def mismatch_digits(
    seed: int,
    *,
    known_classes: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
    labels_per_class: int = 10,
    mismatch: float = 0.6,
    test_size: float = 0.2,
) -> MismatchDigits:
    """Digits under class-distribution mismatch (seeded by `seed` only).

    From the training part of `load_digits(test_size, seed)`: `labels_per_class` labelled images of each known class;
    the unlabelled pool holds the other known-class images and unknown-class images in the ratio
    `(1 − mismatch) : mismatch`. As in the official `Get_mismatch_unlabeled_dataset`, every remaining known-class image
    is kept and `ceil(mismatch · n_known / (1 − mismatch))` unknown ones are drawn; when there are not that many
    unknown images (digits has four unknown classes of about 145 images), all unknown images are kept and the known
    part is subsampled to `floor(n_unknown · (1 − mismatch) / mismatch)` instead. The test set holds the test images of
    the known classes.
    """
    from hf_methods.common.data import load_digits

    if not 0.0 <= mismatch < 1.0:
        raise ValueError(f"mismatch must be in [0, 1), got {mismatch}")
    if len(set(known_classes)) != len(known_classes) or len(known_classes) < 2:
        raise ValueError(f"known_classes must be at least two distinct digits, got {known_classes}")
    if not all(0 <= c <= 9 for c in known_classes):
        raise ValueError(f"known_classes must be digits in [0, 9], got {known_classes}")
    if labels_per_class < 1:
        raise ValueError(f"labels_per_class must be >= 1, got {labels_per_class}")
    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    rng = np.random.default_rng(seed)
    remap = torch.full((10,), -1, dtype=torch.long)
    remap[list(known_classes)] = torch.arange(len(known_classes))
    labelled, known_rest = [], []
    for c in known_classes:
        idx = rng.permutation(np.flatnonzero(y.numpy() == c))
        if len(idx) <= labels_per_class:
            raise ValueError(f"class {c} has only {len(idx)} training images for labels_per_class={labels_per_class}")
        labelled.append(idx[:labels_per_class])
        known_rest.append(idx[labels_per_class:])
    labelled, known_rest = np.concatenate(labelled), rng.permutation(np.concatenate(known_rest))
    unknown = rng.permutation(np.flatnonzero(remap[y].numpy() < 0))
    wanted = math.ceil(mismatch * len(known_rest) / (1 - mismatch))
    if wanted <= len(unknown):
        unknown = unknown[:wanted]
    else:
        known_rest = known_rest[: int(len(unknown) * (1 - mismatch) / mismatch)]
    pool = rng.permutation(np.concatenate([known_rest, unknown]))
    pool_t, labelled_t = torch.from_numpy(pool), torch.from_numpy(labelled)
    test_keep = remap[y_test] >= 0
    return MismatchDigits(
        x_labelled=x[labelled_t],
        y_labelled=remap[y[labelled_t]],
        x_unlabelled=x[pool_t],
        u_class=y[pool_t],
        u_known=remap[y[pool_t]] >= 0,
        x_test=x_test[test_keep],
        y_test=remap[y_test[test_keep]],
        known_classes=tuple(known_classes),
    )


def digits_augment(x: torch.Tensor, *, max_shift: int = 1, noise_std: float = 0.1, generator=None) -> torch.Tensor:
    """Flat 8×8 digits shifted by up to `max_shift` pixels and given Gaussian noise (`hf_methods.common.augment`)."""
    images = random_translate(as_images(x, IMAGE_SHAPE), max_shift, generator=generator)
    if noise_std > 0:
        images = random_noise(images, noise_std, generator=generator)
    return images.reshape(len(x), -1)


def weight_auroc(weights: torch.Tensor, is_known: torch.Tensor) -> float:
    """AUROC of the weights as a score of "known class" over the unlabelled examples (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_known.cpu().numpy().astype(int), weights.detach().cpu().double().numpy()))


# ----------------------------------------------------------------------------------------------------------- teacher


class ContrastiveMLP(nn.Module):
    """A SimCLR encoder for flat images: `MLPModel` (ReLU) then a projection head `Linear–ReLU–Linear`.

    `forward(pixel_values)` returns the projection (the features WAD reads, as the official code reads the SimCLR
    head's output); `encode` returns the encoder's features.
    """

    def __init__(self, input_size: int = 64, hidden_sizes=(256, 128), projection_size: int = 64):
        super().__init__()
        from hf_methods.common.mlp import MLPConfig, MLPModel

        self.encoder = MLPModel(MLPConfig(input_size=input_size, hidden_sizes=list(hidden_sizes), hidden_act="relu"))
        width = hidden_sizes[-1]
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, projection_size))

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values=pixel_values).last_hidden_state

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(pixel_values))


def train_simclr_teacher(
    x: torch.Tensor,
    *,
    seed: int,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    temperature: float = 0.5,
    max_shift: int = 1,
    noise_std: float = 0.1,
    hidden_sizes=(256, 128),
    projection_size: int = 64,
) -> ContrastiveMLP:
    """SimCLR on flat digits: NT-Xent between two shift + noise views of each image, Adam, seeded. Returns it frozen."""
    torch.manual_seed(seed)
    model = ContrastiveMLP(x.shape[1], hidden_sizes, projection_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            if len(idx) < 2:
                continue
            batch = x[idx]
            views = [
                digits_augment(batch, max_shift=max_shift, noise_std=noise_std, generator=generator) for _ in "12"
            ]
            loss = nt_xent_loss(model(views[0]), model(views[1]), temperature=temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval().requires_grad_(False)


@torch.no_grad()
def pool_features(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """`model(pixel_values=x)` in batches, in eval mode (the teacher's features of a pool)."""
    model.eval()
    return torch.cat([model(pixel_values=part) for part in x.split(batch_size)])


# ----------------------------------------------------------------------------------------------------------- pools


def _batch(n: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """The indices of batch `step` of seeded epochs over `range(n)` (a function of its arguments only)."""
    per_epoch = -(-n // batch_size)
    epoch, j = divmod(step, per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[j * batch_size : (j + 1) * batch_size]


class WADPools:
    """The labelled groups and unlabelled pool of a WAD run, with precomputed teacher features.

    Args:
        x_labelled, y_labelled: the labelled inputs and classes `0..C-1`.
        x_unlabelled: the unlabelled inputs.
        teacher_labelled, teacher_unlabelled: the (frozen) teacher's features of both.
        num_classes (`int`): `C`.
        similarity (`str`): `"nearest"` or `"prototype"` (see `class_similarity_scores`).
        uniform_weights (`bool`): `w ≡ 1` (naive pseudo-labelling).

    `state_dict()` holds the promotions (positions and pseudo-labels), so a checkpoint restores the pools exactly.
    """

    def __init__(
        self,
        x_labelled: torch.Tensor,
        y_labelled: torch.Tensor,
        x_unlabelled: torch.Tensor,
        teacher_labelled: torch.Tensor,
        teacher_unlabelled: torch.Tensor,
        *,
        num_classes: int,
        similarity: str = "nearest",
        uniform_weights: bool = False,
    ):
        if similarity not in MODES:
            raise ValueError(f"similarity must be one of {MODES}, got {similarity!r}")
        self.x_labelled, self.y_labelled, self.x_unlabelled = x_labelled, y_labelled.long(), x_unlabelled
        self.teacher_labelled, self.teacher_unlabelled = teacher_labelled, teacher_unlabelled
        self.num_classes, self.similarity, self.uniform_weights = num_classes, similarity, uniform_weights
        self.promoted_index = torch.zeros(0, dtype=torch.long)
        self.promoted_labels = torch.zeros(0, dtype=torch.long)
        self._refresh()

    def _refresh(self) -> None:
        keep = torch.ones(len(self.x_unlabelled), dtype=torch.bool)
        keep[self.promoted_index] = False
        self.unlabelled_index = torch.nonzero(keep).flatten()
        features = torch.cat([self.teacher_labelled, self.teacher_unlabelled[self.promoted_index]])
        labels = torch.cat([self.y_labelled, self.promoted_labels])
        scores = class_similarity_scores(
            self.teacher_unlabelled, features, labels, num_classes=self.num_classes, mode=self.similarity
        )
        self.pseudo_labels, self.weights = pseudo_labels_and_weights(scores)  # for every unlabelled position
        if self.uniform_weights:
            self.weights = torch.ones_like(self.weights)

    @property
    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.x_labelled, self.x_unlabelled[self.promoted_index]])
        return x, torch.cat([self.y_labelled, self.promoted_labels])

    def labelled_batch(self, step: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.labelled
        idx = _batch(len(y), batch_size, step, seed)
        return x[idx], y[idx]

    def unlabelled_batch(self, step: int, batch_size: int, seed: int):
        """`(x, pseudo_labels, weights)` of an unlabelled batch (positions drawn from the current pool)."""
        pos = self.unlabelled_index[_batch(len(self.unlabelled_index), batch_size, step, seed)]
        return self.x_unlabelled[pos], self.pseudo_labels[pos], self.weights[pos]

    @torch.no_grad()
    def promote(self, student: nn.Module, fraction: float) -> torch.Tensor:
        """Moves `int(fraction·|pool|)` pool examples with the smallest student CE against their pseudo-label into
        the labelled groups (with those pseudo-labels); returns their positions."""
        pool = self.unlabelled_index
        count = int(fraction * len(pool))
        if count == 0:
            return pool[:0]
        was_training = student.training
        student.eval()
        device = next(student.parameters()).device
        parts = self.x_unlabelled[pool].split(1024)
        logits = torch.cat([student(pixel_values=part.to(device)).logits.cpu() for part in parts])
        student.train(was_training)
        chosen = pool[select_reliable(logits, self.pseudo_labels[pool], count)]
        self.promoted_index = torch.cat([self.promoted_index, chosen])
        self.promoted_labels = torch.cat([self.promoted_labels, self.pseudo_labels[chosen]])
        self._refresh()
        return chosen

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"promoted_index": self.promoted_index.clone(), "promoted_labels": self.promoted_labels.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.promoted_index = state["promoted_index"].long().cpu()
        self.promoted_labels = state["promoted_labels"].long().cpu()
        self._refresh()


# ----------------------------------------------------------------------------------------------------------- student


def digits_student(num_classes: int, hidden_size: int = 128):
    """The student: a ReLU MLP 64-h-h-C (`MLPForImageClassification`)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size] * 2, hidden_act="relu", num_labels=num_classes)
    return MLPForImageClassification(config)


def round_of(step: int, steps_per_round: int) -> int:
    """The round (from 1) that optimisation step `step` (from 0) belongs to."""
    return step // steps_per_round + 1


def train_wad_student(
    data: MismatchDigits,
    teacher_labelled: torch.Tensor,
    teacher_unlabelled: torch.Tensor,
    method: str = "wad",
    *,
    seed: int,
    rounds: int = 5,
    alpha: float = 0.1,
    steps_per_round: int = 250,
    batch_size: int = 32,
    lr: float = 5e-4,
    hidden_size: int = 128,
    similarity: str = "nearest",
    augment: bool = True,
) -> dict:
    """Trains the student in plain torch with WAD (`"wad"`), naive pseudo-labelling from the same teacher (`"naive"`,
    every weight 1, same rounds and promotions) or on the labelled examples only (`"labelled_only"`, same steps).

    There are `rounds + 1` rounds of `steps_per_round` Adam steps (a fresh Adam each round, as in the official code);
    after round t the `α(1 − t/T)²` fraction of the pool is promoted (WAD and naive). The initial weights, the batch
    order and the augmentations depend on `seed` only, so the three methods of a seed start from the same network.
    Returns the final known-class test accuracy, the accuracy after each round, the teacher's pseudo-label accuracy on
    the known unlabelled examples, and the promoted examples' purity (known class and right pseudo-label).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    pools = WADPools(
        data.x_labelled,
        data.y_labelled,
        data.x_unlabelled,
        teacher_labelled,
        teacher_unlabelled,
        num_classes=data.num_classes,
        similarity=similarity,
        uniform_weights=method == "naive",
    )
    first_pseudo_labels = pools.pseudo_labels.clone()  # the teacher's labels against the given labelled examples
    torch.manual_seed(seed)
    student = digits_student(data.num_classes, hidden_size)
    generator = torch.Generator().manual_seed(seed)
    u_label = data.u_label
    curve, total = [], steps_per_round * (rounds + 1)
    optimizer = None
    for step in range(total):
        t, k = round_of(step, steps_per_round), step % steps_per_round
        if k == 0:
            optimizer = torch.optim.Adam(student.parameters(), lr=lr)
        x_l, y_l = pools.labelled_batch(step, batch_size, seed)
        if augment:
            x_l = digits_augment(x_l, noise_std=0.0, generator=generator)
        logits_l = student(pixel_values=x_l).logits
        if method == "labelled_only":
            loss = F.cross_entropy(logits_l, y_l)
        else:
            x_u, yhat, w = pools.unlabelled_batch(step, batch_size, seed + 7919)
            if augment:
                x_u = digits_augment(x_u, noise_std=0.0, generator=generator)
            loss = wad_objective(logits_l, y_l, student(pixel_values=x_u).logits, yhat, w)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if k == steps_per_round - 1:
            curve.append(accuracy(student, data.x_test, data.y_test))
            if method != "labelled_only":
                pools.promote(student, promotion_fraction(t, alpha, rounds))
    promoted = pools.promoted_index
    correct = (u_label[promoted] == pools.promoted_labels).float()
    known = data.u_known
    return {
        "test_accuracy": curve[-1],
        "curve": curve,
        "promoted": len(promoted),
        "promoted_purity": float(correct.mean()) if len(promoted) else float("nan"),
        "pseudo_label_accuracy": float((first_pseudo_labels[known] == u_label[known]).float().mean()),
    }


# ----------------------------------------------------------------------------------------------------------- recipe


@dataclass
class WADArguments(RecipeArguments):
    max_steps: int = field(
        default=1500, metadata={"help": "Optimisation steps over all rounds (split evenly into rounds + 1 rounds)."}
    )
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    rounds: int = field(default=5, metadata={"help": "T: the promotion fraction decays to 0 over T rounds (T+1 run)."})
    alpha: float = field(default=0.1, metadata={"help": "α: the initial fraction of the pool promoted after a round."})
    similarity: str = field(default="nearest", metadata={"help": f"Class similarity in teacher space: {MODES}."})
    uniform_weights: bool = field(default=False, metadata={"help": "w ≡ 1 (naive pseudo-labelling, an ablation)."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Adam learning rate (a fresh Adam each round)."})
    batch_size: int = field(default=32, metadata={"help": "Labelled and unlabelled batch size per step."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the student's two ReLU hidden layers."})
    known_classes: str = field(default="0,1,2,3,4,5", metadata={"help": "The known digits, comma-separated."})
    labels_per_class: int = field(default=10, metadata={"help": "Labelled images per known class."})
    mismatch: float = field(default=0.6, metadata={"help": "Fraction of the unlabelled pool from unknown classes."})
    teacher: str = field(
        default="pca",
        metadata={"help": "'pca' (PCA-32 of the training images) or 'simclr' (an MLP trained with NT-Xent)."},
    )
    pca_components: int = field(default=32, metadata={"help": "Components of the PCA teacher."})
    teacher_epochs: int = field(default=100, metadata={"help": "SimCLR epochs of the 'simclr' teacher."})
    teacher_temperature: float = field(default=0.5, metadata={"help": "NT-Xent temperature of the teacher."})
    augment: bool = field(default=True, metadata={"help": "Shift the student's training inputs by up to 1 pixel."})

    def validate(self) -> None:
        super().validate()
        if self.rounds < 1:
            raise ValueError(f"--rounds must be >= 1, got {self.rounds}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}")
        if self.similarity not in MODES:
            raise ValueError(f"--similarity must be one of {MODES}, got {self.similarity!r}")
        for name in ("learning_rate", "batch_size", "hidden_size", "labels_per_class", "teacher_temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.mismatch < 1.0:
            raise ValueError(f"--mismatch must be in [0, 1), got {self.mismatch}")
        if self.teacher not in TEACHERS:
            raise ValueError(f"--teacher must be one of {TEACHERS}, got {self.teacher!r}")
        for name in ("teacher_epochs", "pca_components"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps < self.rounds + 1:
            raise ValueError(f"--max_steps must be >= rounds + 1 = {self.rounds + 1}, got {self.max_steps}")
        self.known_class_tuple()

    def build_teacher(self, x: torch.Tensor) -> nn.Module:
        """The frozen teacher of `--teacher`, fitted on `x` (the labelled and unlabelled training images)."""
        if self.teacher == "pca":
            return PCATeacher(x, self.pca_components).eval()
        return train_simclr_teacher(
            x, seed=self.seed, epochs=self.teacher_epochs, temperature=self.teacher_temperature
        )

    def known_class_tuple(self) -> tuple[int, ...]:
        try:
            classes = tuple(int(c) for c in self.known_classes.split(","))
        except ValueError:
            raise ValueError(f"--known_classes must be comma-separated digits, got {self.known_classes!r}") from None
        if len(set(classes)) != len(classes) or len(classes) < 2 or not all(0 <= c <= 9 for c in classes):
            raise ValueError(
                f"--known_classes must be at least two distinct digits in 0..9, got {self.known_classes!r}"
            )
        return classes

    @property
    def steps_per_round(self) -> int:
        return -(-self.max_steps // (self.rounds + 1))


class PCATeacher(nn.Module):
    """A fallback teacher without training: the top principal directions of the training images (a linear map)."""

    def __init__(self, x: torch.Tensor, components: int = 32):
        super().__init__()
        if not 1 <= components <= min(x.shape):
            raise ValueError(f"components must be in [1, {min(x.shape)}] for data of shape {tuple(x.shape)}")
        mean = x.mean(0)
        # an exact SVD (deterministic; torch.pca_lowrank is randomised and reads the global random state)
        _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
        self.register_buffer("mean", mean)
        self.register_buffer("components", vh[:components].T.contiguous())

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return (pixel_values.reshape(len(pixel_values), -1) - self.mean) @ self.components


__all__ = [
    "METHODS",
    "TEACHERS",
    "ContrastiveMLP",
    "MismatchDigits",
    "PCATeacher",
    "WADArguments",
    "WADPools",
    "accuracy",
    "digits_augment",
    "digits_student",
    "mismatch_digits",
    "pool_features",
    "round_of",
    "train_simclr_teacher",
    "train_wad_student",
    "weight_auroc",
]
