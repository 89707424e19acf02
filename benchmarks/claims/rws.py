"""Claim of P28 (Cai, Zhang & Wang, ICML 2023): robustness lives in a patchable shallow-layer weight signature.

The paper fine-tunes VGG/ResNet models on clean and on corrupted CIFAR/Tiny-ImageNet from a common pretrained model,
extracts the robust weight signature (RWS: the corrupted fine-tune's update of the shallow layers, with the clean
update direction projected out) and shows that adding it to a clean model gives most of the robust model's accuracy
under that corruption at little clean cost, that it scales, is removable, quantizes and transfers across datasets.
CIFAR-C is not available offline; this CPU check keeps the intent on scikit-learn digits.

Setting: a CNN (conv 3×3 1→16, conv 3×3 16→32, 2×2 max-pool, linear 512→10). θ_pre: 10 epochs of Adam (lr 1e-3) on
clean digits (1437 train / 360 test images, all classes). From θ_pre, θ_std (clean) and θ_noise (Gaussian noise
σ = 0.5 on [0, 1] pixels, a fresh draw every batch, clipped to [0, 1]) are fine-tuned for 5 epochs each with SGD
(lr 0.01, momentum 0.9, batch 32), the official fine-tuning optimiser. The signature covers the two conv layers
(`n_shallow_layers=2`, weights and biases); the classifier keeps θ_std. The noisy test set is one fixed noisy copy of
the test split per seed. Transfer: the signature extracted from fine-tunes on classes 0–4 (clean and noisy, from the
same θ_pre) is added to a clean fine-tune on classes 5–9 and evaluated on the test images of classes 5–9.
Five seeds; unit = seed.

Rules (fixed before the first run):

1. shallow layers move most: ‖θ_noise − θ_std‖/‖θ_std‖ of conv1's weight over that of the classifier's weight > 1;
2. robustness: noisy accuracy of θ_std + RWS (α = 1) − that of θ_std ≥ 0.10 (mean paired difference);
3. little clean cost: clean accuracy of θ_std + RWS − that of θ_std ≥ −0.03;
4. scaling: noisy accuracy is non-decreasing over α ∈ {0, 0.5, 1} on every seed (fraction of seeds = 1);
5. removal is exact: after apply → remove every weight equals its original (max |difference| = 0);
6. projection: |cos(RWS[l], θ_std[l] − θ_pre[l])| < 1e-5 for every patched tensor;
7. transfer: noisy accuracy (classes 5–9) of the patched target model − that of the clean target model ≥ 0.05;
8. quantization: noisy accuracy with the 8-bit signature − that with the float32 signature ≥ −0.01;
9. compactness: the 8-bit signature file, measured on disk, is ≥ 3× smaller than a float32 copy of the patched
   tensors (the 4-bit size is reported too).

Also reported, without a rule: the robust model's own noisy gain over the clean one and the fraction of it that the
patch recovers, the relative weight change of every layer, the 4-bit signature's accuracy and size.

Run: `python benchmarks/claims/rws.py [--smoke]` (5 seeds, a few minutes on one thread).
"""

from __future__ import annotations

from hf_methods.adapters.rws.training import run_rws_experiment
from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="rws",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "corruption": "gaussian_noise",
        "severity": 0.5,
        "channels": [16, 32],
        "pretrain_epochs": 10,
        "pretrain_learning_rate": 1e-3,
        "finetune_epochs": 5,
        "finetune_learning_rate": 0.01,
        "momentum": 0.9,
        "batch_size": 32,
        "n_shallow_layers": 2,
        "scales": [0.0, 0.25, 0.5, 0.75, 1.0, 1.5],
        "bits": [8, 4],
        "transfer_source_classes": [0, 1, 2, 3, 4],
        "transfer_target_classes": [5, 6, 7, 8, 9],
    },
    smoke={"pretrain_epochs": 1, "finetune_epochs": 1},
    task={"type": "image-classification", "dataset_name": "scikit-learn digits (Gaussian noise)", "dataset_type": "digits", "split": "test"},
    rules=[
        Threshold("shallow layers move most", metric="conv1_over_classifier_change", method="RWS", op=">", value=1.0),
        Compare("noisy accuracy +10 pts", metric="noisy_accuracy", method="clean+RWS", baseline="clean", margin=0.10),
        Compare("clean accuracy −3 pts at most", metric="clean_accuracy", method="clean+RWS", baseline="clean", margin=-0.03),
        Threshold("monotone in α ∈ {0, 0.5, 1}", metric="monotone_in_scale", method="RWS", op=">=", value=1.0),
        Threshold("remove() is exact", metric="remove_max_abs_error", method="RWS", op="<=", value=0.0),
        Threshold("orthogonal to the clean update", metric="max_abs_cosine_with_clean_update", method="RWS", op="<", value=1e-5),
        Compare("transfer 0–4 → 5–9 +5 pts", metric="noisy_accuracy", method="target+RWS(0–4)", baseline="target", margin=0.05),
        Compare("8-bit RWS keeps the gain", metric="noisy_accuracy", method="clean+RWS 8-bit", baseline="clean+RWS", margin=-0.01),
        Threshold("8-bit RWS ≥3× smaller than float32", metric="compression_vs_float32", method="RWS 8-bit", op=">=", value=3.0),
    ],
)  # fmt: skip


