"""D2NWG on digit-pair tasks: the zoo of small trained models, their evaluation, and the recipe's arguments.

The offline stand-in for the paper's model zoo: every *ordered* pair (a, b) of scikit-learn digit classes is a binary
dataset (label 0 = digit a, label 1 = digit b; 90 datasets), and a linear classifier 64 → 2 (130 parameters) is fitted
on each by L-BFGS on L2-regularised cross-entropy, several times per dataset on random subsets of its training split
(a convex problem has one minimiser: the subsets make the zoo's models differ). A dataset's support set is K raw
8×8 pixel vectors per class, classes in label order: the paper's set encoder reads CLIP features of the samples,
which are not available offline.

Shared by `recipes/d2nwg.py`, `scripts/build_d2nwg_zoo.py`, `benchmarks/claims/d2nwg.py` and the tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .modeling_d2nwg import flatten_parameters, unflatten_parameters
from .zoo import WeightZoo

__all__ = [
    "LINEAR_CLASSIFIER_SPEC",
    "D2NWGArguments",
    "DigitClasses",
    "build_digit_pair_zoo",
    "classifier_accuracy",
    "digit_pair_tasks",
    "load_digit_classes",
    "random_linear_classifier",
    "split_pairs",
    "train_linear_classifier",
]

#: The target model: `nn.Linear(64, 2)` on flattened 8×8 digits in [0, 1].
LINEAR_CLASSIFIER_SPEC = [["weight", [2, 64]], ["bias", [2]]]


@dataclass
class DigitClasses:
    """scikit-learn digits split per class: `train[d]`, `test[d]` are the `(n_d, 64)` images of digit d."""

    train: list[torch.Tensor]
    test: list[torch.Tensor]

    def task(self, pair: tuple[int, int], split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels (0 for `pair[0]`, 1 for `pair[1]`) of the binary dataset `pair` in `split`."""
        if split not in ("train", "test"):
            raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")
        a, b = _check_pair(pair)
        part = self.train if split == "train" else self.test
        x = torch.cat([part[a], part[b]])
        y = torch.cat([torch.zeros(len(part[a]), dtype=torch.long), torch.ones(len(part[b]), dtype=torch.long)])
        return x, y

    def support_pool(self, pair: tuple[int, int], size: int) -> torch.Tensor:
        """`(2, size, 64)`: the first `size` training images of each class of `pair` (the support-set pool)."""
        a, b = _check_pair(pair)
        if size > min(len(self.train[a]), len(self.train[b])):
            raise ValueError(f"`size` {size} exceeds the training images of digit {a} or {b}.")
        return torch.stack([self.train[a][:size], self.train[b][:size]])


def _check_pair(pair) -> tuple[int, int]:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(isinstance(d, int) for d in pair):
        raise ValueError(f"a digit pair must be two ints (a, b), got {pair!r}.")
    a, b = pair
    if not (0 <= a <= 9 and 0 <= b <= 9) or a == b:
        raise ValueError(f"a digit pair must be two different digits in 0..9, got {pair!r}.")
    return a, b


def load_digit_classes(test_size: float = 0.3, seed: int = 0) -> DigitClasses:
    """scikit-learn digits (`hf_methods.common.data.load_digits`, stratified split) grouped by class."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed, flatten=True)
    x_train, y_train = train.tensors()
    x_test, y_test = test.tensors()
    return DigitClasses(
        train=[x_train[y_train == d] for d in range(10)], test=[x_test[y_test == d] for d in range(10)]
    )


def digit_pair_tasks(ordered: bool = True) -> list[tuple[int, int]]:
    """All pairs of different digits: 90 ordered pairs (a, b) (label 0 = a), or the 45 with a < b."""
    if ordered:
        return list(itertools.permutations(range(10), 2))
    return list(itertools.combinations(range(10), 2))


def split_pairs(num_heldout: int, seed: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Draws `num_heldout` unordered digit pairs {a, b}; returns (seen, unseen) ordered pairs, both orders of a held-out
    pair being unseen (so no held-out dataset was seen even with its labels swapped)."""
    unordered = digit_pair_tasks(ordered=False)
    if not 0 < num_heldout < len(unordered):
        raise ValueError(f"`num_heldout` must be in 1..{len(unordered) - 1}, got {num_heldout}.")
    order = torch.randperm(len(unordered), generator=torch.Generator().manual_seed(seed)).tolist()
    heldout = {unordered[i] for i in order[:num_heldout]}
    seen = [p for p in digit_pair_tasks() if tuple(sorted(p)) not in heldout]
    unseen = [p for p in digit_pair_tasks() if tuple(sorted(p)) in heldout]
    return seen, unseen


