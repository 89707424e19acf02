"""Analyses of a trained DiTi encoder: which chunk holds which attribute, and counterfactual interpolation.

- [`chunk_probe`]: a closed-form ridge probe of each attribute from each chunk of z (and from all of z): R² for a
  continuous attribute, accuracy of a one-vs-all ridge classifier for a discrete one. DiTi predicts that attributes
  the forward diffusion destroys early (fine texture) live in the early chunks and coarse ones in the late chunks.
- [`counterfactual_interpolate`]: the paper's counterfactual generation: invert x₁ to x_T with DDIM under its own
  code z₁, then decode from that x_T with z₁ whose chosen chunks move towards x₂'s, leaving the other attributes.
- [`plot_chunk_probe`]: one line per attribute over the chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.common.diffusion import denoiser_output, require_diffusers

from .loss import shift_coefficients


@dataclass
class ChunkProbeResult:
    """Probe scores per attribute: `chunk_scores[name][i]` from chunk i alone, `full_scores[name]` from all of z.

    `metrics[name]` is `"r2"` (continuous attribute) or `"accuracy"` (discrete attribute).
    """

    chunk_scores: dict[str, list[float]]
    full_scores: dict[str, float]
    metrics: dict[str, str]
    chunk_slices: list[tuple[int, int]] = field(default_factory=list)


def _ridge_fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge regression with an unpenalised intercept on standardised features: ŵ = (XᵀX + ρ n I)⁻¹ Xᵀ(y − ȳ)."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    x, xt = (train_x - mean) / std, (test_x - mean) / std
    y_mean = train_y.mean(0)
    gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T @ (train_y - y_mean))
    return xt @ weights + y_mean


def r2_score(targets: np.ndarray, predictions: np.ndarray) -> float:
    """R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (ȳ the mean of `targets`); 0 for the best constant, negative when worse."""
    residual = float(((targets - predictions) ** 2).sum())
    spread = float(((targets - targets.mean()) ** 2).sum())
    if spread == 0:
        raise ValueError("an attribute is constant on the test images: R² is undefined")
    return 1.0 - residual / spread


def probe_scores(
    train_features: np.ndarray,
    train_target: np.ndarray,
    test_features: np.ndarray,
    test_target: np.ndarray,
    *,
    discrete: bool,
    ridge: float,
) -> float:
    """The probe's test score: accuracy (discrete, one-vs-all ridge on one-hot targets) or R² (continuous)."""
    if discrete:
        classes = np.unique(train_target)
        one_hot = (train_target[:, None] == classes[None, :]).astype(np.float64)
        scores = _ridge_fit_predict(train_features, one_hot, test_features, ridge)
        return float((classes[scores.argmax(1)] == test_target).mean())
    prediction = _ridge_fit_predict(train_features, train_target.astype(np.float64), test_features, ridge)
    return r2_score(test_target.astype(np.float64), prediction)


@torch.no_grad()
def encode(encoder, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """z = E(x) for a batch of images, in eval mode (training mode restored), as float64 on the CPU."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    out = [
        encoder(pixel_values=images[i : i + batch_size].to(device)).representation.double().cpu()
        for i in range(0, len(images), batch_size)
    ]
    encoder.train(was_training)
    return torch.cat(out)


def chunk_probe(
    encoder,
    train_images: torch.Tensor,
    train_attributes: Mapping[str, Sequence | np.ndarray | torch.Tensor],
    test_images: torch.Tensor,
    test_attributes: Mapping[str, Sequence | np.ndarray | torch.Tensor],
    *,
    discrete: Sequence[str] = (),
    chunk_slices: Sequence[tuple[int, int]] | None = None,
    ridge: float = 1e-3,
) -> ChunkProbeResult:
    r"""Probes every attribute from each chunk of z = E(x) and from all of z (fit on train, scored on test).

    Args:
        encoder: a [`DiTiEncoder`] (or any model returning `.representation`).
        train_images, test_images: images `(N, C, H, W)` in [-1, 1].
        train_attributes, test_attributes: `{name: values (N,)}`, the same names in both.
        discrete: names of the discrete attributes (scored by accuracy; the others by R²).
        chunk_slices: `[(start, end)]` of the chunks; by default `encoder.config.chunk_slices()` (pass the slices of
            another encoder to split a non-chunked baseline the same way).
        ridge: ρ of the ridge probe, relative to the number of training images (features standardised).
    """
    check_number("ridge", ridge, low=0.0, low_open=True)
    if set(train_attributes) != set(test_attributes) or not train_attributes:
        raise ValueError("train_attributes and test_attributes must name the same, non-empty set of attributes")
    unknown = set(discrete) - set(train_attributes)
    if unknown:
        raise ValueError(f"discrete names unknown attributes {sorted(unknown)}")
    if chunk_slices is None:
        chunk_slices = encoder.config.chunk_slices()
    chunk_slices = [tuple(int(v) for v in s) for s in chunk_slices]
    z_train, z_test = encode(encoder, train_images).numpy(), encode(encoder, test_images).numpy()
    if any(not 0 <= a < b <= z_train.shape[1] for a, b in chunk_slices):
        raise ValueError(f"chunk_slices {chunk_slices} do not fit a representation of dimension {z_train.shape[1]}")
    chunk_scores, full_scores, metrics = {}, {}, {}
    for name in train_attributes:
        y_train = np.asarray(torch.as_tensor(train_attributes[name]).cpu().numpy())
        y_test = np.asarray(torch.as_tensor(test_attributes[name]).cpu().numpy())
        if len(y_train) != len(z_train) or len(y_test) != len(z_test):
            raise ValueError(f"attribute {name!r} must have one value per image")
        is_discrete = name in discrete
        metrics[name] = "accuracy" if is_discrete else "r2"
        kw = {"discrete": is_discrete, "ridge": ridge}
        chunk_scores[name] = [
            probe_scores(z_train[:, a:b], y_train, z_test[:, a:b], y_test, **kw) for a, b in chunk_slices
        ]
        full_scores[name] = probe_scores(z_train, y_train, z_test, y_test, **kw)
    return ChunkProbeResult(chunk_scores, full_scores, metrics, list(chunk_slices))


def plot_chunk_probe(results: Mapping[str, ChunkProbeResult], path) -> None:
    """One panel per attribute: its probe score over the chunks, one line per labelled result (e.g. DiTi, PDAE)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(results.values()))
    names = list(first.chunk_scores)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for label, result in results.items():
            scores = result.chunk_scores[name]
            ax.plot(range(len(scores)), scores, marker="o", label=label)
        ax.set_xlabel("chunk (time-step range, early → late)")
        ax.set_ylabel(first.metrics[name])
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def shifted_epsilon(
    frozen_diffusion: Callable, decoder: Callable, scheduler, sample: torch.Tensor, t: int, z: torch.Tensor
) -> torch.Tensor:
    """ε̂ = ε_θ(x_t, t) + c(t)·G(x_t, t, z), the noise prediction of the frozen model shifted by the decoder."""
    timesteps = torch.full((sample.shape[0],), int(t), dtype=torch.long, device=sample.device)
    eps = denoiser_output(frozen_diffusion, sample, timesteps)
    coef = shift_coefficients(scheduler)[int(t)].item()
    return eps + coef * denoiser_output(decoder, sample, timesteps, z=z)


