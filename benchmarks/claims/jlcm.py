"""Claim check of P55 `jlcm` (Yvinec, Dapogny & Bailly, ICLR 2024): jointly learnable codebooks and mappings.

The paper compresses large networks (Llama-7B to about 2 GB) with grouped codebooks made free by neuron re-ordering
and a joint codebook/mapping optimisation whose mapping gradient is proximal. At CPU scale, per seed: a ReLU MLP
64-256-256-10 is trained on scikit-learn's digits and quantized post-training to 2 bits per weight (all three Linears)
with 256 training images as calibration data, by

- RTN: per-tensor round-to-nearest (4 evenly spaced levels, min to max);
- k-means: one k-means codebook (K = 4) per tensor;
- grouped k-means: G = 4 re-ordered neuron groups with their own k-means codebooks, no optimisation (an ablation);
- JLCM: grouped k-means + 200 steps of the joint codebook (Adam) / mapping (proximal gradient) search;
- JLCM-STE: the same search with the plain straight-through mapping gradient (the ablation of the proximal update),
  and both searches again at 4 bits (K = 16, where jumps over several codewords are possible).

Rules (fixed before the first run). The accuracy rule first drafted was "JLCM ≥ k-means + 0.05, or within 0.02 of full
precision if k-means is already close"; a development run (a different model seed, 100) gave per-tensor k-means 0.964
against 0.972 in full precision, i.e. already close, so the rule applied is the second branch, with JLCM no worse
than either baseline and the held-out output error as the discriminating measurement:
  (a) neuron re-ordering (with the compensating column permutation) changes the logits by < 1e-6 (float64);
  (b) JLCM accuracy ≥ full precision − 0.02; JLCM accuracy ≥ k-means and ≥ RTN (mean paired difference ≥ 0);
      JLCM's relative logit error on the test set < k-means' (whole bootstrap interval of the difference below 0);
      the saved compressed layers take ≤ 2.1 bits per weight (indices, float16 codebooks, group sizes and the
      safetensors header, measured from the file);
  (c) at 4 bits, the proximal update moves fewer weights by more than one codeword than the plain STE update (whole
      interval of the difference below 0);
  the baked (dequantized) model reloads with plain `from_pretrained` to the quantized model's logits (≤ 1e-6).
Settings: 5 seeds; mapping_lr 0.003 was chosen on the development seed (100) before this check was run.
"""

from __future__ import annotations

import tempfile

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="jlcm",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "hidden_sizes": [256, 256],
        "train_epochs": 40,
        "train_batch_size": 64,
        "train_lr": 1e-3,
        "bits": 2,
        "n_groups": 4,
        "calib_size": 256,
        "calib_steps": 200,
        "calib_batch_size": 128,
        "codebook_lr": 1e-3,
        "mapping_lr": 0.003,
        "ablation_bits": 4,
    },
    smoke={"train_epochs": 2, "calib_steps": 5, "seeds": [0]},
    rules=[
        Threshold(
            "(a) re-ordering is output-identical", metric="reorder_max_abs_diff", method="JLCM", op="<", value=1e-6
        ),
        Compare(
            "(b) JLCM within 0.02 of full precision", metric="accuracy", method="JLCM", baseline="FP", margin=-0.02
        ),
        Compare("(b) JLCM ≥ per-tensor k-means", metric="accuracy", method="JLCM", baseline="k-means", margin=0.0),
        Compare("(b) JLCM ≥ round-to-nearest", metric="accuracy", method="JLCM", baseline="RTN", margin=0.0),
        Compare(
            "(b) JLCM output error < k-means",
            metric="test_output_error",
            method="JLCM",
            baseline="k-means",
            higher_is_better=False,
            decide_by="interval",
        ),
        Threshold(
            "(b) ≤ 2.1 bits per weight (saved file)", metric="bits_per_weight", method="JLCM", op="<=", value=2.1
        ),
        Compare(
            "(c) proximal: fewer far jumps than STE (4 bits)",
            metric="far_jump_fraction",
            method="JLCM-4bit",
            baseline="JLCM-STE-4bit",
            higher_is_better=False,
            decide_by="interval",
        ),
        Threshold(
            "baked model reloads identically", metric="baked_reload_max_abs_diff", method="JLCM", op="<=", value=1e-6
        ),
    ],
    task={
        "type": "image-classification",
        "dataset_name": "scikit-learn digits",
        "dataset_type": "digits",
        "split": "test",
    },
)