def train_linear_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int = 0,
    subsample: float = 1.0,
    l2: float = 1e-3,
    max_iter: int = 100,
) -> dict[str, torch.Tensor]:
    r"""
    Fits `nn.Linear(F, 2)` by L-BFGS on  (1/n) Σ_i CE(W x_i + b, y_i) + l2 · ‖W‖²  over a random `subsample` fraction
    of (x, y) drawn with `seed` (the initial weights are drawn with it too). Returns the state dict.
    """
    if not 0.0 < subsample <= 1.0:
        raise ValueError(f"`subsample` must be in (0, 1], got {subsample!r}.")
    if l2 < 0:
        raise ValueError(f"`l2` must be >= 0, got {l2!r}.")
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(y), generator=generator)[: max(2, round(subsample * len(y)))]
    x, y = x[keep], y[keep]
    layer = nn.Linear(x.shape[1], 2)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.01, generator=generator)
        layer.bias.zero_()
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(layer(x), y) + l2 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return {name: tensor.detach().clone() for name, tensor in layer.state_dict().items()}


def random_linear_classifier(seed: int, in_features: int = 64) -> dict[str, torch.Tensor]:
    """A freshly initialised `nn.Linear(in_features, 2)` (PyTorch's default init), seeded."""
    torch.manual_seed(seed)
    return {name: t.detach().clone() for name, t in nn.Linear(in_features, 2).state_dict().items()}


