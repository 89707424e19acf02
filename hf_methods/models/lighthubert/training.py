"""Training pieces shared by `recipes/lighthubert.py`, the claim check and the tests.

- [`synthetic_speech`]: "speech" made of random sums of sinusoids plus noise (the offline default data);
- [`tiny_hubert_teacher`]: a small `transformers.HubertModel` with a fixed random initialisation (real HuBERT weights
  are not available offline);
- [`toy_supernet_config`]: the small search space of the CPU check (embed {32, 48, 64}, heads {2, 3, 4} of 16
  features, FFN ratio {2, 3, 4}, 2 layers) over the teacher's waveform encoder geometry;
- [`span_mask`], [`LightHuBERTMaskingCollator`]: HuBERT's span masking (transformers' `_compute_mask_indices`),
  seeded;
- [`lighthubert_feature_extractor`]: the `Wav2Vec2FeatureExtractor` that prepares waveforms for the model;
- [`distill_supernet`], [`evaluate_subnets`]: the plain-torch two-stage loop of the claim and the recipe and the
  per-subnet distillation loss on held-out clips;
- [`LightHuBERTArguments`]: the arguments of `recipes/lighthubert.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_lighthubert import LightHuBERTConfig
from .modeling_lighthubert import masked_prediction_loss
from .supernet import LightHuBERTSupernet
from .trainer import subnet_rng

#: The waveform encoder of the toy models: 1000 samples (1 s at 1 kHz) give 49 frames.
TOY_CONV = {"conv_dim": [32, 32, 32], "conv_kernel": [10, 3, 2], "conv_stride": [5, 2, 2]}


def synthetic_speech(
    num_clips: int, *, num_samples: int = 1000, sampling_rate: int = 1000, seed: int = 0, noise: float = 0.1
) -> torch.Tensor:
    """`(num_clips, num_samples)` float32 clips: 2–4 sinusoids (frequencies uniform in [20, sr/2.5] Hz, random
    amplitudes and phases) under a slow random amplitude envelope, plus Gaussian noise, scaled to unit variance."""
    if num_clips <= 0 or num_samples <= 0 or sampling_rate <= 0:
        raise ValueError("`num_clips`, `num_samples` and `sampling_rate` must be positive.")
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples, dtype=torch.float64) / sampling_rate
    clips = torch.zeros(num_clips, num_samples, dtype=torch.float64)
    for i in range(num_clips):
        components = int(torch.randint(2, 5, (1,), generator=g))
        freqs = 20 + torch.rand(components, 1, generator=g, dtype=torch.float64) * (sampling_rate / 2.5 - 20)
        amps = torch.rand(components, 1, generator=g, dtype=torch.float64) + 0.2
        phases = torch.rand(components, 1, generator=g, dtype=torch.float64) * 2 * math.pi
        signal = (amps * torch.sin(2 * math.pi * freqs * t + phases)).sum(0)
        envelope = 1 + 0.5 * torch.sin(2 * math.pi * (0.5 + 2 * torch.rand(1, generator=g, dtype=torch.float64)) * t)
        clips[i] = signal * envelope
    clips = clips + noise * clips.std() * torch.randn(num_clips, num_samples, generator=g, dtype=torch.float64)
    clips = (clips - clips.mean(1, keepdim=True)) / clips.std(1, keepdim=True)
    return clips.float()


def tiny_hubert_teacher(
    seed: int = 0, *, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4, conv: dict | None = None
):
    """A `transformers.HubertModel` (post-LayerNorm, LayerNorm waveform encoder) with a fixed random initialisation:
    the teacher of the CPU check, the recipe and the tests."""
    from transformers import HubertConfig, HubertModel

    conv = conv or TOY_CONV
    config = HubertConfig(
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=4 * hidden_size,
        conv_dim=conv["conv_dim"],
        conv_kernel=conv["conv_kernel"],
        conv_stride=conv["conv_stride"],
        feat_extract_norm="layer",
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        do_stable_layer_norm=False,
        mask_time_prob=0.0,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    torch.manual_seed(seed)
    return HubertModel(config).eval().requires_grad_(False)


def toy_supernet_config(**overrides) -> LightHuBERTConfig:
    """The CPU check's supernet: embed {32, 48, 64}, heads {2, 3, 4} × 16, FFN ratio {2, 3, 4}, 2 layers; the
    prediction head maps to a 64-dim teacher."""
    kwargs = dict(
        **TOY_CONV,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        attention_head_dim=16,
        intermediate_size=256,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        teacher_hidden_size=64,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        embed_dim_choices=[32, 48, 64],
        heads_num_choices=[2, 3, 4],
        ffn_ratio_choices=[2.0, 3.0, 4.0],
        layer_num_choices=[2],
    )
    kwargs.update(overrides)
    return LightHuBERTConfig(**kwargs)


def span_mask(batch: int, frames: int, *, prob: float, length: int, seed: int) -> torch.Tensor:
    """HuBERT's span mask `(batch, frames)` (bool) from transformers' `_compute_mask_indices`, seeded: spans of
    `length` frames starting at ≈ prob · frames / length random positions per example.

    `_compute_mask_indices` draws from numpy's global generator; it is seeded here and its state restored after.
    """
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

    if not 0 <= prob < 1:
        raise ValueError(f"`prob` must be in [0, 1), got {prob!r}.")
    state = np.random.get_state()
    try:
        np.random.seed(seed % 2**32)
        mask = _compute_mask_indices((batch, frames), prob, min(length, frames), min_masks=2)
    finally:
        np.random.set_state(state)
    return torch.from_numpy(mask)


class LightHuBERTMaskingCollator:
    """Stacks `{"input_values": 1-D tensor}` examples and adds HuBERT span masks (`mask_time_indices`), one fresh mask
    per call from a seeded counter (for `OnceForAllDistillationTrainer`)."""

    def __init__(self, config: LightHuBERTConfig, seed: int = 0):
        self.config, self.seed, self.calls = config, seed, 0

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        values = torch.stack([torch.as_tensor(e["input_values"], dtype=torch.float32) for e in examples])
        frames = self.config.num_frames(values.shape[1])
        mask = span_mask(
            len(examples),
            frames,
            prob=self.config.mask_time_prob,
            length=self.config.mask_time_length,
            seed=self.seed * 7919 + self.calls,
        )
        self.calls += 1
        return {"input_values": values, "mask_time_indices": mask}


def lighthubert_feature_extractor(sampling_rate: int = 16000):
    """A `Wav2Vec2FeatureExtractor` (zero-mean unit-variance waveforms, attention masks) for LightHuBERT models."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )


