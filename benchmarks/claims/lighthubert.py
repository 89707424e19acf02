"""Claim check of P07 `lighthubert` (Wang et al., "LightHuBERT", Interspeech 2022).

The paper: a once-for-all supernet trained by two-stage distillation (stage 1: the full student predicts the teacher's
hidden states; stage 2: a random subnet per step) holds more than 10⁹ weight-sharing subnets that are used without
retraining, and small ones stay close to the teacher. At CPU scale this check asks whether stage 2 is what makes the
*sliced* subnets good, against the control of the same compute spent on stage 1 only (then sliced).

Setup (all fixed before the first run):

- data: synthetic "speech", 1 s clips at 1 kHz (2–4 sinusoids under a slow envelope plus noise), 2048 training clips
  and 256 held-out clips per seed;
- teacher: a `transformers.HubertModel` (64-dim, 2 layers, 4 heads, LayerNorm waveform encoder 32 channels, kernels
  10,3,2, strides 5,2,2 → 49 frames) with a fixed random initialisation (seed 1000 + seed);
- student supernet: embed {32, 48, 64}, heads {2, 3, 4} of 16 features, FFN ratio {2, 3, 4}, 2 layers; loss: masked
  prediction of the teacher's last hidden states (HuBERT span masks p = 0.65, length 10) on masked frames plus the
  unmasked frames with weight 1; AdamW lr 2e-3, 30 warm-up steps, batch 8;
- runs per seed: OFA = 300 stage-1 steps then 600 stage-2 steps; control = 900 stage-1 steps (same compute);
- evaluation: the distillation loss (mean squared error to the teacher's last hidden states, unmasked input, all
  frames of the 256 held-out clips) of the min subnet (32, 2 heads, ratio 2), the mid subnet (48, 3 heads, ratio 3)
  and the max subnet (64, 4 heads, ratio 4), each sliced from the trained supernet without retraining.

Rules (per-seed log losses, paired on seeds, mean difference):

1. slicing is exact: a supernet computing with a subnet's slice gives bit-identical outputs to the extracted
   standalone subnet, and a sliced `SuperLinear` / `SuperMultiheadSelfAttention` to a standalone module holding the
   copied weights (max |difference| == 0, same kernels on the same shapes);
2. min subnet: log L(OFA) − log L(control) ≤ log 0.7 (stage-2 loss ≤ 0.7× that of the stage-1-only slice);
3. mid subnet: the same bar;
4. max subnet: log L(OFA) − log L(control) ≤ log 1.1 (the full model loses at most 10%).
"""

from __future__ import annotations

import math
import random

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="lighthubert",
    seeds=[0, 1, 2],
    settings={
        "train_clips": 2048,
        "eval_clips": 256,
        "num_samples": 1000,
        "sampling_rate": 1000,
        "teacher_seed_offset": 1000,
        "stage1_steps": 300,
        "stage2_steps": 600,
        "learning_rate": 2e-3,
        "warmup_steps": 30,
        "batch_size": 8,
        "mask_time_prob": 0.65,
        "mask_time_length": 10,
        "unmasked_loss_weight": 1.0,
        "eval_every": 100,
        "slicing_subnets": 8,
    },
    smoke={
        "stage1_steps": 10,
        "stage2_steps": 20,
        "eval_clips": 32,
        "train_clips": 64,
        "eval_every": 10,
        "seeds": [0],
    },
    rules=[
        Threshold("(1) slicing is exact", metric="max_abs_slice_error", method="supernet", op="==", value=0.0),
        Compare(
            "(2) min subnet: OFA ≤ 0.7× stage-1-only",
            metric="log_loss_min",
            method="OFA",
            baseline="stage-1 only",
            margin=-math.log(0.7),
            higher_is_better=False,
        ),
        Compare(
            "(3) mid subnet: OFA ≤ 0.7× stage-1-only",
            metric="log_loss_mid",
            method="OFA",
            baseline="stage-1 only",
            margin=-math.log(0.7),
            higher_is_better=False,
        ),
        Compare(
            "(4) max subnet: OFA ≤ 1.1× stage-1-only",
            metric="log_loss_max",
            method="OFA",
            baseline="stage-1 only",
            margin=-math.log(1.1),
            higher_is_better=False,
        ),
    ],
    task={
        "type": "feature-extraction",
        "dataset_name": "synthetic sinusoid speech",
        "dataset_type": "synthetic",
        "split": "held-out",
    },
)

SUBNETS = ("min", "mid", "max")


def _setup(seed: int, settings: dict):
    from hf_methods.models.lighthubert.training import synthetic_speech, tiny_hubert_teacher, toy_supernet_config

    config = toy_supernet_config(
        mask_time_prob=settings["mask_time_prob"],
        mask_time_length=settings["mask_time_length"],
        unmasked_loss_weight=settings["unmasked_loss_weight"],
    )
    kw = {"num_samples": settings["num_samples"], "sampling_rate": settings["sampling_rate"]}
    train = synthetic_speech(settings["train_clips"], seed=seed, **kw)
    held_out = synthetic_speech(settings["eval_clips"], seed=10_000 + seed, **kw)
    teacher = tiny_hubert_teacher(settings["teacher_seed_offset"] + seed)
    return config, train, held_out, teacher


