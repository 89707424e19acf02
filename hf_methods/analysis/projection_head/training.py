"""The experiments of the projection-head analysis (Xue et al., ICLR 2024), shared by the recipe, the claim and the tests.

1. [`run_feature_weighting`]: synthetic inputs x = Σ_j s_j z_j e_j (z_j ~ N(0, 1), orthonormal e_j) whose
   augmentation drops feature j with probability p_j; a two-layer linear network h = W_1 x, z = W_2 h trained by
   full-batch gradient descent on the spectral contrastive loss of two views; the layer-wise feature gains of
   W_1 and W_2 W_1, and a logistic probe on h (pre-projection) and on z (post-projection) for a downstream label that
   depends on the weakest feature only, with every feature at strength `downstream_strength` downstream.
2. [`train_contrastive`]: SimCLR (NT-Xent) or SupCon training of a [`ProjectionHeadModel`] (no head, an MLP head, or
   the fixed κ-reweighting head) on two augmented views of flat images, and [`run_spurious_digits`]: digits with a
   spurious pixel that matches the label's parity in training only; worst-group probe accuracy of h and of z.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from hf_methods.analysis.projection_head.analysis import layerwise_feature_gains, linear_probe_accuracy
from hf_methods.analysis.projection_head.modeling import (
    FixedReweightProjectionHead,
    ProjectionHeadModel,
    spectral_contrastive_loss,
)
from hf_methods.common.augment import as_images, strong_augment, two_views
from hf_methods.common.contrastive import nt_xent_loss, supcon_loss
from hf_methods.harness.recipe import RecipeArguments

DEFAULT_STRENGTHS = (3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2)
HEADS = ("none", "mlp", "kappa")
LOSSES = ("simclr", "supcon")
IMAGE_SHAPE = (1, 8, 8)


# ------------------------------------------------------------------------------------------ synthetic feature model


@dataclass
class FeatureWeightingConfig:
    """Settings of the synthetic experiment (defaults: the claim's).

    Attributes:
        strengths: s_j, one per feature (the input size is their number).
        drop_min, drop_max: p_j rises linearly from `drop_min` (strongest feature) to `drop_max` (weakest).
        num_samples: pretraining points (full batch; two fresh views per step).
        steps, learning_rate, init_scale: plain gradient descent from N(0, init_scale²) weights.
        hidden_size, output_size: sizes of h and z.
        downstream_strength, downstream_noise: downstream inputs x = Σ_j a z_j e_j + σ ξ.
        num_labels, num_test: labelled points for the probe and test points.
        probe_c: the probe's inverse regularisation.
    """

    strengths: tuple[float, ...] = DEFAULT_STRENGTHS
    drop_min: float = 0.0
    drop_max: float = 0.45
    num_samples: int = 512
    steps: int = 2000
    learning_rate: float = 0.02
    init_scale: float = 0.05
    hidden_size: int = 10
    output_size: int = 10
    downstream_strength: float = 1.0
    downstream_noise: float = 0.1
    num_labels: int = 50
    num_test: int = 2000
    probe_c: float = 1.0

    def validate(self) -> None:
        if len(self.strengths) < 2 or any(s <= 0 for s in self.strengths):
            raise ValueError(f"strengths must hold at least two positive numbers, got {self.strengths}")
        if not 0.0 <= self.drop_min <= self.drop_max < 1.0:
            raise ValueError(f"need 0 <= drop_min <= drop_max < 1, got {self.drop_min}, {self.drop_max}")
        for name in ("num_samples", "steps", "hidden_size", "output_size", "num_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_samples < 2:
            raise ValueError(f"num_samples must be >= 2 (the loss's negatives), got {self.num_samples}")
        if self.num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {self.num_labels}")
        for name in ("learning_rate", "init_scale", "downstream_strength", "probe_c"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.downstream_noise < 0:
            raise ValueError(f"downstream_noise must be >= 0, got {self.downstream_noise}")


@dataclass
class FeatureWeightingResult:
    """Gains of h = W_1 x (layer 1) and z = W_2 W_1 x (layer 2), the loss curve, and the probe accuracies."""

    gains: list[list[float]]
    log_ratios: list[float]
    exponent: float
    probe_accuracy_input: float
    probe_accuracy_pre: float
    probe_accuracy_post: float
    loss_curve: list[float] = field(default_factory=list)


def feature_directions(dim: int, generator: torch.Generator) -> torch.Tensor:
    """A random orthonormal basis (rows) of R^dim."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
    return (q * torch.sign(torch.diagonal(r))).T.contiguous()


def augmented_view(latent: torch.Tensor, strengths, drop_probs, directions, generator) -> torch.Tensor:
    """One view: Σ_j m_j s_j z_j e_j with m_j ~ Bernoulli(1 − p_j) drawn per sample and feature."""
    keep = (torch.rand(latent.shape, generator=generator) >= drop_probs).to(latent.dtype)
    return (latent * strengths * keep) @ directions


class LinearContrastiveNet(nn.Module, PyTorchModelHubMixin):
    """The bias-free two-layer linear network h = W_1 x, z = W_2 h, saved and loaded with `save_pretrained` /
    `from_pretrained` (huggingface_hub's `PyTorchModelHubMixin`); `forward(x, representation="pre"|"post")`."""

    def __init__(self, input_size: int = 10, hidden_size: int = 10, output_size: int = 10):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, hidden_size, bias=False), nn.Linear(hidden_size, output_size, bias=False)
        )

    def forward(self, x: torch.Tensor, representation: str = "post") -> torch.Tensor:
        if representation not in ("pre", "post"):
            raise ValueError(f"representation must be 'pre' or 'post', got {representation!r}")
        hidden = self.layers[0](x)
        return hidden if representation == "pre" else self.layers[1](hidden)