def distillation_loss(
    supernet: LightHuBERTSupernet, teacher, waveforms: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The masked-prediction loss of the supernet's active subnet against the teacher's last hidden states."""
    with torch.no_grad():
        targets = teacher(input_values=waveforms).last_hidden_state
    predictions = supernet(input_values=waveforms, mask_time_indices=mask).predictions
    return masked_prediction_loss(predictions, targets, mask, unmasked_weight=supernet.config.unmasked_loss_weight)


def distill_supernet(
    supernet: LightHuBERTSupernet,
    teacher,
    waveforms: torch.Tensor,
    *,
    stages: list[tuple[int, int]],
    learning_rate: float = 2e-3,
    batch_size: int = 16,
    warmup_steps: int = 30,
    weight_decay: float = 0.0,
    seed: int = 0,
    on_step: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Trains `supernet` in place through `stages`, a list of `(stage, steps)` (e.g. `[(1, 300), (2, 600)]`): stage 1
    trains the max subnet, stage 2 a subnet drawn per step from `subnet_rng(seed, step)`.

    One AdamW optimiser and one schedule (`transformers.get_scheduler("constant_with_warmup")`) run through all
    stages; batches and masks come from `seed` alone. `on_step(step, stage, loss)` is called after every step.
    Returns the training losses. The supernet is left at its max subnet, in eval mode.
    """
    from transformers import get_scheduler

    for stage, steps in stages:
        if stage not in (1, 2) or steps < 0:
            raise ValueError(f"`stages` must hold (1 or 2, steps >= 0) pairs, got {(stage, steps)!r}.")
    total = sum(steps for _, steps in stages)
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = get_scheduler(
        "constant_with_warmup", optimizer, num_warmup_steps=warmup_steps, num_training_steps=total
    )
    g = torch.Generator().manual_seed(seed)
    frames = supernet.config.num_frames(waveforms.shape[1])
    losses, step = [], 0
    supernet.train()
    for stage, steps in stages:
        for _ in range(steps):
            if stage == 1:
                supernet.set_subnet(supernet.max_subnet)
            else:
                supernet.sample_subnet(subnet_rng(seed, step))
            batch = waveforms[torch.randint(0, len(waveforms), (batch_size,), generator=g)]
            mask = span_mask(
                batch_size,
                frames,
                prob=supernet.config.mask_time_prob,
                length=supernet.config.mask_time_length,
                seed=seed * 1_000_003 + step,
            )
            loss = distillation_loss(supernet, teacher, batch, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(step, stage, losses[-1])
            step += 1
    supernet.set_subnet(supernet.max_subnet)
    supernet.eval()
    return losses


@torch.no_grad()
def evaluate_subnets(
    supernet: LightHuBERTSupernet,
    teacher,
    waveforms: torch.Tensor,
    subnets: dict[str, dict],
    *,
    batch_size: int = 64,
    mask_seed: int = 12345,
) -> dict[str, float]:
    """The masked-prediction loss of each named subnet on `waveforms` (fixed masks from `mask_seed`, eval mode),
    averaged over the masked frames of all clips. The supernet's active subnet and mode are restored."""
    was_training, active = supernet.training, supernet.active_subnet
    supernet.eval()
    frames = supernet.config.num_frames(waveforms.shape[1])
    results = {}
    try:
        for name, subnet in subnets.items():
            supernet.set_subnet(subnet)
            total, count = 0.0, 0
            for start in range(0, len(waveforms), batch_size):
                batch = waveforms[start : start + batch_size]
                mask = span_mask(
                    len(batch),
                    frames,
                    prob=supernet.config.mask_time_prob,
                    length=supernet.config.mask_time_length,
                    seed=mask_seed + start,
                )
                targets = teacher(input_values=batch).last_hidden_state
                predictions = supernet(input_values=batch, mask_time_indices=mask).predictions
                per_frame = (predictions - targets).pow(2).mean(-1)
                total += per_frame[mask].sum().item()
                count += int(mask.sum())
            results[name] = total / max(count, 1)
    finally:
        supernet.set_subnet(active)
        supernet.train(was_training)
    return results


def mid_subnet(config: LightHuBERTConfig) -> dict:
    """The subnet with the middle choice of every dimension (lower middle for an even number of choices)."""

    def middle(values):
        values = sorted(values)
        return values[(len(values) - 1) // 2]

    depth = middle(config.layer_num_choices)
    embed = middle(config.embed_dim_choices)
    heads, ratio = middle(config.heads_num_choices), middle(config.ffn_ratio_choices)
    return config.check_subnet(
        {
            "embed_dim": embed,
            "layer_num": depth,
            "heads_num": [heads] * depth,
            "ffn_embed": [int(ratio * embed)] * depth,
        }
    )


@dataclass
class LightHuBERTArguments(RecipeArguments):
    max_steps: int = field(default=600, metadata={"help": "Optimisation steps, stage 1 and stage 2 together."})
    checkpoint_every: int = field(default=200, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=25, metadata={"help": "Log training metrics every N steps."})
    stage1_steps: int = field(
        default=200, metadata={"help": "Steps of stage 1 (pre-distillation of the max subnet); the rest is stage 2."}
    )
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate (constant after warm-up)."})
    warmup_steps: int = field(default=30, metadata={"help": "Linear warm-up steps."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=16, metadata={"help": "Clips per batch per process."})
    num_clips: int = field(default=2048, metadata={"help": "Synthetic training clips (1 s at 1 kHz)."})
    eval_clips: int = field(default=128, metadata={"help": "Held-out synthetic clips for the final evaluation."})
    teacher_seed: int = field(default=1234, metadata={"help": "Seed of the teacher's random initialisation."})
    mask_time_prob: float = field(default=0.65, metadata={"help": "HuBERT span-mask probability."})
    mask_time_length: int = field(default=10, metadata={"help": "HuBERT span-mask length (frames)."})

    def validate(self) -> None:
        super().validate()
        for name in ("learning_rate", "batch_size", "num_clips", "eval_clips", "mask_time_length"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("warmup_steps", "stage1_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.stage1_steps > self.max_steps:
            raise ValueError(f"--stage1_steps ({self.stage1_steps}) must be <= --max_steps ({self.max_steps})")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.mask_time_prob < 1:
            raise ValueError(f"--mask_time_prob must be in [0, 1), got {self.mask_time_prob}")

    def build_config(self) -> LightHuBERTConfig:
        """The toy supernet configuration with this run's masking."""
        return toy_supernet_config(mask_time_prob=self.mask_time_prob, mask_time_length=self.mask_time_length)


__all__ = [
    "LightHuBERTArguments",
    "LightHuBERTMaskingCollator",
    "distill_supernet",
    "distillation_loss",
    "evaluate_subnets",
    "lighthubert_feature_extractor",
    "mid_subnet",
    "span_mask",
    "synthetic_speech",
    "tiny_hubert_teacher",
    "toy_supernet_config",
]