@torch.no_grad()
def subnet_losses(supernet, teacher, clips, subnets: dict) -> dict:
    """Mean squared error to the teacher's last hidden states on unmasked input, all frames, per named subnet."""
    supernet.eval()
    targets = teacher(input_values=clips).last_hidden_state
    losses = {}
    for name, subnet in subnets.items():
        supernet.set_subnet(subnet)
        losses[name] = (supernet(input_values=clips).predictions - targets).pow(2).mean().item()
    supernet.set_subnet(supernet.max_subnet)
    return losses


def train_arm(seed: int, arm: str, settings: dict) -> dict:
    from hf_methods.models.lighthubert import LightHuBERTSupernet
    from hf_methods.models.lighthubert.training import distill_supernet, mid_subnet

    torch.set_num_threads(1)
    config, train, held_out, teacher = _setup(seed, settings)
    subnets = {"min": config.min_subnet, "mid": mid_subnet(config), "max": config.max_subnet}
    total = settings["stage1_steps"] + settings["stage2_steps"]
    stages = [(1, settings["stage1_steps"]), (2, settings["stage2_steps"])] if arm == "ofa" else [(1, total)]
    torch.manual_seed(seed)
    supernet = LightHuBERTSupernet(config)
    curve = [(0, subnet_losses(supernet, teacher, held_out, subnets))]

    def on_step(step, stage, loss):
        if (step + 1) % settings["eval_every"] == 0:
            curve.append((step + 1, subnet_losses(supernet, teacher, held_out, subnets)))
            supernet.train()

    train_losses = distill_supernet(
        supernet,
        teacher,
        train,
        stages=stages,
        learning_rate=settings["learning_rate"],
        batch_size=settings["batch_size"],
        warmup_steps=settings["warmup_steps"],
        seed=seed,
        on_step=on_step,
    )
    final = subnet_losses(supernet, teacher, held_out, subnets)
    params = {name: supernet.num_subnet_parameters(s) for name, s in subnets.items()}
    return {"final": final, "curve": curve, "train_loss_last50": sum(train_losses[-50:]) / 50, "params": params}


def slicing_check(seed: int, settings: dict) -> dict:
    """Max |difference| between sliced computation and standalone modules holding the copied slices."""
    from hf_methods.common.supernet import SuperLinear, SuperMultiheadSelfAttention
    from hf_methods.models.lighthubert import LightHuBERTSupernet

    torch.set_num_threads(1)
    config, _, held_out, _ = _setup(seed, {**settings, "train_clips": 1})
    torch.manual_seed(seed)
    supernet = LightHuBERTSupernet(config).eval()
    clips = held_out[:8]
    worst = 0.0
    rng = random.Random(seed)
    with torch.no_grad():
        for _ in range(settings["slicing_subnets"]):
            supernet.sample_subnet(rng)
            sliced = supernet(input_values=clips).last_hidden_state
            standalone = supernet.extract_subnet().eval()(input_values=clips).last_hidden_state
            worst = max(worst, (sliced - standalone).abs().max().item())
        linear = SuperLinear(64, 256)
        attention = SuperMultiheadSelfAttention(64, 4, 16).eval()
        x = torch.randn(4, 49, 48, generator=torch.Generator().manual_seed(seed))
        linear.set_active(48, 144)
        worst = max(worst, (linear(x) - linear.extract()(x)).abs().max().item())
        attention.set_active(48, 3)
        worst = max(worst, (attention(x) - attention.extract()(x)).abs().max().item())
    return {"max_abs_slice_error": worst}


def run(claim):
    settings = claim.settings
    curves = {f"{arm} {name}": {} for arm in ("OFA", "stage-1 only") for name in ("min", "max")}
    params = None
    for seed in claim.seeds:
        slicing = claim.cached(f"slicing-seed{seed}", slicing_check, seed, settings)
        claim.record("supernet", "max_abs_slice_error", slicing["max_abs_slice_error"], unit=f"seed{seed}")
        for arm, label in (("ofa", "OFA"), ("stage1", "stage-1 only")):
            result = claim.cached(f"{arm}-seed{seed}", train_arm, seed, arm, settings)
            params = result["params"]
            for name in SUBNETS:
                loss = result["final"][name]
                claim.record(label, f"loss_{name}", loss, unit=f"seed{seed}")
                claim.record(label, f"log_loss_{name}", math.log(loss), unit=f"seed{seed}")
            for name in ("min", "max"):
                curves[f"{label} {name}"][f"seed{seed}"] = [(step, losses[name]) for step, losses in result["curve"]]
    claim.note(
        f"Subnet parameters (prediction head included): min {params['min']:,}, mid {params['mid']:,}, "
        f"max {params['max']:,} ({params['min'] / params['max']:.2f}× and {params['mid'] / params['max']:.2f}× the max)."
    )
    claim.note(
        "The official distillation code is not released: the two-stage loop and the loss (masked-frame MSE plus the "
        "unmasked frames with weight 1) are reconstructed from the paper; the teacher is a random tiny HuBERT."
    )
    claim.plot_curves(
        "subnet-loss",
        curves,
        xlabel="optimisation step (stage 2 starts at step %d for OFA)" % settings["stage1_steps"],
        ylabel="held-out distillation loss (MSE)",
        title="LightHuBERT toy supernet: sliced subnets, OFA vs stage-1 only (mean ± std over seeds)",
    )


if __name__ == "__main__":
    CLAIM.main(run)