def run(claim):
    s = dict(claim.settings)
    s["channels"] = tuple(s["channels"])
    for key in ("scales", "bits", "transfer_source_classes", "transfer_target_classes"):
        s[key] = tuple(s[key])
    curves = {"noisy accuracy": {}, "clean accuracy": {}}
    for seed in claim.seeds:
        r = claim.cached(f"seed{seed}", run_rws_experiment, seed=seed, **s)
        unit = f"seed{seed}"
        change = r["relative_change"]
        claim.record(
            "RWS", "conv1_over_classifier_change", change["conv1.weight"] / change["classifier.weight"], unit=unit
        )
        for name, key in (("clean", "clean_model"), ("robust", "robust_model"), ("pretrained", "pretrained")):
            claim.record(name, "clean_accuracy", r[key]["clean"], unit=unit)
            claim.record(name, "noisy_accuracy", r[key]["corrupted"], unit=unit)
        claim.record("clean+RWS", "clean_accuracy", r["scales"]["1.0"]["clean"], unit=unit)
        claim.record("clean+RWS", "noisy_accuracy", r["scales"]["1.0"]["corrupted"], unit=unit)
        noisy = [r["scales"][a]["corrupted"] for a in ("0.0", "0.5", "1.0")]
        claim.record("RWS", "monotone_in_scale", float(noisy[0] <= noisy[1] <= noisy[2]), unit=unit)
        claim.record("RWS", "remove_max_abs_error", r["remove_max_abs_error"], unit=unit)
        cosines = r["cosine_with_clean_update"].values()
        claim.record("RWS", "max_abs_cosine_with_clean_update", max(abs(c) for c in cosines), unit=unit)
        claim.record("RWS", "fraction_of_model_patched", r["fraction_of_model_patched"], unit=unit)
        claim.record("RWS", "bits_per_value", r["float32"]["bits_per_value"], unit=unit)
        for bits in ("8", "4"):
            q = r["quantized"][bits]
            claim.record(f"clean+RWS {bits}-bit", "clean_accuracy", q["clean"], unit=unit)
            claim.record(f"clean+RWS {bits}-bit", "noisy_accuracy", q["corrupted"], unit=unit)
            claim.record(f"RWS {bits}-bit", "bits_per_value", q["bits_per_value"], unit=unit)
            claim.record(f"RWS {bits}-bit", "compression_vs_float32", q["compression_vs_float32"], unit=unit)
        t = r["transfer"]
        for name, key in (("target", "clean_target"), ("target+RWS(0–4)", "patched_target")):
            claim.record(name, "clean_accuracy", t[key]["clean"], unit=unit)
            claim.record(name, "noisy_accuracy", t[key]["corrupted"], unit=unit)
        for label, key in (("noisy accuracy", "corrupted"), ("clean accuracy", "clean")):
            curves[label][unit] = [(float(a), v[key]) for a, v in r["scales"].items()]
        gain = r["robust_model"]["corrupted"] - r["clean_model"]["corrupted"]
        patched_gain = r["scales"]["1.0"]["corrupted"] - r["clean_model"]["corrupted"]
        claim.record("RWS", "robust_model_noisy_gain", gain, unit=unit)
        claim.record(
            "RWS", "fraction_of_robust_gain_recovered", patched_gain / gain if gain else float("nan"), unit=unit
        )
        claim.details[unit] = {"relative_change": change, "patched_tensors": r["patched_tensors"]}
    claim.note(
        "Reported without a rule: the robust fine-tune's own noisy-accuracy gain over the clean model "
        "(robust_model_noisy_gain, the ceiling a conv-only patch aims at) and the fraction of it the patch recovers."
    )
    claim.plot_curves(
        "scale",
        curves,
        xlabel="α (θ_std + α·RWS)",
        ylabel="test accuracy",
        title="RWS scaling on digits (σ=0.5 noise)",
    )
    claim.plot_points(
        "accuracy",
        ["noisy_accuracy", "clean_accuracy"],
        methods=["clean", "clean+RWS", "clean+RWS 8-bit", "clean+RWS 4-bit", "robust", "target", "target+RWS(0–4)"],
    )


if __name__ == "__main__":
    CLAIM.main(run)
