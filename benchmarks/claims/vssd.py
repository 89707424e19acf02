"""Claim of P03 (VSSD, Shi et al.): non-causal SSD is exact, non-causal, order-free, and trains a working vision model.

The paper: VSSD-Tiny reaches 83.6% ImageNet-1K top-1, ahead of earlier SSM backbones, and NC-SSD beats the causal
SSD it replaces in the ablations. What a CPU can check, all decided before the first run:

Properties of the mixer (exact; per seed, on random float64 inputs or a freshly initialised `NonCausalSSD`):
  (1) `non_causal_ssd` equals y_i = Σ_j (C_i·B_j) dA_j x_j + D x_i evaluated token pair by token pair (numpy), max
      abs error < 1e-5 (64 tokens, 4 heads, 2 groups);
  (2) non-causality: changing the last token of an 8×8 grid changes the NC-SSD mixer's output at token 0 (max abs
      change > 1e-4), while the same mixer in Mamba2's causal mode leaves it unchanged (< 1e-12);
  (3) without its depthwise convolution (kernel 1) the NC-SSD mixer is token-permutation equivariant (max abs error
      < 1e-5, float32).

Training (8×8 scikit-learn digits, 1437 train / 360 test, one stratified split; seeds vary init and batch order): a
tiny hybrid VSSD (stem patch 1, stages 8×8 → 4×4 of width 32 → 64, one block each, NC-SSD in stage 1, attention in
stage 2, state 16), AdamW lr 2e-3, wd 0.05, cosine schedule with 5% warm-up, batch 64, 20 epochs, 4 seeds:
  (4) VSSD (NC-SSD) test accuracy ≥ 0.93 (mean over seeds);
  (5) soft: NC-SSD ≥ the same model with Mamba2's causal SSD − 0.005 (mean paired difference over seeds). At 8×8 the
      advantage of non-causality is weak by nature, so this rule may fail without the mixer being wrong.

Run: `OMP_NUM_THREADS=1 python benchmarks/claims/vssd.py [--smoke]` (about 8 minutes on one idle core).
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

NC, CAUSAL = "VSSD (NC-SSD)", "VSSD (causal SSD)"
MODEL = {
    "embed_dim": 32,
    "depths": [1, 1],
    "num_heads": [2, 4],
    "mixer_types": ["ssd", "attention"],
    "ssd_state_size": 16,
    "patch_size": 1,
    "drop_path_rate": 0.1,
}
TRAIN = {"epochs": 20, "batch_size": 64, "learning_rate": 2e-3, "weight_decay": 0.05, "warmup_ratio": 0.05}

CLAIM = Claim(
    slug="vssd",
    seeds=[0, 1, 2, 3],
    settings={
        "model": MODEL,
        "train": TRAIN,
        "test_size": 0.2,
        "variants": {NC: "non_causal", CAUSAL: "causal"},
        "property_tokens": 64,
        "property_heads": 4,
        "property_groups": 2,
    },
    smoke={"train": {**TRAIN, "epochs": 1}, "seeds": [0]},
    rules=[
        Threshold("(1) NC-SSD equals its O(L²) reference", "max_abs_error_vs_loop", "NC-SSD kernel", "<", 1e-5),
        Threshold("(2a) NC-SSD: last token reaches token 0", "token0_change", "NC-SSD mixer", ">", 1e-4),
        Threshold(
            "(2b) causal SSD: last token does not reach token 0", "token0_change", "causal SSD mixer", "<", 1e-12
        ),
        Threshold(
            "(3) NC-SSD without conv is permutation equivariant", "permutation_error", "NC-SSD mixer", "<", 1e-5
        ),
        Threshold("(4) tiny VSSD on digits: accuracy ≥ 0.93", "test_accuracy", NC, ">=", 0.93),
        Compare("(5) soft: NC-SSD ≥ causal SSD − 0.005", "test_accuracy", NC, CAUSAL, margin=-0.005),
    ],
    task={"type": "image-classification", "dataset_name": "scikit-learn digits (8×8)", "split": "test"},
)


def kernel_error(seed: int, tokens: int, heads: int, groups: int) -> float:
    """(1): the kernel against the pairwise sum, token by token, in numpy float64."""
    from hf_methods.models.vssd import non_causal_ssd

    g = torch.Generator().manual_seed(seed)
    head_dim, state = 3, 5
    x = torch.randn(1, tokens, heads, head_dim, generator=g, dtype=torch.float64)
    dt = torch.rand(1, tokens, heads, generator=g, dtype=torch.float64) * 0.1
    a_log = torch.randn(heads, generator=g, dtype=torch.float64)
    B = torch.randn(1, tokens, groups, state, generator=g, dtype=torch.float64)
    C = torch.randn(1, tokens, groups, state, generator=g, dtype=torch.float64)
    D = torch.randn(heads, generator=g, dtype=torch.float64)
    got = non_causal_ssd(x, dt, a_log, B, C, D)[0].numpy()
    xn, dtn, an, Bn, Cn, Dn = (t.numpy() for t in (x[0], dt[0], a_log, B[0], C[0], D))
    want = np.zeros_like(got)
    for h in range(heads):
        grp = h % groups
        for i in range(tokens):
            acc = Dn[h] * xn[i, h]
            for j in range(tokens):
                acc = acc + float(Cn[i, grp] @ Bn[j, grp]) * dtn[j, h] * np.exp(an[h]) * xn[j, h]
            want[i, h] = acc
    return float(np.abs(got - want).max())


def mixer_properties(seed: int) -> dict:
    """(2) and (3) on freshly initialised mixers (width 32, 2 heads, state 16) over an 8×8 grid."""
    from hf_methods.models.vssd import NonCausalSSD

    out = {}
    for mode in ("non_causal", "causal"):
        torch.manual_seed(seed)
        mixer = NonCausalSSD(32, 2, state_size=16, mode=mode).eval()
        u = torch.randn(2, 64, 32, generator=torch.Generator().manual_seed(seed))
        changed = u.clone()
        changed[:, -1] += 1.0
        with torch.no_grad():
            out[f"{mode}_token0_change"] = float((mixer(u, 8, 8)[:, 0] - mixer(changed, 8, 8)[:, 0]).abs().max())
    torch.manual_seed(seed)
    pointwise = NonCausalSSD(32, 2, state_size=16, conv_kernel=1).eval()
    u = torch.randn(2, 64, 32, generator=torch.Generator().manual_seed(seed + 1))
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        out["permutation_error"] = float((pointwise(u, 8, 8)[:, perm] - pointwise(u[:, perm], 8, 8)).abs().max())
    return out


def train_variant(mode: str, seed: int, settings: dict) -> dict:
    from hf_methods.models.vssd.training import digits_vssd_config, train_vssd_on_digits

    torch.set_num_threads(1)
    config = digits_vssd_config(**settings["model"], ssd_mode=mode)
    return train_vssd_on_digits(config, seed=seed, test_size=settings["test_size"], **settings["train"])


def run(claim):
    s = claim.settings
    curves = {name: {} for name in s["variants"]}
    for seed in claim.seeds:
        error = kernel_error(seed, s["property_tokens"], s["property_heads"], s["property_groups"])
        claim.record("NC-SSD kernel", "max_abs_error_vs_loop", error, unit=f"seed{seed}")
        props = mixer_properties(seed)
        claim.record("NC-SSD mixer", "token0_change", props["non_causal_token0_change"], unit=f"seed{seed}")
        claim.record("causal SSD mixer", "token0_change", props["causal_token0_change"], unit=f"seed{seed}")
        claim.record("NC-SSD mixer", "permutation_error", props["permutation_error"], unit=f"seed{seed}")
        for name, mode in s["variants"].items():
            result = claim.cached(f"{mode}-seed{seed}", train_variant, mode, seed, s)
            claim.record(name, "test_accuracy", result["accuracy"], unit=f"seed{seed}")
            claim.record(name, "train_accuracy", result["train_accuracy"], unit=f"seed{seed}")
            curves[name][f"seed{seed}"] = [tuple(point) for point in result["curve"]]
            claim.details.setdefault("params", {})[name] = result["params"]
    claim.plot_curves(
        "test-accuracy",
        curves,
        xlabel="epoch",
        ylabel="test accuracy (8×8 digits)",
        title=f"tiny hybrid VSSD, NC-SSD vs causal SSD in stage 1 (mean ± std over {len(claim.seeds)} seeds)",
    )


if __name__ == "__main__":
    CLAIM.main(run)