@dataclass
class FeatureWeightingSetup:
    """One seed's synthetic problem: the network, the pretraining latents, strengths, drop probabilities, directions."""

    net: LinearContrastiveNet
    latent: torch.Tensor
    strengths: torch.Tensor
    drop_probs: torch.Tensor
    directions: torch.Tensor


def feature_weighting_setup(config: FeatureWeightingConfig, generator: torch.Generator) -> FeatureWeightingSetup:
    """Draws (in this order) the feature directions, the initial weights N(0, init_scale²) and the latents."""
    config.validate()
    strengths = torch.tensor(config.strengths, dtype=torch.float32)
    dim = len(strengths)
    drop_probs = torch.linspace(config.drop_min, config.drop_max, dim)
    directions = feature_directions(dim, generator)
    net = LinearContrastiveNet(dim, config.hidden_size, config.output_size)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * config.init_scale)
    latent = torch.randn(config.num_samples, dim, generator=generator)
    return FeatureWeightingSetup(net, latent, strengths, drop_probs, directions)


def feature_weighting_loss(setup: FeatureWeightingSetup, generator: torch.Generator) -> torch.Tensor:
    """The spectral contrastive loss of z on two fresh augmented views of every pretraining point."""
    views = [
        augmented_view(setup.latent, setup.strengths, setup.drop_probs, setup.directions, generator) for _ in range(2)
    ]
    return spectral_contrastive_loss(setup.net(views[0]), setup.net(views[1]))