@torch.no_grad()
def classifier_accuracy(state_dict: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of the linear classifier `state_dict` (weight `(C, F)`, bias `(C,)`) on (x, y)."""
    logits = x @ state_dict["weight"].T + state_dict["bias"]
    return (logits.argmax(dim=1) == y).float().mean().item()


def build_digit_pair_zoo(
    pairs: list[tuple[int, int]] | None = None,
    *,
    models_per_task: int = 3,
    subsample: float = 0.6,
    l2: float = 1e-3,
    max_iter: int = 100,
    pool_size: int = 100,
    test_size: float = 0.3,
    data_seed: int = 0,
    classes: DigitClasses | None = None,
) -> WeightZoo:
    """The digit-pair model zoo: `models_per_task` linear classifiers per pair (all 90 ordered pairs by default).

    Model j of dataset i is trained with seed 1000·i + j on a `subsample` fraction of the dataset's training split;
    the dataset's support pool is the first `pool_size` training images of each class. `metadata` keeps the pairs,
    the settings and each model's test accuracy.
    """
    pairs = digit_pair_tasks() if pairs is None else [tuple(p) for p in pairs]
    if isinstance(models_per_task, bool) or not isinstance(models_per_task, int) or models_per_task < 1:
        raise ValueError(f"`models_per_task` must be a positive integer, got {models_per_task!r}.")
    classes = classes if classes is not None else load_digit_classes(test_size, data_seed)
    vectors, task_ids, pools, accuracies = [], [], [], []
    for i, pair in enumerate(pairs):
        x, y = classes.task(pair, "train")
        x_test, y_test = classes.task(pair, "test")
        pools.append(classes.support_pool(pair, pool_size))
        for j in range(models_per_task):
            state = train_linear_classifier(x, y, seed=1000 * i + j, subsample=subsample, l2=l2, max_iter=max_iter)
            vectors.append(flatten_parameters(state, LINEAR_CLASSIFIER_SPEC))
            task_ids.append(i)
            accuracies.append(classifier_accuracy(state, x_test, y_test))
    metadata = {
        "pairs": [list(p) for p in pairs],
        "models_per_task": models_per_task,
        "subsample": subsample,
        "l2": l2,
        "max_iter": max_iter,
        "pool_size": pool_size,
        "test_size": test_size,
        "data_seed": data_seed,
        "test_accuracy": accuracies,
    }
    return WeightZoo(
        LINEAR_CLASSIFIER_SPEC,
        torch.stack(vectors),
        torch.tensor(task_ids),
        pools,
        [f"{a}-vs-{b}" for a, b in pairs],
        metadata,
    )


def zoo_state_dict(zoo: WeightZoo, index: int) -> dict:
    """The `index`-th model of a digit-pair zoo as a linear-classifier state dict."""
    return unflatten_parameters(zoo.vectors[index], zoo.parameter_spec)


@dataclass
class D2NWGArguments(RecipeArguments):
    """Knobs of `recipes/d2nwg.py`: the digit-pair zoo, the two training stages and the generation check."""

    max_steps: int = field(default=1500, metadata={"help": "Diffusion (stage 2) optimisation steps."})
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=100, metadata={"help": "Log training metrics every N steps."})
    vae_steps: int = field(default=800, metadata={"help": "VAE (stage 1) optimisation steps."})
    vae_learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate of the VAE."})
    vae_batch_size: int = field(default=64, metadata={"help": "VAE batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate of the denoiser and encoder."})
    batch_size: int = field(default=128, metadata={"help": "Diffusion batch size."})
    latent_dim: int = field(default=16, metadata={"help": "Size of the weight latent."})
    vae_hidden_size: int = field(default=128, metadata={"help": "Width of the VAE's hidden layers."})
    vae_num_layers: int = field(default=1, metadata={"help": "Hidden layers of the VAE encoder (and decoder)."})
    kl_weight: float = field(default=1e-6, metadata={"help": "KL weight of the VAE loss (the paper's 1e-6)."})
    denoiser_hidden_size: int = field(default=256, metadata={"help": "Width of the latent denoiser."})
    denoiser_num_layers: int = field(default=3, metadata={"help": "Residual blocks of the latent denoiser."})
    condition_dim: int = field(default=64, metadata={"help": "Size of the dataset embedding."})
    set_pooling: str = field(default="moments", metadata={"help": "Set encoder pooling: 'moments' or 'linear'."})
    num_train_timesteps: int = field(default=200, metadata={"help": "Diffusion steps T."})
    samples_per_class: int = field(default=5, metadata={"help": "Support samples per class (K)."})
    models_per_task: int = field(default=2, metadata={"help": "Zoo models trained per digit-pair dataset."})
    num_heldout_pairs: int = field(
        default=9, metadata={"help": "Unordered digit pairs held out of the zoo (both orders unseen)."}
    )
    num_samples: int = field(default=5, metadata={"help": "Weight samples generated per held-out dataset."})
    zoo_dir: str | None = field(
        default=None, metadata={"help": "A zoo written by scripts/build_d2nwg_zoo.py (default: build it here)."}
    )

    def validate(self) -> None:
        super().validate()
        for name in (
            "vae_steps",
            "vae_batch_size",
            "batch_size",
            "latent_dim",
            "vae_hidden_size",
            "vae_num_layers",
            "denoiser_hidden_size",
            "denoiser_num_layers",
            "condition_dim",
            "samples_per_class",
            "models_per_task",
            "num_samples",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be a positive integer, got {value!r}")
        for name in ("vae_learning_rate", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        if self.kl_weight < 0:
            raise ValueError(f"--kl_weight must be >= 0, got {self.kl_weight!r}")
        if self.set_pooling not in ("moments", "linear"):
            raise ValueError(f"--set_pooling must be 'moments' or 'linear', got {self.set_pooling!r}")
        if self.num_train_timesteps < 2:
            raise ValueError(f"--num_train_timesteps must be >= 2, got {self.num_train_timesteps!r}")
        if not 1 <= self.num_heldout_pairs <= 44:
            raise ValueError(f"--num_heldout_pairs must be in 1..44, got {self.num_heldout_pairs!r}")

    def build_config(self):
        """The [`D2NWGConfig`] of this run."""
        from .configuration_d2nwg import D2NWGConfig

        return D2NWGConfig(
            parameter_spec=LINEAR_CLASSIFIER_SPEC,
            vae_hidden_sizes=[self.vae_hidden_size] * self.vae_num_layers,
            latent_dim=self.latent_dim,
            kl_weight=self.kl_weight,
            num_classes=2,
            samples_per_class=self.samples_per_class,
            feature_dim=64,
            set_pooling=self.set_pooling,
            condition_dim=self.condition_dim,
            denoiser_hidden_size=self.denoiser_hidden_size,
            denoiser_num_layers=self.denoiser_num_layers,
            num_train_timesteps=self.num_train_timesteps,
        )


@torch.no_grad()
def evaluate_generation(
    pipeline,
    classes: DigitClasses,
    pairs: list[tuple[int, int]],
    *,
    num_samples: int = 5,
    samples_per_class: int = 5,
    pool_size: int = 100,
    seed: int = 0,
    condition_pairs: list[tuple[int, int]] | None = None,
) -> list[dict]:
    """Generates `num_samples` classifiers per dataset of `pairs` and scores them on the dataset's test split.

    The support set of dataset `pairs[i]` (K training images per class) conditions the generation, unless
    `condition_pairs` is given: then `condition_pairs[i]`'s support set does (a mismatched condition). The best of the
    samples is chosen by accuracy on the dataset's *training* split, never on the test split. Returns one dict per
    dataset: `pair`, `accuracies` (test, per sample), `mean_accuracy`, `best_accuracy` (test accuracy of the sample
    with the best training accuracy).
    """
    generator = torch.Generator().manual_seed(seed)
    condition_pairs = pairs if condition_pairs is None else condition_pairs
    if len(condition_pairs) != len(pairs):
        raise ValueError("`condition_pairs` must give one pair per dataset of `pairs`.")
    supports = []
    for pair in condition_pairs:
        pool = classes.support_pool(tuple(pair), pool_size)
        order = torch.rand(pool.shape[:2], generator=generator).argsort(dim=1)[:, :samples_per_class]
        supports.append(torch.gather(pool, 1, order[..., None].expand(-1, -1, pool.shape[2])))
    vectors = pipeline.generate_vectors(torch.stack(supports), num_samples, generator=generator)
    results = []
    for pair, task_vectors in zip(pairs, vectors):
        x_train, y_train = classes.task(tuple(pair), "train")
        x_test, y_test = classes.task(tuple(pair), "test")
        states = [unflatten_parameters(v, LINEAR_CLASSIFIER_SPEC) for v in task_vectors]
        test = [classifier_accuracy(s, x_test, y_test) for s in states]
        train = [classifier_accuracy(s, x_train, y_train) for s in states]
        best = max(range(len(states)), key=lambda k: train[k])
        results.append(
            {
                "pair": list(pair),
                "accuracies": test,
                "mean_accuracy": sum(test) / len(test),
                "best_accuracy": test[best],
            }
        )
    return results