def run_seed(seed: int, s: dict) -> dict:
    from hf_methods.adapters.jlcm import dequantize_codebooks
    from hf_methods.adapters.jlcm.training import (
        VARIANTS,
        digits_data,
        digits_mlp,
        quantize_variant,
        reorder_output_change,
        test_accuracy,
        train_mlp,
    )
    from hf_methods.common.mlp import MLPForImageClassification

    torch.set_num_threads(1)
    x, y, xt, yt = digits_data(seed=0)
    model = train_mlp(
        digits_mlp(s["hidden_sizes"], seed=seed),
        x,
        y,
        epochs=s["train_epochs"],
        batch_size=s["train_batch_size"],
        lr=s["train_lr"],
        seed=seed,
    )
    g = torch.Generator().manual_seed(1000 + seed)
    calib = {"pixel_values": x[torch.randperm(len(y), generator=g)[: s["calib_size"]]]}
    common = {
        "bits": s["bits"],
        "n_groups": s["n_groups"],
        "steps": s["calib_steps"],
        "batch_size": s["calib_batch_size"],
        "codebook_lr": s["codebook_lr"],
        "mapping_lr": s["mapping_lr"],
        "seed": seed,
    }
    out = {"FP": {"accuracy": test_accuracy(model, xt, yt)}}
    for variant in VARIANTS:
        out[variant] = quantize_variant(model, variant, calib, xt, yt, **common)
    for variant in ("JLCM", "JLCM-STE"):
        out[f"{variant}-4bit"] = quantize_variant(
            model, variant, calib, xt, yt, **{**common, "bits": s["ablation_bits"]}
        )
    out["JLCM"]["reorder_max_abs_diff"] = reorder_output_change(model, calib["pixel_values"], s["n_groups"], seed=seed)
    quantized = out["JLCM"]["model"]
    with torch.no_grad():
        expected = quantized(pixel_values=xt).logits
        with tempfile.TemporaryDirectory() as folder:
            dequantize_codebooks(quantized).save_pretrained(folder)
            reloaded = MLPForImageClassification.from_pretrained(folder).eval()
            out["JLCM"]["baked_reload_max_abs_diff"] = float((reloaded(pixel_values=xt).logits - expected).abs().max())
    for result in out.values():
        result.pop("model", None)
    return out


def run(claim):
    curves = {"JLCM (proximal)": {}, "JLCM-STE": {}}
    for seed in claim.seeds:
        result = claim.cached(f"seed{seed}", run_seed, seed, claim.settings)
        for name, values in result.items():
            for metric, value in values.items():
                if isinstance(value, (int, float)):
                    claim.record(name, metric, value, unit=f"seed{seed}")
        for label, name in (("JLCM (proximal)", "JLCM"), ("JLCM-STE", "JLCM-STE")):
            history = result[name]["history"]
            curves[label][f"seed{seed}"] = [(step, value) for step, value in enumerate(history, start=1)]
    claim.plot_curves(
        "calibration",
        curves,
        xlabel="search step",
        ylabel="layer-wise reconstruction error (mini-batch)",
        title="JLCM mapping search at 2 bits: proximal vs plain STE gradient",
    )
    claim.note(
        "The proximal mapping gradient is a reconstruction from the paper's text (no official code): the weight of a "
        "move to a codeword at signed distance u (in mean codebook gaps) is sign(u)/max(|u|, 1/2) instead of the "
        "plain gradient's u. Bits per weight count the packed indices, float16 codebooks, int32 group sizes and the "
        "safetensors header of the saved file; biases are kept in float32 in a separate file, as is usual."
    )


if __name__ == "__main__":
    CLAIM.main(run)