def evaluate_feature_weighting(
    setup: FeatureWeightingSetup, config: FeatureWeightingConfig, generator: torch.Generator, curve=()
) -> FeatureWeightingResult:
    """Gains of both layers, and probes on x, h and z for the label sign(z_weakest), every feature at the same
    downstream strength."""
    net, directions = setup.net, setup.directions
    gains = layerwise_feature_gains(net.layers, directions)
    dim = len(directions)
    n = config.num_labels + config.num_test
    z = torch.randn(n, dim, generator=generator)
    x = (z * config.downstream_strength) @ directions + config.downstream_noise * torch.randn(
        n, dim, generator=generator
    )
    y = (z[:, -1] > 0).long()
    with torch.no_grad():
        pre, post = net(x, "pre"), net(x, "post")
    k = config.num_labels

    def probe(features):
        return linear_probe_accuracy(features[:k], y[:k], features[k:], y[k:], C=config.probe_c)

    curve = list(curve)
    return FeatureWeightingResult(
        gains=gains.gains,
        log_ratios=gains.log_ratios,
        exponent=gains.exponents[1],
        probe_accuracy_input=probe(x),
        probe_accuracy_pre=probe(pre),
        probe_accuracy_post=probe(post),
        loss_curve=curve[:: max(1, len(curve) // 100)],
    )


def run_feature_weighting(seed: int, config: FeatureWeightingConfig | None = None) -> FeatureWeightingResult:
    """The synthetic experiment (module docstring, item 1) for one seed: plain gradient descent, then the analysis."""
    config = config or FeatureWeightingConfig()
    generator = torch.Generator().manual_seed(seed)
    setup = feature_weighting_setup(config, generator)
    optimizer = torch.optim.SGD(setup.net.parameters(), lr=config.learning_rate)  # plain gradient descent
    curve = []
    for _ in range(config.steps):
        loss = feature_weighting_loss(setup, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curve.append(float(loss.detach()))
    return evaluate_feature_weighting(setup, config, generator, curve)


# ----------------------------------------------------------------------------------- SimCLR / SupCon with a head


def digits_encoder(input_size: int = 64, hidden_size: int = 128, output_size: int = 64) -> nn.Sequential:
    """A ReLU MLP encoder input → hidden → output (the representation h)."""
    return nn.Sequential(nn.Linear(input_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, output_size))


def make_head(kind: str, dim: int, *, kappa: float = 2.0) -> nn.Module | None:
    """`"none"` → no head, `"mlp"` → Linear-ReLU-Linear (SimCLR's), `"kappa"` → [`FixedReweightProjectionHead`]."""
    if kind not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {kind!r}")
    if kind == "none":
        return None
    if kind == "mlp":
        return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
    return FixedReweightProjectionHead(dim, kappa)


def train_contrastive(
    model: ProjectionHeadModel,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    loss: str = "simclr",
    steps: int = 300,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    temperature: float = 0.5,
    image_shape=IMAGE_SHAPE,
    seed: int = 0,
) -> list[float]:
    """Adam on NT-Xent (`loss="simclr"`) or SupCon (`"supcon"`, needs `labels`) of the post-projection output of two
    `strong_augment` views of each image; returns the loss per step. Batches and views depend on `seed` only."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "supcon" and labels is None:
        raise ValueError("loss='supcon' needs labels")
    if steps < 1 or batch_size < 2:
        raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {steps} and {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    model.train()
    curve = []
    for _ in range(steps):
        index = torch.randperm(len(x), generator=generator)[:batch_size]
        images = as_images(x[index], image_shape)
        v1, v2 = two_views(images, strong_augment, generator=generator)
        z1, z2 = model(v1.flatten(1)), model(v2.flatten(1))
        if loss == "simclr":
            value = nt_xent_loss(z1, z2, temperature=temperature)
        else:
            value = supcon_loss(
                torch.cat([z1, z2]), torch.cat([labels[index], labels[index]]), temperature=temperature
            )
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        curve.append(float(value.detach()))
    model.eval()
    return curve


@dataclass
class SpuriousDigitsResult:
    """Probe accuracies of h (pre) and z (post) on clean test digits: overall and worst (class, pixel) group."""

    head: str
    accuracy_pre: float
    accuracy_post: float
    worst_group_pre: float
    worst_group_post: float


def add_spurious_pixel(
    x: torch.Tensor, y: torch.Tensor, correlation: float, generator, pixel: int = 0
) -> torch.Tensor:
    """Sets `pixel` to 1 when the label is odd, with probability `correlation` (else to the other value)."""
    agree = torch.rand(len(y), generator=generator) < correlation
    value = torch.where(agree, (y % 2).float(), 1.0 - (y % 2).float())
    x = x.clone()
    x[:, pixel] = value
    return x


def worst_group_accuracy(preds, labels, groups) -> float:
    """The smallest accuracy over the groups present."""
    preds, labels, groups = (torch.as_tensor(a) for a in (preds, labels, groups))
    return min(float((preds[groups == g] == labels[groups == g]).float().mean()) for g in groups.unique())


def run_spurious_digits(
    seed: int,
    head: str = "kappa",
    *,
    kappa: float = 2.0,
    loss: str = "supcon",
    correlation: float = 0.95,
    steps: int = 300,
    probe_labels_per_class: int = 20,
    temperature: float = 0.1,
    test_size: float = 0.2,
) -> SpuriousDigitsResult:
    """Digits whose pixel 0 matches the label's parity with probability `correlation` in training (random in test);
    a contrastive model with head `head` trained on the training split; logistic probes on h and z fit on
    `probe_labels_per_class` spurious-free training digits per class, scored on the test digits, whose groups are
    (class, spurious pixel) with the pixel drawn at random."""
    from sklearn.linear_model import LogisticRegression

    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train = torch.as_tensor(train.x), torch.as_tensor(train.y).long()
    x_test, y_test = torch.as_tensor(test.x), torch.as_tensor(test.y).long()
    x_spurious = add_spurious_pixel(x_train, y_train, correlation, generator)
    torch.manual_seed(seed)  # the encoder and head initialisation
    encoder = digits_encoder()
    model = ProjectionHeadModel(encoder, make_head(head, 64, kappa=kappa))
    train_contrastive(model, x_spurious, y_train, loss=loss, steps=steps, temperature=temperature, seed=seed)

    probe_index = torch.cat([torch.nonzero(y_train == c).flatten()[:probe_labels_per_class] for c in range(10)])
    x_probe = add_spurious_pixel(x_train[probe_index], y_train[probe_index], correlation, generator)
    test_pixel = (torch.rand(len(y_test), generator=generator) < 0.5).float()
    x_eval = x_test.clone()
    x_eval[:, 0] = test_pixel
    groups = y_test * 2 + test_pixel.long()
    scores = {}
    for representation in ("pre", "post"):
        with torch.no_grad():
            f_train, f_test = model(x_probe, representation), model(x_eval, representation)
        scale = f_train.pow(2).sum(1).mean().sqrt().clamp(min=1e-12)
        probe = LogisticRegression(C=1.0, max_iter=2000).fit((f_train / scale).numpy(), y_train[probe_index].numpy())
        preds = torch.as_tensor(probe.predict((f_test / scale).numpy()))
        scores[representation] = (float((preds == y_test).float().mean()), worst_group_accuracy(preds, y_test, groups))
    return SpuriousDigitsResult(
        head=head,
        accuracy_pre=scores["pre"][0],
        accuracy_post=scores["post"][0],
        worst_group_pre=scores["pre"][1],
        worst_group_post=scores["post"][1],
    )


# ------------------------------------------------------------------------------------------------------- recipe


@dataclass
class ProjectionHeadArguments(RecipeArguments):
    """Flags of `recipes/projection_head.py` (the synthetic experiment; the defaults are the claim's settings)."""

    max_steps: int = field(default=2000, metadata={"help": "Gradient-descent steps of the two-layer linear network."})
    checkpoint_every: int = field(default=500, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=100, metadata={"help": "Log the loss every N steps."})
    learning_rate: float = field(default=0.02, metadata={"help": "Plain gradient-descent step size."})
    init_scale: float = field(default=0.05, metadata={"help": "Standard deviation of the initial weights."})
    num_samples: int = field(default=512, metadata={"help": "Pretraining points (full batch)."})
    drop_min: float = field(default=0.0, metadata={"help": "Drop probability of the strongest feature."})
    drop_max: float = field(default=0.45, metadata={"help": "Drop probability of the weakest feature."})
    hidden_size: int = field(default=10, metadata={"help": "Size of h (pre-projection)."})
    output_size: int = field(default=10, metadata={"help": "Size of z (post-projection)."})
    num_labels: int = field(default=50, metadata={"help": "Labelled downstream points of the probes."})
    num_test: int = field(default=2000, metadata={"help": "Downstream test points."})

    def feature_config(self) -> FeatureWeightingConfig:
        return FeatureWeightingConfig(
            drop_min=self.drop_min,
            drop_max=self.drop_max,
            num_samples=self.num_samples,
            steps=self.max_steps,
            learning_rate=self.learning_rate,
            init_scale=self.init_scale,
            hidden_size=self.hidden_size,
            output_size=self.output_size,
            num_labels=self.num_labels,
            num_test=self.num_test,
        )

    def validate(self) -> None:
        super().validate()
        if self.log_every < 0:
            raise ValueError(f"--log_every must be >= 0, got {self.log_every}")
        try:
            self.feature_config().validate()
        except ValueError as error:
            raise ValueError(f"--{error}") from None