@torch.no_grad()
def counterfactual_interpolate(
    encoder,
    decoder: Callable,
    frozen_diffusion: Callable,
    scheduler,
    x1: torch.Tensor,
    x2: torch.Tensor,
    chunks: Sequence[int],
    *,
    weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    num_inference_steps: int = 50,
) -> torch.Tensor:
    r"""Counterfactual interpolation of the chosen chunks from x₁ towards x₂ (DDIM, deterministic).

    z₁ = E(x₁), z₂ = E(x₂); x_T = DDIM-inversion of x₁ under ε̂(·, z₁); for each weight λ the code is
    z(λ) = z₁ with chunks c ∈ `chunks` replaced by (1 − λ) z₁[c] + λ z₂[c], decoded from x_T by DDIM with
    ε̂ = ε_θ + c(t)·G(x_t, t, z(λ)). λ = 0 reconstructs x₁; the other chunks keep x₁'s attributes.

    Args:
        encoder: the trained [`DiTiEncoder`]; decoder: its shift decoder G; frozen_diffusion: ε_θ.
        scheduler: the training `DDPMScheduler` (its config builds the DDIM schedulers).
        x1, x2: images `(B, C, H, W)` in [-1, 1] (pairs row by row).
        chunks: indices of the chunks to interpolate.
        weights: the λ values.

    Returns:
        `(len(weights), B, C, H, W)` images.
    """
    diffusers = require_diffusers()
    check_positive_int("num_inference_steps", num_inference_steps)
    if x1.shape != x2.shape or x1.dim() != 4:
        raise ValueError(
            f"x1 and x2 must be image batches of one shape (B, C, H, W), got {tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    k = encoder.config.num_chunks
    chunks = list(chunks)
    if not chunks or any(not isinstance(c, int) or not 0 <= c < k for c in chunks):
        raise ValueError(f"chunks must be a non-empty list of chunk indices in [0, {k}), got {chunks}")
    weights = [float(w) for w in weights]
    if not weights:
        raise ValueError("weights must hold at least one λ")
    device = next(encoder.parameters()).device
    x1, x2 = x1.to(device), x2.to(device)
    encoder_training = encoder.training
    encoder.eval()
    z1, z2 = encoder(pixel_values=x1).representation, encoder(pixel_values=x2).representation
    encoder.train(encoder_training)
    selected = torch.zeros(z1.shape[1], dtype=torch.bool, device=device)
    for c in chunks:
        start, end = encoder.config.chunk_slices()[c]
        selected[start:end] = True

    inverse = diffusers.DDIMInverseScheduler.from_config(scheduler.config)
    inverse.set_timesteps(num_inference_steps)
    latent = x1.clone()
    for t in inverse.timesteps:
        latent = inverse.step(
            shifted_epsilon(frozen_diffusion, decoder, scheduler, latent, t, z1), t, latent
        ).prev_sample

    ddim = diffusers.DDIMScheduler.from_config(scheduler.config)
    outputs = []
    for weight in weights:
        z = torch.where(selected, (1 - weight) * z1 + weight * z2, z1)
        ddim.set_timesteps(num_inference_steps)
        sample = latent.clone()
        for t in ddim.timesteps:
            eps = shifted_epsilon(frozen_diffusion, decoder, scheduler, sample, t, z)
            sample = ddim.step(eps, t, sample, eta=0.0).prev_sample
        outputs.append(sample)
    return torch.stack(outputs)


__all__ = [
    "ChunkProbeResult",
    "chunk_probe",
    "counterfactual_interpolate",
    "encode",
    "plot_chunk_probe",
    "probe_scores",
    "r2_score",
    "shifted_epsilon",
]
